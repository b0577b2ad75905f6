//! The overview's chart, drawn on the server as SVG: visits per day as bars, unique visitors
//! as a line, on one scale. Styled by the stylesheet (classes only, no inline styles), with a
//! native tooltip per day. It holds dates and numbers only, never a stored string.

use std::fmt::Write as _;

use super::data::DayRow;
use super::format::thousands;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 58.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;
const TICKS: u64 = 4;

/// The smallest "round" step (1, 2, 2.5 or 5 times a power of ten) such that `TICKS` steps
/// reach `max`.
fn step_for(max: u64) -> u64 {
    let raw = (max as f64 / TICKS as f64).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw && s.fract() == 0.0)
        .unwrap_or(10.0 * magnitude);
    (step.ceil() as u64).max(1)
}

/// The SVG of `days` (oldest first).
pub(crate) fn traffic(days: &[DayRow]) -> String {
    let max = days
        .iter()
        .map(|d| d.visits.max(d.visitors))
        .max()
        .unwrap_or(0);
    let step = step_for(max);
    let top = step * TICKS;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |value: u64| TOP + plot_h * (1.0 - value as f64 / top as f64);
    let slot = plot_w / days.len().max(1) as f64;
    let bar = (slot * 0.64).max(1.0);
    let x = |index: usize| LEFT + slot * (index as f64 + 0.5);

    let mut svg = String::with_capacity(16 * 1024);
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Visits and unique visitors per day" preserveAspectRatio="none">"#
    );
    for tick in 0..=TICKS {
        let value = step * tick;
        let at = y(value);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{at:.1}" y2="{at:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 8.0,
            at + 4.0,
            thousands(value)
        );
    }
    for (index, day) in days.iter().enumerate() {
        let top_y = y(day.visits);
        let _ = write!(
            svg,
            r#"<g class="day"><title>{}: {} visits, {} unique visitors</title><rect class="slot" x="{:.1}" y="{TOP}" width="{slot:.1}" height="{plot_h:.1}"/><rect class="bar" x="{:.1}" y="{top_y:.1}" width="{bar:.1}" height="{:.1}"/></g>"#,
            day.day.format("%a %Y-%m-%d"),
            thousands(day.visits),
            thousands(day.visitors),
            x(index) - slot / 2.0,
            x(index) - bar / 2.0,
            (TOP + plot_h - top_y).max(0.0),
        );
    }
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(index, day)| format!("{:.1},{:.1}", x(index), y(day.visitors)))
        .collect();
    if !points.is_empty() {
        let _ = write!(
            svg,
            r#"<polyline class="line" points="{}"/>"#,
            points.join(" ")
        );
        for point in &points {
            let (cx, cy) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(svg, r#"<circle class="dot" cx="{cx}" cy="{cy}" r="3"/>"#);
        }
    }
    let every = days.len().div_ceil(10).max(1);
    for (index, day) in days.iter().enumerate() {
        if index % every == 0 || index + 1 == days.len() {
            let _ = write!(
                svg,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x(index),
                HEIGHT - 12.0,
                day.day.format("%b %-d")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn steps_are_round_and_cover_the_maximum() {
        for (max, step) in [
            (0, 1),
            (3, 1),
            (10, 5),
            (37, 10),
            (100, 25),
            (1234, 500),
            (90_000, 25_000),
        ] {
            assert_eq!(step_for(max), step, "{max}");
            assert!(step * TICKS >= max);
        }
    }

    #[test]
    fn one_bar_and_one_point_per_day() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let days: Vec<DayRow> = (0..30)
            .map(|n| DayRow {
                day: day + chrono::TimeDelta::days(n),
                visits: 100 + n as u64 * 10,
                visitors: 40 + n as u64,
            })
            .collect();
        let svg = traffic(&days);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 30);
        assert_eq!(svg.matches(r#"class="dot""#).count(), 30);
        assert!(svg.contains("<title>Sun 2026-11-01: 100 visits, 40 unique visitors</title>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        let empty = traffic(&[]);
        assert!(empty.ends_with("</svg>"));
    }
}

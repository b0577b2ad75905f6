//! How the pages show values (askama filters): times, numbers, countries, links. Their
//! output is escaped by the templates like any other value.

use chrono::{DateTime, NaiveDate, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

type Result<T> = askama::Result<T>;
type Values<'a> = &'a dyn askama::Values;

/// `2026-11-20 14:03` (UTC).
pub(crate) fn time(value: &DateTime<Utc>, _: Values<'_>) -> Result<String> {
    Ok(value.format("%Y-%m-%d %H:%M").to_string())
}

/// [`time`], or a dash.
pub(crate) fn opt_time(value: &Option<DateTime<Utc>>, values: Values<'_>) -> Result<String> {
    match value {
        Some(value) => time(value, values),
        None => Ok("–".into()),
    }
}

/// `2026-11-20`.
pub(crate) fn date(value: &NaiveDate, _: Values<'_>) -> Result<String> {
    Ok(value.format("%Y-%m-%d").to_string())
}

/// A count, by value or by reference (askama passes both).
pub(crate) trait Count {
    fn count(&self) -> u64;
}

impl Count for u64 {
    fn count(&self) -> u64 {
        *self
    }
}

impl Count for u32 {
    fn count(&self) -> u64 {
        u64::from(*self)
    }
}

impl Count for usize {
    fn count(&self) -> u64 {
        u64::try_from(*self).unwrap_or(u64::MAX)
    }
}

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> u64 {
        (**self).count()
    }
}

/// `12,345`.
pub(crate) fn num<T: Count>(value: T, _: Values<'_>) -> Result<String> {
    Ok(thousands(value.count()))
}

/// `total` spread over `days`: one decimal under 10 (5 visitors in 30 days are 0.2 a day,
/// not 0), whole numbers with thousands separators from 10 up.
pub(crate) fn per_day(total: u64, days: u32) -> String {
    let average = total as f64 / f64::from(days.max(1));
    if (average * 10.0).round() < 100.0 {
        format!("{average:.1}")
    } else {
        thousands(average.round() as u64)
    }
}

pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (n, digit) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `42.1 %`.
pub(crate) fn percent(value: &f64, _: Values<'_>) -> Result<String> {
    Ok(format!("{:.1} %", value * 100.0))
}

/// A bar's width in percent of the track (at least a sliver when not zero).
pub(crate) fn width(value: &f64, _: Values<'_>) -> Result<String> {
    let percent = (value * 100.0).clamp(0.0, 100.0);
    let percent = if percent > 0.0 { percent.max(0.6) } else { 0.0 };
    Ok(format!("{percent:.2}"))
}

/// The value, or `Unknown` for an empty one.
pub(crate) fn known<T: AsRef<str>>(value: T, _: Values<'_>) -> Result<String> {
    let value = value.as_ref();
    Ok(if value.is_empty() {
        "Unknown".into()
    } else {
        value.to_owned()
    })
}

/// A country code with its name: `DE · Germany`.
pub(crate) fn country<T: AsRef<str>>(value: T, _: Values<'_>) -> Result<String> {
    let code = value.as_ref();
    Ok(match country_name(code) {
        _ if code.is_empty() => "Unknown".into(),
        Some(name) => format!("{code} · {name}"),
        None => code.to_owned(),
    })
}

/// The first characters of a long id: `3fa2c81e…`.
pub(crate) fn short<T: AsRef<str>>(value: T, _: Values<'_>) -> Result<String> {
    let value = value.as_ref();
    Ok(match value.char_indices().nth(10) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    })
}

/// Milliseconds, or a dash.
pub(crate) fn ms(value: &Option<u64>, _: Values<'_>) -> Result<String> {
    Ok(value.map_or_else(|| "–".into(), |ms| format!("{} ms", thousands(ms))))
}

/// Everything but unreserved characters, for one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment, percent-encoded (`u/1` -> `u%2F1`).
pub(crate) fn seg<T: AsRef<str>>(value: T, _: Values<'_>) -> Result<String> {
    Ok(segment(value.as_ref()))
}

pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// A query-string value, form-encoded.
pub(crate) fn q<T: AsRef<str>>(value: T, _: Values<'_>) -> Result<String> {
    Ok(query_value(value.as_ref()))
}

pub(crate) fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// English names of the countries a site usually sees (others show their code only).
fn country_name(code: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("AE", "United Arab Emirates"),
        ("AR", "Argentina"),
        ("AT", "Austria"),
        ("AU", "Australia"),
        ("BE", "Belgium"),
        ("BG", "Bulgaria"),
        ("BR", "Brazil"),
        ("CA", "Canada"),
        ("CH", "Switzerland"),
        ("CL", "Chile"),
        ("CN", "China"),
        ("CO", "Colombia"),
        ("CZ", "Czechia"),
        ("DE", "Germany"),
        ("DK", "Denmark"),
        ("EG", "Egypt"),
        ("ES", "Spain"),
        ("FI", "Finland"),
        ("FR", "France"),
        ("GB", "United Kingdom"),
        ("GR", "Greece"),
        ("HK", "Hong Kong"),
        ("HU", "Hungary"),
        ("ID", "Indonesia"),
        ("IE", "Ireland"),
        ("IL", "Israel"),
        ("IN", "India"),
        ("IT", "Italy"),
        ("JP", "Japan"),
        ("KE", "Kenya"),
        ("KR", "South Korea"),
        ("MX", "Mexico"),
        ("MY", "Malaysia"),
        ("NG", "Nigeria"),
        ("NL", "Netherlands"),
        ("NO", "Norway"),
        ("NZ", "New Zealand"),
        ("PH", "Philippines"),
        ("PK", "Pakistan"),
        ("PL", "Poland"),
        ("PT", "Portugal"),
        ("RO", "Romania"),
        ("RU", "Russia"),
        ("SA", "Saudi Arabia"),
        ("SE", "Sweden"),
        ("SG", "Singapore"),
        ("SK", "Slovakia"),
        ("TH", "Thailand"),
        ("TR", "Türkiye"),
        ("TW", "Taiwan"),
        ("UA", "Ukraine"),
        ("US", "United States"),
        ("VN", "Vietnam"),
        ("ZA", "South Africa"),
    ];
    NAMES
        .binary_search_by(|(known, _)| (*known).cmp(code))
        .ok()
        .map(|index| NAMES[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let values = &() as &dyn askama::Values;
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(per_day(5, 30), "0.2");
        assert_eq!(per_day(0, 30), "0.0");
        assert_eq!(per_day(299, 30), "10");
        assert_eq!(per_day(45_000_000, 30), "1,500,000");
        assert_eq!(per_day(7, 0), "7.0");
        assert_eq!(country("DE", values).unwrap(), "DE · Germany");
        assert_eq!(country("XK", values).unwrap(), "XK");
        assert_eq!(country("", values).unwrap(), "Unknown");
        assert_eq!(short("0123456789abcdef", values).unwrap(), "0123456789…");
        assert_eq!(short("abc", values).unwrap(), "abc");
        assert_eq!(segment("u/1 é"), "u%2F1%20%C3%A9");
        assert_eq!(query_value("a b&c"), "a+b%26c");
        let count = &1234u64;
        assert_eq!(num(count, values).unwrap(), "1,234", "by reference");
        assert_eq!(num(7usize, values).unwrap(), "7");
        assert_eq!(known(String::new(), values).unwrap(), "Unknown");
        assert_eq!(width(&0.0, values).unwrap(), "0.00");
        assert_eq!(width(&0.001, values).unwrap(), "0.60");
        assert_eq!(width(&2.0, values).unwrap(), "100.00");
    }
}

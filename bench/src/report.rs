//! Result rows: `| item | store | figure | value | baseline (same run) | ratio | target | verdict |`.

/// One row of the runner's table.
pub(crate) struct Row<'a> {
    pub(crate) item: &'a str,
    pub(crate) store: &'a str,
    pub(crate) figure: String,
    pub(crate) value: String,
    pub(crate) baseline: String,
    pub(crate) ratio: String,
    pub(crate) target: String,
    pub(crate) verdict: String,
}

impl Row<'_> {
    pub(crate) fn print(&self) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            self.item,
            self.store,
            self.figure,
            self.value,
            self.baseline,
            self.ratio,
            self.target,
            self.verdict
        );
    }
}

/// `12345.6` -> `12,346`.
pub(crate) fn thousands(value: f64) -> String {
    let rounded = value.round() as i64;
    let digits = rounded.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `a / b` as a percentage, or `-`.
pub(crate) fn percent(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.0} %", 100.0 * a / b)
    } else {
        "-".into()
    }
}

/// "met", or "missed by N %" for a figure that must be at least `target`.
pub(crate) fn at_least(value: f64, target: f64) -> String {
    if value >= target {
        "met".into()
    } else {
        format!("missed by {:.0} %", 100.0 * (target - value) / target)
    }
}

/// "met", or "missed by N %" for a figure that must be at most `target`.
pub(crate) fn at_most(value: f64, target: f64) -> String {
    if value <= target {
        "met".into()
    } else {
        format!("missed by {:.0} %", 100.0 * (value - target) / target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(percent(1.0, 4.0), "25 %");
        assert_eq!(percent(1.0, 0.0), "-");
        assert_eq!(at_least(90.0, 100.0), "missed by 10 %");
        assert_eq!(at_least(100.0, 100.0), "met");
        assert_eq!(at_most(1.5, 1.0), "missed by 50 %");
        assert_eq!(at_most(0.5, 1.0), "met");
    }
}

//! The dashboard's query parameters: read leniently (empty fields are absent, unknown ones
//! ignored), checked strictly (a bad value is a 400 with a short reason).

use std::time::Duration;

use crate::assess::{Reason, Verdict};
use crate::insight::IpFilter;
use crate::model::CountBucket;

/// A refused parameter: the reason shown with the 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadParam(pub(crate) String);

/// The non-empty parameters of a query string (the first of repeated ones wins).
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim();
            if !value.is_empty() && !pairs.iter().any(|(n, _)| *n == name) {
                pairs.push((name.into_owned(), value.to_owned()));
            }
        }
        Self(pairs)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A free-text parameter of at most `max` characters (see [`free_text`]).
    pub(crate) fn text(&self, name: &str, max: usize) -> Result<Option<String>, BadParam> {
        self.get(name)
            .map(|value| free_text(name, value, max).map(str::to_owned))
            .transpose()
    }

    /// The page cursor (checked by the store).
    pub(crate) fn after(&self) -> Result<Option<String>, BadParam> {
        self.text("after", 4096)
    }

    /// The page size: 1 to 500, default 50.
    pub(crate) fn limit(&self) -> Result<u32, BadParam> {
        match self.get("limit") {
            None => Ok(50),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=500).contains(limit))
                .ok_or_else(|| BadParam("invalid limit: a number from 1 to 500".into())),
        }
    }
}

/// `value`, free text (a filter, a user id) named `name`: at most `max` characters, and no
/// control characters (a NUL, which PostgreSQL cannot compare).
pub(crate) fn free_text<'a>(name: &str, value: &'a str, max: usize) -> Result<&'a str, BadParam> {
    if value.chars().count() > max {
        Err(BadParam(format!(
            "{name} is too long (at most {max} characters)"
        )))
    } else if value.chars().any(char::is_control) {
        Err(BadParam(format!("{name} holds a control character")))
    } else {
        Ok(value)
    }
}

/// A session key or visitor id: exactly 32 lowercase hex characters.
pub(crate) fn hex_id(value: &str, what: &str) -> Result<String, BadParam> {
    let valid = value.len() == 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(BadParam(format!(
            "invalid {what}: 32 lowercase hex characters expected"
        )))
    }
}

/// A prefix of a session key or visitor id: 1 to 32 lowercase hex characters.
pub(crate) fn hex_prefix(value: &str, what: &str) -> Result<String, BadParam> {
    let valid = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(BadParam(format!(
            "invalid {what}: 1 to 32 lowercase hex characters expected"
        )))
    }
}

/// The "last fingerprint within" filter of the users list.
pub(crate) const SEEN_WITHIN: [(&str, &str, u64); 5] = [
    ("1d", "1 day", 1),
    ("1w", "1 week", 7),
    ("1m", "1 month", 30),
    ("3m", "3 months", 91),
    ("12m", "12 months", 365),
];

pub(crate) fn seen_within(value: &str) -> Result<Duration, BadParam> {
    SEEN_WITHIN
        .iter()
        .find(|(name, _, _)| *name == value)
        .map(|(_, _, days)| Duration::from_secs(days * 86_400))
        .ok_or_else(|| BadParam("unknown seen filter: use 1d, 1w, 1m, 3m or 12m".into()))
}

pub(crate) fn bucket(value: &str, name: &str) -> Result<CountBucket, BadParam> {
    CountBucket::from_label(value).ok_or_else(|| {
        BadParam(format!(
            "unknown {name} bucket: use 1, 2-3, 4-5, 6-10, 11-20 or over 20"
        ))
    })
}

pub(crate) fn ip(value: &str) -> Result<IpFilter, BadParam> {
    value.parse().map_err(|_| {
        BadParam("invalid ip: use an address (203.0.113.7) or a network (203.0.113.0/24)".into())
    })
}

pub(crate) fn linked(value: &str) -> Result<bool, BadParam> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(BadParam("unknown linked filter: use yes or no".into())),
    }
}

/// The `verdict=` and `reason=` filters, checked.
pub(crate) fn assessment(params: &Params) -> Result<(Option<Verdict>, Option<Reason>), BadParam> {
    Ok((
        params.get("verdict").map(verdict).transpose()?,
        params.get("reason").map(reason).transpose()?,
    ))
}

pub(crate) fn verdict(value: &str) -> Result<Verdict, BadParam> {
    Verdict::from_code(value).ok_or_else(|| {
        BadParam("unknown verdict: use human, automated, declared_bot or unknown".into())
    })
}

pub(crate) fn reason(value: &str) -> Result<Reason, BadParam> {
    Reason::from_code(value).ok_or_else(|| {
        let value: String = value.chars().take(40).collect();
        BadParam(format!("unknown reason {value:?}"))
    })
}

pub(crate) fn days(value: Option<&str>) -> Result<u32, BadParam> {
    match value {
        None => Ok(30),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|days| (1..=366).contains(days))
            .ok_or_else(|| BadParam("invalid days: a number from 1 to 366".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_leniently_and_checked_strictly() {
        let params = Params::parse(Some("q=a+b&q=second&empty=&after=%3Cx%3E&seen=1w"));
        assert_eq!(params.get("q"), Some("a b"));
        assert_eq!(params.get("empty"), None);
        assert_eq!(params.after().unwrap().as_deref(), Some("<x>"));
        assert!(Params::parse(Some(&format!("q={}", "x".repeat(201))))
            .text("q", 200)
            .is_err());
        assert_eq!(seen_within("1w").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(seen_within("2w").is_err());
        assert!(bucket("over 20", "browsers").is_ok());
        assert!(bucket("7", "browsers").is_err());
        assert!(hex_id(&"a".repeat(32), "visitor id").is_ok());
        assert!(hex_id("ABC", "visitor id").is_err());
        assert!(hex_prefix("abc", "visitor id").is_ok());
        assert!(hex_prefix("ab<", "visitor id").is_err());
        assert!(ip("10.0.0.0/8").is_ok());
        assert!(ip("10.0.0.0/99").is_err());
        assert_eq!(days(None).unwrap(), 30);
        assert!(days(Some("0")).is_err());
        assert!(days(Some("x")).is_err());
        assert!(linked("maybe").is_err());
        assert_eq!(Params::parse(None).limit().unwrap(), 50);
        assert!(Params::parse(Some("limit=501")).limit().is_err());
    }
}

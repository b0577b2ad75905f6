//! Backend-neutral pieces of the dashboard queries: the daily rollup a batch adds, keyset
//! cursors, prefix bounds and the text ranges of an IP network.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{NaiveDate, TimeDelta};

#[cfg(any(feature = "sqlite", test))]
use crate::insight::IpFilter;
use crate::model::Page;
use crate::model::RequestFingerprint;
use crate::store::batch::FastMap;
use crate::store::StoreError;

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `fingerprint_daily.dimension` of the day's totals.
pub(crate) const DIMENSION_ALL: &str = "all";

/// The UTC day of a time in microseconds, as days since the Unix epoch.
pub(crate) fn day_of_micros(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// Days since the Unix epoch of a date.
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// The date of a day number.
pub(crate) fn date_of_day(day: i64) -> Result<NaiveDate, StoreError> {
    TimeDelta::try_days(day)
        .and_then(|days| NaiveDate::default().checked_add_signed(days))
        .ok_or_else(|| StoreError::Decode(format!("day {day} out of range")))
}

/// One request fingerprint a batch inserted, as the rollup needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedRow<'a> {
    pub(crate) session_id: i64,
    /// The row's header profile: it holds every dimension's value but the country's.
    pub(crate) profile_id: i64,
    /// Microseconds since the epoch.
    pub(crate) at: i64,
    /// The client address, as text.
    pub(crate) ip: Option<Cow<'a, str>>,
    pub(crate) browser: Cow<'a, str>,
    pub(crate) os: Cow<'a, str>,
    pub(crate) device_type: Cow<'a, str>,
    pub(crate) country_code: Cow<'a, str>,
    pub(crate) ja4: Cow<'a, str>,
    pub(crate) http2: Cow<'a, str>,
    pub(crate) headers: Cow<'a, str>,
    pub(crate) verdict: Cow<'a, str>,
}

impl<'a> RecordedRow<'a> {
    /// The row stored for `fingerprint` in session `session_id`, with header profile
    /// `profile_id`.
    pub(crate) fn of(
        session_id: i64,
        profile_id: i64,
        fingerprint: &'a RequestFingerprint,
    ) -> Self {
        Self {
            session_id,
            profile_id,
            at: fingerprint.created_at.timestamp_micros(),
            ip: fingerprint.ip.map(|ip| Cow::Owned(ip.to_string())),
            browser: Cow::Borrowed(&fingerprint.device.browser),
            os: Cow::Borrowed(&fingerprint.device.os),
            device_type: Cow::Borrowed(fingerprint.device.device_type.as_str()),
            country_code: Cow::Borrowed(&fingerprint.country_code),
            ja4: Cow::Borrowed(&fingerprint.ja4),
            http2: Cow::Borrowed(&fingerprint.http2),
            headers: Cow::Borrowed(&fingerprint.headers),
            verdict: Cow::Borrowed(&fingerprint.verdict),
        }
    }

    fn values(&self) -> [(&'static str, &str); 9] {
        [
            (DIMENSION_ALL, ""),
            ("browser", &self.browser),
            ("os", &self.os),
            ("device", &self.device_type),
            ("country", &self.country_code),
            ("ja4", &self.ja4),
            ("http2", &self.http2),
            ("headers", &self.headers),
            ("verdict", &self.verdict),
        ]
    }
}

/// The distinct (IP address, session) pairs of a batch's rows, sorted (the lock order on
/// PostgreSQL): what `fingerprint_ip_sessions` holds.
pub(crate) fn ip_sessions<'r>(rows: &'r [RecordedRow<'_>]) -> Vec<(&'r str, i64)> {
    let mut pairs: Vec<(&str, i64)> = rows
        .iter()
        .filter_map(|row| Some((row.ip.as_deref()?, row.session_id)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// One counter change of `fingerprint_daily`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DailyIncrement {
    pub(crate) dimension: &'static str,
    pub(crate) day: i64,
    pub(crate) value: String,
    pub(crate) visits: i64,
    pub(crate) visitors: i64,
}

/// What a batch adds to the daily rollup: the (day, session) pairs it saw, each with the row
/// it saw first, and the visits of each group of rows with the same dimension values.
///
/// A row's values are those of its header profile and its country, so rows are grouped by
/// (day, profile, country) with integer keys, and each group's values are counted once.
pub(crate) struct DailyDelta<'a> {
    /// Distinct (day, session id) pairs, sorted (the lock order on PostgreSQL).
    pub(crate) pairs: Vec<(i64, i64)>,
    firsts: FastMap<(i64, i64), &'a RecordedRow<'a>>,
    /// The visits of each group, and a row of it (its values).
    groups: FastMap<Group<'a>, (i64, &'a RecordedRow<'a>)>,
}

/// Rows of one day with the same dimension values: (day, header profile, country).
type Group<'a> = (i64, i64, &'a str);

fn group<'a>(day: i64, row: &'a RecordedRow<'a>) -> Group<'a> {
    (day, row.profile_id, &row.country_code)
}

impl<'a> DailyDelta<'a> {
    pub(crate) fn new(rows: &'a [RecordedRow<'a>]) -> Self {
        let mut firsts: FastMap<(i64, i64), &RecordedRow<'a>> = FastMap::default();
        let mut groups: FastMap<Group<'a>, (i64, &RecordedRow<'a>)> = FastMap::default();
        for row in rows {
            let day = day_of_micros(row.at);
            firsts
                .entry((day, row.session_id))
                .and_modify(|first| {
                    if row.at < first.at {
                        *first = row;
                    }
                })
                .or_insert(row);
            groups.entry(group(day, row)).or_insert((0, row)).0 += 1;
        }
        let mut pairs: Vec<(i64, i64)> = firsts.keys().copied().collect();
        pairs.sort_unstable();
        Self {
            pairs,
            firsts,
            groups,
        }
    }

    /// The counter changes, sorted by key, given the pairs the database did not have yet
    /// (each is a new unique visitor of its day, counted for the values of its first row).
    pub(crate) fn increments(
        &self,
        new_pairs: impl IntoIterator<Item = (i64, i64)>,
    ) -> Vec<DailyIncrement> {
        let mut visitors: FastMap<Group<'_>, i64> = FastMap::default();
        for pair in new_pairs {
            if let Some(first) = self.firsts.get(&pair) {
                *visitors.entry(group(pair.0, first)).or_insert(0) += 1;
            }
        }
        let mut counts: BTreeMap<(&'static str, i64, &str), (i64, i64)> = BTreeMap::new();
        for (key, (visits, row)) in &self.groups {
            let new = visitors.get(key).copied().unwrap_or(0);
            for (dimension, value) in row.values() {
                let count = counts.entry((dimension, key.0, value)).or_insert((0, 0));
                count.0 += visits;
                count.1 += new;
            }
        }
        counts
            .into_iter()
            .map(
                |((dimension, day, value), (visits, visitors))| DailyIncrement {
                    dimension,
                    day,
                    value: value.to_owned(),
                    visits,
                    visitors,
                },
            )
            .collect()
    }
}

/// A page of `limit` items from `limit + 1` fetched rows, with the cursor of the last kept
/// item.
pub(crate) fn keyset_page<T>(mut rows: Vec<(T, String)>, limit: u32) -> Page<T> {
    let limit = limit as usize;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, cursor)| cursor.clone())
    } else {
        None
    };
    Page::new(rows.into_iter().map(|(item, _)| item).collect(), next)
}

pub(crate) fn invalid_cursor(cursor: &str) -> StoreError {
    let shown: String = cursor.chars().take(40).collect();
    StoreError::InvalidInput(format!("invalid page cursor {shown:?}"))
}

/// A cursor that is a row id (`id < cursor` on the next page).
pub(crate) fn parse_id_cursor(cursor: &str) -> Result<i64, StoreError> {
    cursor
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| invalid_cursor(cursor))
}

/// A cursor of two integers `a:b` (time and id, hits and id).
pub(crate) fn parse_pair_cursor(cursor: &str) -> Result<(i64, i64), StoreError> {
    let (a, b) = cursor
        .split_once(':')
        .ok_or_else(|| invalid_cursor(cursor))?;
    match (a.parse(), b.parse()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(invalid_cursor(cursor)),
    }
}

/// The cursor of the URL lists: `h<hits>:<url id>` (by hits) or `u<url>` (by URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UrlCursor {
    Hits(i64, i64),
    Url(String),
}

pub(crate) fn parse_url_cursor(cursor: &str) -> Result<UrlCursor, StoreError> {
    if let Some(rest) = cursor.strip_prefix('h') {
        let (hits, id) = parse_pair_cursor(rest).map_err(|_| invalid_cursor(cursor))?;
        Ok(UrlCursor::Hits(hits, id))
    } else if let Some(url) = cursor.strip_prefix('u') {
        Ok(UrlCursor::Url(url.to_owned()))
    } else {
        Err(invalid_cursor(cursor))
    }
}

/// The timeline cursor: `<micros>:<kind>:<id>`.
pub(crate) fn parse_timeline_cursor(cursor: &str) -> Result<(i64, i64, i64), StoreError> {
    let mut parts = cursor.splitn(3, ':').map(str::parse::<i64>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(at)), Some(Ok(kind)), Some(Ok(id))) => Ok((at, kind, id)),
        _ => Err(invalid_cursor(cursor)),
    }
}

/// The smallest string greater than every string that starts with `prefix`, in byte order
/// (`None`: there is none, or the prefix is empty).
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{d7ff}' => Some('\u{e000}'),
            char::MAX => None,
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Checks a lowercase-hex prefix (session keys, visitor ids) of at most 32 characters.
pub(crate) fn check_hex_prefix(prefix: &str, what: &str) -> Result<(), StoreError> {
    let valid = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(format!(
            "invalid {what}: use 1 to 32 lowercase hex characters"
        )))
    }
}

/// The upper bound of a lowercase-hex prefix that sorts right under any collation: the last
/// character moves to the next one of `0-9a-g` (`9` -> `a`, `f` -> `g`).
pub(crate) fn hex_upper_bound(prefix: &str) -> String {
    let mut bound = prefix.to_owned();
    if let Some(last) = bound.pop() {
        bound.push(match last {
            '9' => 'a',
            c => char::from_u32(u32::from(c) + 1).unwrap_or('g'),
        });
    }
    bound
}

/// How the addresses of a network are found among addresses stored as text (SQLite).
#[cfg(any(feature = "sqlite", test))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextRange {
    /// Exactly this text.
    Exact(String),
    /// Texts starting with this prefix: `>= low AND < high`.
    Prefix { low: String, high: String },
}

/// At most this many exact addresses or prefixes for one network.
#[cfg(any(feature = "sqlite", test))]
const MAX_TEXT_RANGES: u32 = 256;

/// The text ranges that hold exactly the addresses of `filter`, as Rust (and the recorder)
/// writes addresses: IPv4 dotted decimal, IPv6 in the RFC 5952 form.
#[cfg(any(feature = "sqlite", test))]
pub(crate) fn text_ranges(filter: &IpFilter) -> Result<Vec<TextRange>, StoreError> {
    if filter.is_address() {
        return Ok(vec![TextRange::Exact(filter.network().to_string())]);
    }
    let length = u32::from(filter.prefix_len());
    match filter.network() {
        IpAddr::V4(network) => {
            // Fix whole octets: the prefix length rounded up to a multiple of 8 (at least 8).
            let fixed = length.div_ceil(8).max(1);
            let count = 1u32 << (fixed * 8 - length);
            let base = u32::from(network);
            let mut ranges = Vec::new();
            for n in 0..count {
                let value = base + (n << (32 - fixed * 8));
                let parts = value.to_be_bytes();
                if fixed == 4 {
                    ranges.push(TextRange::Exact(std::net::Ipv4Addr::from(parts).to_string()));
                } else {
                    let head: Vec<String> = parts[..fixed as usize]
                        .iter()
                        .map(u8::to_string)
                        .collect();
                    let head = head.join(".");
                    ranges.push(TextRange::Prefix {
                        low: format!("{head}."),
                        high: format!("{head}/"),
                    });
                }
            }
            Ok(ranges)
        }
        IpAddr::V6(network) => {
            let groups = network.segments();
            let whole = length % 16 == 0;
            let prefix_groups = &groups[..(length / 16) as usize];
            if !whole || prefix_groups.is_empty() || prefix_groups.contains(&0) {
                return Err(StoreError::InvalidInput(format!(
                    "on SQLite an IPv6 network must end on a group boundary (/16, /32, /48, /64, ...) with no zero group in its prefix: {filter}"
                )));
            }
            let head: Vec<String> = prefix_groups.iter().map(|g| format!("{g:x}")).collect();
            let head = head.join(":");
            Ok(vec![TextRange::Prefix {
                low: format!("{head}:"),
                high: format!("{head};"),
            }])
        }
    }
    .and_then(|ranges: Vec<TextRange>| {
        if ranges.len() as u32 > MAX_TEXT_RANGES {
            Err(StoreError::InvalidInput(format!("network {filter} is too wide")))
        } else {
            Ok(ranges)
        }
    })
}

/// A stored IP address.
pub(crate) fn parse_ip(text: Option<String>) -> Result<Option<IpAddr>, StoreError> {
    text.map(|ip| {
        ip.parse()
            .map_err(|_| StoreError::Decode(format!("ip {ip:?}")))
    })
    .transpose()
}

/// A value of an optional text filter, when it is not empty.
pub(crate) fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn row(session_id: i64, at: i64, browser: &str, country: &str) -> RecordedRow<'static> {
        RecordedRow {
            session_id,
            // A profile per browser: the test's rows differ in nothing else of the profile.
            profile_id: if browser == "Chrome" { 1 } else { 2 },
            at,
            ip: Some(Cow::Borrowed(if session_id == 1 {
                "10.0.0.1"
            } else {
                "10.0.0.2"
            })),
            browser: Cow::Owned(browser.into()),
            os: Cow::Borrowed("Linux"),
            device_type: Cow::Borrowed("desktop"),
            country_code: Cow::Owned(country.into()),
            ja4: Cow::Borrowed(if browser == "Chrome" {
                "t13d1516h2_8daaf6152771_02713d6af862"
            } else {
                ""
            }),
            http2: Cow::Borrowed(""),
            headers: Cow::Borrowed(""),
            verdict: Cow::Borrowed("human"),
        }
    }

    /// (visits, visitors) of one counter among `increments`.
    fn counts(
        increments: &[DailyIncrement],
        dimension: &str,
        day: i64,
        value: &str,
    ) -> Option<(i64, i64)> {
        increments
            .iter()
            .find(|i| i.dimension == dimension && i.day == day && i.value == value)
            .map(|i| (i.visits, i.visitors))
    }

    #[test]
    fn rows_count_for_their_own_profile_and_country() {
        let day = MICROS_PER_DAY;
        let rows = vec![
            row(1, 10 * day + 10, "Chrome", "PL"),
            row(2, 10 * day + 20, "Firefox", "PL"),
            row(3, 10 * day + 30, "Firefox", "PL"),
            row(3, 10 * day + 40, "Firefox", "DE"),
        ];
        let delta = DailyDelta::new(&rows);
        let increments = delta.increments(delta.pairs.clone());
        let get = |dimension: &str, value: &str| counts(&increments, dimension, 10, value);
        assert_eq!(get("all", ""), Some((4, 3)));
        assert_eq!(get("browser", "Chrome"), Some((1, 1)));
        assert_eq!(get("browser", "Firefox"), Some((3, 2)));
        assert_eq!(get("country", "PL"), Some((3, 3)));
        assert_eq!(get("country", "DE"), Some((1, 0)));
    }

    #[test]
    fn a_visitor_counts_once_a_day_for_its_first_row() {
        let day = MICROS_PER_DAY;
        let rows = vec![
            row(1, 10 * day + 50, "Firefox", "DE"),
            row(1, 10 * day + 10, "Chrome", "PL"),
            row(2, 10 * day + 20, "Chrome", "PL"),
            row(1, 11 * day + 5, "Chrome", "PL"),
        ];
        let delta = DailyDelta::new(&rows);
        assert_eq!(delta.pairs, vec![(10, 1), (10, 2), (11, 1)]);
        // Session 1 was already counted on day 10 by an earlier batch.
        let increments = delta.increments([(10, 2), (11, 1)]);
        let get =
            |dimension: &str, day: i64, value: &str| counts(&increments, dimension, day, value);
        assert_eq!(get("all", 10, ""), Some((3, 1)));
        assert_eq!(get("all", 11, ""), Some((1, 1)));
        assert_eq!(get("browser", 10, "Chrome"), Some((2, 1)));
        assert_eq!(get("browser", 10, "Firefox"), Some((1, 0)));
        assert_eq!(get("country", 10, "PL"), Some((2, 1)));
        assert_eq!(get("country", 10, "DE"), Some((1, 0)));
        let chrome_ja4 = "t13d1516h2_8daaf6152771_02713d6af862";
        assert_eq!(get("ja4", 10, chrome_ja4), Some((2, 1)));
        assert_eq!(get("ja4", 10, ""), Some((1, 0)));
        let mut keys: Vec<_> = increments
            .iter()
            .map(|i| (i.dimension, i.day, i.value.clone()))
            .collect();
        let sorted = {
            let mut k = keys.clone();
            k.sort();
            k
        };
        assert_eq!(keys, sorted, "sorted for the lock order");
        keys.dedup();
        assert_eq!(keys.len(), increments.len());
        // A new pair attributes the earliest row of the day: Chrome/PL, not Firefox/DE.
        let all_new = delta.increments(delta.pairs.clone());
        let chrome = all_new
            .iter()
            .find(|i| i.dimension == "browser" && i.day == 10 && i.value == "Chrome")
            .unwrap();
        assert_eq!(chrome.visitors, 2);
        assert_eq!(ip_sessions(&rows), vec![("10.0.0.1", 1), ("10.0.0.2", 2)]);
    }

    #[test]
    fn days_and_dates() {
        assert_eq!(day_of_micros(0), 0);
        assert_eq!(day_of_micros(-1), -1);
        assert_eq!(day_of_micros(MICROS_PER_DAY * 3 + 7), 3);
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(date_of_day(day_number(date)).unwrap(), date);
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }

    #[test]
    fn cursors_refuse_garbage() {
        assert_eq!(parse_id_cursor("42").unwrap(), 42);
        assert_eq!(parse_pair_cursor("-5:7").unwrap(), (-5, 7));
        assert_eq!(parse_url_cursor("h3:9").unwrap(), UrlCursor::Hits(3, 9));
        assert_eq!(
            parse_url_cursor("uhttps://a/b:c").unwrap(),
            UrlCursor::Url("https://a/b:c".into())
        );
        assert_eq!(parse_timeline_cursor("5:1:9").unwrap(), (5, 1, 9));
        for bad in ["", "x", "-1", "1:", "h1", "q", "1:2:x"] {
            let any_ok = parse_id_cursor(bad).is_ok()
                && parse_pair_cursor(bad).is_ok()
                && parse_url_cursor(bad).is_ok()
                && parse_timeline_cursor(bad).is_ok();
            assert!(!any_ok, "{bad}");
        }
        assert!(parse_id_cursor("-1").is_err());
        assert!(parse_url_cursor("x1").is_err());
        assert!(parse_timeline_cursor("1:2").is_err());
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound("a/"), Some("a0".into()));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(
            prefix_upper_bound("a\u{10ffff}").as_deref(),
            Some("b"),
            "the last character cannot grow"
        );
        assert_eq!(prefix_upper_bound("\u{d7ff}").as_deref(), Some("\u{e000}"));
        for prefix in ["https://a.example/x", "é", "a\u{10ffff}b"] {
            let upper = prefix_upper_bound(prefix).unwrap();
            for tail in ["", "a", "\u{10ffff}\u{10ffff}", "zzz"] {
                let s = format!("{prefix}{tail}");
                assert!(
                    s.as_str() >= prefix && s < upper,
                    "{s:?} in [{prefix:?}, {upper:?})"
                );
            }
        }
        assert_eq!(hex_upper_bound("ab9"), "aba");
        assert_eq!(hex_upper_bound("0f"), "0g");
        assert_eq!(hex_upper_bound("3"), "4");
        assert!(check_hex_prefix("0123abcdef", "visitor id").is_ok());
        for bad in ["", "ABC", "xyz", "<script>", &"a".repeat(33)] {
            assert!(check_hex_prefix(bad, "visitor id").is_err(), "{bad}");
        }
    }

    fn matches(ranges: &[TextRange], text: &str) -> bool {
        ranges.iter().any(|range| match range {
            TextRange::Exact(exact) => exact == text,
            TextRange::Prefix { low, high } => text >= low.as_str() && text < high.as_str(),
        })
    }

    #[test]
    fn ipv4_networks_as_text_ranges_are_exact() {
        for network in [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.16.0/20",
            "10.1.2.0/24",
            "10.1.2.128/25",
            "10.1.2.4/30",
            "192.0.0.0/3",
            "0.0.0.0/0",
        ] {
            let filter: IpFilter = network.parse().unwrap();
            let ranges = text_ranges(&filter).unwrap();
            // Every address near the network's edges, and a sample across the space.
            let mut probes: Vec<u32> = Vec::new();
            let (IpAddr::V4(first), IpAddr::V4(last)) = (filter.network(), filter.last()) else {
                unreachable!("an IPv4 network")
            };
            for edge in [i64::from(u32::from(first)), i64::from(u32::from(last))] {
                for delta in -300..=300 {
                    if let Ok(value) = u32::try_from(edge + delta) {
                        probes.push(value);
                    }
                }
            }
            probes.extend((0..5000u32).map(|i| i.wrapping_mul(2_654_435_761)));
            for value in probes {
                let ip = IpAddr::V4(Ipv4Addr::from(value));
                assert_eq!(
                    matches(&ranges, &ip.to_string()),
                    filter.contains(ip),
                    "{network} {ip}"
                );
            }
            assert!(!matches(&ranges, "2001:db8::1"), "{network}");
        }
        let one: IpFilter = "10.1.2.3".parse().unwrap();
        assert_eq!(
            text_ranges(&one).unwrap(),
            vec![TextRange::Exact("10.1.2.3".into())]
        );
    }

    #[test]
    fn ipv6_networks_as_text_ranges() {
        let filter: IpFilter = "2001:db8:5::/48".parse().unwrap();
        let ranges = text_ranges(&filter).unwrap();
        for (ip, inside) in [
            ("2001:db8:5::1", true),
            ("2001:db8:5:1::", true),
            ("2001:db8:5:ffff:1:2:3:4", true),
            ("2001:db8:50::1", false),
            ("2001:db8:4::1", false),
            ("2001:db8::5", false),
            ("10.0.0.1", false),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(matches(&ranges, &ip.to_string()), inside, "{ip}");
            assert_eq!(filter.contains(ip), inside, "{ip}");
        }
        for refused in ["2001:db8::/40", "2001:0::/32", "::/0"] {
            let filter: IpFilter = refused.parse().unwrap();
            assert!(text_ranges(&filter).is_err(), "{refused}");
        }
    }
}

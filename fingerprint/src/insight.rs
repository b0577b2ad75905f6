//! What the dashboard reads, for any app to read too: traffic per day and its breakdowns, and
//! the lists of URLs, sessions, request and browser fingerprints with their filters, each in
//! keyset pages ([`Page`](crate::model::Page) with an opaque `next` cursor).
//!
//! Every list is ordered on an indexed key and every filter but the user-agent search uses an
//! index, so a page costs about the same on a thousand rows or on millions.

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::IpNet;

use crate::assess::{Reason, Verdict};
use crate::device::Device;

/// Default page size of the list queries.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of the list queries.
#[cfg(any(feature = "sqlite", feature = "postgres", test))]
pub(crate) const MAX_LIMIT: u32 = 1000;
/// Default bound of the user-agent search, in rows per page.
pub(crate) const DEFAULT_SCAN_LIMIT: u32 = 50_000;

/// A page size clamped to 1..=1000 (for the stores).
#[cfg(any(feature = "sqlite", feature = "postgres", test))]
pub(crate) fn clamp_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_LIMIT)
}

/// Visits and unique visitors of one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DailyTraffic {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Request fingerprints recorded that day (after the debounce).
    pub visits: u64,
    /// Sessions with at least one recorded request that day.
    pub visitors: u64,
}

impl DailyTraffic {
    /// A day's traffic.
    #[must_use]
    pub fn new(day: NaiveDate, visits: u64, visitors: u64) -> Self {
        Self {
            day,
            visits,
            visitors,
        }
    }
}

/// What traffic can be broken down by: values derived from the user agent, the country, and
/// the network fingerprints (counted from migration 6 on; earlier traffic counts as empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dimension {
    /// Browser family (`Chrome`, `Firefox`, ...).
    Browser,
    /// Operating system family.
    Os,
    /// Device type (`desktop`, `mobile`, `tablet`, `bot`, `other`).
    DeviceType,
    /// ISO 3166-1 alpha-2 country code.
    Country,
    /// The JA4 of the TLS ClientHello (empty without TLS fingerprinting).
    Ja4,
    /// The HTTP/2 fingerprint (empty for HTTP/1).
    Http2,
    /// The header fingerprint.
    Headers,
    /// The request assessment's verdict (`human`, `automated`, `declared_bot`, `unknown`;
    /// empty before migration 7).
    Verdict,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Self; 8] = [
        Self::Browser,
        Self::Os,
        Self::DeviceType,
        Self::Country,
        Self::Ja4,
        Self::Http2,
        Self::Headers,
        Self::Verdict,
    ];

    /// The stored and URL name: `browser`, `os`, `device`, `country`, `ja4`, `http2`,
    /// `headers` or `verdict`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Os => "os",
            Self::DeviceType => "device",
            Self::Country => "country",
            Self::Ja4 => "ja4",
            Self::Http2 => "http2",
            Self::Headers => "headers",
            Self::Verdict => "verdict",
        }
    }

    /// The dimension named `name` (see [`Dimension::as_str`]).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value of a [`Dimension`] over a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakdownRow {
    /// The value (empty when unknown).
    pub value: String,
    /// Request fingerprints with this value.
    pub visits: u64,
    /// Daily unique visitors whose first request of the day had this value, summed over the
    /// days (a visitor seen on three days counts three times). The rows of one dimension add
    /// up to the days' visitors.
    pub visitors: u64,
}

/// A URL and its unique-visitor count.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlHits {
    /// The absolute URL.
    pub url: String,
    /// Unique visitors (sessions), all time.
    pub hits: u64,
}

/// Which URLs to list. Without a prefix: URLs with hits, most hits first. With a prefix: the
/// URLs that start with it, in URL (byte) order.
///
/// ```
/// use fingerprint::v1::UrlQuery;
///
/// let top = UrlQuery::new().with_limit(10);
/// let blog = UrlQuery::new().with_prefix("https://example.com/blog/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UrlQuery {
    /// Only URLs starting with this (case-sensitive).
    pub prefix: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// Page size (default 50, clamped to 1..=1000).
    pub limit: u32,
}

impl Default for UrlQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl UrlQuery {
    /// All URLs with hits, 50 per page.
    #[must_use]
    pub fn new() -> Self {
        Self {
            prefix: None,
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Only URLs starting with `prefix`, in URL order.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The page after `cursor` (from [`Page::next`](crate::model::Page::next)).
    #[must_use]
    pub fn with_after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Page size, clamped to 1..=1000.
    #[must_use]
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

impl RequestQuery {
    /// Whether the query filters on the header profile (a search of a window of rows).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn filters_profiles(&self) -> bool {
        self.user_agent.as_ref().is_some_and(|t| !t.is_empty())
            || self.ja4.as_ref().is_some_and(|t| !t.is_empty())
            || self.verdict.is_some()
            || self.reason.is_some()
    }
}

/// Which sessions to list, newest first.
///
/// ```
/// use fingerprint::v1::SessionQuery;
///
/// let anonymous = SessionQuery::new().with_linked(false);
/// let of_user = SessionQuery::new().with_user("42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionQuery {
    /// Only the sessions of this user.
    pub user_id: Option<String>,
    /// Only sessions linked to a user (`true`) or anonymous ones (`false`).
    pub linked: Option<bool>,
    /// Only session keys starting with this (lowercase hex, at most 32 characters).
    pub key_prefix: Option<String>,
    /// Only sessions assessed with this verdict.
    pub verdict: Option<Verdict>,
    /// Only sessions whose assessment gives this reason.
    pub reason: Option<Reason>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// Page size (default 50, clamped to 1..=1000).
    pub limit: u32,
}

impl Default for SessionQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionQuery {
    /// All sessions, 50 per page.
    #[must_use]
    pub fn new() -> Self {
        Self {
            user_id: None,
            linked: None,
            key_prefix: None,
            verdict: None,
            reason: None,
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Only sessions assessed `verdict`, as stored (sessions that were never assessed have
    /// none; `no_collector`, derived when sessions are read, is found with
    /// [`with_reason`](Self::with_reason)).
    #[must_use]
    pub fn with_verdict(mut self, verdict: Verdict) -> Self {
        self.verdict = Some(verdict);
        self
    }

    /// Only sessions whose assessment gives `reason`.
    #[must_use]
    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Only the sessions of `user_id`.
    #[must_use]
    pub fn with_user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Only linked (`true`) or anonymous (`false`) sessions.
    #[must_use]
    pub fn with_linked(mut self, linked: bool) -> Self {
        self.linked = Some(linked);
        self
    }

    /// Only session keys starting with `prefix` (lowercase hex).
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn with_after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Page size, clamped to 1..=1000.
    #[must_use]
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

/// An IP address or network to search request fingerprints by: `203.0.113.7`,
/// `203.0.113.0/24`, `2001:db8::1`, `2001:db8:5::/48`.
///
/// On SQLite, IPv6 networks must end on a group boundary (`/16`, `/32`, `/48`, `/64`, ...)
/// with no all-zero group in their prefix (addresses are stored as text there); PostgreSQL
/// takes any network.
///
/// ```
/// use fingerprint::v1::IpFilter;
///
/// let network: IpFilter = "10.1.0.0/16".parse().unwrap();
/// assert!(network.contains("10.1.200.3".parse().unwrap()));
/// assert!("10.1.0.0/33".parse::<IpFilter>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFilter(pub(crate) IpNet);

/// A string that is neither an IP address nor a network (`address/prefix-length`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IP address or network {0:?}: use e.g. 203.0.113.7 or 203.0.113.0/24")]
pub struct InvalidIpFilter(pub String);

impl FromStr for IpFilter {
    type Err = InvalidIpFilter;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self(IpNet::from(ip)));
        }
        text.parse::<IpNet>()
            .map(|net| Self(net.trunc()))
            .map_err(|_| InvalidIpFilter(text.chars().take(64).collect()))
    }
}

impl std::fmt::Display for IpFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_address() {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl IpFilter {
    /// The first address of the network (the address itself for one address).
    #[must_use]
    pub fn network(&self) -> IpAddr {
        self.0.network()
    }

    /// The last address of the network.
    #[must_use]
    pub fn last(&self) -> IpAddr {
        self.0.broadcast()
    }

    /// The prefix length (32 or 128 for one address).
    #[must_use]
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether this is one address rather than a network.
    #[must_use]
    pub fn is_address(&self) -> bool {
        self.0.prefix_len() == self.0.max_prefix_len()
    }

    /// Whether `ip` is in it.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

/// Which request fingerprints to list, newest first (by time, then by id).
///
/// IP, URL-prefix and session filters use indexes. The user-agent search is a substring
/// search (ASCII letters case-insensitive) that no index can serve, so each page examines at
/// most [`scan_limit`](Self::scan_limit) rows, newest first (default 50,000): a page can then
/// come back with fewer items than the limit, or none, and still have a `next` cursor to
/// search older rows.
///
/// ```
/// use fingerprint::v1::RequestQuery;
///
/// let query = RequestQuery::new()
///     .with_ip("203.0.113.0/24".parse().unwrap())
///     .with_url_prefix("https://example.com/articles/")
///     .with_user_agent("Firefox");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestQuery {
    /// Only this address or network.
    pub ip: Option<IpFilter>,
    /// Only user agents containing this (ASCII case-insensitive).
    pub user_agent: Option<String>,
    /// Only requests whose connection had this JA4 (exactly).
    pub ja4: Option<String>,
    /// Only requests assessed with this verdict.
    pub verdict: Option<Verdict>,
    /// Only requests whose assessment gives this reason.
    pub reason: Option<Reason>,
    /// Only URLs starting with this (case-sensitive).
    pub url_prefix: Option<String>,
    /// Only this session's requests.
    pub session_key: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// Page size (default 50, clamped to 1..=1000).
    pub limit: u32,
    /// Most rows one page of a user-agent, JA4, verdict or reason search examines (default
    /// 50,000, at least 1).
    pub scan_limit: u32,
}

impl Default for RequestQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestQuery {
    /// All request fingerprints, 50 per page.
    #[must_use]
    pub fn new() -> Self {
        Self {
            ip: None,
            user_agent: None,
            ja4: None,
            verdict: None,
            reason: None,
            url_prefix: None,
            session_key: None,
            after: None,
            limit: DEFAULT_LIMIT,
            scan_limit: DEFAULT_SCAN_LIMIT,
        }
    }

    /// Only this address or network.
    #[must_use]
    pub fn with_ip(mut self, ip: IpFilter) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Only user agents containing `text`.
    #[must_use]
    pub fn with_user_agent(mut self, text: impl Into<String>) -> Self {
        self.user_agent = Some(text.into());
        self
    }

    /// Only requests whose connection had this JA4 (see
    /// [`RequestFingerprint::ja4`](crate::v1::RequestFingerprint::ja4)).
    #[must_use]
    pub fn with_ja4(mut self, ja4: impl Into<String>) -> Self {
        self.ja4 = Some(ja4.into());
        self
    }

    /// Only requests assessed `verdict` (see [`assess_request`](crate::v1::assess_request)).
    #[must_use]
    pub fn with_verdict(mut self, verdict: Verdict) -> Self {
        self.verdict = Some(verdict);
        self
    }

    /// Only requests whose own assessment gives `reason`: the request-level reasons, stored
    /// with the header profile. Session-level reasons (the collector's, behaviour, a crawler's
    /// verification) are on the session: [`SessionQuery::with_reason`].
    #[must_use]
    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Only URLs starting with `prefix`.
    #[must_use]
    pub fn with_url_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.url_prefix = Some(prefix.into());
        self
    }

    /// Only the requests of one session.
    #[must_use]
    pub fn with_session(mut self, session_key: impl Into<String>) -> Self {
        self.session_key = Some(session_key.into());
        self
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn with_after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Page size, clamped to 1..=1000.
    #[must_use]
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Most rows one page of a user-agent or JA4 search examines.
    #[must_use]
    pub fn with_scan_limit(mut self, rows: u32) -> Self {
        self.scan_limit = rows;
        self
    }
}

/// Which browser fingerprints to list, newest first.
///
/// ```
/// use fingerprint::v1::BrowserQuery;
///
/// let query = BrowserQuery::new().with_visitor_prefix("3fa2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowserQuery {
    /// Only visitor ids starting with this (lowercase hex, 1 to 32 characters; 32 is one
    /// visitor id).
    pub visitor_prefix: Option<String>,
    /// Only this session's browser fingerprints.
    pub session_key: Option<String>,
    /// The cursor of the previous page.
    pub after: Option<String>,
    /// Page size (default 50, clamped to 1..=1000).
    pub limit: u32,
}

impl Default for BrowserQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl BrowserQuery {
    /// All browser fingerprints, 50 per page.
    #[must_use]
    pub fn new() -> Self {
        Self {
            visitor_prefix: None,
            session_key: None,
            after: None,
            limit: DEFAULT_LIMIT,
        }
    }

    /// Only visitor ids starting with `prefix` (lowercase hex).
    #[must_use]
    pub fn with_visitor_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.visitor_prefix = Some(prefix.into());
        self
    }

    /// Only the browser fingerprints of one session.
    #[must_use]
    pub fn with_session(mut self, session_key: impl Into<String>) -> Self {
        self.session_key = Some(session_key.into());
        self
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn with_after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Page size, clamped to 1..=1000.
    #[must_use]
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }
}

/// A browser fingerprint in a list (without its components).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowserSummary {
    /// Row id.
    pub id: i64,
    /// The session key.
    pub session_key: String,
    /// The session's user, if linked.
    pub user_id: Option<String>,
    /// The page that ran the collector.
    pub url: Option<String>,
    /// The visitor id.
    pub visitor_id: String,
    /// Milliseconds from the collector's start to its POST.
    pub duration_ms: Option<u64>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
}

/// Where a user was seen from: one IP address and its country.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserPlace {
    /// The client address (`None` when the server gave none).
    pub ip: Option<IpAddr>,
    /// Its country (ISO code, empty when unknown).
    pub country_code: String,
    /// Request fingerprints from it.
    pub requests: u64,
    /// Sessions of the user that used it.
    pub sessions: u64,
    /// First request from it.
    pub first_seen: DateTime<Utc>,
    /// Last request from it.
    pub last_seen: DateTime<Utc>,
}

/// What happened in a [`TimelineEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimelineKind {
    /// A recorded request.
    Request,
    /// A browser fingerprint.
    Browser,
    /// The session was linked to the user (a login).
    Login,
}

impl TimelineKind {
    /// `request`, `browser` or `login`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Browser => "browser",
            Self::Login => "login",
        }
    }
}

/// One event of a user's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimelineEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: TimelineKind,
    /// In which session.
    pub session_key: String,
    /// The requested URL, or the page that ran the collector.
    pub url: Option<String>,
    /// The client address of a request.
    pub ip: Option<IpAddr>,
    /// The device of a request.
    pub device: Option<Device>,
    /// The country of a request (empty when unknown or not a request).
    pub country_code: String,
    /// The visitor id of a browser fingerprint.
    pub visitor_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_filters_parse_addresses_and_networks() {
        let one: IpFilter = "203.0.113.7".parse().unwrap();
        assert!(one.is_address());
        assert_eq!(one.to_string(), "203.0.113.7");
        let net: IpFilter = " 10.1.2.3/16 ".parse().unwrap();
        assert_eq!(net.to_string(), "10.1.0.0/16", "host bits are cleared");
        assert_eq!(net.last().to_string(), "10.1.255.255");
        assert!(net.contains("10.1.9.9".parse().unwrap()));
        assert!(!net.contains("10.2.0.0".parse().unwrap()));
        let v6: IpFilter = "2001:db8::/32".parse().unwrap();
        assert_eq!(v6.prefix_len(), 32);
        for bad in [
            "",
            "10.0.0",
            "10.0.0.0/33",
            "x/8",
            "2001:db8::/129",
            "<script>",
        ] {
            assert!(bad.parse::<IpFilter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn dimensions_round_trip() {
        for dimension in Dimension::ALL {
            assert_eq!(Dimension::from_name(dimension.as_str()), Some(dimension));
        }
        assert_eq!(Dimension::from_name("colour"), None);
        assert_eq!(clamp_limit(0), 1);
        assert_eq!(clamp_limit(5000), 1000);
    }
}

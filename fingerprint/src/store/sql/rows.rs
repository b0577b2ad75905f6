//! One row type per query result, decoded by name on both databases, and its conversion
//! into the public value. Column lists that several queries share are here too.

use super::dialect::{Day, Dialect, Timestamp};
use crate::assess::{with_no_collector, SessionAssessment, Verdict};
use crate::insight::{
    BreakdownRow, BrowserSummary, DailyTraffic, TimelineEvent, TimelineKind, UrlHits, UserPlace,
};
use crate::model::{BrowserDevice, RequestDevice, SessionSummary, UserSummary, VisitorUser};
use crate::model::{
    RequestFingerprint, SessionRecord, StoredBrowser, StoredRequest, StoredSession, Utm,
};
use crate::store::insight::parse_ip;
use crate::store::users::{count, device, distinct_values};
use crate::store::StoreError;

/// The columns of [`RequestRow`], from `r` (request fingerprints), `s` (sessions), `u`
/// (URLs) and `p` (header profiles); the caller adds `FROM` and joins, or uses
/// [`request_select`].
pub(crate) fn request_columns<D: Dialect>() -> String {
    format!(
        "r.id, s.key, {} AS ip, r.method, p.user_agent, p.accept, p.accept_language, \
         p.accept_encoding, p.content_encoding, p.content_language, {} AS referer, r.country, u.url, \
         r.created_at, p.browser, p.browser_version, p.os, p.os_version, p.device_type, \
         r.country_code, p.ja4, p.http2, p.headers, p.verdict, p.reasons",
        D::ip_text("r.ip"),
        referer("r", "''")
    )
}

/// `SELECT` [`RequestRow`] `FROM` request fingerprints joined to their session and URL;
/// callers add `WHERE ...`.
pub(crate) fn request_select<D: Dialect>() -> String {
    format!(
        "SELECT {} FROM fingerprint_request_fingerprints r \
         JOIN fingerprint_sessions s ON s.id = r.session_id \
         JOIN fingerprint_urls u ON u.id = r.url_id \
         JOIN fingerprint_profiles p ON p.id = r.profile_id",
        request_columns::<D>()
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct RequestRow {
    id: i64,
    key: String,
    ip: Option<String>,
    method: String,
    user_agent: String,
    accept: String,
    accept_language: String,
    accept_encoding: String,
    content_encoding: String,
    content_language: String,
    referer: String,
    country: String,
    url: String,
    created_at: Timestamp,
    browser: String,
    browser_version: String,
    os: String,
    os_version: String,
    device_type: String,
    country_code: String,
    ja4: String,
    http2: String,
    headers: String,
    verdict: String,
    reasons: String,
}

impl RequestRow {
    /// The stored request, and its keyset cursor (`micros:id`).
    pub(crate) fn decode(self) -> Result<(StoredRequest, String), StoreError> {
        let cursor = format!("{}:{}", self.created_at.micros(), self.id);
        let request = StoredRequest {
            id: self.id,
            session_key: self.key,
            fingerprint: RequestFingerprint {
                ip: parse_ip(self.ip)?,
                method: self.method,
                user_agent: self.user_agent,
                accept: self.accept,
                accept_language: self.accept_language,
                accept_encoding: self.accept_encoding,
                content_encoding: self.content_encoding,
                content_language: self.content_language,
                referer: self.referer,
                country: self.country,
                url: self.url,
                created_at: self.created_at.0,
                device: device(
                    self.browser,
                    self.browser_version,
                    self.os,
                    self.os_version,
                    &self.device_type,
                ),
                country_code: self.country_code,
                ja4: self.ja4,
                http2: self.http2,
                headers: self.headers,
                verdict: self.verdict,
                reasons: self.reasons,
            },
        };
        Ok((request, cursor))
    }
}

/// `SELECT` [`BrowserRow`] `FROM` browser fingerprints `b` with their session `s` and URL
/// `u`; callers add `WHERE ...`.
pub(crate) const BROWSER_SELECT: &str = "SELECT b.id, s.key, u.url, b.visitor_id, \
     CAST(b.components AS TEXT) AS components, b.duration_ms, b.created_at \
     FROM fingerprint_browser_fingerprints b \
     JOIN fingerprint_sessions s ON s.id = b.session_id \
     LEFT JOIN fingerprint_urls u ON u.id = b.url_id";

#[derive(sqlx::FromRow)]
pub(crate) struct BrowserRow {
    id: i64,
    key: String,
    url: Option<String>,
    visitor_id: String,
    components: String,
    duration_ms: Option<i64>,
    created_at: Timestamp,
}

impl From<BrowserRow> for StoredBrowser {
    fn from(row: BrowserRow) -> Self {
        Self {
            id: row.id,
            session_key: row.key,
            url: row.url,
            visitor_id: row.visitor_id,
            components: row.components,
            duration_ms: duration(row.duration_ms),
            created_at: row.created_at.0,
        }
    }
}

fn duration(ms: Option<i64>) -> Option<u64> {
    ms.and_then(|ms| u64::try_from(ms).ok())
}

/// The referer of the row `alias` (its `referer_id`), else `otherwise`.
pub(crate) fn referer(alias: &str, otherwise: &str) -> String {
    format!(
        "COALESCE((SELECT f.referer FROM fingerprint_referers f \
         WHERE f.id = {alias}.referer_id), {otherwise})"
    )
}

/// `SELECT` [`SessionRow`] `FROM` sessions `s`; callers add `WHERE ...`.
pub(crate) fn session_select() -> String {
    format!(
        "SELECT s.id, s.key, s.user_id, s.created_at, s.linked_at, {} AS referer, \
         s.utm_source, s.utm_medium, s.utm_campaign, s.utm_content, s.utm_term, \
         s.verdict, s.findings FROM fingerprint_sessions s",
        referer("s", "s.referer")
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: i64,
    key: String,
    user_id: Option<String>,
    created_at: Timestamp,
    linked_at: Option<Timestamp>,
    referer: String,
    #[sqlx(flatten)]
    utm: UtmColumns,
    #[sqlx(flatten)]
    assessment: AssessmentColumns,
}

/// A session's stored assessment (empty verdict: none).
#[derive(sqlx::FromRow)]
struct AssessmentColumns {
    verdict: String,
    findings: String,
}

impl AssessmentColumns {
    fn decode(&self) -> Option<SessionAssessment> {
        let verdict = Verdict::from_code(&self.verdict)?;
        Some(SessionAssessment::new(
            verdict,
            SessionAssessment::findings_from_json(&self.findings),
        ))
    }
}

#[derive(sqlx::FromRow)]
struct UtmColumns {
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_content: Option<String>,
    utm_term: Option<String>,
}

impl From<UtmColumns> for Utm {
    fn from(utm: UtmColumns) -> Self {
        Self {
            source: utm.utm_source,
            medium: utm.utm_medium,
            campaign: utm.utm_campaign,
            content: utm.utm_content,
            term: utm.utm_term,
        }
    }
}

impl From<SessionRow> for StoredSession {
    fn from(row: SessionRow) -> Self {
        Self {
            id: row.id,
            key: row.key,
            user_id: row.user_id,
            created_at: row.created_at.0,
            linked_at: row.linked_at.map(|at| at.0),
            referer: row.referer,
            utm: row.utm.into(),
            assessment: row.assessment.decode(),
        }
    }
}

impl From<SessionRow> for SessionRecord {
    fn from(row: SessionRow) -> Self {
        Self {
            key: row.key,
            user_id: row.user_id,
            created_at: row.created_at.0,
            referer: row.referer,
            utm: row.utm.into(),
            assessment: row.assessment.decode(),
        }
    }
}

/// `SELECT` [`SummaryRow`] `FROM` sessions `s` `WHERE TRUE`; callers add `AND ...`.
pub(crate) fn summary_select() -> String {
    format!(
        "SELECT s.id, s.key, s.user_id, s.created_at, \
    {} AS referer, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_content, s.utm_term, \
    (SELECT COUNT(*) FROM fingerprint_request_fingerprints r WHERE r.session_id = s.id) \
        AS request_fingerprints, \
    (SELECT COUNT(*) FROM fingerprint_browser_fingerprints b WHERE b.session_id = s.id) \
        AS browser_fingerprints, \
    (SELECT MAX(r.created_at) FROM fingerprint_request_fingerprints r \
        WHERE r.session_id = s.id) AS last_request, \
    (SELECT MAX(b.created_at) FROM fingerprint_browser_fingerprints b \
        WHERE b.session_id = s.id) AS last_browser, s.verdict, s.findings \
    FROM fingerprint_sessions s WHERE TRUE",
        referer("s", "s.referer")
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    id: i64,
    key: String,
    user_id: Option<String>,
    created_at: Timestamp,
    referer: String,
    #[sqlx(flatten)]
    utm: UtmColumns,
    request_fingerprints: i64,
    browser_fingerprints: i64,
    last_request: Option<Timestamp>,
    last_browser: Option<Timestamp>,
    #[sqlx(flatten)]
    assessment: AssessmentColumns,
}

impl SummaryRow {
    /// The summary, and its keyset cursor (`micros:id`).
    pub(crate) fn decode(self) -> (SessionSummary, String) {
        let cursor = format!("{}:{}", self.created_at.micros(), self.id);
        let summary = SessionSummary {
            key: self.key,
            user_id: self.user_id,
            created_at: self.created_at.0,
            referer: self.referer,
            utm: self.utm.into(),
            request_fingerprints: count(self.request_fingerprints),
            browser_fingerprints: count(self.browser_fingerprints),
            last_seen: self.last_request.max(self.last_browser).map(|at| at.0),
            assessment: with_no_collector(
                self.assessment.decode(),
                count(self.request_fingerprints),
                count(self.browser_fingerprints),
            ),
        };
        (summary, cursor)
    }
}

/// `SELECT` [`UserRow`] `FROM fingerprint_users WHERE TRUE`; callers add `AND ...`.
pub(crate) const USER_SELECT: &str = "SELECT user_id, sessions, browser_fingerprints, \
    request_fingerprints, first_seen, last_seen FROM fingerprint_users WHERE TRUE";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    user_id: String,
    sessions: i64,
    browser_fingerprints: i64,
    request_fingerprints: i64,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
}

impl From<UserRow> for UserSummary {
    fn from(row: UserRow) -> Self {
        Self {
            user_id: row.user_id,
            sessions: count(row.sessions),
            browser_fingerprints: count(row.browser_fingerprints),
            request_fingerprints: count(row.request_fingerprints),
            first_seen: row.first_seen.map(|at| at.0),
            last_seen: row.last_seen.map(|at| at.0),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BrowserDeviceRow {
    visitor_id: String,
    first_seen: Timestamp,
    last_seen: Timestamp,
    sessions: i64,
    countries: Option<String>,
}

impl From<BrowserDeviceRow> for BrowserDevice {
    fn from(row: BrowserDeviceRow) -> Self {
        Self {
            visitor_id: row.visitor_id,
            first_seen: row.first_seen.0,
            last_seen: row.last_seen.0,
            sessions: count(row.sessions),
            countries: distinct_values(row.countries),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RequestDeviceRow {
    browser: String,
    browser_version: String,
    os: String,
    os_version: String,
    device_type: String,
    first_seen: Timestamp,
    last_seen: Timestamp,
    sessions: i64,
    requests: i64,
    countries: Option<String>,
    ja4s: Option<String>,
}

impl From<RequestDeviceRow> for RequestDevice {
    fn from(row: RequestDeviceRow) -> Self {
        Self {
            device: device(
                row.browser,
                row.browser_version,
                row.os,
                row.os_version,
                &row.device_type,
            ),
            first_seen: row.first_seen.0,
            last_seen: row.last_seen.0,
            sessions: count(row.sessions),
            requests: count(row.requests),
            countries: distinct_values(row.countries),
            ja4s: distinct_values(row.ja4s),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VisitorUserRow {
    user_id: String,
    sessions: i64,
    first_seen: Timestamp,
    last_seen: Timestamp,
}

impl From<VisitorUserRow> for VisitorUser {
    fn from(row: VisitorUserRow) -> Self {
        Self {
            user_id: row.user_id,
            sessions: count(row.sessions),
            first_seen: row.first_seen.0,
            last_seen: row.last_seen.0,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DailyRow {
    day: Day,
    visits: i64,
    visitors: i64,
}

impl DailyRow {
    pub(crate) fn decode(self) -> Result<DailyTraffic, StoreError> {
        Ok(DailyTraffic::new(
            self.day.date()?,
            count(self.visits),
            count(self.visitors),
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ValueRow {
    value: String,
    visits: i64,
    visitors: i64,
}

impl From<ValueRow> for BreakdownRow {
    fn from(row: ValueRow) -> Self {
        Self {
            value: row.value,
            visits: count(row.visits),
            visitors: count(row.visitors),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UrlRow {
    url: String,
    hits: i64,
    url_id: i64,
}

impl UrlRow {
    /// The URL and its cursor: by URL (`u` + URL) or by hits (`h` + hits:id).
    pub(crate) fn decode(self, by_url: bool) -> (UrlHits, String) {
        let cursor = if by_url {
            format!("u{}", self.url)
        } else {
            format!("h{}:{}", self.hits, self.url_id)
        };
        let hits = UrlHits {
            url: self.url,
            hits: count(self.hits),
        };
        (hits, cursor)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BrowserSummaryRow {
    id: i64,
    key: String,
    user_id: Option<String>,
    url: Option<String>,
    visitor_id: String,
    duration_ms: Option<i64>,
    created_at: Timestamp,
}

impl BrowserSummaryRow {
    /// The summary and its cursor (the id).
    pub(crate) fn decode(self) -> (BrowserSummary, String) {
        let cursor = self.id.to_string();
        let summary = BrowserSummary {
            id: self.id,
            session_key: self.key,
            user_id: self.user_id,
            url: self.url,
            visitor_id: self.visitor_id,
            duration_ms: duration(self.duration_ms),
            created_at: self.created_at.0,
        };
        (summary, cursor)
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PlaceRow {
    ip: Option<String>,
    country_code: String,
    requests: i64,
    sessions: i64,
    first_seen: Timestamp,
    last_seen: Timestamp,
}

impl PlaceRow {
    pub(crate) fn decode(self) -> Result<UserPlace, StoreError> {
        Ok(UserPlace {
            ip: parse_ip(self.ip)?,
            country_code: self.country_code,
            requests: count(self.requests),
            sessions: count(self.sessions),
            first_seen: self.first_seen.0,
            last_seen: self.last_seen.0,
        })
    }
}

/// A user's events (the first bound parameter: the user id, bound three times by the
/// caller): requests, browser fingerprints, logins, as [`TimelineRow`]s.
pub(crate) fn timeline_events<D: Dialect>() -> String {
    format!(
        "SELECT r.created_at AS at, 1 AS kind, r.id AS id, s.key AS key, u.url AS url, \
         {} AS ip, p.browser AS browser, p.browser_version AS browser_version, p.os AS os, \
         p.os_version AS os_version, p.device_type AS device_type, \
         r.country_code AS country_code, CAST(NULL AS TEXT) AS visitor_id \
         FROM fingerprint_sessions s \
         JOIN fingerprint_request_fingerprints r ON r.session_id = s.id \
         JOIN fingerprint_profiles p ON p.id = r.profile_id \
         JOIN fingerprint_urls u ON u.id = r.url_id WHERE s.user_id = {{user}} \
         UNION ALL SELECT b.created_at, 2, b.id, s.key, u.url, NULL, NULL, NULL, NULL, NULL, \
         NULL, '', b.visitor_id FROM fingerprint_sessions s \
         JOIN fingerprint_browser_fingerprints b ON b.session_id = s.id \
         LEFT JOIN fingerprint_urls u ON u.id = b.url_id WHERE s.user_id = {{user}} \
         UNION ALL SELECT s.linked_at, 3, s.id, s.key, NULL, NULL, NULL, NULL, NULL, NULL, \
         NULL, '', NULL FROM fingerprint_sessions s \
         WHERE s.user_id = {{user}} AND s.linked_at IS NOT NULL",
        D::ip_text("r.ip")
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct TimelineRow {
    at: Timestamp,
    kind: i32,
    id: i64,
    key: String,
    url: Option<String>,
    ip: Option<String>,
    browser: Option<String>,
    browser_version: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    device_type: Option<String>,
    country_code: String,
    visitor_id: Option<String>,
}

impl TimelineRow {
    /// The event and its cursor (`micros:kind:id`).
    pub(crate) fn decode(self) -> Result<(TimelineEvent, String), StoreError> {
        let cursor = format!("{}:{}:{}", self.at.micros(), self.kind, self.id);
        let event_device = self.browser.map(|browser| {
            device(
                browser,
                self.browser_version.unwrap_or_default(),
                self.os.unwrap_or_default(),
                self.os_version.unwrap_or_default(),
                &self.device_type.unwrap_or_default(),
            )
        });
        let event = TimelineEvent {
            at: self.at.0,
            kind: match self.kind {
                1 => TimelineKind::Request,
                2 => TimelineKind::Browser,
                _ => TimelineKind::Login,
            },
            session_key: self.key,
            url: self.url,
            ip: parse_ip(self.ip)?,
            device: event_device,
            country_code: self.country_code,
            visitor_id: self.visitor_id,
        };
        Ok((event, cursor))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TotalsRow {
    pub(crate) sessions: i64,
    pub(crate) linked_sessions: i64,
    pub(crate) users: i64,
    pub(crate) request_fingerprints: i64,
    pub(crate) browser_fingerprints: i64,
    pub(crate) visitor_ids: i64,
    pub(crate) urls: i64,
    pub(crate) unique_visits: i64,
}

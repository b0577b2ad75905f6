//! What each page shows, loaded from the store: one struct per page, rendered by its template
//! and served as JSON by the API (the API's shape is these structs).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use super::format;
use super::params::{self, BadParam, Params};
use super::DashState;
use crate::assess::{with_no_collector, Finding, SessionAssessment};
use crate::browser::components::COMPONENTS;
use crate::device::Device;
use crate::insight::{
    BrowserQuery, BrowserSummary, Dimension, RequestQuery, SessionQuery, TimelineEvent, UrlQuery,
};
use crate::model::{Page, SessionSummary, UserQuery, UserSummary};
use crate::model::{StoredRequest, Utm};
use crate::store::StoreError;

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum DashError {
    /// A bad parameter: 400 with the reason.
    BadRequest(String),
    /// Nothing there: 404 with the reason.
    NotFound(String),
    /// The store failed (500), or does not implement a query (501).
    Store(StoreError),
}

impl From<BadParam> for DashError {
    fn from(bad: BadParam) -> Self {
        Self::BadRequest(bad.0)
    }
}

impl From<StoreError> for DashError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidInput(reason) => Self::BadRequest(reason),
            other => Self::Store(other),
        }
    }
}

type Loaded<T> = Result<T, DashError>;

/// One page of a list.
#[derive(Debug, Serialize)]
pub(crate) struct ListPage<T> {
    pub(crate) items: Vec<T>,
    /// The cursor of the next page (`after=`), if there is one.
    pub(crate) next: Option<String>,
}

impl<T> ListPage<T> {
    fn from<S>(page: Page<S>, map: impl FnMut(S) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(map).collect(),
            next: page.next,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeviceView {
    pub(crate) browser: String,
    pub(crate) browser_version: String,
    pub(crate) os: String,
    pub(crate) os_version: String,
    pub(crate) device_type: &'static str,
}

impl From<&Device> for DeviceView {
    fn from(device: &Device) -> Self {
        Self {
            browser: device.browser.clone(),
            browser_version: device.browser_version.clone(),
            os: device.os.clone(),
            os_version: device.os_version.clone(),
            device_type: device.device_type.as_str(),
        }
    }
}

impl DeviceView {
    /// `Chrome 124`, or empty when unknown.
    pub(crate) fn browser_label(&self) -> String {
        join(&self.browser, &self.browser_version)
    }

    /// `Windows 10`, or empty when unknown.
    pub(crate) fn os_label(&self) -> String {
        join(&self.os, &self.os_version)
    }
}

fn join(name: &str, version: &str) -> String {
    if version.is_empty() {
        name.to_owned()
    } else {
        format!("{name} {version}")
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct UtmView {
    pub(crate) source: Option<String>,
    pub(crate) medium: Option<String>,
    pub(crate) campaign: Option<String>,
    pub(crate) content: Option<String>,
    pub(crate) term: Option<String>,
}

impl From<&Utm> for UtmView {
    fn from(utm: &Utm) -> Self {
        Self {
            source: utm.source.clone(),
            medium: utm.medium.clone(),
            campaign: utm.campaign.clone(),
            content: utm.content.clone(),
            term: utm.term.clone(),
        }
    }
}

impl UtmView {
    /// `source / medium / campaign`, as far as they are set.
    pub(crate) fn label(&self) -> String {
        [&self.source, &self.medium, &self.campaign]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

// ---------------------------------------------------------------------------------------
// Overview

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct DayRow {
    pub(crate) day: NaiveDate,
    pub(crate) visits: u64,
    pub(crate) visitors: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ShareRow {
    /// The value (empty: unknown; `null`: all the values after the top ones).
    pub(crate) value: Option<String>,
    pub(crate) visits: u64,
    pub(crate) visitors: u64,
    /// Share of the visitors.
    pub(crate) share: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Breakdown {
    pub(crate) dimension: &'static str,
    #[serde(skip)]
    pub(crate) title: &'static str,
    pub(crate) rows: Vec<ShareRow>,
}

#[derive(Debug, Serialize)]
pub(crate) struct UrlRow {
    pub(crate) url: String,
    pub(crate) hits: u64,
    /// Hits relative to the first row of the list.
    #[serde(skip)]
    pub(crate) relative: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Overview {
    pub(crate) days: u32,
    pub(crate) first: NaiveDate,
    pub(crate) last: NaiveDate,
    /// Every day of the period, oldest first (days without visits are zeros).
    pub(crate) traffic: Vec<DayRow>,
    pub(crate) visits: u64,
    /// Daily unique visitors summed over the days.
    pub(crate) visitor_days: u64,
    pub(crate) today: DayRow,
    pub(crate) top_pages: Vec<UrlRow>,
    pub(crate) breakdowns: Vec<Breakdown>,
}

impl Overview {
    /// Average daily unique visitors, for people.
    pub(crate) fn daily_visitors(&self) -> String {
        format::per_day(self.visitor_days, self.days)
    }
}

/// How many values of each dimension the overview lists (the rest are summed as "other").
const TOP_VALUES: u32 = 8;

pub(crate) async fn overview(state: &DashState, params: &Params) -> Loaded<Overview> {
    let days = params::days(params.get("days"))?;
    let store = state.shared.store();
    let last = state.shared.now().date_naive();
    let first = last - TimeDelta::days(i64::from(days) - 1);
    let stored: BTreeMap<NaiveDate, (u64, u64)> = store
        .daily_traffic(first, last)
        .await?
        .into_iter()
        .map(|t| (t.day, (t.visits, t.visitors)))
        .collect();
    let traffic: Vec<DayRow> = first
        .iter_days()
        .take_while(|day| *day <= last)
        .map(|day| {
            let (visits, visitors) = stored.get(&day).copied().unwrap_or_default();
            DayRow {
                day,
                visits,
                visitors,
            }
        })
        .collect();
    let visits = traffic.iter().map(|d| d.visits).sum();
    let visitor_days: u64 = traffic.iter().map(|d| d.visitors).sum();
    let today = traffic.last().copied().unwrap_or(DayRow {
        day: last,
        visits: 0,
        visitors: 0,
    });
    let mut breakdowns = Vec::with_capacity(Dimension::ALL.len());
    for (dimension, title) in [
        (Dimension::Browser, "Browsers"),
        (Dimension::Os, "Operating systems"),
        (Dimension::DeviceType, "Device types"),
        (Dimension::Verdict, "Verdicts"),
        (Dimension::Country, "Countries"),
        (Dimension::Ja4, "TLS clients (JA4)"),
        (Dimension::Http2, "HTTP/2 stacks"),
        (Dimension::Headers, "Header fingerprints"),
    ] {
        let top = store.breakdown(dimension, first, last, TOP_VALUES).await?;
        let share = |visitors: u64| {
            if visitor_days == 0 {
                0.0
            } else {
                visitors as f64 / visitor_days as f64
            }
        };
        let listed_visits: u64 = top.iter().map(|r| r.visits).sum();
        let listed_visitors: u64 = top.iter().map(|r| r.visitors).sum();
        let mut rows: Vec<ShareRow> = top
            .into_iter()
            .map(|row| ShareRow {
                share: share(row.visitors),
                value: Some(row.value),
                visits: row.visits,
                visitors: row.visitors,
            })
            .collect();
        if listed_visits < visits {
            let rest = visitor_days.saturating_sub(listed_visitors);
            rows.push(ShareRow {
                value: None,
                visits: visits - listed_visits,
                visitors: rest,
                share: share(rest),
            });
        }
        breakdowns.push(Breakdown {
            dimension: dimension.as_str(),
            title,
            rows,
        });
    }
    let top_pages = urls_rows(store.urls(&UrlQuery::new().with_limit(10)).await?.items);
    Ok(Overview {
        days,
        first,
        last,
        traffic,
        visits,
        visitor_days,
        today,
        top_pages,
        breakdowns,
    })
}

fn urls_rows(urls: Vec<crate::insight::UrlHits>) -> Vec<UrlRow> {
    let top = urls.first().map_or(0, |u| u.hits).max(1);
    urls.into_iter()
        .map(|u| UrlRow {
            relative: u.hits as f64 / top as f64,
            url: u.url,
            hits: u.hits,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Users

#[derive(Debug, Serialize)]
pub(crate) struct UserRow {
    pub(crate) user_id: String,
    pub(crate) sessions: u64,
    pub(crate) browser_fingerprints: u64,
    pub(crate) request_fingerprints: u64,
    pub(crate) first_seen: Option<DateTime<Utc>>,
    pub(crate) last_seen: Option<DateTime<Utc>>,
}

impl From<UserSummary> for UserRow {
    fn from(user: UserSummary) -> Self {
        Self {
            user_id: user.user_id,
            sessions: user.sessions,
            browser_fingerprints: user.browser_fingerprints,
            request_fingerprints: user.request_fingerprints,
            first_seen: user.first_seen,
            last_seen: user.last_seen,
        }
    }
}

/// The users list's filters, as given.
#[derive(Debug, Default)]
pub(crate) struct UserFilters {
    pub(crate) seen: Option<String>,
    pub(crate) browsers: Option<String>,
    pub(crate) requests: Option<String>,
    pub(crate) q: Option<String>,
}

pub(crate) async fn users(
    state: &DashState,
    params: &Params,
) -> Loaded<(UserFilters, ListPage<UserRow>)> {
    let mut query = UserQuery::new().with_limit(params.limit()?);
    let mut filters = UserFilters::default();
    if let Some(seen) = params.get("seen") {
        query = query.with_seen_within(params::seen_within(seen)?);
        filters.seen = Some(seen.to_owned());
    }
    if let Some(bucket) = params.get("browsers") {
        query = query.with_browser_fingerprints(params::bucket(bucket, "browsers")?);
        filters.browsers = Some(bucket.to_owned());
    }
    if let Some(bucket) = params.get("requests") {
        query = query.with_request_fingerprints(params::bucket(bucket, "requests")?);
        filters.requests = Some(bucket.to_owned());
    }
    if let Some(search) = params.text("q", 200)? {
        query = query.with_search(&search);
        filters.q = Some(search);
    }
    if let Some(after) = params.after()? {
        query = query.with_after(after);
    }
    let page = state.users.list(&query).await?;
    Ok((filters, ListPage::from(page, UserRow::from)))
}

#[derive(Debug, Serialize)]
pub(crate) struct VisitorRow {
    pub(crate) visitor_id: String,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
    pub(crate) sessions: u64,
    pub(crate) countries: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeviceRow {
    pub(crate) device: DeviceView,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
    pub(crate) sessions: u64,
    pub(crate) requests: u64,
    pub(crate) countries: Vec<String>,
    pub(crate) ja4s: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PlaceRow {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) country_code: String,
    pub(crate) requests: u64,
    pub(crate) sessions: u64,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionRow {
    pub(crate) key: String,
    pub(crate) user_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) last_seen: Option<DateTime<Utc>>,
    pub(crate) request_fingerprints: u64,
    pub(crate) browser_fingerprints: u64,
    pub(crate) referer: String,
    pub(crate) utm: UtmView,
    /// `human`, `automated`, ... (empty: not assessed).
    pub(crate) verdict: String,
    pub(crate) score: u8,
    pub(crate) findings: Vec<Finding>,
}

impl From<SessionSummary> for SessionRow {
    fn from(session: SessionSummary) -> Self {
        let (verdict, score, findings) = assessment_fields(session.assessment);
        Self {
            utm: UtmView::from(&session.utm),
            key: session.key,
            user_id: session.user_id,
            created_at: session.created_at,
            last_seen: session.last_seen,
            request_fingerprints: session.request_fingerprints,
            browser_fingerprints: session.browser_fingerprints,
            referer: session.referer,
            verdict,
            score,
            findings,
        }
    }
}

/// A session's assessment as the pages show it: verdict (empty: not assessed), score,
/// findings.
fn assessment_fields(assessment: Option<SessionAssessment>) -> (String, u8, Vec<Finding>) {
    assessment.map_or_else(Default::default, |a| {
        (a.verdict.as_str().to_owned(), a.score, a.findings)
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct EventRow {
    pub(crate) at: DateTime<Utc>,
    pub(crate) kind: &'static str,
    pub(crate) session_key: String,
    pub(crate) url: Option<String>,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) device: Option<DeviceView>,
    pub(crate) country_code: String,
    pub(crate) visitor_id: Option<String>,
}

impl From<TimelineEvent> for EventRow {
    fn from(event: TimelineEvent) -> Self {
        Self {
            at: event.at,
            kind: event.kind.as_str(),
            session_key: event.session_key,
            url: event.url,
            ip: event.ip,
            device: event.device.as_ref().map(DeviceView::from),
            country_code: event.country_code,
            visitor_id: event.visitor_id,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct UserDetail {
    pub(crate) user: UserRow,
    pub(crate) browsers: Vec<VisitorRow>,
    pub(crate) devices: Vec<DeviceRow>,
    pub(crate) places: Vec<PlaceRow>,
    /// The newest sessions (all of them on the sessions page).
    pub(crate) sessions: Vec<SessionRow>,
    pub(crate) timeline: ListPage<EventRow>,
}

/// Sessions and places shown on a user's page.
const USER_ROWS: u32 = 20;

pub(crate) async fn user(state: &DashState, user_id: &str, params: &Params) -> Loaded<UserDetail> {
    params::free_text("user id", user_id, 255)?;
    let after = params.after()?;
    let limit = params.limit()?;
    let store = state.shared.store();
    let Some(user) = store.user(user_id).await? else {
        return Err(DashError::NotFound(format!("no user {user_id:?}")));
    };
    let devices = store.user_devices(user_id).await?;
    let places = store.user_places(user_id, USER_ROWS).await?;
    let sessions = store.user_sessions(user_id, USER_ROWS).await?;
    let timeline = store
        .user_timeline(user_id, after.as_deref(), limit)
        .await?;
    Ok(UserDetail {
        user: user.into(),
        browsers: devices
            .browsers
            .into_iter()
            .map(|b| VisitorRow {
                visitor_id: b.visitor_id,
                first_seen: b.first_seen,
                last_seen: b.last_seen,
                sessions: b.sessions,
                countries: b.countries,
            })
            .collect(),
        devices: devices
            .devices
            .into_iter()
            .map(|d| DeviceRow {
                device: DeviceView::from(&d.device),
                first_seen: d.first_seen,
                last_seen: d.last_seen,
                sessions: d.sessions,
                requests: d.requests,
                countries: d.countries,
                ja4s: d.ja4s,
            })
            .collect(),
        places: places
            .into_iter()
            .map(|p| PlaceRow {
                ip: p.ip,
                country_code: p.country_code,
                requests: p.requests,
                sessions: p.sessions,
                first_seen: p.first_seen,
                last_seen: p.last_seen,
            })
            .collect(),
        sessions: sessions.into_iter().map(SessionRow::from).collect(),
        timeline: ListPage::from(timeline, EventRow::from),
    })
}

// ---------------------------------------------------------------------------------------
// Sessions

#[derive(Debug, Default)]
pub(crate) struct SessionFilters {
    pub(crate) key: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) linked: Option<String>,
    pub(crate) verdict: Option<String>,
    pub(crate) reason: Option<String>,
}

pub(crate) async fn sessions(
    state: &DashState,
    params: &Params,
) -> Loaded<(SessionFilters, ListPage<SessionRow>)> {
    let mut query = SessionQuery::new().with_limit(params.limit()?);
    let mut filters = SessionFilters::default();
    if let Some(key) = params.get("key") {
        query = query.with_key_prefix(params::hex_prefix(key, "session key")?);
        filters.key = Some(key.to_owned());
    }
    if let Some(user) = params.text("user", 255)? {
        query = query.with_user(&user);
        filters.user = Some(user);
    }
    if let Some(linked) = params.get("linked") {
        query = query.with_linked(params::linked(linked)?);
        filters.linked = Some(linked.to_owned());
    }
    (query.verdict, query.reason) = params::assessment(params)?;
    filters.verdict = params.get("verdict").map(str::to_owned);
    filters.reason = params.get("reason").map(str::to_owned);
    if let Some(after) = params.after()? {
        query = query.with_after(after);
    }
    let page = state.shared.store().sessions(&query).await?;
    Ok((filters, ListPage::from(page, SessionRow::from)))
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionInfo {
    pub(crate) key: String,
    pub(crate) user_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) referer: String,
    pub(crate) utm: UtmView,
    /// `human`, `automated`, ... (empty: not assessed; its browser never ran the collector).
    pub(crate) verdict: String,
    pub(crate) score: u8,
    /// The assessment's reasons with their evidence.
    pub(crate) findings: Vec<Finding>,
}

#[derive(Debug, Serialize)]
pub(crate) struct SessionDetail {
    pub(crate) session: SessionInfo,
    /// The newest browser fingerprints.
    pub(crate) browsers: Vec<BrowserRow>,
    /// The newest request fingerprints (all of them: `/requests?session=`).
    pub(crate) requests: Vec<RequestRow>,
}

/// Requests and browser fingerprints shown on a session's page.
pub(crate) const SESSION_ROWS: u32 = 100;

pub(crate) async fn session(state: &DashState, key: &str) -> Loaded<SessionDetail> {
    let key = params::hex_id(key, "session key")?;
    let store = state.shared.store();
    let Some(session) = store.session(&key).await? else {
        return Err(DashError::NotFound("no such session".into()));
    };
    let requests = store.session_requests(&key, SESSION_ROWS).await?;
    let browsers = store
        .browser_fingerprints(
            &BrowserQuery::new()
                .with_session(&key)
                .with_limit(SESSION_ROWS),
        )
        .await?;
    let (verdict, score, findings) = assessment_fields(with_no_collector(
        session.assessment,
        requests.len() as u64,
        browsers.items.len() as u64,
    ));
    Ok(SessionDetail {
        session: SessionInfo {
            utm: UtmView::from(&session.utm),
            key: session.key,
            user_id: session.user_id,
            created_at: session.created_at,
            referer: session.referer,
            verdict,
            score,
            findings,
        },
        browsers: browsers.items.into_iter().map(BrowserRow::from).collect(),
        requests: requests.into_iter().map(RequestRow::from).collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Browser fingerprints

#[derive(Debug, Serialize)]
pub(crate) struct BrowserRow {
    pub(crate) id: i64,
    pub(crate) visitor_id: String,
    pub(crate) session_key: String,
    pub(crate) user_id: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<BrowserSummary> for BrowserRow {
    fn from(browser: BrowserSummary) -> Self {
        Self {
            id: browser.id,
            visitor_id: browser.visitor_id,
            session_key: browser.session_key,
            user_id: browser.user_id,
            url: browser.url,
            duration_ms: browser.duration_ms,
            created_at: browser.created_at,
        }
    }
}

pub(crate) async fn browsers(
    state: &DashState,
    params: &Params,
) -> Loaded<(Option<String>, ListPage<BrowserRow>)> {
    let mut query = BrowserQuery::new().with_limit(params.limit()?);
    let visitor = params.get("visitor").map(str::to_owned);
    if let Some(prefix) = &visitor {
        query = query.with_visitor_prefix(params::hex_prefix(prefix, "visitor id")?);
    }
    if let Some(after) = params.after()? {
        query = query.with_after(after);
    }
    let page = state.shared.store().browser_fingerprints(&query).await?;
    Ok((visitor, ListPage::from(page, BrowserRow::from)))
}

#[derive(Debug, Serialize)]
pub(crate) struct ComponentRow {
    pub(crate) name: String,
    /// Part of the visitor id (stable components only).
    pub(crate) stable: bool,
    pub(crate) value: Value,
    #[serde(skip)]
    pub(crate) text: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct VisitorUserRow {
    pub(crate) user_id: String,
    pub(crate) sessions: u64,
    pub(crate) first_seen: DateTime<Utc>,
    pub(crate) last_seen: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub(crate) struct VisitorDetail {
    pub(crate) visitor_id: String,
    /// The newest browser fingerprint with this id, whose components are shown.
    pub(crate) latest: BrowserRow,
    pub(crate) components: Vec<ComponentRow>,
    pub(crate) users: Vec<VisitorUserRow>,
    pub(crate) sessions: Vec<SessionRow>,
}

/// The components of a stored browser fingerprint, in the collector's order (unknown names
/// last, sorted).
fn components(json: &str) -> Vec<(String, Value)> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    let rank = |name: &str| {
        COMPONENTS
            .iter()
            .position(|(known, _)| *known == name)
            .unwrap_or(COMPONENTS.len())
    };
    entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    entries
}

fn is_stable(name: &str) -> bool {
    COMPONENTS
        .iter()
        .any(|(known, stable)| *known == name && *stable)
}

/// A component value as compact text.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

async fn latest(state: &DashState, visitor_id: &str) -> Loaded<crate::model::StoredBrowser> {
    state
        .shared
        .store()
        .latest_browser(visitor_id)
        .await?
        .ok_or_else(|| {
            DashError::NotFound(format!(
                "no browser fingerprint with visitor id {visitor_id}"
            ))
        })
}

pub(crate) async fn visitor(state: &DashState, visitor_id: &str) -> Loaded<VisitorDetail> {
    let visitor_id = params::hex_id(visitor_id, "visitor id")?;
    let store = state.shared.store();
    let latest = latest(state, &visitor_id).await?;
    let users = store.visitor_users(&visitor_id).await?;
    let sessions = store.visitor_sessions(&visitor_id, 20).await?;
    let user_of_latest = sessions
        .iter()
        .find(|s| s.key == latest.session_key)
        .and_then(|s| s.user_id.clone());
    Ok(VisitorDetail {
        components: components(&latest.components)
            .into_iter()
            .map(|(name, value)| ComponentRow {
                stable: is_stable(&name),
                text: text(&value),
                name,
                value,
            })
            .collect(),
        latest: BrowserRow {
            id: latest.id,
            visitor_id: latest.visitor_id,
            session_key: latest.session_key,
            user_id: user_of_latest,
            url: latest.url,
            duration_ms: latest.duration_ms,
            created_at: latest.created_at,
        },
        visitor_id,
        users: users
            .into_iter()
            .map(|u| VisitorUserRow {
                user_id: u.user_id,
                sessions: u.sessions,
                first_seen: u.first_seen,
                last_seen: u.last_seen,
            })
            .collect(),
        sessions: sessions.into_iter().map(SessionRow::from).collect(),
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct DiffRow {
    pub(crate) name: String,
    pub(crate) stable: bool,
    pub(crate) a: Option<Value>,
    pub(crate) b: Option<Value>,
    pub(crate) same: bool,
    #[serde(skip)]
    pub(crate) a_text: String,
    #[serde(skip)]
    pub(crate) b_text: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Diff {
    pub(crate) a: BrowserRow,
    pub(crate) b: BrowserRow,
    /// Components that differ.
    pub(crate) differences: usize,
    pub(crate) rows: Vec<DiffRow>,
}

/// The diff page's form values, and the diff once both are given.
pub(crate) async fn diff(
    state: &DashState,
    params: &Params,
) -> Loaded<(Option<String>, Option<String>, Option<Diff>)> {
    let a = params.get("a").map(str::to_owned);
    let b = params.get("b").map(str::to_owned);
    let (Some(first), Some(second)) = (&a, &b) else {
        return Ok((a, b, None));
    };
    let first = latest(state, &params::hex_id(first, "visitor id a")?).await?;
    let second = latest(state, &params::hex_id(second, "visitor id b")?).await?;
    let left = components(&first.components);
    let right: BTreeMap<String, Value> = components(&second.components).into_iter().collect();
    let mut rows: Vec<DiffRow> = Vec::new();
    let mut seen = Vec::new();
    for (name, value) in left {
        let other = right.get(&name).cloned();
        seen.push(name.clone());
        rows.push(diff_row(name, Some(value), other));
    }
    for (name, value) in right {
        if !seen.contains(&name) {
            rows.push(diff_row(name, None, Some(value)));
        }
    }
    let summary = |browser: crate::model::StoredBrowser| BrowserRow {
        id: browser.id,
        visitor_id: browser.visitor_id,
        session_key: browser.session_key,
        user_id: None,
        url: browser.url,
        duration_ms: browser.duration_ms,
        created_at: browser.created_at,
    };
    let differences = rows.iter().filter(|r| !r.same).count();
    Ok((
        a,
        b,
        Some(Diff {
            a: summary(first),
            b: summary(second),
            differences,
            rows,
        }),
    ))
}

fn diff_row(name: String, a: Option<Value>, b: Option<Value>) -> DiffRow {
    let shown = |value: &Option<Value>| value.as_ref().map_or_else(|| "–".into(), text);
    DiffRow {
        stable: is_stable(&name),
        same: a == b,
        a_text: shown(&a),
        b_text: shown(&b),
        name,
        a,
        b,
    }
}

// ---------------------------------------------------------------------------------------
// Request fingerprints

#[derive(Debug, Serialize)]
pub(crate) struct RequestRow {
    pub(crate) id: i64,
    pub(crate) session_key: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) country_code: String,
    pub(crate) user_agent: String,
    pub(crate) accept: String,
    pub(crate) accept_language: String,
    pub(crate) accept_encoding: String,
    pub(crate) referer: String,
    pub(crate) device: DeviceView,
    pub(crate) ja4: String,
    pub(crate) http2: String,
    pub(crate) headers: String,
    pub(crate) verdict: String,
    pub(crate) reasons: String,
}

impl From<StoredRequest> for RequestRow {
    fn from(request: StoredRequest) -> Self {
        let fp = request.fingerprint;
        Self {
            device: DeviceView::from(&fp.device),
            id: request.id,
            session_key: request.session_key,
            created_at: fp.created_at,
            method: fp.method,
            url: fp.url,
            ip: fp.ip,
            country_code: fp.country_code,
            user_agent: fp.user_agent,
            accept: fp.accept,
            accept_language: fp.accept_language,
            accept_encoding: fp.accept_encoding,
            referer: fp.referer,
            ja4: fp.ja4,
            http2: fp.http2,
            headers: fp.headers,
            verdict: fp.verdict,
            reasons: fp.reasons,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RequestFilters {
    pub(crate) ip: Option<String>,
    pub(crate) ua: Option<String>,
    pub(crate) ja4: Option<String>,
    pub(crate) verdict: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) session: Option<String>,
    /// Rows a user-agent search examines per page.
    pub(crate) scan_limit: u32,
}

pub(crate) async fn requests(
    state: &DashState,
    params: &Params,
) -> Loaded<(RequestFilters, ListPage<RequestRow>)> {
    let mut query = RequestQuery::new().with_limit(params.limit()?);
    let mut filters = RequestFilters {
        scan_limit: query.scan_limit,
        ..RequestFilters::default()
    };
    if let Some(ip) = params.get("ip") {
        query = query.with_ip(params::ip(ip)?);
        filters.ip = Some(ip.to_owned());
    }
    if let Some(ua) = params.text("ua", 255)? {
        query = query.with_user_agent(&ua);
        filters.ua = Some(ua);
    }
    if let Some(ja4) = params.text("ja4", 64)? {
        query = query.with_ja4(&ja4);
        filters.ja4 = Some(ja4);
    }
    (query.verdict, query.reason) = params::assessment(params)?;
    filters.verdict = params.get("verdict").map(str::to_owned);
    filters.reason = params.get("reason").map(str::to_owned);
    if let Some(url) = params.text("url", 2048)? {
        query = query.with_url_prefix(&url);
        filters.url = Some(url);
    }
    if let Some(session) = params.get("session") {
        query = query.with_session(params::hex_id(session, "session key")?);
        filters.session = Some(session.to_owned());
    }
    if let Some(after) = params.after()? {
        query = query.with_after(after);
    }
    let page = state.shared.store().request_fingerprints(&query).await?;
    Ok((filters, ListPage::from(page, RequestRow::from)))
}

// ---------------------------------------------------------------------------------------
// URLs

pub(crate) async fn urls(
    state: &DashState,
    params: &Params,
) -> Loaded<(Option<String>, ListPage<UrlRow>)> {
    let mut query = UrlQuery::new().with_limit(params.limit()?);
    let prefix = params.text("prefix", 2048)?;
    if let Some(prefix) = &prefix {
        query = query.with_prefix(prefix);
    }
    if let Some(after) = params.after()? {
        query = query.with_after(after);
    }
    let page = state.shared.store().urls(&query).await?;
    Ok((
        prefix,
        ListPage {
            items: urls_rows(page.items),
            next: page.next,
        },
    ))
}

//! The dashboard's routes: one HTML page and one JSON twin per view.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use super::data::{
    self, BrowserRow, DashError, Diff, ListPage, Overview, RequestFilters, RequestRow,
    SessionDetail, SessionFilters, SessionRow, UrlRow, UserDetail, UserFilters, UserRow,
    VisitorDetail,
};
use super::params::{Params, SEEN_WITHIN};
use super::{base_path, chart, stylesheet_path, DashState};
use crate::model::CountBucket;

/// The askama filters of the templates.
mod filters {
    pub(crate) use crate::dashboard::format::{
        country, date, known, ms, num, opt_time, percent, q, seg, short, time, width,
    };
}

pub(crate) fn routes() -> Router<DashState> {
    Router::new()
        .route("/", get(overview_page))
        .route("/users", get(users_page))
        .route("/users/{user_id}", get(user_page))
        .route("/sessions", get(sessions_page))
        .route("/sessions/{key}", get(session_page))
        .route("/browsers", get(browsers_page))
        .route("/browsers/diff", get(diff_page))
        .route("/browsers/{visitor_id}", get(visitor_page))
        .route("/requests", get(requests_page))
        .route("/urls", get(urls_page))
        .route("/api/overview", get(overview_api))
        .route("/api/users", get(users_api))
        .route("/api/users/{user_id}", get(user_api))
        .route("/api/sessions", get(sessions_api))
        .route("/api/sessions/{key}", get(session_api))
        .route("/api/browsers", get(browsers_api))
        .route("/api/browsers/diff", get(diff_api))
        .route("/api/browsers/{visitor_id}", get(visitor_api))
        .route("/api/requests", get(requests_api))
        .route("/api/urls", get(urls_api))
}

/// Which section of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Users,
    Sessions,
    Browsers,
    Requests,
    Urls,
    None,
}

pub(crate) struct NavItem {
    pub(crate) href: String,
    pub(crate) label: &'static str,
    pub(crate) current: bool,
}

/// What every page around its content needs: where the dashboard is, the stylesheet, the
/// title, the navigation.
pub(crate) struct Chrome {
    pub(crate) base: String,
    pub(crate) stylesheet: String,
    pub(crate) title: String,
    pub(crate) active: Nav,
    pub(crate) now: DateTime<Utc>,
    /// The JSON twin of this page.
    pub(crate) api: Option<String>,
    /// Without navigation (a refused request).
    bare: bool,
}

impl Chrome {
    fn new(state: &DashState, parts: &Parts, active: Nav, title: impl Into<String>) -> Self {
        let base = base_path(parts);
        let api = format!(
            "{base}/api{}{}",
            if parts.uri.path() == "/" {
                "/overview"
            } else {
                parts.uri.path()
            },
            parts
                .uri
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        );
        Self {
            stylesheet: format!("{base}{}", stylesheet_path()),
            base,
            title: title.into(),
            active,
            now: state.shared.now(),
            api: Some(api),
            bare: false,
        }
    }

    /// The overview: the path the dashboard is nested at (axum routes no trailing slash
    /// there), or `/` at the root.
    pub(crate) fn home(&self) -> String {
        if self.base.is_empty() {
            "/".into()
        } else {
            self.base.clone()
        }
    }

    pub(crate) fn nav(&self) -> Vec<NavItem> {
        if self.bare {
            return Vec::new();
        }
        [
            (Nav::Overview, "/", "Overview"),
            (Nav::Users, "/users", "Users"),
            (Nav::Sessions, "/sessions", "Sessions"),
            (Nav::Browsers, "/browsers", "Browser fingerprints"),
            (Nav::Requests, "/requests", "Request fingerprints"),
            (Nav::Urls, "/urls", "URLs"),
        ]
        .into_iter()
        .map(|(nav, path, label)| NavItem {
            href: if path == "/" {
                self.home()
            } else {
                format!("{}{path}", self.base)
            },
            label,
            current: nav == self.active,
        })
        .collect()
    }
}

/// The links of a list's pager: to its first page when not on it, and to the next one.
struct Pager {
    first_href: Option<String>,
    next_href: Option<String>,
}

impl Pager {
    /// `path` with the current query's parameters except `after`, then `after=next`.
    fn new(chrome: &Chrome, parts: &Parts, next: Option<&str>) -> Self {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .filter(|(name, value)| name != "after" && !value.is_empty())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
        let on_first = !parts
            .uri
            .query()
            .is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(n, _)| n == "after"));
        let path = format!("{}{}", chrome.base, parts.uri.path());
        let query = |extra: Option<(&str, &str)>| {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &params {
                serializer.append_pair(name, value);
            }
            if let Some((name, value)) = extra {
                serializer.append_pair(name, value);
            }
            let query = serializer.finish();
            if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            }
        };
        Self {
            first_href: (!on_first).then(|| query(None)),
            next_href: next.map(|cursor| query(Some(("after", cursor)))),
        }
    }
}

fn html(template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a dashboard template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render\n",
            )
                .into_response()
        }
    }
}

fn json<T: Serialize>(result: Result<T, DashError>) -> Response {
    let (status, body) = match result {
        Ok(value) => match serde_json::to_vec(&value) {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => {
                tracing::error!(%error, "a dashboard view failed to serialize");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    br#"{"error":"the response failed to serialize"}"#.to_vec(),
                )
            }
        },
        Err(error) => {
            let (status, reason) = describe(&error);
            (
                status,
                serde_json::to_vec(&serde_json::json!({ "error": reason })).unwrap_or_default(),
            )
        }
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The status and the reason shown for an error (store failures are logged, not shown).
fn describe(error: &DashError) -> (StatusCode, String) {
    match error {
        DashError::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason.clone()),
        DashError::NotFound(reason) => (StatusCode::NOT_FOUND, reason.clone()),
        DashError::Store(error) => {
            tracing::error!(%error, "a dashboard query failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store failed; see the server's log".into(),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: String,
    heading: &'static str,
    reason: String,
    show_home: bool,
}

/// A page for a refused or failed request.
pub(crate) fn error_page(base: &str, status: StatusCode, reason: &str) -> Response {
    let heading = match status {
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::NOT_IMPLEMENTED => "Not supported",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        chrome: Chrome {
            base: base.to_owned(),
            stylesheet: format!("{base}{}", stylesheet_path()),
            title: heading.into(),
            active: Nav::None,
            now: Utc::now(),
            api: None,
            bare: status == StatusCode::FORBIDDEN,
        },
        status: status.as_u16().to_string(),
        heading,
        reason: reason.to_owned(),
        show_home: status != StatusCode::FORBIDDEN,
    };
    let mut response = html(&page);
    *response.status_mut() = status;
    response
}

fn failed(parts: &Parts, error: &DashError) -> Response {
    let (status, reason) = describe(error);
    error_page(&base_path(parts), status, &reason)
}

pub(crate) async fn not_found(parts: Parts) -> Response {
    error_page(
        &base_path(&parts),
        StatusCode::NOT_FOUND,
        "There is no such page in the dashboard.",
    )
}

// ---------------------------------------------------------------------------------------
// Overview

struct Period {
    days: u32,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    data: Overview,
    chart: String,
    periods: Vec<Period>,
}

async fn overview_page(State(state): State<DashState>, parts: Parts) -> Response {
    let params = Params::parse(parts.uri.query());
    match data::overview(&state, &params).await {
        Ok(data) => {
            let mut periods: Vec<Period> = [(7, "7 days"), (30, "30 days"), (90, "90 days")]
                .into_iter()
                .map(|(days, label)| Period {
                    days,
                    label,
                    selected: days == data.days,
                })
                .collect();
            if !periods.iter().any(|p| p.selected) {
                periods.push(Period {
                    days: data.days,
                    label: "this period",
                    selected: true,
                });
            }
            html(&OverviewPage {
                chrome: Chrome::new(&state, &parts, Nav::Overview, "Overview"),
                chart: chart::traffic(&data.traffic),
                data,
                periods,
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn overview_api(State(state): State<DashState>, parts: Parts) -> Response {
    json(data::overview(&state, &Params::parse(parts.uri.query())).await)
}

// ---------------------------------------------------------------------------------------
// Users

struct SelectOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn bucket_options(selected: Option<&str>) -> Vec<SelectOption> {
    CountBucket::ALL
        .into_iter()
        .map(|bucket| SelectOption {
            value: bucket.label(),
            label: bucket.label(),
            selected: selected == Some(bucket.label()),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
struct UsersPage {
    chrome: Chrome,
    filters: UserFilters,
    data: ListPage<UserRow>,
    seen_options: Vec<SelectOption>,
    browser_options: Vec<SelectOption>,
    request_options: Vec<SelectOption>,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn users_page(State(state): State<DashState>, parts: Parts) -> Response {
    match data::users(&state, &Params::parse(parts.uri.query())).await {
        Ok((filters, data)) => {
            let chrome = Chrome::new(&state, &parts, Nav::Users, "Users");
            let pager = Pager::new(&chrome, &parts, data.next.as_deref());
            html(&UsersPage {
                seen_options: SEEN_WITHIN
                    .iter()
                    .map(|(value, label, _)| SelectOption {
                        value,
                        label,
                        selected: filters.seen.as_deref() == Some(*value),
                    })
                    .collect(),
                browser_options: bucket_options(filters.browsers.as_deref()),
                request_options: bucket_options(filters.requests.as_deref()),
                chrome,
                filters,
                data,
                first_href: pager.first_href,
                next_href: pager.next_href,
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn users_api(State(state): State<DashState>, parts: Parts) -> Response {
    json(
        data::users(&state, &Params::parse(parts.uri.query()))
            .await
            .map(|(_, page)| page),
    )
}

#[derive(Template)]
#[template(path = "dashboard/user.html")]
struct UserPage {
    chrome: Chrome,
    data: UserDetail,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn user_page(
    State(state): State<DashState>,
    Path(user_id): Path<String>,
    parts: Parts,
) -> Response {
    match data::user(&state, &user_id, &Params::parse(parts.uri.query())).await {
        Ok(data) => {
            let chrome = Chrome::new(&state, &parts, Nav::Users, format!("User {user_id}"));
            let pager = Pager::new(&chrome, &parts, data.timeline.next.as_deref());
            html(&UserPage {
                chrome,
                data,
                first_href: pager.first_href.map(|href| format!("{href}#timeline")),
                next_href: pager.next_href.map(|href| format!("{href}#timeline")),
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn user_api(
    State(state): State<DashState>,
    Path(user_id): Path<String>,
    parts: Parts,
) -> Response {
    json(data::user(&state, &user_id, &Params::parse(parts.uri.query())).await)
}

// ---------------------------------------------------------------------------------------
// Sessions

#[derive(Template)]
#[template(path = "dashboard/sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    filters: SessionFilters,
    data: ListPage<SessionRow>,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn sessions_page(State(state): State<DashState>, parts: Parts) -> Response {
    match data::sessions(&state, &Params::parse(parts.uri.query())).await {
        Ok((filters, data)) => {
            let chrome = Chrome::new(&state, &parts, Nav::Sessions, "Sessions");
            let pager = Pager::new(&chrome, &parts, data.next.as_deref());
            html(&SessionsPage {
                chrome,
                filters,
                data,
                first_href: pager.first_href,
                next_href: pager.next_href,
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn sessions_api(State(state): State<DashState>, parts: Parts) -> Response {
    json(
        data::sessions(&state, &Params::parse(parts.uri.query()))
            .await
            .map(|(_, page)| page),
    )
}

#[derive(Template)]
#[template(path = "dashboard/session.html")]
struct SessionPage {
    chrome: Chrome,
    data: SessionDetail,
    shown: u32,
}

async fn session_page(
    State(state): State<DashState>,
    Path(key): Path<String>,
    parts: Parts,
) -> Response {
    match data::session(&state, &key).await {
        Ok(data) => html(&SessionPage {
            chrome: Chrome::new(&state, &parts, Nav::Sessions, "Session"),
            data,
            shown: data::SESSION_ROWS,
        }),
        Err(error) => failed(&parts, &error),
    }
}

async fn session_api(State(state): State<DashState>, Path(key): Path<String>) -> Response {
    json(data::session(&state, &key).await)
}

// ---------------------------------------------------------------------------------------
// Browser fingerprints

#[derive(Template)]
#[template(path = "dashboard/browsers.html")]
struct BrowsersPage {
    chrome: Chrome,
    visitor: Option<String>,
    data: ListPage<BrowserRow>,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn browsers_page(State(state): State<DashState>, parts: Parts) -> Response {
    match data::browsers(&state, &Params::parse(parts.uri.query())).await {
        Ok((visitor, data)) => {
            let chrome = Chrome::new(&state, &parts, Nav::Browsers, "Browser fingerprints");
            let pager = Pager::new(&chrome, &parts, data.next.as_deref());
            html(&BrowsersPage {
                chrome,
                visitor,
                data,
                first_href: pager.first_href,
                next_href: pager.next_href,
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn browsers_api(State(state): State<DashState>, parts: Parts) -> Response {
    json(
        data::browsers(&state, &Params::parse(parts.uri.query()))
            .await
            .map(|(_, page)| page),
    )
}

#[derive(Template)]
#[template(path = "dashboard/visitor.html")]
struct VisitorPage {
    chrome: Chrome,
    data: VisitorDetail,
}

async fn visitor_page(
    State(state): State<DashState>,
    Path(visitor_id): Path<String>,
    parts: Parts,
) -> Response {
    match data::visitor(&state, &visitor_id).await {
        Ok(data) => html(&VisitorPage {
            chrome: Chrome::new(&state, &parts, Nav::Browsers, "Visitor"),
            data,
        }),
        Err(error) => failed(&parts, &error),
    }
}

async fn visitor_api(State(state): State<DashState>, Path(visitor_id): Path<String>) -> Response {
    json(data::visitor(&state, &visitor_id).await)
}

#[derive(Template)]
#[template(path = "dashboard/diff.html")]
struct DiffPage {
    chrome: Chrome,
    a: Option<String>,
    b: Option<String>,
    diff: Option<Diff>,
}

async fn diff_page(State(state): State<DashState>, parts: Parts) -> Response {
    match data::diff(&state, &Params::parse(parts.uri.query())).await {
        Ok((a, b, diff)) => html(&DiffPage {
            chrome: Chrome::new(&state, &parts, Nav::Browsers, "Compare visitor ids"),
            a,
            b,
            diff,
        }),
        Err(error) => failed(&parts, &error),
    }
}

async fn diff_api(State(state): State<DashState>, parts: Parts) -> Response {
    let result = data::diff(&state, &Params::parse(parts.uri.query())).await;
    json(result.and_then(|(_, _, diff)| {
        diff.ok_or_else(|| DashError::BadRequest("give two visitor ids: a and b".into()))
    }))
}

// ---------------------------------------------------------------------------------------
// Request fingerprints and URLs

#[derive(Template)]
#[template(path = "dashboard/requests.html")]
struct RequestsPage {
    chrome: Chrome,
    filters: RequestFilters,
    data: ListPage<RequestRow>,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn requests_page(State(state): State<DashState>, parts: Parts) -> Response {
    match data::requests(&state, &Params::parse(parts.uri.query())).await {
        Ok((filters, data)) => {
            let chrome = Chrome::new(&state, &parts, Nav::Requests, "Request fingerprints");
            let pager = Pager::new(&chrome, &parts, data.next.as_deref());
            html(&RequestsPage {
                chrome,
                filters,
                data,
                first_href: pager.first_href,
                next_href: pager.next_href,
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn requests_api(State(state): State<DashState>, parts: Parts) -> Response {
    json(
        data::requests(&state, &Params::parse(parts.uri.query()))
            .await
            .map(|(_, page)| page),
    )
}

#[derive(Template)]
#[template(path = "dashboard/urls.html")]
struct UrlsPage {
    chrome: Chrome,
    prefix: Option<String>,
    data: ListPage<UrlRow>,
    first_href: Option<String>,
    next_href: Option<String>,
}

async fn urls_page(State(state): State<DashState>, parts: Parts) -> Response {
    match data::urls(&state, &Params::parse(parts.uri.query())).await {
        Ok((prefix, data)) => {
            let chrome = Chrome::new(&state, &parts, Nav::Urls, "URLs");
            let pager = Pager::new(&chrome, &parts, data.next.as_deref());
            html(&UrlsPage {
                chrome,
                prefix,
                data,
                first_href: pager.first_href,
                next_href: pager.next_href,
            })
        }
        Err(error) => failed(&parts, &error),
    }
}

async fn urls_api(State(state): State<DashState>, parts: Parts) -> Response {
    json(
        data::urls(&state, &Params::parse(parts.uri.query()))
            .await
            .map(|(_, page)| page),
    )
}

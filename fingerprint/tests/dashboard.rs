//! The dashboard's handlers: every page and its JSON twin against the store (on SQLite and on
//! PostgreSQL), the guard (with a real axum-login session too), escaping of stored values,
//! refused parameters, and links that work wherever the dashboard is nested.

#![cfg(all(feature = "dashboard", feature = "seed"))]

#[macro_use]
mod common;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use chrono::{DateTime, TimeDelta, Utc};
use common::{serve, TestDb};
use fingerprint::v1 as fp;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_sessions::{MemoryStore, SessionManagerLayer};

suite!(
    every_page_and_its_json_twin,
    stored_values_are_escaped_everywhere,
    sessions_and_requests_filter_by_assessment,
);

/// 2026-11-20 15:00 UTC.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_186_800, 0).unwrap()
}

const BASE: &str = "/admin/fingerprint";

async fn seeded(db: &TestDb) {
    fingerprint::seed::seed(
        &*db.store(),
        fingerprint::seed::SeedOptions::new(1_500)
            .with_now(now())
            .with_days(9)
            .with_users(30)
            .with_pages(40),
    )
    .await
    .unwrap();
}

fn allow_all(_: &http::request::Parts) -> fp::DashboardAccess {
    fp::DashboardAccess::Allow
}

fn dashboard_at(db: &TestDb, at: &str) -> Router {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_clock(fp::ManualClock::at(now()))
        .build()
        .unwrap();
    if at.is_empty() {
        Router::new().merge(fingerprint.dashboard(allow_all))
    } else {
        Router::new().nest(at, fingerprint.dashboard(allow_all))
    }
}

struct Got {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/json",
            "{}",
            self.body
        );
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn page(&self, what: &str) -> &str {
        assert_eq!(self.status, StatusCode::OK, "{what}: {}", self.body);
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{what}"
        );
        &self.body
    }
}

async fn get_from(app: &Router, uri: &str) -> Got {
    get_with(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_with(app: &Router, request: Request<Body>) -> Got {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Got {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

async fn sessions_and_requests_filter_by_assessment(db: TestDb) {
    seeded(&db).await;
    let store = db.store();
    let page = store
        .sessions(&fp::SessionQuery::new().with_limit(2))
        .await
        .unwrap();
    let (driven, person) = (page.items[0].key.clone(), page.items[1].key.clone());
    let webdriver = fp::SessionAssessment::new(
        fp::Verdict::Automated,
        vec![fp::Finding::new(
            fp::Reason::Webdriver,
            "navigator.webdriver is true",
        )],
    );
    let human = fp::SessionAssessment::new(fp::Verdict::Human, vec![]);
    let at = now() - chrono::TimeDelta::minutes(1);
    store
        .record_browsers(&[
            fp::BrowserVisit::new(&driven, "a".repeat(32), "{}", at).with_assessment(webdriver),
            fp::BrowserVisit::new(&person, "b".repeat(32), "{}", at).with_assessment(human),
        ])
        .await
        .unwrap();
    let app = dashboard_at(&db, BASE);
    let keys = |json: &Value| -> Vec<String> {
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["key"].as_str().unwrap().to_owned())
            .collect()
    };
    for query in ["verdict=automated", "reason=webdriver"] {
        let got = get_from(&app, &format!("{BASE}/api/sessions?{query}"))
            .await
            .json();
        assert_eq!(keys(&got), vec![driven.clone()], "{query}");
        assert_eq!(got["items"][0]["verdict"], "automated");
        assert_eq!(got["items"][0]["findings"][0]["reason"], "webdriver");
        let html = get_from(&app, &format!("{BASE}/sessions?{query}")).await;
        let html = html.page(query);
        assert!(html.contains(&driven[..10]), "{query}");
        assert!(!html.contains(&person[..10]), "{query}");
    }
    let humans = get_from(&app, &format!("{BASE}/api/sessions?verdict=human"))
        .await
        .json();
    assert_eq!(keys(&humans), vec![person.clone()]);
    // The session's page lists the reasons with their evidence.
    let got = get_from(&app, &format!("{BASE}/sessions/{driven}")).await;
    let html = got.page("session");
    assert!(html.contains("<code>webdriver</code>"), "{html}");
    assert!(html.contains("navigator.webdriver is true"));
    let json = get_from(&app, &format!("{BASE}/api/sessions/{driven}"))
        .await
        .json();
    assert_eq!(json["session"]["verdict"], "automated");
    assert_eq!(json["session"]["score"], 60);
    assert_eq!(
        json["session"]["findings"][0]["evidence"],
        "navigator.webdriver is true"
    );
    // Requests by their own verdict: the seeded crawlers.
    let bots = get_from(&app, &format!("{BASE}/api/requests?verdict=declared_bot"))
        .await
        .json();
    let items = bots["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|item| item["verdict"] == "declared_bot"));
    // Sessions that never ran the collector over three or more pages: derived when read.
    let silent = get_from(
        &app,
        &format!("{BASE}/api/sessions?reason=no_collector&limit=500"),
    )
    .await
    .json();
    let items = silent["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert_eq!(item["browser_fingerprints"], 0, "{item}");
        assert!(
            item["request_fingerprints"].as_u64().unwrap() >= 3,
            "{item}"
        );
        assert!(
            item["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["reason"] == "no_collector"),
            "{item}"
        );
    }
    // Unknown values: a 400 with the reason.
    for (path, reason) in [
        ("/sessions?verdict=robot", "unknown verdict"),
        ("/api/requests?reason=nope", "unknown reason"),
    ] {
        let got = get_from(&app, &format!("{BASE}{path}")).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(got.body.contains(reason), "{path}: {}", got.body);
    }
}

fn q(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn every_page_and_its_json_twin(db: TestDb) {
    seeded(&db).await;
    let store = db.store();
    let app = dashboard_at(&db, BASE);
    let page = |path: &str| format!("{BASE}{path}");
    let api = |path: &str| format!("{BASE}/api{path}");

    // Overview: the traffic of every day of the period, the breakdowns, the top pages.
    let overview = get_from(&app, BASE).await;
    let html = overview.page("overview");
    assert!(html.contains("<h1>Overview</h1>") && html.contains("<svg class=\"chart\""));
    let json = get_from(&app, &api("/overview?days=10")).await.json();
    let days = json["traffic"].as_array().unwrap();
    assert_eq!(days.len(), 10);
    assert_eq!(json["last"], "2026-11-20");
    let last = now().date_naive();
    let stored = store
        .daily_traffic(last - TimeDelta::days(9), last)
        .await
        .unwrap();
    let visits: u64 = stored.iter().map(|d| d.visits).sum();
    assert_eq!(json["visits"], visits);
    assert_eq!(visits, 1_500, "the seeded period is within the overview's");
    let browsers = &json["breakdowns"][0];
    assert_eq!(browsers["dimension"], "browser");
    let top = store
        .breakdown(fp::Dimension::Browser, last - TimeDelta::days(9), last, 1)
        .await
        .unwrap();
    assert_eq!(browsers["rows"][0]["value"], top[0].value.as_str());
    assert!(
        html.contains(&top[0].value),
        "the page shows the top browser"
    );
    let top_url = &store
        .urls(&fp::UrlQuery::new().with_limit(1))
        .await
        .unwrap()
        .items[0];
    assert_eq!(json["top_pages"][0]["url"], top_url.url.as_str());
    assert_eq!(json["top_pages"][0]["hits"], top_url.hits);

    // Users: the store's first page, its filters and cursor.
    let users = store.users(&fp::UserQuery::new()).await.unwrap();
    let json = get_from(&app, &api("/users")).await.json();
    let ids: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    let wanted: Vec<&str> = users.items.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, wanted);
    let html = get_from(&app, &page("/users?seen=1w&requests=1")).await;
    let html = html.page("users");
    assert!(
        html.contains(r#"<option value="1w" selected>"#),
        "the filter stays set"
    );
    let mut pages = 0;
    let mut listed = 0;
    let mut after: Option<String> = None;
    loop {
        let uri = match &after {
            Some(cursor) => api(&format!("/users?limit=7&after={}", q(cursor))),
            None => api("/users?limit=7"),
        };
        let json = get_from(&app, &uri).await.json();
        listed += json["items"].as_array().unwrap().len();
        pages += 1;
        match json["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(pages > 1, "more than one page of users");
    assert_eq!(listed as i64, db.count("fingerprint_users").await);

    // One user: summary, devices, places, sessions, timeline.
    let user = &users.items[0].user_id;
    let html = get_from(&app, &page(&format!("/users/{user}"))).await;
    let html = html.page("user");
    assert!(html.contains(&format!("<h1>User {user}</h1>")));
    let devices = store.user_devices(user).await.unwrap();
    assert!(html.contains(&devices.devices[0].device.browser));
    let json = get_from(&app, &api(&format!("/users/{user}"))).await.json();
    assert_eq!(json["user"]["user_id"], user.as_str());
    assert_eq!(
        json["devices"].as_array().unwrap().len(),
        devices.devices.len()
    );
    let timeline = store.user_timeline(user, None, 50).await.unwrap();
    assert_eq!(
        json["timeline"]["items"].as_array().unwrap().len(),
        timeline.items.len()
    );
    assert_eq!(
        json["timeline"]["items"][0]["kind"],
        timeline.items[0].kind.as_str()
    );
    let places = store.user_places(user, 20).await.unwrap();
    assert_eq!(json["places"].as_array().unwrap().len(), places.len());

    // Sessions, and one session.
    let sessions = store.sessions(&fp::SessionQuery::new()).await.unwrap();
    let html = get_from(&app, &page("/sessions?linked=no")).await;
    assert!(html.page("sessions").contains("<h1>Sessions</h1>"));
    let json = get_from(&app, &api("/sessions")).await.json();
    assert_eq!(json["items"][0]["key"], sessions.items[0].key.as_str());
    assert_eq!(json["next"], sessions.next.as_deref().unwrap());
    let key = &sessions.items[0].key;
    let html = get_from(&app, &page(&format!("/sessions/{key}"))).await;
    assert!(html.page("session").contains(key.as_str()));
    let json = get_from(&app, &api(&format!("/sessions/{key}")))
        .await
        .json();
    assert_eq!(
        json["requests"].as_array().unwrap().len() as u64,
        sessions.items[0].request_fingerprints
    );

    // Browser fingerprints, one visitor id, two side by side.
    let browsers = store
        .browser_fingerprints(&fp::BrowserQuery::new())
        .await
        .unwrap();
    let html = get_from(&app, &page("/browsers")).await;
    assert!(html
        .page("browsers")
        .contains(&browsers.items[0].visitor_id));
    let visitor = &browsers.items[0].visitor_id;
    let other = browsers
        .items
        .iter()
        .map(|b| &b.visitor_id)
        .find(|v| *v != visitor)
        .unwrap();
    let json = get_from(&app, &api(&format!("/browsers?visitor={}", &visitor[..3])))
        .await
        .json();
    assert!(json["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["visitor_id"].as_str().unwrap().starts_with(&visitor[..3])));
    let html = get_from(&app, &page(&format!("/browsers/{visitor}"))).await;
    let html = html.page("visitor");
    assert!(html.contains("hardwareConcurrency") && html.contains("unstable"));
    let json = get_from(&app, &api(&format!("/browsers/{visitor}")))
        .await
        .json();
    let components = json["components"].as_array().unwrap();
    assert_eq!(components[0]["name"], "screen", "in the collector's order");
    let latest = store.latest_browser(visitor).await.unwrap().unwrap();
    let stored: Value = serde_json::from_str(&latest.components).unwrap();
    assert_eq!(components.len(), stored.as_object().unwrap().len());
    let diff = get_from(&app, &api(&format!("/browsers/diff?a={visitor}&b={other}")))
        .await
        .json();
    let rows = diff["rows"].as_array().unwrap();
    let differing = rows.iter().filter(|r| r["same"] == false).count();
    assert_eq!(diff["differences"], differing);
    assert!(differing > 0, "two visitor ids differ somewhere");
    assert!(rows
        .iter()
        .any(|r| r["name"] == "canvas" && r["same"] == false));
    let same = get_from(
        &app,
        &api(&format!("/browsers/diff?a={visitor}&b={visitor}")),
    )
    .await
    .json();
    assert_eq!(same["differences"], 0);
    let html = get_from(
        &app,
        &page(&format!("/browsers/diff?a={visitor}&b={other}")),
    )
    .await;
    assert!(html.page("diff").contains(r#"class="differs""#));
    assert!(get_from(&app, &page("/browsers/diff"))
        .await
        .page("empty diff form")
        .contains("Compare two visitor ids"));

    // Request fingerprints, with filters.
    let requests = store
        .request_fingerprints(&fp::RequestQuery::new())
        .await
        .unwrap();
    let json = get_from(&app, &api("/requests")).await.json();
    assert_eq!(json["items"][0]["id"], requests.items[0].id);
    assert_eq!(json["next"], requests.next.as_deref().unwrap());
    let ip = requests.items[0].fingerprint.ip.unwrap();
    let json = get_from(&app, &api(&format!("/requests?ip={ip}")))
        .await
        .json();
    assert!(json["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["ip"] == ip.to_string()));
    let html = get_from(
        &app,
        &page(&format!(
            "/requests?ua=firefox&url={}",
            q("https://shop.example/")
        )),
    )
    .await;
    let html = html.page("requests");
    assert!(html.contains("looks through 50,000 request fingerprints per page"));

    // URLs.
    let json = get_from(&app, &api("/urls")).await.json();
    assert_eq!(json["items"][0]["url"], top_url.url.as_str());
    let json = get_from(
        &app,
        &api(&format!(
            "/urls?prefix={}",
            q("https://shop.example/products/")
        )),
    )
    .await
    .json();
    let urls: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["url"].as_str().unwrap())
        .collect();
    assert!(!urls.is_empty() && urls.windows(2).all(|w| w[0] < w[1]));
    assert!(get_from(&app, &page("/urls"))
        .await
        .page("urls")
        .contains(&top_url.url));
}

/// Values an attacker controls, recorded like any request.
const EVIL_AGENT: &str = "<script>alert('agent')</script>";
const EVIL_URL: &str =
    "https://shop.example/<script>alert('url')</script>?q=\"><img src=x onerror=alert(1)>";
const EVIL_REFERER: &str = "javascript:alert('referer')//<script>";
const EVIL_USER: &str = "<b onmouseover=alert('user')>mallory</b>";
const EVIL_VISITOR: &str = "0123456789abcdef0123456789abcdef";

async fn record_evil(db: &TestDb) -> String {
    let store = db.store();
    let key = "e".repeat(32);
    let at = now() - TimeDelta::hours(1);
    let mut fingerprint = fp::RequestFingerprint::new(EVIL_URL, at);
    fingerprint.user_agent = EVIL_AGENT.into();
    fingerprint.referer = EVIL_REFERER.into();
    fingerprint.ip = Some("203.0.113.66".parse().unwrap());
    fingerprint.country_code = "<i>".into();
    fingerprint.device.browser = "<script>browser</script>".into();
    let mut visit = fp::Visit::new(&key, fingerprint);
    visit.utm.campaign = Some("<script>campaign</script>".into());
    store.record(&[visit], Duration::ZERO).await.unwrap();
    let mut browser = fp::BrowserVisit::new(
        &key,
        EVIL_VISITOR,
        r#"{"platform":"<script>alert('component')</script>","<img src=x>":1}"#,
        at,
    );
    browser.url = Some(EVIL_URL.into());
    store.record_browser(&browser).await.unwrap();
    store
        .link_sessions(&[fp::SessionLink::new(&key, EVIL_USER, at)])
        .await
        .unwrap();
    key
}

fn assert_escaped(what: &str, html: &str) {
    for raw in [
        "<script>",
        "<img src=x",
        "<b onmouseover",
        "<i>",
        "javascript:alert",
    ] {
        if raw == "javascript:alert" {
            assert!(
                !html.contains("href=\"javascript:"),
                "{what}: a stored URL became a link"
            );
        } else {
            assert!(!html.contains(raw), "{what}: {raw} unescaped");
        }
    }
}

async fn stored_values_are_escaped_everywhere(db: TestDb) {
    seeded(&db).await;
    let key = record_evil(&db).await;
    let app = dashboard_at(&db, BASE);
    let user_path = format!("/users/{}", q(EVIL_USER).replace('+', "%20"));
    for (path, shows) in [
        (String::new(), ""),
        ("/users?q=mallory".into(), "&#60;b onmouseover"),
        (user_path, "&#60;script&#62;alert("),
        (format!("/sessions/{key}"), "&#60;script&#62;campaign"),
        (
            format!("/sessions?user={}", q(EVIL_USER)),
            "&#60;b onmouseover",
        ),
        ("/requests?ip=203.0.113.66".into(), "&#60;script&#62;alert("),
        (format!("/requests?session={key}"), "&#60;img src=x"),
        (
            format!("/requests?ua={}", q("<script>")),
            "&#60;script&#62;alert(",
        ),
        (
            format!("/browsers?visitor={}", &EVIL_VISITOR[..8]),
            "&#60;script&#62;alert(",
        ),
        (
            format!("/browsers/{EVIL_VISITOR}"),
            "&#60;script&#62;alert(",
        ),
        (
            format!("/browsers/diff?a={EVIL_VISITOR}&b={EVIL_VISITOR}"),
            "&#60;img src=x&#62;",
        ),
        (
            format!("/urls?prefix={}", q("https://shop.example/<")),
            "&#60;script&#62;alert(",
        ),
        // Reflected parameters are escaped too.
        (format!("/users?q={}", q("<script>x")), "&#60;script&#62;x"),
        (
            format!("/requests?url={}", q("\"><script>")),
            "&#34;&#62;&#60;script&#62;",
        ),
    ] {
        let got = get_from(&app, &format!("{BASE}{path}")).await;
        let html = got.page(&path);
        assert_escaped(&path, html);
        assert!(html.contains(shows), "{path}: {shows} not shown in {html}");
        assert!(got.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'"));
        assert_eq!(got.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(got.headers[header::CACHE_CONTROL], "no-store");
    }
    // The JSON keeps the values as they are, as JSON strings.
    let json = get_from(&app, &format!("{BASE}/api/requests?ip=203.0.113.66"))
        .await
        .json();
    assert_eq!(json["items"][0]["user_agent"], EVIL_AGENT);
    assert_eq!(json["items"][0]["url"], EVIL_URL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400_with_a_reason() {
    bad_parameters(TestDb::sqlite().await).await;
}

/// The same on PostgreSQL, which refuses more than SQLite does (a NUL in text, a time past
/// its range): still a 400, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400_with_a_reason_on_postgres() {
    if let Some(db) = TestDb::postgres("dashboard_bad_parameters").await {
        bad_parameters(db).await;
    }
}

async fn bad_parameters(db: TestDb) {
    seeded(&db).await;
    let app = dashboard_at(&db, BASE);
    let unknown = "f".repeat(32);
    for (path, reason) in [
        ("/?days=0", "invalid days"),
        ("/?days=many", "invalid days"),
        ("/users?seen=2w", "unknown seen filter"),
        ("/users?browsers=7", "unknown browsers bucket"),
        ("/users?requests=lots", "unknown requests bucket"),
        ("/users?after=garbage", "invalid page cursor"),
        ("/users?after=abc%3Au", "invalid page cursor"),
        ("/sessions?key=XYZ", "invalid session key"),
        ("/sessions?linked=maybe", "unknown linked filter"),
        ("/sessions?after=x", "invalid page cursor"),
        ("/sessions/not-a-key", "invalid session key"),
        ("/browsers?visitor=zz", "invalid visitor id"),
        ("/browsers?after=-3", "invalid page cursor"),
        ("/browsers/0123", "invalid visitor id"),
        ("/browsers/diff?a=abc&b=def", "invalid visitor id a"),
        ("/requests?ip=999.1.1.1", "invalid ip"),
        ("/requests?ip=10.0.0.0%2F40", "invalid ip"),
        ("/requests?ip=2001%3Adb8%3A%3A%2F40", "IPv6 network"),
        ("/requests?after=1%3A2%3A3", "invalid page cursor"),
        ("/requests?session=short", "invalid session key"),
        ("/urls?after=x", "invalid page cursor"),
        (
            "/urls?after=h1%3A2&prefix=https",
            "belongs to the list by hits",
        ),
        ("/users?limit=0", "invalid limit"),
        ("/requests?limit=5000", "invalid limit"),
        ("/users/1000?after=nope", "invalid page cursor"),
        // Times no database holds, and text with a NUL.
        (
            "/requests?after=9223372036854775807%3A1",
            "invalid page cursor",
        ),
        (
            "/sessions?after=-9223372036854775807%3A1",
            "invalid page cursor",
        ),
        (
            "/users/1000?after=9223372036854775807%3A1%3A1",
            "invalid page cursor",
        ),
        ("/sessions?user=a%00b", "user holds a control character"),
        ("/requests?ua=%00", "ua holds a control character"),
        (
            "/urls?prefix=https%3A%2F%2F%00",
            "prefix holds a control character",
        ),
        ("/users?q=%00", "q holds a control character"),
        ("/users/a%00b", "user id holds a control character"),
    ] {
        if reason == "IPv6 network" && matches!(db, TestDb::Postgres { .. }) {
            continue; // PostgreSQL filters IPv6 networks of any size.
        }
        let uri = if path.starts_with("/?") {
            format!("{BASE}{}", &path[1..])
        } else {
            format!("{BASE}{path}")
        };
        let got = get_from(&app, &uri).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{path}: {}", got.body);
        assert!(got.body.contains(reason), "{path}: {}", got.body);
        assert!(got.body.contains("<h1>Bad request</h1>"), "{path}");
        let api = get_from(
            &app,
            &format!(
                "{BASE}/api{}",
                if path.starts_with("/?") {
                    path.replacen("/?", "/overview?", 1)
                } else {
                    path.to_owned()
                }
            ),
        )
        .await;
        assert_eq!(
            api.status,
            StatusCode::BAD_REQUEST,
            "api {path}: {}",
            api.body
        );
        assert!(
            api.json()["error"].as_str().unwrap().contains(reason),
            "api {path}"
        );
    }
    let long = format!("/users?q={}", "x".repeat(300));
    assert_eq!(
        get_from(&app, &format!("{BASE}{long}")).await.status,
        StatusCode::BAD_REQUEST
    );
    for (path, reason) in [
        ("/users/nobody".to_owned(), "no user"),
        (format!("/sessions/{unknown}"), "no such session"),
        (format!("/browsers/{unknown}"), "no browser fingerprint"),
        (
            format!("/browsers/diff?a={unknown}&b={unknown}"),
            "no browser fingerprint",
        ),
        ("/no/such/page".to_owned(), "no such page"),
    ] {
        let got = get_from(&app, &format!("{BASE}{path}")).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{path}: {}", got.body);
        assert!(got.body.contains(reason), "{path}: {}", got.body);
    }
    let api = get_from(&app, &format!("{BASE}/api/browsers/diff")).await;
    assert_eq!(api.status, StatusCode::BAD_REQUEST);
}

/// A guard on a header (`x-role`): staff may, guests may not, the others log in first.
fn by_role(parts: &http::request::Parts) -> fp::DashboardAccess {
    match parts.headers.get("x-role").and_then(|v| v.to_str().ok()) {
        Some("staff") => fp::DashboardAccess::Allow,
        Some("guest") => fp::DashboardAccess::Deny,
        Some("partner") => fp::DashboardAccess::RedirectToLogin("/login?site=partners".into()),
        _ => fp::DashboardAccess::RedirectToLogin("/login".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_allows_denies_and_redirects() {
    let db = TestDb::sqlite().await;
    seeded(&db).await;
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let app = Router::new().nest(BASE, fingerprint.dashboard(by_role));
    let request = |path: &str, role: Option<&str>| {
        let mut builder = Request::get(format!("{BASE}{path}"));
        if let Some(role) = role {
            builder = builder.header("x-role", role);
        }
        builder.body(Body::empty()).unwrap()
    };
    let user = db.store().users(&fp::UserQuery::new()).await.unwrap().items[0]
        .user_id
        .clone();
    for path in ["", "/users?seen=1w", "/api/users", "/no/such/page"] {
        let allowed = get_with(&app, request(path, Some("staff"))).await;
        let wanted = if path == "/no/such/page" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(allowed.status, wanted, "{path}");

        let denied = get_with(&app, request(path, Some("guest"))).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{path}");
        assert!(denied.body.contains("<h1>Forbidden</h1>"), "{path}");
        assert!(
            !denied.body.contains(&format!(">{user}<")),
            "{path}: nothing is shown"
        );
        assert!(!denied.body.contains("/users\""), "{path}: no navigation");

        let redirected = get_with(&app, request(path, None)).await;
        assert_eq!(redirected.status, StatusCode::SEE_OTHER, "{path}");
        let next = q(&format!("{BASE}{path}"));
        assert_eq!(
            redirected.headers[header::LOCATION],
            format!("/login?next={next}").as_str(),
            "{path}"
        );
        let partner = get_with(&app, request(path, Some("partner"))).await;
        assert_eq!(
            partner.headers[header::LOCATION],
            format!("/login?site=partners&next={next}").as_str()
        );
    }
    // The stylesheet is not guarded (it shows nothing) and is cached for long.
    let html = get_with(&app, request("", Some("staff"))).await.body;
    let css_path = html
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(css_path.starts_with(&format!("{BASE}/dashboard-")));
    let css = get_from(&app, &css_path).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(
        css.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(css.body.contains(".topbar"));
}

// A real login with axum-login: the guard reads the user that axum-login loaded into the
// request's extensions.
#[derive(Debug, Clone)]
struct User {
    id: i64,
    staff: bool,
}

impl AuthUser for User {
    type Id = i64;
    fn id(&self) -> i64 {
        self.id
    }
    fn session_auth_hash(&self) -> &[u8] {
        b"fixed"
    }
}

#[derive(Debug, Clone)]
struct Backend;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = i64;
    type Error = Never;

    async fn authenticate(&self, id: i64) -> Result<Option<User>, Never> {
        self.get_user(&id).await
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Never> {
        Ok((1..=2).contains(id).then_some(User {
            id: *id,
            staff: *id == 1,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_login_staff_guard() {
    let db = TestDb::sqlite().await;
    seeded(&db).await;
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let only_staff = |parts: &http::request::Parts| {
        let user = parts
            .extensions
            .get::<AuthSession<Backend>>()
            .and_then(|auth| auth.user.clone());
        match user {
            Some(user) if user.staff => fp::DashboardAccess::Allow,
            Some(_) => fp::DashboardAccess::Deny,
            None => fp::DashboardAccess::RedirectToLogin("/login".into()),
        }
    };
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(Backend, sessions).build();
    let app = Router::new()
        .route(
            "/login",
            get(
                |mut auth: AuthSession<Backend>, Query(q): Query<HashMap<String, i64>>| async move {
                    match q.get("user") {
                        Some(id) => {
                            let user = auth.authenticate(*id).await.unwrap().unwrap();
                            auth.login(&user).await.unwrap();
                            "logged in"
                        }
                        None => "the login form",
                    }
                },
            ),
        )
        .nest(BASE, fingerprint.dashboard(only_staff))
        .layer(auth);
    let addr = serve(app).await;
    let client = |_: ()| {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let users_page = format!("http://{addr}{BASE}/users");

    let anonymous = client(());
    let response = anonymous.get(&users_page).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/login?next=%2Fadmin%2Ffingerprint%2Fusers"
    );

    let customer = client(());
    customer
        .get(format!("http://{addr}/login?user=2"))
        .send()
        .await
        .unwrap();
    let response = customer.get(&users_page).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let staff = client(());
    staff
        .get(format!("http://{addr}/login?user=1"))
        .send()
        .await
        .unwrap();
    let response = staff.get(&users_page).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("<h1>Users</h1>"));
}

/// Follows every link of the dashboard from its overview (and from a few pages deeper),
/// through the same app: each one answers 200.
async fn crawl(app: &Router, base: &str, start: &[String]) -> usize {
    let home = if base.is_empty() { "/" } else { base };
    let mut queue: VecDeque<String> = std::iter::once(home.to_owned())
        .chain(start.iter().cloned())
        .collect();
    let mut seen = BTreeSet::new();
    let mut per_kind: HashMap<String, usize> = HashMap::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let got = get_from(app, &path).await;
        assert_eq!(
            got.status,
            StatusCode::OK,
            "{path} (linked from the dashboard)"
        );
        for href in got.body.split("href=\"").skip(1) {
            let href = href.split('"').next().unwrap().replace("&amp;", "&");
            assert!(
                href.starts_with('/'),
                "{path}: every link stays in the site: {href}"
            );
            assert!(
                href == home || href.starts_with(&format!("{base}/")),
                "{path}: a link out of the dashboard: {href}"
            );
            // A few of each kind of page is enough.
            let kind: String = href
                .trim_start_matches(base)
                .split(['?', '#'])
                .next()
                .unwrap()
                .split('/')
                .take(2)
                .collect::<Vec<_>>()
                .join("/");
            let href = href.split('#').next().unwrap().to_owned();
            let count = per_kind.entry(kind).or_default();
            if *count < 4 && !seen.contains(&href) {
                *count += 1;
                queue.push_back(href);
            }
        }
    }
    seen.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_work_wherever_the_dashboard_is_nested() {
    let db = TestDb::sqlite().await;
    seeded(&db).await;
    let user = db.store().users(&fp::UserQuery::new()).await.unwrap().items[0]
        .user_id
        .clone();
    for base in [BASE, "/x", ""] {
        let app = dashboard_at(&db, base);
        let start = vec![
            format!("{base}/users/{user}"),
            format!("{base}/users?seen=1m"),
            format!("{base}/requests?ua=chrome"),
        ];
        let pages = crawl(&app, base, &start).await;
        assert!(pages > 15, "{base}: {pages} pages");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_ids_with_slashes_spaces_and_unicode() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let at = now() - TimeDelta::hours(2);
    for (n, user) in ["a/b", "with space", "ünï/cödé?#", "x%2Fy"]
        .iter()
        .enumerate()
    {
        let key = format!("{n:032x}");
        let visit = fp::Visit::new(
            &key,
            fp::RequestFingerprint::new("https://shop.example/", at),
        );
        store.record(&[visit], Duration::ZERO).await.unwrap();
        store
            .link_sessions(&[fp::SessionLink::new(&key, *user, at)])
            .await
            .unwrap();
    }
    let app = dashboard_at(&db, BASE);
    let users = get_from(&app, &format!("{BASE}/users")).await;
    let html = users.page("users");
    let links: Vec<String> = html
        .split("href=\"")
        .skip(1)
        .map(|h| h.split('"').next().unwrap().replace("&amp;", "&"))
        .filter(|h| h.starts_with(&format!("{BASE}/users/")))
        .collect();
    assert_eq!(links.len(), 4, "{links:?}");
    for link in links {
        let page = get_from(&app, &link).await;
        let html = page.page(&link);
        assert!(html.contains("<h1>User "), "{link}");
        assert!(
            ["a/b", "with space", "ünï/cödé?#", "x%2Fy"]
                .iter()
                .any(|user| html.contains(&format!("<h1>User {user}</h1>"))),
            "{link}"
        );
    }
}

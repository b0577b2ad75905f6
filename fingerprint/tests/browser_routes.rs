//! The redirect page, the collector endpoint and the collector script, over HTTP on
//! 127.0.0.1, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::{attribute, collector_payload as payload, cookie_key, post_collector, serve, TestDb};
use fingerprint::v1 as fp;
use serde_json::json;

suite!(
    redirect_page_fingerprints_and_points_to_next,
    refused_next_values_get_a_400,
    own_host_and_allowed_ports_only,
    next_is_escaped_where_it_appears,
    collector_posts_are_stored_with_a_server_side_id,
    collector_posts_assess_the_session,
    concurrent_assessments_of_one_session_all_land,
    bad_collector_posts_are_refused_and_store_nothing,
    tokens_expire_and_belong_to_one_session,
    collector_script_is_versioned_and_cacheable,
);

struct App {
    addr: std::net::SocketAddr,
    fingerprint: fp::Fingerprint,
    clock: fp::ManualClock,
}

async fn app(db: &TestDb) -> App {
    let clock = fp::ManualClock::new();
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_clock(clock.clone())
        .with_allowed_redirect_hosts(["shop.example"])
        .build()
        .unwrap();
    let routes = Router::new()
        .route("/articles", get(|| async { "articles" }))
        .route_layer(fingerprint.layer())
        .merge(fingerprint.routes());
    App {
        addr: serve(routes).await,
        fingerprint,
        clock,
    }
}

/// Opens the redirect page; returns (session key, page HTML).
async fn open_page(app: &App, next: &str) -> (String, String) {
    let response = reqwest::Client::new()
        .get(format!("http://{}/fingerprint/?next={next}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let key = cookie_key(&response).unwrap();
    (key, response.text().await.unwrap())
}

async fn redirect_page_fingerprints_and_points_to_next(db: TestDb) {
    let app = app(&db).await;
    let (key, html) = open_page(&app, "/articles").await;
    assert!(
        html.contains(r#"<meta http-equiv="refresh" content="3;url=/articles">"#),
        "{html}"
    );
    assert!(html.contains(r#"<a href="/articles">/articles</a>"#));
    assert!(html.contains("<noscript>"));
    assert_eq!(attribute(&html, "data-next"), "/articles");
    assert_eq!(attribute(&html, "data-endpoint"), "/fingerprint/");
    assert!(attribute(&html, "src").starts_with("/fingerprint/collector-"));
    app.fingerprint.flush().await.unwrap();
    let requests = db.store().session_requests(&key, 5).await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].fingerprint.url,
        format!("http://{}/fingerprint/?next=/articles", app.addr)
    );
    // No next: home. Without the slash: redirected to the page.
    let (_, html) = open_page(&app, "").await;
    assert!(html.contains("content=\"3;url=/\""));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{}/fingerprint?next=/articles", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        "/fingerprint/?next=/articles"
    );
    // An allowed host.
    let (_, html) = open_page(&app, "https://shop.example/cart").await;
    assert_eq!(attribute(&html, "data-next"), "https://shop.example/cart");
}

async fn refused_next_values_get_a_400(db: TestDb) {
    let app = app(&db).await;
    for next in [
        "//evil.example",
        "%2F%2Fevil.example",
        "/%2Fevil.example",
        "/%5Cevil.example",
        "%5C%5Cevil.example",
        "javascript:alert(1)",
        "JaVaScRiPt%3Aalert(1)",
        "data:text/html,hi",
        "https://evil.example/",
        "https://user:pw@shop.example/",
        "/a%0D%0ALocation:%20https://evil.example",
        "evil.example",
    ] {
        let response = reqwest::get(format!("http://{}/fingerprint/?next={next}", app.addr))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{next}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Bad redirect"), "{next}: {body}");
        assert!(
            !body.contains("refresh") && !body.contains("evil.example"),
            "{next}: {body}"
        );
    }
}

async fn own_host_and_allowed_ports_only(db: TestDb) {
    let app = app(&db).await;
    // The page's own origin (http://127.0.0.1:PORT, as the app sees the request) is allowed
    // without being listed; another port on the same address is another site.
    let own = format!("http://{}/articles", app.addr);
    let (_, html) = open_page(&app, &own).await;
    assert!(html.contains(&own), "{html}");
    let other_port = format!(
        "http://127.0.0.1:{}/",
        app.addr.port().wrapping_add(1).max(1)
    );
    // `shop.example` is listed without a port: only its scheme's default port.
    for next in [
        other_port.as_str(),
        "https://shop.example:8443/",
        "http://shop.example:8080/cart",
    ] {
        let response = reqwest::get(format!("http://{}/fingerprint/?next={next}", app.addr))
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{next}");
    }
    let (_, html) = open_page(&app, "https://shop.example:443/cart").await;
    assert!(html.contains("https://shop.example/cart"), "{html}");
}

async fn next_is_escaped_where_it_appears(db: TestDb) {
    let app = app(&db).await;
    let (_, html) = open_page(
        &app,
        "/search%3Fq%3D%22%3E%3Cscript%3Ealert(1)%3C/script%3E%26a%3D'b'",
    )
    .await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("\"><script>"), "{html}");
    let expected = "/search?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E&amp;a=%27b%27";
    assert!(
        html.contains(&format!("content=\"3;url={expected}\"")),
        "meta refresh: {html}"
    );
    assert!(
        html.contains(&format!("<a href=\"{expected}\">{expected}</a>")),
        "link: {html}"
    );
    assert_eq!(
        attribute(&html, "data-next"),
        expected,
        "script data attribute"
    );
}

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/124.0.0.0 Safari/537.36";

/// POSTs the collector's payload as a person's Chromium would (its headers, in its order),
/// with `automation` as the collector's automation traces.
async fn post_as_chrome(app: &App, key: &str, token: &str, automation: serde_json::Value) -> u16 {
    let mut body = payload(token);
    body["components"]["webdriver"] = json!(false);
    body["components"]["timezone"] = json!("Europe/Prague");
    body["components"]["languages"] = json!(["cs-CZ", "cs"]);
    body["components"]["automation"] = automation;
    reqwest::Client::new()
        .post(format!("http://{}/fingerprint/", app.addr))
        .header("user-agent", CHROME)
        .header("accept", "*/*")
        .header("accept-encoding", "gzip, deflate")
        .header("accept-language", "cs-CZ,cs;q=0.9")
        .header("cf-ipcountry", "CZ")
        .header("content-type", "application/json")
        .header("cookie", format!("fingerprint_session={key}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn listed(db: &TestDb, query: fp::SessionQuery) -> Vec<String> {
    let page = db.store().sessions(&query).await.unwrap();
    page.items.into_iter().map(|s| s.key).collect()
}

async fn assessment_of(db: &TestDb, key: &str) -> fp::SessionAssessment {
    let session = db.store().session(key).await.unwrap().expect("the session");
    session.assessment.expect("assessed")
}

async fn requests(db: &TestDb, query: fp::RequestQuery) -> usize {
    db.store()
        .request_fingerprints(&query)
        .await
        .unwrap()
        .items
        .len()
}

async fn collector_posts_assess_the_session(db: TestDb) {
    use fp::{Reason, RequestQuery, SessionQuery, Verdict};
    let app = app(&db).await;
    let (key, html) = open_page(&app, "/articles").await;
    let token = attribute(&html, "data-token").to_owned();
    let clean = json!({"globals": [], "tampered": [], "pointer": "fine", "engine": "blink",
                       "userAgent": CHROME});
    assert_eq!(post_as_chrome(&app, &key, &token, clean.clone()).await, 204);
    let assessment = assessment_of(&db, &key).await;
    assert_eq!(
        (assessment.verdict, assessment.findings.len()),
        (Verdict::Human, 0),
        "{assessment:?}"
    );
    assert_eq!(
        listed(&db, SessionQuery::new().with_verdict(Verdict::Human)).await,
        vec![key.clone()]
    );
    assert!(
        listed(&db, SessionQuery::new().with_verdict(Verdict::Automated))
            .await
            .is_empty()
    );

    // ChromeDriver's globals: automated, with the evidence, found by verdict and by reason.
    let mut driven = clean.clone();
    driven["globals"] = json!(["cdc_adoQpoasnfa76pfcZLmcfl_Array"]);
    assert_eq!(post_as_chrome(&app, &key, &token, driven).await, 204);
    let assessment = assessment_of(&db, &key).await;
    assert_eq!(assessment.verdict, Verdict::Automated);
    assert_eq!(assessment.findings.len(), 1, "{assessment:?}");
    assert_eq!(assessment.findings[0].reason, Reason::AutomationGlobals);
    assert_eq!(
        assessment.findings[0].evidence,
        "window has cdc_adoQpoasnfa76pfcZLmcfl_Array"
    );
    assert_eq!(
        listed(
            &db,
            SessionQuery::new().with_reason(Reason::AutomationGlobals)
        )
        .await,
        vec![key.clone()]
    );
    assert!(
        listed(&db, SessionQuery::new().with_reason(Reason::Webdriver))
            .await
            .is_empty()
    );
    assert!(
        listed(&db, SessionQuery::new().with_verdict(Verdict::Human))
            .await
            .is_empty()
    );

    // A clean run afterwards does not launder the session.
    assert_eq!(post_as_chrome(&app, &key, &token, clean).await, 204);
    let assessment = assessment_of(&db, &key).await;
    assert_eq!(assessment.verdict, Verdict::Automated);

    // Requests are filtered by their own assessment: the page was opened without a user agent.
    app.fingerprint.flush().await.unwrap();
    assert_eq!(
        requests(&db, RequestQuery::new().with_verdict(Verdict::Automated)).await,
        1
    );
    assert_eq!(
        requests(&db, RequestQuery::new().with_reason(Reason::NoUserAgent)).await,
        1
    );
    assert_eq!(
        requests(&db, RequestQuery::new().with_reason(Reason::ToolUa)).await,
        0
    );
    assert_eq!(
        requests(&db, RequestQuery::new().with_verdict(Verdict::Human)).await,
        0
    );
}

async fn concurrent_assessments_of_one_session_all_land(db: TestDb) {
    use fp::{BrowserVisit, Finding, Reason, SessionAssessment, Verdict};
    let store = db.store();
    let key = "ab".repeat(16);
    let at = chrono::Utc::now();
    // The session exists first, as when its pages were recorded.
    store
        .record_browsers(&[BrowserVisit::new(&key, "0".repeat(32), "{}", at)])
        .await
        .unwrap();
    let reasons = [
        Reason::Webdriver,
        Reason::AutomationGlobals,
        Reason::NoPointingDevice,
        Reason::ApiTampered,
        Reason::TimezoneNotCountry,
        Reason::LanguagesNotAcceptLanguage,
        Reason::SessionRequestRate,
        Reason::SessionUrlSpread,
    ];
    let writes = reasons.iter().map(|&reason| {
        let store = db.store();
        let visit = BrowserVisit::new(&key, "1".repeat(32), "{}", at).with_assessment(
            SessionAssessment::new(Verdict::Unknown, vec![Finding::new(reason, "seen")]),
        );
        async move { store.record_browsers(&[visit]).await }
    });
    for result in futures_util::future::join_all(writes).await {
        result.expect("no write of the session fails (no deadlock)");
    }
    let assessment = assessment_of(&db, &key).await;
    let stored: Vec<Reason> = assessment.findings.iter().map(|f| f.reason).collect();
    assert_eq!(
        stored, reasons,
        "every concurrent assessment merged, none lost"
    );
    assert_eq!(assessment.verdict, Verdict::Automated);
}

async fn collector_posts_are_stored_with_a_server_side_id(db: TestDb) {
    let app = app(&db).await;
    let (key, html) = open_page(&app, "/articles").await;
    let token = attribute(&html, "data-token").to_owned();
    let (status, body) = post_collector(
        app.addr,
        Some(&key),
        payload(&token).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let stored = db.store().session_browsers(&key, 5).await.unwrap();
    assert_eq!(stored.len(), 1);
    let browser = &stored[0];
    assert_eq!(browser.visitor_id.len(), 32);
    assert_eq!(browser.duration_ms, Some(42));
    assert_eq!(
        browser.url.as_deref(),
        Some(format!("http://{}/fingerprint/?next=/articles", app.addr).as_str())
    );
    let components: serde_json::Value = serde_json::from_str(&browser.components).unwrap();
    assert_eq!(components["screen"], json!([1280, 720, 24]));
    // The same components with unstable ones changed: the same id; a stable change: another.
    let mut again = payload(&token);
    again["components"]["timezoneOffset"] = json!(-60);
    post_collector(
        app.addr,
        Some(&key),
        again.to_string(),
        "application/json; charset=utf-8",
    )
    .await;
    let mut other = payload(&token);
    other["components"]["languages"] = json!(["de-DE"]);
    post_collector(app.addr, Some(&key), other.to_string(), "application/json").await;
    let ids: Vec<String> = db
        .store()
        .session_browsers(&key, 5)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.visitor_id)
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[1], ids[2], "unstable change");
    assert_ne!(ids[0], ids[1], "stable change");
}

async fn bad_collector_posts_are_refused_and_store_nothing(db: TestDb) {
    let app = app(&db).await;
    let (key, html) = open_page(&app, "/").await;
    let token = attribute(&html, "data-token").to_owned();
    let good = payload(&token).to_string();
    let mut unknown = payload(&token);
    unknown["components"]["evil"] = json!(1);
    let mut chosen_id = payload(&token);
    chosen_id["visitorId"] = json!("0000");
    let mut huge = payload(&token);
    huge["components"]["fonts"] = json!(vec!["x".repeat(500); 40]);
    let mut nul = payload(&token);
    nul["components"]["platform"] = json!("Linux\u{0}x86_64");
    let cases: Vec<(Option<&str>, String, &str, u16, &str)> = vec![
        (
            Some(&key),
            nul.to_string(),
            "application/json",
            400,
            "NUL character",
        ),
        (
            Some(&key),
            "not json".into(),
            "application/json",
            400,
            "not a JSON object",
        ),
        (
            Some(&key),
            unknown.to_string(),
            "application/json",
            400,
            "unknown component",
        ),
        (
            Some(&key),
            chosen_id.to_string(),
            "application/json",
            400,
            "unknown field",
        ),
        (
            Some(&key),
            huge.to_string(),
            "application/json",
            413,
            "16 KiB",
        ),
        (
            Some(&key),
            good.clone(),
            "text/plain",
            415,
            "application/json",
        ),
        (None, good.clone(), "application/json", 403, "no session"),
        (
            Some("0123456789abcdef0123456789abcdef"),
            good.clone(),
            "application/json",
            403,
            "another session",
        ),
        (
            Some(&key),
            payload(&token.replace('.', "!")).to_string(),
            "application/json",
            403,
            "token",
        ),
    ];
    for (cookie, body, content_type, status, reason) in cases {
        let (got, text) = post_collector(app.addr, cookie, body, content_type).await;
        assert_eq!(got, status, "{reason}: {text}");
        assert!(text.contains(reason), "{reason}: {text}");
        assert!(text.len() < 100, "short reason: {text}");
    }
    // A foreign site's POST, even with a token it could not have: refused.
    let response = reqwest::Client::new()
        .post(format!("http://{}/fingerprint/", app.addr))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .header("cookie", format!("fingerprint_session={key}"))
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(db.count("fingerprint_browser_fingerprints").await, 0);
}

async fn tokens_expire_and_belong_to_one_session(db: TestDb) {
    let app = app(&db).await;
    let (key, html) = open_page(&app, "/").await;
    let token = attribute(&html, "data-token").to_owned();
    let (other_key, _) = open_page(&app, "/").await;
    let (status, text) = post_collector(
        app.addr,
        Some(&other_key),
        payload(&token).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(
        (status, text.trim()),
        (403, "token belongs to another session")
    );
    app.clock.advance(Duration::from_secs(3601));
    let (status, text) = post_collector(
        app.addr,
        Some(&key),
        payload(&token).to_string(),
        "application/json",
    )
    .await;
    assert_eq!((status, text.trim()), (403, "token expired"));
    assert_eq!(db.count("fingerprint_browser_fingerprints").await, 0);
}

async fn collector_script_is_versioned_and_cacheable(db: TestDb) {
    let app = app(&db).await;
    let (_, html) = open_page(&app, "/").await;
    let src = attribute(&html, "src").to_owned();
    let url = format!("http://{}{src}", app.addr);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let script = response.text().await.unwrap();
    assert!(
        script.contains("navigator") && !script.contains("http://") && !script.contains("https://"),
        "no third-party requests"
    );
    let cached = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
}

//! End to end in a real headless Chromium (Debian's chromium + chromium-driver, driven over
//! WebDriver with fantoccini) against the library's routes on 127.0.0.1.
//!
//! Skipped, saying so, when chromedriver is missing, unless FINGERPRINT_REQUIRE_BROWSER=1
//! (set by .ci/run), which makes a missing browser a failure.

mod common;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::{serve, TestDb};
use fingerprint::v1 as fp;
use fp::{Reason, Verdict};
use serde_json::json;
use testkit::{browser_available, Browser, Driver};

struct Site {
    base: String,
    fingerprint: fp::Fingerprint,
    db: TestDb,
}

async fn site(redirect_delay: Duration) -> Site {
    let db = TestDb::sqlite().await;
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_redirect_delay(redirect_delay)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/articles",
            get(|| async { axum::response::Html("<h1>Articles</h1>") }),
        )
        .merge(fingerprint.routes());
    let addr = serve(app).await;
    Site {
        base: format!("http://{addr}"),
        fingerprint,
        db,
    }
}

async fn visitor_ids(site: &Site, key: &str) -> Vec<String> {
    site.db
        .store()
        .session_browsers(key, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.visitor_id)
        .collect()
}

async fn session_key(browser: &Browser) -> String {
    browser
        .cookie("fingerprint_session")
        .await
        .expect("the fingerprint cookie")
}

/// How long a page may take to land through the collector: well inside [`META_REFRESH`], so
/// landing proves the collector's POST redirected, and generous for a loaded 2-core machine
/// running two browsers.
const LANDING: Duration = Duration::from_secs(30);

/// The meta refresh of the tests that want the collector to redirect.
const META_REFRESH: Duration = Duration::from_secs(60);

/// One pass through the redirect page; returns (session key, time to land).
async fn through_redirect(site: &Site, browser: &Browser) -> (String, Duration) {
    browser
        .client
        .goto(&format!("{}/fingerprint/?next=/articles", site.base))
        .await
        .unwrap();
    let landed = browser
        .wait_for_path("/articles", LANDING)
        .await
        .expect("the collector redirected to next");
    (session_key(browser).await, landed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_page_runs_the_collector_and_lands_on_next() {
    if !browser_available("redirect_page_runs_the_collector_and_lands_on_next") {
        return;
    }
    // A 60 s meta refresh: landing within `LANDING` means the collector's POST did it.
    let site = site(META_REFRESH).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, (1280, 800), "en-US", true).await;
    let (key, landed) = through_redirect(&site, &browser).await;
    assert!(landed < META_REFRESH, "landed after {landed:?}");
    site.fingerprint.flush().await.unwrap();
    let requests = site.db.store().session_requests(&key, 10).await.unwrap();
    assert_eq!(
        requests.len(),
        1,
        "the redirect page was request-fingerprinted"
    );
    assert!(requests[0].fingerprint.user_agent.contains("Chrome"));
    let browsers = site.db.store().session_browsers(&key, 10).await.unwrap();
    assert_eq!(
        browsers.len(),
        1,
        "one browser fingerprint for the same session"
    );
    let components: serde_json::Value = serde_json::from_str(&browsers[0].components).unwrap();
    assert_eq!(components["screen"][0], json!(1280));
    assert_eq!(components["webdriver"], json!(true));
    assert_eq!(components["languages"][0], json!("en-US"));
    for name in [
        "canvas", "webgl", "audio", "fonts", "math", "timezone", "platform",
    ] {
        assert!(
            components.get(name).is_some(),
            "{name} collected: {components}"
        );
    }
    // WebDriver-driven Chromium, caught by what the collector saw, with the evidence.
    let session = site.db.store().session(&key).await.unwrap().unwrap();
    let assessment = session
        .assessment
        .expect("the collector's POST assessed the session");
    assert_eq!(assessment.verdict, Verdict::Automated);
    let reasons: Vec<&str> = assessment
        .findings
        .iter()
        .map(|f| f.reason.as_str())
        .collect();
    assert!(reasons.contains(&"webdriver"), "{reasons:?}");
    let globals = assessment
        .findings
        .iter()
        .find(|f| f.reason == Reason::AutomationGlobals)
        .unwrap_or_else(|| panic!("ChromeDriver's globals found: {reasons:?}"));
    assert!(globals.evidence.contains("cdc_"), "{}", globals.evidence);
    eprintln!(
        "collector: {} ms from script start to POST; landed on next after {} ms",
        browsers[0].duration_ms.unwrap_or_default(),
        landed.as_millis()
    );
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_id_is_stable_per_profile_and_differs_across_profiles() {
    if !browser_available("visitor_id_is_stable_per_profile_and_differs_across_profiles") {
        return;
    }
    let site = site(META_REFRESH).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, (1280, 800), "en-US", true).await;
    let mut key = String::new();
    for _ in 0..5 {
        key = through_redirect(&site, &browser).await.0;
    }
    let ids = visitor_ids(&site, &key).await;
    assert_eq!(ids.len(), 5);
    let mut durations: Vec<u64> = site
        .db
        .store()
        .session_browsers(&key, 5)
        .await
        .unwrap()
        .iter()
        .filter_map(|b| b.duration_ms)
        .collect();
    durations.sort_unstable();
    eprintln!("collector start to POST, 5 runs in one profile (ms): {durations:?}");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "5 of 5 the same: {ids:?}"
    );
    browser.client.close().await.unwrap();

    for (window, lang) in [((1024, 700), "en-US"), ((1280, 800), "de-DE")] {
        let other = Browser::open(&driver, window, lang, true).await;
        let (other_key, _) = through_redirect(&site, &other).await;
        assert_ne!(other_key, key, "a new profile is a new session");
        let other_ids = visitor_ids(&site, &other_key).await;
        assert_eq!(other_ids.len(), 1);
        assert_ne!(other_ids[0], ids[0], "window {window:?}, language {lang}");
        other.client.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_meta_refresh_still_lands() {
    if !browser_available("without_javascript_the_meta_refresh_still_lands") {
        return;
    }
    let site = site(Duration::from_secs(1)).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, (1000, 500), "en-US", false).await;
    browser
        .client
        .goto(&format!("{}/fingerprint/?next=/articles", site.base))
        .await
        .unwrap();
    // What a person sees meanwhile (saved for the README; looked at by hand).
    let png = browser.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000);
    testkit::save_screenshot("redirect-page.png", &png);
    let landed = browser
        .wait_for_path("/articles", Duration::from_secs(10))
        .await
        .expect("the meta refresh redirected");
    let key = session_key(&browser).await;
    site.fingerprint.flush().await.unwrap();
    assert_eq!(
        site.db
            .store()
            .session_requests(&key, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        visitor_ids(&site, &key).await.is_empty(),
        "no JavaScript, no browser fingerprint"
    );
    eprintln!(
        "meta refresh landed after {} ms (delay 1 s)",
        landed.as_millis()
    );
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_next_shows_the_400_page() {
    if !browser_available("a_refused_next_shows_the_400_page") {
        return;
    }
    let site = site(Duration::from_secs(1)).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, (1280, 800), "en-US", true).await;
    let url = format!("{}/fingerprint/?next=//evil.example/", site.base);
    browser.client.goto(&url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(browser.client.current_url().await.unwrap().as_str(), url);
    let source = browser.client.source().await.unwrap();
    assert!(source.contains("Bad redirect"), "{source}");
    assert!(
        source.contains("next must be a path on this site"),
        "{source}"
    );
    browser.client.close().await.unwrap();
}

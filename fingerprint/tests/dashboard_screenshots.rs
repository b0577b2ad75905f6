//! Every dashboard page in headless Chromium (Debian's chromium + chromium-driver, over
//! WebDriver with fantoccini) with JavaScript switched off, on a seeded data set served on
//! 127.0.0.1. Each page is checked and saved as target/screenshots/dashboard-<page>.png, and
//! with FINGERPRINT_UPDATE_DOCS=1 as docs/dashboard-<page>.png (shown in the README). The data set and the dashboard's clock are pinned, so the pictures only change
//! when the pages do.
//!
//! Skipped, saying so, when chromedriver is missing, unless FINGERPRINT_REQUIRE_BROWSER=1,
//! which makes a missing browser a failure.

#![cfg(all(feature = "dashboard", feature = "seed"))]

mod common;

use axum::Router;
use chrono::{DateTime, Utc};
use common::{serve, TestDb};
use fingerprint::v1 as fp;
use serde_json::json;
use testkit::{browser_available, Driver, CHROMIUM};

/// 2026-11-20 15:00 UTC.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_186_800, 0).unwrap()
}

const WIDTH: u32 = 1440;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_chromium_without_javascript() {
    if !browser_available("every_page_in_chromium_without_javascript") {
        return;
    }
    let db = TestDb::sqlite().await;
    let store = db.store();
    fingerprint::seed::seed(
        &*store,
        fingerprint::seed::SeedOptions::new(40_000)
            .with_now(now())
            .with_days(30)
            .with_seed(7),
    )
    .await
    .unwrap();
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_clock(fp::ManualClock::at(now()))
        .build()
        .unwrap();
    let app = Router::new().nest(
        "/admin/fingerprint",
        fingerprint.dashboard(|_: &http::request::Parts| fp::DashboardAccess::Allow),
    );
    let base = format!("http://{}/admin/fingerprint", serve(app).await);

    // What to show: the most active user on the first page, one of their sessions, a visitor
    // id of theirs, and another visitor id to compare it with.
    let users = store.users(&fp::UserQuery::new()).await.unwrap();
    let mut scored = Vec::new();
    for candidate in &users.items {
        let places = store
            .user_places(&candidate.user_id, 10)
            .await
            .unwrap()
            .len() as u64;
        let score = (
            places.min(3),
            candidate.browser_fingerprints.min(3),
            candidate.sessions,
        );
        scored.push((score, candidate.user_id.clone()));
    }
    let user = scored.into_iter().max().unwrap().1;
    let devices = store.user_devices(&user).await.unwrap();
    let visitor = devices.browsers[0].visitor_id.clone();
    let other = store
        .browser_fingerprints(&fp::BrowserQuery::new())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|b| b.visitor_id)
        .find(|v| *v != visitor)
        .unwrap();
    let session = store.user_sessions(&user, 1).await.unwrap()[0].key.clone();
    let busy_ip = store
        .user_places(&user, 1)
        .await
        .unwrap()
        .first()
        .and_then(|p| p.ip)
        .unwrap();

    // (file name, path, heading the page must show, full page or the first screen)
    let pages: Vec<(&str, String, String, bool)> = vec![
        ("overview", String::new(), "Overview".into(), true),
        ("users", "/users?seen=1w".into(), "Users".into(), false),
        (
            "user",
            format!("/users/{user}"),
            format!("User {user}"),
            true,
        ),
        ("sessions", "/sessions".into(), "Sessions".into(), false),
        (
            "session",
            format!("/sessions/{session}"),
            "Session".into(),
            false,
        ),
        (
            "browsers",
            "/browsers".into(),
            "Browser fingerprints".into(),
            false,
        ),
        (
            "visitor",
            format!("/browsers/{visitor}"),
            "Visitor".into(),
            false,
        ),
        (
            "diff",
            format!("/browsers/diff?a={visitor}&b={other}"),
            "Compare two visitor ids".into(),
            false,
        ),
        (
            "requests",
            format!("/requests?ip={busy_ip}"),
            "Request fingerprints".into(),
            false,
        ),
        ("urls", "/urls".into(), "URLs".into(), false),
    ];

    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let options = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--no-first-run", "--disable-dev-shm-usage", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
            "--lang=en-US",
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={WIDTH},1000"),
        ],
        "prefs": { "profile.managed_default_content_settings.javascript": 2 },
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    testkit::install_crypto_provider();
    let client = fantoccini::ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(driver.url())
        .await
        .expect("a chromium session");

    for (name, path, heading, full) in pages {
        client.set_window_size(WIDTH, 1000).await.unwrap();
        client.goto(&format!("{base}{path}")).await.unwrap();
        let h1 = client
            .find(fantoccini::Locator::Css("h1"))
            .await
            .unwrap_or_else(|e| panic!("{name}: no heading: {e}"))
            .text()
            .await
            .unwrap();
        assert!(h1.starts_with(&heading), "{name}: {h1:?}");
        // The stylesheet applied (the top bar is dark), no script ran or exists.
        let source = client.source().await.unwrap();
        assert!(!source.contains("<script"), "{name}");
        let bar = client
            .find(fantoccini::Locator::Css("header.topbar"))
            .await
            .unwrap()
            .css_value("background-color")
            .await
            .unwrap();
        assert_eq!(bar, "rgba(21, 26, 45, 1)", "{name}: the stylesheet loaded");
        if full {
            let height = client
                .find(fantoccini::Locator::Css("body"))
                .await
                .unwrap()
                .rectangle()
                .await
                .unwrap()
                .3;
            client
                .set_window_size(WIDTH, (height as u32 + 120).clamp(600, 2400))
                .await
                .unwrap();
        }
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}");
        testkit::save_screenshot(&format!("dashboard-{name}.png"), &png);
    }
    client.close().await.unwrap();
}

//! The demo's accounts: axum-login over tower-sessions, and the fingerprint layer linking
//! sessions to users with no code in the demo. Over HTTP with a cookie jar, and in headless
//! Chromium through the real browser collector.

use std::time::{Duration, Instant};

mod common;

use common::Demo;
use fantoccini::Locator;
use testkit::{browser_available, Browser, Driver};

async fn start() -> Demo {
    Demo::start(true, true).await
}

fn jar() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0")
        .build()
        .unwrap()
}

async fn login(
    client: &reqwest::Client,
    demo: &Demo,
    user: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{}/login", demo.base()))
        .form(&[
            ("username", user),
            ("password", password),
            ("next", "/devices"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_links_the_session_and_shows_my_devices() {
    let demo = start().await;
    let client = jar();
    let get = |path: &str| client.get(format!("{}{path}", demo.base())).send();

    let anonymous = get("/articles/3").await.unwrap();
    assert_eq!(anonymous.status(), 200);
    let devices = get("/devices").await.unwrap();
    assert_eq!(devices.status(), 303);
    assert_eq!(devices.headers()["location"], "/login?next=/devices");
    let form = get("/login?next=/devices")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("<code>alice</code> / <code>wonderland</code>"),
        "{form}"
    );

    let refused = login(&client, &demo, "alice", "not her password").await;
    assert_eq!(refused.status(), 401);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Unknown user or wrong password."));
    let refused = login(&client, &demo, "mallory", "anything").await;
    assert_eq!(refused.status(), 401);

    let accepted = login(&client, &demo, "alice", "wonderland").await;
    assert_eq!(accepted.status(), 303);
    assert_eq!(accepted.headers()["location"], "/devices");
    demo.fingerprint.flush().await.unwrap();

    let page = get("/devices").await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Log out alice"), "{page}");
    assert!(
        page.contains("<td>Firefox 125</td><td>Linux</td><td>desktop</td>"),
        "{page}"
    );
    assert!(page.contains("(this one)"), "{page}");

    // The anonymous article visit is in alice's history.
    let users = demo.fingerprint.users();
    let sessions = users.sessions("1", 10).await.unwrap();
    assert_eq!(sessions.len(), 1);
    // /articles/3, /devices, /login?next=/devices and /login: the three POSTs to /login are
    // one URL in one session within the debounce window, so one record.
    assert_eq!(sessions[0].request_fingerprints, 4, "{sessions:?}");
    let store = demo.fingerprint.store();
    let pages: Vec<String> = store
        .session_requests(&sessions[0].key, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.fingerprint.url)
        .collect();
    assert!(
        pages.iter().any(|url| url.ends_with("/articles/3")),
        "{pages:?}"
    );

    // Logging out ends the user's session; the next one is anonymous.
    let out = client
        .post(format!("{}/logout", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(get("/devices").await.unwrap().status(), 303);
    get("/articles/4").await.unwrap();
    demo.fingerprint.flush().await.unwrap();
    assert_eq!(users.sessions("1", 10).await.unwrap().len(), 1);
    assert!(users.get("2").await.unwrap().is_none());

    // A login page with an outside `next` goes to the devices page instead.
    let off_site = client
        .post(format!("{}/login", demo.base()))
        .form(&[
            ("username", "bob"),
            ("password", "builder"),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(off_site.headers()["location"], "/devices");
}

/// Waits (bounded) until `user` has a browser fingerprint; returns its visitor ids.
async fn visitor_ids(demo: &Demo, user: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let devices = demo.fingerprint.users().devices(user).await.unwrap();
        if !devices.browsers.is_empty() {
            return devices.browsers.into_iter().map(|b| b.visitor_id).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no browser fingerprint for user {user}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_in_with_the_form(browser: &Browser, demo: &Demo, user: &str, password: &str) {
    let client = &browser.client;
    client
        .goto(&format!("{}/login", demo.base()))
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Css("form.card button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_path("/devices", Duration::from_secs(5))
        .await
        .expect("the login lands on the devices page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_on_one_browser_profile_share_its_visitor_id() {
    if !browser_available("two_users_on_one_browser_profile_share_its_visitor_id") {
        return;
    }
    let demo = start().await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, (1100, 900), "en-US", true).await;

    browser
        .client
        .goto(&format!("{}/articles/1", demo.base()))
        .await
        .unwrap();
    log_in_with_the_form(&browser, &demo, "alice", "wonderland").await;
    let alice = visitor_ids(&demo, "1").await;
    demo.fingerprint.flush().await.unwrap();
    // The devices page now shows the browser too.
    browser.client.refresh().await.unwrap();
    let page = browser.client.source().await.unwrap();
    assert!(page.contains(&alice[0][..12]), "the visitor id is listed");
    let png = browser.client.screenshot().await.unwrap();
    testkit::save_screenshot("demo-devices.png", &png);

    browser
        .client
        .find(Locator::Css("button.link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_path("/", Duration::from_secs(5))
        .await
        .expect("logged out");
    log_in_with_the_form(&browser, &demo, "bob", "builder").await;
    let bob = visitor_ids(&demo, "2").await;
    assert_eq!(alice, bob, "one browser profile, one visitor id");

    let users: Vec<String> = demo
        .fingerprint
        .users()
        .of_visitor(&alice[0])
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(users, ["2", "1"], "both users, most recent first");
    browser.client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_for_staff() {
    let demo = start().await;
    let anonymous = jar();
    let page = anonymous
        .get(format!("{}/admin/fingerprint/users", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    let location = page.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/login?next=%2Fadmin%2Ffingerprint%2Fusers"),
        "{location}"
    );

    let bob = jar();
    login(&bob, &demo, "bob", "builder").await;
    let denied = bob
        .get(format!("{}/admin/fingerprint", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let front = bob
        .get(demo.base())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !front.contains("/admin/fingerprint"),
        "no dashboard link for bob"
    );

    let alice = jar();
    login(&alice, &demo, "alice", "wonderland").await;
    let front = alice
        .get(demo.base())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        front.contains("<a href=\"/admin/fingerprint\">Dashboard</a>"),
        "{front}"
    );
    demo.fingerprint.flush().await.unwrap();
    let overview = alice
        .get(format!("{}/admin/fingerprint", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    // With a trailing slash, as Django's admin has it: sent to the same page.
    let slashed = alice
        .get(format!("{}/admin/fingerprint/", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(slashed.status(), 308);
    assert_eq!(slashed.headers()["location"], "/admin/fingerprint");
    let users = alice
        .get(format!("{}/admin/fingerprint/api/users", demo.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let users: serde_json::Value = serde_json::from_str(&users).unwrap();
    let ids: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"1") && ids.contains(&"2"), "{users}");
}

//! Privacy options, on SQLite and PostgreSQL: anonymised IPs, the `Sec-GPC` / `DNT` signals,
//! and the app's consent hook for browser fingerprinting.

#[macro_use]
mod common;

use axum::routing::get;
use axum::Router;
use common::{attribute, collector_payload, cookie_key, post_collector, serve, TestDb};
use fingerprint::v1 as fp;

suite!(
    anonymised_ips_are_stored_without_their_host_part,
    privacy_signals_turn_the_collector_off,
    the_consent_hook_decides,
);

/// A page that includes the collector, and the library's routes.
fn site(fingerprint: &fp::Fingerprint) -> Router {
    let tags = fingerprint.clone();
    Router::new()
        .route(
            "/page",
            get(move |visit: fp::CurrentVisit| async move {
                format!("<body>page{}</body>", tags.script_tag(&visit))
            }),
        )
        .route_layer(fingerprint.layer())
        .merge(fingerprint.routes())
}

async fn anonymised_ips_are_stored_without_their_host_part(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_trusted_proxies(["127.0.0.1"])
        .with_anonymized_ips(true)
        .build()
        .unwrap();
    let addr = serve(site(&fingerprint)).await;
    let key = "0123456789abcdef0123456789abcdef";
    let client = reqwest::Client::new();
    for (n, client_ip) in [
        "203.0.113.77",
        "2001:db8:1234:5678:9abc::1",
        "::ffff:198.51.100.9",
    ]
    .iter()
    .enumerate()
    {
        client
            .get(format!("http://{addr}/page?n={n}"))
            .header("x-forwarded-for", *client_ip)
            .header("cookie", format!("fingerprint_session={key}"))
            .send()
            .await
            .unwrap();
    }
    fingerprint.flush().await.unwrap();
    let mut ips: Vec<String> = db
        .store()
        .session_requests(key, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.fingerprint.ip.unwrap().to_string())
        .collect();
    ips.sort();
    assert_eq!(ips, ["198.51.100.0", "2001:db8:1234::", "203.0.113.0"]);
}

async fn privacy_signals_turn_the_collector_off(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(site(&fingerprint)).await;
    let client = reqwest::Client::new();

    let plain = client
        .get(format!("http://{addr}/page"))
        .send()
        .await
        .unwrap();
    let key = cookie_key(&plain).unwrap();
    let html = plain.text().await.unwrap();
    let token = attribute(&html, "data-token").to_owned();

    for (header, value) in [("sec-gpc", "1"), ("dnt", "1")] {
        let page = client
            .get(format!("http://{addr}/page"))
            .header(header, value)
            .header("cookie", format!("fingerprint_session={key}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(page, "<body>page</body>", "{header}: no collector");
        // The redirect page goes on at once, without the collector.
        let redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("http://{addr}/fingerprint/?next=/page"))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(redirect.status(), 303, "{header}");
        assert_eq!(redirect.headers()["location"], "/page");
        // A post that says it anyway is refused, even with a valid token.
        let response = reqwest::Client::new()
            .post(format!("http://{addr}/fingerprint/"))
            .header("content-type", "application/json")
            .header("cookie", format!("fingerprint_session={key}"))
            .header(header, value)
            .body(collector_payload(&token).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{header}");
        assert!(response.text().await.unwrap().contains("declined"));
    }
    assert!(db
        .store()
        .session_browsers(&key, 5)
        .await
        .unwrap()
        .is_empty());
    // Request fingerprinting (and hit counts) go on.
    fingerprint.flush().await.unwrap();
    assert!(!db
        .store()
        .session_requests(&key, 10)
        .await
        .unwrap()
        .is_empty());
    // "0" is no signal; and the same post without a signal is accepted.
    let page = client
        .get(format!("http://{addr}/page"))
        .header("sec-gpc", "0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<script"), "{page}");
    let (status, body) = post_collector(
        addr,
        Some(&key),
        collector_payload(&token).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(status, 204, "{body}");

    // An app may choose not to honour them.
    let ignoring = fp::Fingerprint::builder(db.store())
        .with_privacy_signals(false)
        .build()
        .unwrap();
    let addr = serve(site(&ignoring)).await;
    let page = client
        .get(format!("http://{addr}/page"))
        .header("sec-gpc", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<script"), "{page}");
}

async fn the_consent_hook_decides(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_consent(|parts: &http::request::Parts| {
            parts
                .headers
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|cookies| cookies.contains("consent=yes"))
        })
        .build()
        .unwrap();
    let addr = serve(site(&fingerprint)).await;
    let key = "0123456789abcdef0123456789abcdef";
    let get = |cookie: String| {
        reqwest::Client::new()
            .get(format!("http://{addr}/page"))
            .header("cookie", cookie)
            .send()
    };
    let without = get(format!("fingerprint_session={key}")).await.unwrap();
    assert_eq!(without.text().await.unwrap(), "<body>page</body>");
    let with = get(format!("fingerprint_session={key}; consent=yes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = attribute(&with, "data-token").to_owned();

    // The endpoint asks the hook again: the same valid token without consent is refused.
    let (status, _) = post_collector(
        addr,
        Some(key),
        collector_payload(&token).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(status, 403);
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/fingerprint/"))
        .header("content-type", "application/json")
        .header("cookie", format!("fingerprint_session={key}; consent=yes"))
        .body(collector_payload(&token).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(db.store().session_browsers(key, 5).await.unwrap().len(), 1);
}

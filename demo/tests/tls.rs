//! The demo over HTTPS (`--tls-self-signed`), as a real process on 127.0.0.1: HTTP/2 with a
//! certificate made at start, and "My devices" showing the connection's JA4, HTTP/2 and header
//! fingerprints, which are stored with each request.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fingerprint::v1 as fp;
use fp::Reports as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_over_tls_shows_and_stores_network_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args([
            "--port",
            &port.to_string(),
            "--database-url",
            &url,
            "--tls-self-signed",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let about = loop {
        match client.get(format!("{base}/about")).send().await {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("demo did not start over TLS: {error}"),
        }
    };
    assert_eq!(about.status(), 200);
    assert_eq!(about.version(), reqwest::Version::HTTP_2, "ALPN h2");

    let login = client
        .post(format!("{base}/login"))
        .form(&[
            ("username", "alice"),
            ("password", "wonderland"),
            ("next", "/devices"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "followed to /devices");
    let page = login.text().await.unwrap();
    let shown = |id: &str| -> String {
        let start = page
            .find(&format!("id=\"{id}\">"))
            .unwrap_or_else(|| panic!("{id} on the page"))
            + id.len()
            + 6;
        page[start..].split('<').next().unwrap().to_owned()
    };
    let ja4 = shown("ja4");
    assert!(ja4.starts_with("t13i") && ja4.len() == 36, "{ja4}");
    assert!(shown("ja4_r").starts_with("t13i"));
    assert_eq!(shown("http2").split('|').count(), 4);
    assert!(
        shown("headers").starts_with("GET h2 c1"),
        "a session cookie is sent"
    );
    // reqwest sends no user agent.
    assert_eq!(shown("verdict"), "automated");

    // The page's collector posts over HTTP/2, where the host is the `:authority` (there is
    // no Host header): a same-origin POST is accepted.
    let token = page
        .split("data-token=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page includes the collector");
    let posted = client
        .post(format!("{base}/fingerprint/"))
        .header("origin", &base)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"token":"{token}","components":{{"webdriver":false}}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.version(), reqwest::Version::HTTP_2);
    assert_eq!(posted.status(), 204, "{}", posted.text().await.unwrap());

    // SIGTERM: the demo drains its recorder before it exits.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the demo stops on SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = fp::SqliteStore::connect(&url).await.unwrap();
    let rows = store.export_requests(None, 0, 100).await.unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.fingerprint.ja4 == ja4 && !r.fingerprint.http2.is_empty()),
        "every stored request has the connection's fingerprints"
    );
}

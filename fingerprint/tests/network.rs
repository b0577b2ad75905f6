//! Network fingerprints end to end: the listener reads JA4 and HTTP/2 fingerprints of real
//! clients on 127.0.0.1 (rustls, curl with OpenSSL, headless Chromium, Firefox ESR), the layer
//! stores them; bad, slow and oversized handshakes fail without holding the listener.

#![cfg(all(feature = "tls", feature = "sqlite"))]

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use fingerprint::v1 as fp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn tls_config() -> Arc<rustls::ServerConfig> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A fingerprinted app served by `listener` on SQLite; returns its address, the handle and
/// the store (kept alive by the directory).
struct Site {
    addr: SocketAddr,
    fingerprint: fp::Fingerprint,
    store: fp::SqliteStore,
    _dir: tempfile::TempDir,
}

impl Site {
    async fn start(
        tls: bool,
        configure: impl FnOnce(fp::FingerprintListener) -> fp::FingerprintListener,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fp.db").display());
        let store = fp::SqliteStore::connect(&url).await.unwrap();
        fp::Store::migrate(&store).await.unwrap();
        let fingerprint = fp::Fingerprint::builder(store.clone())
            .with_debounce(Duration::ZERO)
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/{*page}",
                get(|| async { "<!doctype html><title>page</title>page" }),
            )
            .route(
                "/",
                get(|| async { "<!doctype html><title>home</title>home" }),
            )
            .layer(fingerprint.layer());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = if tls {
            fp::FingerprintListener::tls(tcp, tls_config())
        } else {
            fp::FingerprintListener::new(tcp)
        };
        let listener = configure(listener);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<fp::ConnectionInfo>(),
            )
            .await
            .unwrap();
        });
        Self {
            addr,
            fingerprint,
            store,
            _dir: dir,
        }
    }

    /// Every stored request by the path of its URL.
    async fn by_path(&self) -> HashMap<String, Vec<fp::RequestFingerprint>> {
        self.fingerprint.flush().await.unwrap();
        let rows = fp::Reports::export_requests(&self.store, None, 0, 1_000)
            .await
            .unwrap();
        let mut found: HashMap<String, Vec<fp::RequestFingerprint>> = HashMap::new();
        for row in rows {
            let path = url::Url::parse(&row.fingerprint.url)
                .unwrap()
                .path()
                .to_owned();
            found.entry(path).or_default().push(row.fingerprint);
        }
        found
    }
}

fn rustls_client(http2: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(true);
    let builder = if http2 { builder } else { builder.http1_only() };
    builder.build().unwrap()
}

/// The one value of `values`, which must all be equal and not empty.
fn one(values: &[fp::RequestFingerprint], what: fn(&fp::RequestFingerprint) -> &str) -> String {
    let set: BTreeSet<&str> = values.iter().map(what).collect();
    assert_eq!(set.len(), 1, "one value across connections: {set:?}");
    let value = set.into_iter().next().unwrap().to_owned();
    assert!(!value.is_empty());
    value
}

fn ja4(fp: &fp::RequestFingerprint) -> &str {
    &fp.ja4
}

fn http2(fp: &fp::RequestFingerprint) -> &str {
    &fp.http2
}

/// Runs a client to its end; one still running after a minute is killed and fails the test
/// (a hung browser must not hang the suite).
fn run(program: &str, args: &[&str]) {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?}: still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{program} {args:?}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_have_stable_and_distinct_ja4() {
    let site = Site::start(true, |l| l).await;
    let base = format!("https://127.0.0.1:{}", site.addr.port());

    // rustls, HTTP/2 and HTTP/1.1, each on two connections (a new client is a new one).
    for round in 0..2 {
        for (http2, path) in [(true, "rustls-h2"), (false, "rustls-h1")] {
            let response = rustls_client(http2)
                .get(format!("{base}/{path}/{round}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }
    // curl (OpenSSL), twice, on HTTP/2 and HTTP/1.1.
    for round in 0..2 {
        let (base, r) = (base.clone(), round.to_string());
        tokio::task::spawn_blocking(move || {
            run("curl", &["-sk", "--http2", &format!("{base}/curl-h2/{r}")]);
            run(
                "curl",
                &["-sk", "--http1.1", &format!("{base}/curl-h1/{r}")],
            );
        })
        .await
        .unwrap();
    }
    // Liars: curl sending Chrome's user agent and Chrome's header set, and Chromium sending
    // Firefox's user agent.
    {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let mut args = vec!["-sk".to_owned(), "--http2".to_owned()];
            for header in CHROME_HEADERS {
                args.extend(["-H".to_owned(), (*header).to_owned()]);
            }
            args.push(format!("{base}/curl-as-chrome/0"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run("curl", &args);
        })
        .await
        .unwrap();
    }
    // Headless Chromium opening the page itself, twice, each in a fresh profile.
    if testkit::browser_available("real_clients_have_stable_and_distinct_ja4 (chromium)") {
        for round in 0..2 {
            let url = format!("{base}/chromium/{round}");
            tokio::task::spawn_blocking(move || {
                let profile = tempfile::tempdir().unwrap();
                run(
                    testkit::CHROMIUM,
                    &[
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--no-first-run",
                        "--ignore-certificate-errors",
                        &format!("--user-data-dir={}", profile.path().display()),
                        "--dump-dom",
                        &url,
                    ],
                );
            })
            .await
            .unwrap();
        }
    }

    let found = site.by_path().await;
    for (path, rows) in &found {
        for row in rows {
            eprintln!(
                "{path}: ja4 {} http2 {} headers {} verdict {} {}",
                row.ja4, row.http2, row.headers, row.verdict, row.reasons
            );
        }
    }
    let of = |prefix: &str| -> Vec<fp::RequestFingerprint> {
        found
            .iter()
            .filter(|(path, _)| path.starts_with(&format!("/{prefix}/")))
            .flat_map(|(_, rows)| rows.clone())
            .collect()
    };
    let rustls_h2 = of("rustls-h2");
    let rustls_h1 = of("rustls-h1");
    assert_eq!(rustls_h2.len(), 2);
    let rustls = one(&rustls_h2, ja4);
    // TLS 1.3; no SNI (rustls sends none for an IP address), ALPN h2.
    assert!(rustls.starts_with("t13i"), "{rustls}");
    assert!(rustls.contains("h2_"), "ALPN h2 first: {rustls}");
    assert!(one(&rustls_h1, ja4).contains("h1_"));
    // The HTTP/2 fingerprint is read on HTTP/2 connections only.
    let rustls_http2 = one(&rustls_h2, http2);
    assert_eq!(rustls_http2.split('|').count(), 4, "{rustls_http2}");
    assert!(rustls_h1.iter().all(|r| r.http2.is_empty()));

    // Assessments stored with each request.
    assert!(of("curl-h2")
        .iter()
        .all(|r| r.verdict == "automated" && r.reasons == "tool_ua"));
    assert!(rustls_h2
        .iter()
        .all(|r| r.verdict == "automated" && r.reasons == "no_user_agent"));
    let liar = &of("curl-as-chrome")[0];
    assert_eq!(liar.verdict, "automated", "{liar:?}");
    assert!(
        liar.reasons
            .split(',')
            .any(|r| r == "ua_claims_chrome_tls_not_chromium"),
        "{}",
        liar.reasons
    );
    assert!(
        liar.reasons
            .split(',')
            .any(|r| r == "ua_claims_chrome_http2_not_chromium"),
        "{}",
        liar.reasons
    );
    let curl = one(&of("curl-h2"), ja4);
    assert!(curl.starts_with("t13"), "{curl}");
    assert_ne!(curl, rustls, "OpenSSL and rustls differ");
    assert_ne!(one(&of("curl-h2"), http2), one(&rustls_h2, http2));
    assert!(of("curl-h1").iter().all(|r| r.http2.is_empty()));

    if testkit::browser_available("real_clients_have_stable_and_distinct_ja4 (chromium)") {
        let chromium = of("chromium");
        assert!(!chromium.is_empty(), "chromium opened its pages");
        let chromium_ja4 = one(&chromium, ja4);
        assert_ne!(chromium_ja4, curl);
        assert_ne!(chromium_ja4, rustls);
        // Chromium sends SETTINGS, a WINDOW_UPDATE and :method, :authority, :scheme, :path.
        let chromium_http2 = one(&chromium, http2);
        assert!(chromium_http2.ends_with("|m,a,s,p"), "{chromium_http2}");
        // Headless says so; its TLS, HTTP/2 and headers (navigations and the favicon alike)
        // are Chromium's: nothing else is found.
        let headless = found
            .values()
            .flatten()
            .filter(|r| r.user_agent.contains("HeadlessChrome"));
        for row in headless {
            assert_eq!(
                (row.verdict.as_str(), row.reasons.as_str()),
                ("automated", "headless_ua")
            );
        }
        assert!(chromium.iter().all(|r| !r.headers.is_empty()));
    }
}

/// Chrome 124's navigation headers, in its order (what a script copies to pass as Chrome).
const CHROME_HEADERS: &[&str] = &[
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"",
    "sec-ch-ua-mobile: ?0",
    "sec-ch-ua-platform: \"Linux\"",
    "upgrade-insecure-requests: 1",
    "user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "sec-fetch-site: none",
    "sec-fetch-mode: navigate",
    "sec-fetch-user: ?1",
    "sec-fetch-dest: document",
    "accept-encoding: gzip, deflate, br",
    "accept-language: en-US,en;q=0.9",
];

/// A server that only reads ClientHellos (so a client that refuses the certificate still
/// shows its JA4) and closes each connection.
async fn hello_recorder() -> (SocketAddr, Arc<Mutex<Vec<fp::Ja4>>>) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let read =
                    fp::read_client_hello(stream, fp::MAX_CLIENT_HELLO, Duration::from_secs(5));
                if let Ok((_, Some(hello))) = read.await {
                    recorded.lock().unwrap().push(fp::Ja4::from_hello(&hello));
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_has_its_own_stable_ja4() {
    if !std::path::Path::new("/usr/bin/firefox-esr").exists() {
        if std::env::var("FINGERPRINT_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("FINGERPRINT_REQUIRE_BROWSER=1 but firefox-esr is missing");
        }
        eprintln!("SKIPPED firefox_has_its_own_stable_ja4: apt-get install firefox-esr");
        return;
    }
    let (addr, seen) = hello_recorder().await;
    for round in 0..2 {
        // Firefox opens the page itself (headless, a fresh profile); it refuses the
        // certificate after its ClientHello, which is all that is looked at here. It is
        // stopped once its hello was read.
        let profile = tempfile::tempdir().unwrap();
        let before = seen.lock().unwrap().len();
        let mut firefox = Command::new("/usr/bin/firefox-esr")
            .args(["--headless", "--no-remote", "--profile"])
            .arg(profile.path())
            .arg(format!("https://127.0.0.1:{}/firefox/{round}", addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("firefox-esr starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().len() == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = firefox.kill();
        let _ = firefox.wait();
    }
    let firefox_seen = seen.lock().unwrap().clone();
    assert!(
        firefox_seen.len() >= 2,
        "firefox connected twice: {firefox_seen:?}"
    );
    let set: BTreeSet<&str> = firefox_seen.iter().map(|j| j.ja4.as_str()).collect();
    assert_eq!(set.len(), 1, "stable across connections: {set:?}");
    let firefox = set.into_iter().next().unwrap().to_owned();
    eprintln!("firefox: {:?}", firefox_seen[0]);
    assert!(firefox.starts_with("t13"), "{firefox}");

    // curl is seen differently (on a recorder of its own: a late Firefox connection must
    // not pass for curl's).
    let (curl_addr, curl_seen) = hello_recorder().await;
    let curl_url = format!("https://127.0.0.1:{}/curl", curl_addr.port());
    tokio::task::spawn_blocking(move || {
        let _ = Command::new("curl")
            .args(["-sk", "--max-time", "5", &curl_url])
            .status();
    })
    .await
    .unwrap();
    let curl = curl_seen.lock().unwrap().clone();
    assert!(!curl.is_empty(), "curl's ClientHello was read");
    assert!(
        curl.iter().all(|j| j.ja4 != firefox),
        "curl differs from firefox"
    );
}

#[tokio::test]
async fn h2c_connections_have_an_http2_fingerprint_and_no_ja4() {
    let site = Site::start(false, |l| l).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for round in 0..2 {
        client
            .get(format!("http://{}/h2c/{round}", site.addr))
            .send()
            .await
            .unwrap();
    }
    let plain = reqwest::Client::builder().http1_only().build().unwrap();
    plain
        .get(format!("http://{}/h1/0", site.addr))
        .send()
        .await
        .unwrap();
    let found = site.by_path().await;
    let h2c: Vec<_> = found
        .iter()
        .filter(|(path, _)| path.starts_with("/h2c/"))
        .flat_map(|(_, rows)| rows.clone())
        .collect();
    assert_eq!(h2c.len(), 2);
    let text = one(&h2c, http2);
    assert_eq!(text.split('|').count(), 4, "{text}");
    assert!(h2c.iter().all(|r| r.ja4.is_empty()));
    let h1 = &found["/h1/0"][0];
    assert!(h1.http2.is_empty() && h1.ja4.is_empty());
    assert!(!h1.headers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_malformed_handshakes_fail_without_holding_the_listener() {
    let site = Site::start(true, |l| {
        // Long enough for the real client below on a loaded machine; the slow client is
        // still closed well inside the 5 s the test waits for it.
        l.with_handshake_timeout(Duration::from_secs(2))
            .with_max_client_hello(4096)
    })
    .await;
    // A client sending one byte now and then: closed at the timeout.
    let mut slow = TcpStream::connect(site.addr).await.unwrap();
    slow.write_all(&[0x16]).await.unwrap();
    // Garbage instead of a ClientHello: rustls refuses it.
    let mut garbage = TcpStream::connect(site.addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // A record announcing a ClientHello larger than the limit, sent in full.
    let mut large = TcpStream::connect(site.addr).await.unwrap();
    let mut record = vec![
        0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc, 0x03, 0x03,
    ];
    record.resize(5 + 0x4000, 0);
    large.write_all(&record).await.unwrap();

    // Meanwhile a real client is served at once.
    let started = Instant::now();
    let response = rustls_client(true)
        .get(format!("https://127.0.0.1:{}/meanwhile", site.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));

    for (name, stream) in [
        ("slow", &mut slow),
        ("garbage", &mut garbage),
        ("large", &mut large),
    ] {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "{name}: the server closes the connection");
        // Nothing that looks like an HTTP response: at most a TLS alert.
        assert!(!rest.starts_with(b"HTTP/"), "{name}");
    }
    let found = site.by_path().await;
    assert_eq!(
        found.len(),
        1,
        "only the real request was recorded: {:?}",
        found.keys()
    );
}

#[tokio::test]
async fn ja4_from_a_trusted_proxy_header_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fp.db").display());
    let store = fp::SqliteStore::connect(&url).await.unwrap();
    fp::Store::migrate(&store).await.unwrap();
    let fingerprint = fp::Fingerprint::builder(store.clone())
        .with_trusted_proxies(["10.0.0.0/8"])
        .with_ja4_header("x-ja4")
        .with_http2_header("x-http2-fingerprint")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/{*page}", get(|| async { "page" }))
        .layer(fingerprint.layer());
    for (peer, path) in [("10.1.2.3:4000", "/proxied"), ("192.0.2.9:4000", "/direct")] {
        let request = http::Request::builder()
            .uri(path)
            .header("host", "example.com")
            .header("x-ja4", "t13d1516h2_8daaf6152771_02713d6af862")
            .header("x-http2-fingerprint", "1:65536|15663105|0|m,a,s,p")
            .extension(fp::PeerAddr(peer.parse().unwrap()))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    fingerprint.flush().await.unwrap();
    let rows = fp::Reports::export_requests(&store, None, 0, 10)
        .await
        .unwrap();
    let by_path: HashMap<String, fp::RequestFingerprint> = rows
        .into_iter()
        .map(|r| {
            (
                url::Url::parse(&r.fingerprint.url)
                    .unwrap()
                    .path()
                    .to_owned(),
                r.fingerprint,
            )
        })
        .collect();
    assert_eq!(
        by_path["/proxied"].ja4,
        "t13d1516h2_8daaf6152771_02713d6af862"
    );
    assert_eq!(by_path["/proxied"].http2, "1:65536|15663105|0|m,a,s,p");
    assert_eq!(
        by_path["/direct"].ja4, "",
        "an untrusted peer's header is ignored"
    );
    assert_eq!(by_path["/direct"].http2, "");
}

/// An app on a cleartext `FingerprintListener` whose page answers with the header names it
/// received, in the order `HeaderFingerprint` lists them.
async fn header_echo() -> SocketAddr {
    let app = Router::new().route(
        "/order",
        get(
            |method: http::Method, version: http::Version, headers: http::HeaderMap| async move {
                fp::header_fingerprint(&method, version, &headers)
                    .names
                    .join(",")
            },
        ),
    );
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            fp::FingerprintListener::new(tcp),
            app.into_make_service_with_connect_info::<fp::ConnectionInfo>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[tokio::test]
async fn the_app_sees_header_names_in_received_order() {
    let addr = header_echo().await;
    // HTTP/1.1, bytes as sent: names are lowercased, a repeated name keeps its first place.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /order HTTP/1.1\r\nHost: x\r\nX-B: 1\r\nX-A: 2\r\nCookie: a=1\r\nACCEPT: */*\r\n\
              X-B: 3\r\nReferer: http://x/\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(body, "host,x-b,x-a,accept,connection");

    // HTTP/2 (h2c): the same order; the pseudo-headers are not header names.
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let body = client
        .get(format!("http://{addr}/order"))
        .header("x-b", "1")
        .header("x-a", "2")
        .header("x-b", "3")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names: Vec<&str> = body.split(',').collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert!(position("x-b") < position("x-a"), "{body}");
    assert!(!body.contains(':'), "{body}");
}

#[tokio::test]
async fn a_bad_http2_preface_fails_like_hyper_and_the_listener_goes_on() {
    let addr = header_echo().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // A frame header announcing 16 MiB of a SETTINGS frame on stream 7, then junk.
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0x04, 0x00, 0x00, 0x00, 0x00, 0x07]);
    bytes.extend_from_slice(&[0xab; 64]);
    stream.write_all(&bytes).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closes the connection");
    let body = reqwest::get(format!("http://{addr}/order"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.split(',').any(|name| name == "host"), "{body}");
}

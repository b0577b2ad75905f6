//! Capture (request headers -> fingerprint), what the layer computes per request:
//! `cargo bench -p fingerprint-rt --bench capture`.
//!
//! - `locate`: the absolute URL only; every request pays it, debounced ones included.
//! - `full/*`: everything a recorded request pays for: URL, client IP, every header (as sent,
//!   truncated to the column limits), UTM parameters.

use std::hint::black_box;
use std::net::IpAddr;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use fingerprint::__bench::Capture;
use fingerprint::v1::TrustedProxies;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// What Chromium sends for a page.
fn browser_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "news.example"),
        ("connection", "keep-alive"),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-dest", "document"),
        ("referer", "https://news.example/articles/?page=2"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "cs-CZ,cs;q=0.9,en-GB;q=0.8,en;q=0.7"),
        ("cookie", "fingerprint_session=0123456789abcdef0123456789abcdef; theme=dark"),
    ] {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

/// Headers at and beyond every limit: a 4 KiB user agent, 40 `Accept` lines, a long referer.
fn oversized_headers() -> HeaderMap {
    let mut headers = browser_headers();
    headers.insert(
        "user-agent",
        HeaderValue::from_str(&"Agent/1.0 ".repeat(410)).unwrap(),
    );
    for i in 0..40 {
        headers.append(
            "accept",
            HeaderValue::from_str(&format!("application/x-type-{i};q=0.{i}")).unwrap(),
        );
    }
    headers.insert(
        "referer",
        HeaderValue::from_str(&format!("https://r.example/{}", "p".repeat(3000))).unwrap(),
    );
    headers
}

fn bench(c: &mut Criterion) {
    let direct = Capture::new(TrustedProxies::none());
    let proxied = Capture::new(TrustedProxies::new(["10.0.0.0/8", "192.168.0.0/16"]).unwrap());
    let uri: Uri = "/articles/7?utm_source=newsletter&utm_medium=email&ref=home"
        .parse()
        .unwrap();
    let peer: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());
    let proxy_peer: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
    let headers = browser_headers();
    let mut forwarded = browser_headers();
    forwarded.insert(
        "x-forwarded-for",
        HeaderValue::from_static("198.51.100.7, 192.168.1.20, 10.0.0.3"),
    );
    forwarded.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let oversized = oversized_headers();
    let now = Utc::now();

    let mut group = c.benchmark_group("capture");
    group.bench_function("locate", |b| {
        b.iter(|| direct.locate(black_box(&uri), black_box(&headers), peer))
    });
    group.bench_function("full/browser", |b| {
        b.iter(|| {
            direct.capture(
                &Method::GET,
                black_box(&uri),
                black_box(&headers),
                peer,
                now,
            )
        })
    });
    group.bench_function("full/behind_trusted_proxies", |b| {
        b.iter(|| {
            proxied.capture(
                &Method::GET,
                black_box(&uri),
                black_box(&forwarded),
                proxy_peer,
                now,
            )
        })
    });
    group.bench_function("full/oversized_headers", |b| {
        b.iter(|| {
            direct.capture(
                &Method::GET,
                black_box(&uri),
                black_box(&oversized),
                peer,
                now,
            )
        })
    });
    group.bench_function("assess/browser", |b| {
        b.iter(|| {
            fingerprint::v1::assess_request(black_box(&headers), http::Version::HTTP_2, true, None)
        })
    });
    // Behaviour: one session's requests over 1,000 pages from one address, and new sessions
    // (one per request, as a client without cookies) over 10,000 addresses.
    let behaviour = fingerprint::__bench::Behaviour::default();
    let pages: Vec<String> = (0..1000)
        .map(|i| format!("https://news.example/articles/{i}"))
        .collect();
    let mut i = 0usize;
    group.bench_function("assess/behaviour_returning", |b| {
        b.iter(|| {
            i += 1;
            behaviour.observe(
                "0123456789abcdef0123456789abcdef",
                black_box(&pages[i % pages.len()]),
                peer,
                now,
            )
        })
    });
    let keys: Vec<String> = (0..100_000).map(|i| format!("{i:032x}")).collect();
    let mut n = 0usize;
    group.bench_function("assess/behaviour_new_sessions", |b| {
        b.iter(|| {
            n += 1;
            let address = IpAddr::from([10, 0, (n / 256 % 40) as u8, (n % 256) as u8]);
            behaviour.observe(
                black_box(&keys[n % keys.len()]),
                &pages[n % 1000],
                Some(address),
                now,
            )
        })
    });
    // The debounce: a returning pair (debounced), and new pairs in a full cache (each one
    // remembered, evicting another).
    let debounce = fingerprint::__bench::Debounce::default();
    group.bench_function("debounce/returning", |b| {
        b.iter(|| {
            debounce.visit(
                "0123456789abcdef0123456789abcdef",
                black_box(&pages[0]),
                now,
            )
        })
    });
    let many: Vec<String> = (0..1_000_000).map(|i| format!("{i:032x}")).collect();
    let mut m = 0usize;
    group.bench_function("debounce/new_pairs", |b| {
        b.iter(|| {
            m += 1;
            debounce.visit(black_box(&many[m % many.len()]), &pages[m % 1000], now)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

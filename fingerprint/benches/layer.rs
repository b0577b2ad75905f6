//! The whole request path of the fingerprint layer, in process (no network, no handler
//! work): `cargo bench -p fingerprint-rt --bench layer`.
//!
//! - `returning`: one session asking for one page again and again, as scripts/bench.sh
//!   item 1 does: debounced, so nothing is recorded; the cost is what every returning
//!   request pays (session, URL, assessment, behaviour, the handler's script tag).
//! - `new_visitor`: a request without a cookie: a new session, recorded (the recorder's
//!   own work happens on its task, not in this figure).
//! - `plain`: the same inner service without the layer, the baseline.

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fingerprint::v1::{CurrentVisit, Fingerprint, SqliteStore};
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service, ServiceExt};

fn request(cookie: bool) -> Request<()> {
    let mut builder = Request::get("/articles/1")
        .header("host", "127.0.0.1:8080")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
        .header("accept-language", "cs-CZ,cs;q=0.9,en;q=0.8")
        .header("accept-encoding", "gzip, deflate, br, zstd");
    if cookie {
        builder = builder.header(
            "cookie",
            HeaderValue::from_static("fingerprint_session=0123456789abcdef0123456789abcdef"),
        );
    }
    builder.body(()).unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fingerprint = runtime.block_on(async {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        Fingerprint::builder(store).build().unwrap()
    });
    // What a page handler does with the visit: the collector's script tag.
    let handle = fingerprint.clone();
    let handler = tower::service_fn(move |request: Request<()>| {
        let tag = request
            .extensions()
            .get::<CurrentVisit>()
            .map(|visit| handle.script_tag(visit).to_string());
        async move { Ok::<_, Infallible>(Response::new(tag.unwrap_or_default())) }
    });
    let layered = fingerprint.layer().layer(handler.clone());

    let mut group = c.benchmark_group("layer");
    group.bench_function("plain", |b| {
        b.iter(|| {
            let response = runtime.block_on(handler.clone().oneshot(request(true)));
            black_box(response.unwrap());
        });
    });
    group.bench_function("returning", |b| {
        b.iter(|| {
            let response = runtime.block_on(layered.clone().oneshot(request(true)));
            black_box(response.unwrap());
        });
    });
    group.bench_function("new_visitor", |b| {
        b.iter(|| {
            let mut service = layered.clone();
            let response = runtime.block_on(async {
                service.ready().await?;
                service.call(request(false)).await
            });
            black_box(response.unwrap());
        });
    });
    group.finish();
    runtime.block_on(fingerprint.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);

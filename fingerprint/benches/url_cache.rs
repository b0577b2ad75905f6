//! The URL -> id cache the stores consult before the database (on every recorded batch, for
//! every distinct URL): `cargo bench -p fingerprint-rt --bench url_cache`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fingerprint::__bench::{url_cache_get, url_cache_insert};
use fingerprint::v1::UrlCache;

fn url(i: u64) -> String {
    format!("https://news.example/articles/{i}?utm_source=newsletter")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("url_cache");
    for entries in [1_000u64, 100_000] {
        let cache = UrlCache::with_capacity(entries);
        let urls: Vec<String> = (0..entries).map(url).collect();
        for (id, url) in (0i64..).zip(&urls) {
            url_cache_insert(&cache, url, id);
        }
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::new("get_hit", entries), &urls, |b, urls| {
            b.iter(|| {
                i = (i + 7919) % urls.len();
                url_cache_get(&cache, black_box(&urls[i]))
            })
        });
    }
    let cache = UrlCache::default();
    let missing = url(u64::MAX);
    group.bench_function("get_miss", |b| {
        b.iter(|| url_cache_get(&cache, black_box(&missing)))
    });
    let fresh: Vec<String> = (0..4096).map(url).collect();
    let mut i = 0usize;
    group.bench_function("insert", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            url_cache_insert(&cache, black_box(&fresh[i]), i as i64)
        })
    });
    let disabled = UrlCache::disabled();
    group.bench_function("get_disabled", |b| {
        b.iter(|| url_cache_get(&disabled, black_box(&fresh[0])))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Device derivation (user agent -> browser, OS, device type), which the background recorder
//! does for every fingerprint it writes: a cold parse with the uap-core rules, and the
//! recorder's path through its per-user-agent cache. `cargo bench -p fingerprint-rt --bench device`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fingerprint::__bench::DeviceCache;
use fingerprint::v1::Device;

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
     Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) \
     SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
];

fn bench(c: &mut Criterion) {
    let _ = Device::from_user_agent("load the rules first");
    let mut group = c.benchmark_group("device");
    let mut i = 0;
    group.bench_function("parse", |b| {
        b.iter(|| {
            i = (i + 1) % AGENTS.len();
            Device::from_user_agent(black_box(AGENTS[i]))
        })
    });
    let cache = DeviceCache::new();
    group.bench_function("cached", |b| {
        b.iter(|| {
            i = (i + 1) % AGENTS.len();
            cache.device(black_box(AGENTS[i]))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

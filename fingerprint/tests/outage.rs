//! The database goes away under load: requests keep succeeding, writes are retried, and every
//! visit is accounted for (stored + dropped = offered). PostgreSQL behind a TCP proxy on
//! 127.0.0.1 that the test cuts for a few seconds.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::{serve, TestDb};
use fingerprint::v1 as fp;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A TCP proxy to `upstream` that can be cut: cutting closes every open connection and
/// refuses new ones until restored.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, watcher) = tokio::sync::watch::channel(0u64);
        let is_up = Arc::clone(&up);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                // Only cuts from now on; taken before the check, so a cut between the two
                // either refuses this connection or cuts it.
                let mut cut = watcher.clone();
                cut.borrow_and_update();
                if !is_up.load(Ordering::SeqCst) {
                    drop(client); // refused while down
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {} // dropping both ends cuts the connection
                    }
                });
            }
        });
        Self {
            addr,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn postgres_addr(url: &str) -> SocketAddr {
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let host = options.get_host();
    let host = if host.starts_with('/') {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", options.get_port())
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], options.get_port())))
}

/// A pool to PostgreSQL through `proxy`, giving up on a connection after 500 ms.
async fn pool_through(proxy: &Proxy, url: &str) -> sqlx::PgPool {
    let mut options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    options = options.host("127.0.0.1").port(proxy.addr.port());
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with(options)
        .await
        .unwrap()
}

/// Serves `/visit/{n}` behind the fingerprint layer.
async fn serve_visits(fingerprint: &fp::Fingerprint) -> SocketAddr {
    let app = Router::new()
        .route("/visit/{n}", get(|| async { "ok" }))
        .route_layer(fingerprint.layer());
    serve(app).await
}

/// Sends `count` requests, each a new visitor, `per_second` at a time; all must succeed.
async fn steady_load(addr: SocketAddr, count: usize, per_second: usize) {
    let client = reqwest::Client::new();
    let mut requests = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second as u32);
    for i in 0..count {
        tick.tick().await;
        let client = client.clone();
        requests.spawn(async move {
            let response = client
                .get(format!("http://{addr}/visit/{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                200,
                "request {i} failed during the outage"
            );
        });
    }
    while let Some(done) = requests.join_next().await {
        done.unwrap();
    }
}

async fn outage(queue_capacity: usize) -> Option<(fp::RecorderStats, i64)> {
    let db = TestDb::postgres("outage").await?;
    let TestDb::Postgres { url, .. } = &db else {
        unreachable!()
    };
    let proxy = Proxy::start(postgres_addr(url)).await;
    let pool = pool_through(&proxy, url).await;
    let fingerprint = fp::Fingerprint::builder(fp::PostgresStore::new(pool))
        .with_queue_capacity(queue_capacity)
        .with_batch_size(100)
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let addr = serve_visits(&fingerprint).await;

    // 1,000 requests over ~5 s; the database is away from ~1 s to ~4 s.
    let run = async {
        let load = tokio::spawn(steady_load(addr, 1_000, 200));
        tokio::time::sleep(Duration::from_secs(1)).await;
        proxy.cut();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let during = fingerprint.stats();
        proxy.restore();
        load.await.unwrap();
        (during, fingerprint.shutdown().await)
    };
    let (during, stats) = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("stuck; recorder: {:?}", fingerprint.stats()));
    assert!(
        during.retries > 0,
        "writes failed and were retried: {during:?}"
    );
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.enqueued + stats.dropped, 1_000, "{stats:?}");
    assert_eq!(
        stats.stored, stats.enqueued,
        "everything queued arrived: {stats:?}"
    );
    let rows = db.count("fingerprint_request_fingerprints").await;
    assert_eq!(rows as u64, stats.stored);
    Some((stats, rows))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_with_room_in_the_queue_loses_nothing() {
    let Some((stats, rows)) = outage(10_000).await else {
        return;
    };
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(rows, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_beyond_the_queue_counts_every_drop() {
    let Some((stats, rows)) = outage(64).await else {
        return;
    };
    assert!(
        stats.dropped > 0,
        "a 64-visit queue overflows in a 3 s outage: {stats:?}"
    );
    assert_eq!(
        rows as u64 + stats.dropped,
        1_000,
        "stored + dropped = sent"
    );
}

/// Shut down while the database is away: batches already retrying, and those still queued,
/// give up at the shutdown timeout and are counted as failed; `shutdown` returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_an_outage_ends_at_its_timeout() {
    let Some(db) = TestDb::postgres("outage_shutdown").await else {
        return;
    };
    let TestDb::Postgres { url, .. } = &db else {
        unreachable!()
    };
    let proxy = Proxy::start(postgres_addr(url)).await;
    let pool = pool_through(&proxy, url).await;
    let fingerprint = fp::Fingerprint::builder(fp::PostgresStore::new(pool))
        .with_batch_size(25)
        .with_writers(2)
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .with_shutdown_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let addr = serve_visits(&fingerprint).await;
    proxy.cut();
    steady_load(addr, 100, 200).await;
    // The writers are retrying their batches by now; the rest is queued.
    let retrying = async {
        while fingerprint.stats().retries < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), retrying)
        .await
        .expect("writes retried while the database is away");
    let started = std::time::Instant::now();
    let stats = tokio::time::timeout(Duration::from_secs(20), fingerprint.shutdown())
        .await
        .unwrap_or_else(|_| panic!("shutdown stuck: {:?}", fingerprint.stats()));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(stats.enqueued, 100, "{stats:?}");
    assert_eq!(stats.stored, 0, "{stats:?}");
    assert_eq!(stats.failed, 100, "every visit accounted for: {stats:?}");
    proxy.restore();
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 0);
}

//! The demo as a real process: SIGTERM under load loses nothing that was enqueued, and two
//! processes writing to one PostgreSQL keep exact hit counts. Traffic goes to 127.0.0.1 only,
//! bounded in count and time.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fingerprint::v1 as fp;
use fp::Reports as _;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Demo {
    child: Child,
    port: u16,
}

impl Demo {
    async fn start(database_url: &str) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_demo"))
            .args([
                "--port",
                &port.to_string(),
                "--database-url",
                database_url,
                "--without-accounts",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("http://127.0.0.1:{port}/about"))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "demo did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit; returns its log.
    fn wait(mut self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "demo exited with {status}");
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("demo did not exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut log = String::new();
        use std::io::Read as _;
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut log).unwrap();
        }
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut log).unwrap();
        }
        log
    }
}

/// The session keys of the 200 responses so far.
type Served = Arc<Mutex<Vec<String>>>;

/// New visitors on `ports` until `stop` (or a server stops listening); the session key of
/// every 200 response goes into `keys` as it arrives.
async fn load(ports: Vec<u16>, stop: Arc<AtomicBool>, workers: usize, keys: Served) {
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (ports, stop, keys) = (ports.clone(), Arc::clone(&stop), Arc::clone(&keys));
        tasks.push(tokio::spawn(async move {
            // A user agent that claims no browser: assessed `unknown`, so counted.
            let client = reqwest::Client::builder()
                .user_agent("demo-tests/1")
                .build()
                .unwrap();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                let port = ports[(worker + i) % ports.len()];
                i += 1;
                let article = 1 + i % 10;
                let Ok(response) = client
                    .get(format!("http://127.0.0.1:{port}/articles/{article}"))
                    .send()
                    .await
                else {
                    break; // refused: the server stopped listening
                };
                if response.status() == 200 {
                    if let Some(key) = response
                        .headers()
                        .get("set-cookie")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("fingerprint_session="))
                        .and_then(|v| v.split(';').next())
                    {
                        keys.lock().unwrap().push(key.to_owned());
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_enqueued() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let demo = Demo::start(&url).await;
    let stop = Arc::new(AtomicBool::new(false));
    let keys = Served::default();
    let traffic = tokio::spawn(load(
        vec![demo.port],
        Arc::clone(&stop),
        8,
        Arc::clone(&keys),
    ));
    // Under load (200 visitors served, however slow the machine), then SIGTERM while
    // requests are still arriving.
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys.lock().unwrap().len() < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    demo.terminate();
    let log = tokio::task::spawn_blocking(move || demo.wait(Duration::from_secs(15)))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let served = keys.lock().unwrap().clone();
    assert!(served.len() > 100, "load ran: {} responses", served.len());
    assert!(log.contains("stopped"), "{log}");

    // Every visitor that got a page is in the database.
    let store = fp::SqliteStore::connect(&url).await.unwrap();
    let mut missing = 0;
    for key in &served {
        if store.session_requests(key, 1).await.unwrap().is_empty() {
            missing += 1;
        }
    }
    assert_eq!(
        missing,
        0,
        "of {} served visitors; log: {log}",
        served.len()
    );
    eprintln!(
        "SIGTERM under load: {} visitors served, all stored",
        served.len()
    );
    let rows: i64 = sqlx_count(&store).await;
    assert_eq!(rows as usize, served.len());
}

async fn sqlx_count(store: &fp::SqliteStore) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM fingerprint_request_fingerprints")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_keep_exact_hit_counts() {
    let Ok(base) = std::env::var("FINGERPRINT_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED two_processes_on_one_postgres_keep_exact_hit_counts: set FINGERPRINT_TEST_POSTGRES_URL");
        return;
    };
    let schema = format!("fp_procs_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(&sql).execute(&admin).await.unwrap();
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");

    let first = Demo::start(&url).await;
    let second = Demo::start(&url).await;
    let stop = Arc::new(AtomicBool::new(false));
    // The same URLs through both processes (same Host: 127.0.0.1 on two ports gives two
    // origins, so count per path below).
    let keys = Served::default();
    let traffic = tokio::spawn(load(
        vec![first.port, second.port],
        Arc::clone(&stop),
        8,
        Arc::clone(&keys),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let served = keys.lock().unwrap().clone();
    first.terminate();
    second.terminate();
    tokio::task::spawn_blocking(move || {
        first.wait(Duration::from_secs(15));
        second.wait(Duration::from_secs(15));
    })
    .await
    .unwrap();

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let counters: HashMap<String, i64> = sqlx::query_as(
        "SELECT u.url, h.hits FROM fingerprint_hit_counts h JOIN fingerprint_urls u ON u.id = h.url_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let recount: HashMap<String, i64> = sqlx::query_as(
        "SELECT u.url, COUNT(DISTINCT r.session_id) FROM fingerprint_request_fingerprints r \
         JOIN fingerprint_urls u ON u.id = r.url_id GROUP BY u.url",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(counters, recount);
    assert_eq!(
        counters.values().sum::<i64>() as usize,
        served.len(),
        "one new visitor per response"
    );
    assert_eq!(counters.len(), 20, "10 articles on 2 origins");
    eprintln!(
        "two processes: {} visitors, counters equal the recount",
        served.len()
    );
    pool.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

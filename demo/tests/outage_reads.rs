//! Reads during a database outage: every PostgreSQL connection of the demo is killed twice
//! while it serves new visitors, whose pages read their hit counts. No page answers 5xx (a
//! read that meets a killed pooled connection is retried once, and a page is shown without
//! its count when the store stays unreachable), and the recorder loses nothing.
//!
//! Needs `FINGERPRINT_TEST_POSTGRES_URL` (set by `.ci/run`); skipped, saying so, without it.

mod common;

use std::time::Duration;

use tokio::task::JoinSet;

const POSTGRES_URL_VAR: &str = "FINGERPRINT_TEST_POSTGRES_URL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_give_no_5xx_and_lose_nothing() {
    let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
        eprintln!(
            "SKIPPED killed_connections_give_no_5xx_and_lose_nothing: set {POSTGRES_URL_VAR}"
        );
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let tag = format!("fp_outage_{}_{nanos}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {tag}"))
        .execute(&admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{tag}&application_name={tag}");

    let config = demo::Config {
        database_url: url,
        fingerprint: true,
        accounts: false,
        queue_capacity: None,
        writers: None,
    };
    let demo = common::Demo::serve(&config, None).await;
    let (addr, fingerprint) = (demo.addr, demo.fingerprint.clone());

    // New visitors (no cookie): every request is recorded and its page reads hit counts.
    let mut load = JoinSet::new();
    for worker in 0..8u32 {
        load.spawn(async move {
            let client = reqwest::Client::new();
            let mut statuses = Vec::new();
            for n in 0..250u32 {
                let path = match (worker + n) % 4 {
                    0 => "/".to_owned(),
                    k => format!("/articles/{k}"),
                };
                let status = match client.get(format!("http://{addr}{path}")).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(error) => panic!("{path}: {error}"),
                };
                statuses.push(status);
            }
            statuses
        });
    }
    // Kill every connection of the demo's pool twice while the load runs.
    let mut killed = 0;
    for pause in [300, 700] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let rows: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&tag)
        .fetch_all(&admin)
        .await
        .unwrap();
        killed += rows.len();
    }
    let mut statuses = Vec::new();
    while let Some(worker) = load.join_next().await {
        statuses.extend(worker.unwrap());
    }
    assert!(
        killed > 0,
        "the kills met no connection: the test proves nothing"
    );
    assert_eq!(statuses.len(), 2_000);
    let failed: Vec<u16> = statuses.iter().copied().filter(|s| *s >= 500).collect();
    assert!(failed.is_empty(), "{} of 2,000 answered 5xx", failed.len());
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Nothing lost: every visit the layer enqueued is stored (the recorder retried).
    tokio::time::timeout(Duration::from_secs(60), fingerprint.flush())
        .await
        .expect("flushed within a minute")
        .unwrap();
    let stats = fingerprint.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.stored, stats.enqueued, "{stats:?}");
    let (rows,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM {tag}.fingerprint_request_fingerprints"
    ))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(rows as u64, stats.stored);
    fingerprint.shutdown().await;

    sqlx::query(&format!("DROP SCHEMA {tag} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

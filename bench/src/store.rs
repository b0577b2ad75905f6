//! Ingest through the recorder into a fresh store, and hit counts on what it wrote.
//!
//! Ingest: `--events` new-visitor events (each its own session, spread over `--urls` URLs,
//! browser-like headers) are offered to the recorder as fast as its queue takes them; the
//! time runs from the first offer to the flush that confirms the last write. Every event is a
//! request fingerprint, a session, a unique (URL, session) pair and a counter update. First a
//! sweep over batch sizes on `--sweep-events`, then the full run with the fastest one.
//! Baseline: the same rows inserted by plain multi-row INSERTs into one bare table, in
//! transactions of the same size (what the database itself does, without the store's work).
//!
//! Hit counts: `Store::hit_counts` for 1, 100 and 1,000 random stored URLs on the result of
//! the full run, median of `--runs` after warm-up; baseline `SELECT 1` on the same pool.
//!
//! Comparison (a row marked so): ingest with fully random session keys, as the layer made
//! them before its keys were ordered by time. Options `--sqlite-cache-mib`, `--drop-index`
//! and `--keys` try other settings by hand.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use chrono::{DateTime, TimeDelta, Utc};
use fingerprint::__bench::Recorder;
use fingerprint::v1 as fp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::QueryBuilder;

use crate::db::{Kind, Scratch};
use crate::report::{at_least, at_most, percent, thousands, Row};

/// `fp-bench store`.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// Which store.
    #[arg(long, value_enum)]
    kind: Kind,
    /// PostgreSQL server (each measurement makes a schema of its own and drops it).
    #[arg(long, env = "FINGERPRINT_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Folder for SQLite files (default: a new folder under the system's temp folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Events of the full ingest run (and so rows under the hit counts).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Distinct URLs the events are spread over.
    #[arg(long, default_value_t = 20_000)]
    urls: u64,
    /// Batch sizes tried first, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,2048,8192")]
    batch_sizes: Vec<usize>,
    /// Events per batch-size trial.
    #[arg(long, default_value_t = 100_000)]
    sweep_events: u64,
    /// The recorder's batch delay in milliseconds (the library's default is 50).
    #[arg(long, default_value_t = 50)]
    batch_delay_ms: u64,
    /// The recorder's batches written at the same time (the library's default is 1).
    #[arg(long, default_value_t = 1)]
    writers: usize,
    /// The recorder's queue capacity (the library's default is 16,384). The producer keeps
    /// at most this minus two batches queued, so nothing is dropped: it must hold more than
    /// two batches.
    #[arg(long, default_value_t = 65_536)]
    queue: usize,
    /// Timed hit-count queries per size (after 3 warm-up queries).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Experiment (not the library's settings): open SQLite stores with this page cache per
    /// connection, in MiB (SQLite's default is about 2 MiB).
    #[arg(long)]
    sqlite_cache_mib: Option<u64>,
    /// Experiment (not the library's schema): drop these indexes after migrating, to see what
    /// each costs the ingest (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    drop_index: Vec<String>,
    /// Session keys of the events. `time-ordered` (the default) as the layer makes them: 48
    /// bits of milliseconds then 80 random bits, so new keys land at the end of the unique
    /// index; `random`: 128 random bits, as the layer made them before.
    #[arg(long, value_enum, default_value = "time-ordered")]
    keys: Keys,
    /// Events of the session-key comparison run after everything else: ingest with
    /// time-ordered and with random keys, each on a fresh store (0 skips it).
    #[arg(long, default_value_t = 200_000)]
    key_experiment_events: u64,
    /// Keep the full run's database (its URL is printed) for a closer look.
    #[arg(long)]
    keep: bool,
    /// Ingest target, events/s.
    #[arg(long, default_value_t = 100_000.0)]
    ingest_target: f64,
    /// Target for 1,000 URLs in ms (default: 1 on SQLite, 2 on PostgreSQL).
    #[arg(long)]
    counts_target_ms: Option<f64>,
}

const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Keys {
    Random,
    TimeOrdered,
}

/// SplitMix64's finaliser: a bijection on u64 that scatters consecutive numbers.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Event `i` of a run: a new session on one of `urls` URLs. The random part of a session key
/// looks random, as the layer's random bits do (sequential keys would flatter the unique
/// index): the low half is a bijection of `i` (unique within the run), the rest depends on
/// `nonce` (unique across runs).
fn event(keys: Keys, nonce: u64, i: u64, urls: u64, start: DateTime<Utc>) -> fp::Visit {
    let page = i.wrapping_mul(2_654_435_761) % urls.max(1);
    let micros = i64::try_from(i).unwrap_or(i64::MAX);
    let mut fingerprint = fp::RequestFingerprint::new(
        format!("http://bench.test/articles/{page}"),
        start + TimeDelta::microseconds(micros),
    );
    // 192.0.2.0/24 is TEST-NET-1: stored as data, never contacted.
    fingerprint.ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 251) as u8)));
    fingerprint.user_agent = USER_AGENT.into();
    fingerprint.accept = ACCEPT.into();
    fingerprint.accept_language = "cs-CZ,cs;q=0.9,en;q=0.8".into();
    fingerprint.accept_encoding = "gzip, deflate, br, zstd".into();
    fingerprint.referer = "https://search.test/?q=fingerprint".into();
    fingerprint.country = "CZ".into();
    let key = match keys {
        Keys::Random => format!("{:016x}{:016x}", mix(nonce ^ mix(i)), mix(i)),
        Keys::TimeOrdered => {
            // 48 bits of milliseconds (one event per microsecond of the run), then 80 bits.
            let millis = start.timestamp_millis().unsigned_abs() + i / 1000;
            let low = mix(i);
            let high = mix(nonce ^ low) & 0xffff;
            format!("{:012x}{high:04x}{low:016x}", millis & 0xffff_ffff_ffff)
        }
    };
    fp::Visit::new(key, fingerprint)
}

fn nonce() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

enum AnyStore {
    Sqlite(fp::SqliteStore),
    Postgres(fp::PostgresStore),
}

impl AnyStore {
    async fn open(url: &str, args: &StoreArgs) -> anyhow::Result<Self> {
        let store = if let (true, Some(mib)) = (url.starts_with("sqlite:"), args.sqlite_cache_mib) {
            // SqliteStore::connect's settings, plus the page cache.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .pragma("cache_size", format!("-{}", mib * 1024));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?;
            Self::Sqlite(fp::SqliteStore::new(pool))
        } else if url.starts_with("sqlite:") {
            Self::Sqlite(fp::SqliteStore::connect(url).await?)
        } else {
            Self::Postgres(fp::PostgresStore::connect(url).await?)
        };
        store.dynamic().migrate().await?;
        for index in &args.drop_index {
            store.execute(&format!("DROP INDEX {index}")).await?;
        }
        Ok(store)
    }

    async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(store) => {
                sqlx::raw_sql(sql).execute(store.pool()).await?;
            }
            Self::Postgres(store) => {
                sqlx::raw_sql(sql).execute(store.pool()).await?;
            }
        }
        Ok(())
    }

    fn dynamic(&self) -> Arc<dyn fp::Store> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Sqlite(store) => sqlx::query_scalar(sql).fetch_one(store.pool()).await?,
            Self::Postgres(store) => sqlx::query_scalar(sql).fetch_one(store.pool()).await?,
        })
    }

    async fn urls(&self) -> anyhow::Result<Vec<String>> {
        let sql = "SELECT url FROM fingerprint_urls ORDER BY id";
        Ok(match self {
            Self::Sqlite(store) => sqlx::query_scalar(sql).fetch_all(store.pool()).await?,
            Self::Postgres(store) => sqlx::query_scalar(sql).fetch_all(store.pool()).await?,
        })
    }

    async fn close(self) {
        match self {
            Self::Sqlite(store) => store.pool().close().await,
            Self::Postgres(store) => store.pool().close().await,
        }
    }
}

struct Ingest {
    events: u64,
    batch: usize,
    elapsed: Duration,
    /// CPU time of this process (all threads: the producer, the writer, the driver's
    /// SQLite thread) while ingesting; a PostgreSQL server's own CPU is not in it.
    cpu: Option<Duration>,
    stats: fp::RecorderStats,
}

/// CPU time (user + system) of this process so far, from /proc/self/stat (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses): state is the 3rd field,
    // utime and stime the 14th and 15th, in clock ticks (100 a second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

impl Ingest {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU microseconds an event cost this process, as text.
    fn cpu_per_event(&self) -> String {
        self.cpu.map_or_else(
            || "-".into(),
            |cpu| format!("{:.1}", cpu.as_secs_f64() * 1e6 / self.events as f64),
        )
    }

    fn batch_ms(&self) -> f64 {
        let batches = (self.events as f64 / self.batch as f64).ceil().max(1.0);
        self.elapsed.as_secs_f64() * 1000.0 / batches
    }
}

/// Offers `events` events to a recorder over `store` (never more than the queue holds, so
/// nothing is dropped) and waits until the last one is written.
async fn ingest(
    store: Arc<dyn fp::Store>,
    args: &StoreArgs,
    keys: Keys,
    events: u64,
    batch: usize,
) -> anyhow::Result<Ingest> {
    let recorder = Recorder::start(
        store,
        args.queue,
        batch,
        Duration::from_millis(args.batch_delay_ms),
        Duration::from_secs(10),
        args.writers,
    );
    let nonce = nonce();
    let start_time = Utc::now();
    let room = args.queue.saturating_sub(2 * batch).max(1) as u64;
    let cpu_before = cpu_time();
    let started = Instant::now();
    for i in 0..events {
        if i % 256 == 0 {
            while recorder.stats().pending() + 256 >= room {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }
        recorder.offer(event(keys, nonce, i, args.urls, start_time));
    }
    recorder.flush().await;
    let elapsed = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let stats = recorder.shutdown().await;
    ensure!(
        stats.stored == events && stats.dropped == 0 && stats.failed == 0,
        "ingest lost events: {stats:?}"
    );
    Ok(Ingest {
        events,
        batch,
        elapsed,
        cpu,
        stats,
    })
}

/// Plain multi-row INSERTs of the same rows into one bare table, `batch` rows per transaction.
async fn raw_insert(store: &AnyStore, args: &StoreArgs, batch: usize) -> anyhow::Result<Duration> {
    let columns = "session_key, url, ip, method, user_agent, accept, accept_language, \
                   accept_encoding, content_encoding, content_language, referer, country, created_at";
    let nonce = nonce();
    let start_time = Utc::now();
    let events: Vec<u64> = (0..args.events).collect();
    match store {
        AnyStore::Sqlite(store) => {
            let pool = store.pool();
            sqlx::query(
                "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, session_key TEXT NOT NULL, \
                 url TEXT NOT NULL, ip TEXT, method TEXT NOT NULL, user_agent TEXT NOT NULL, \
                 accept TEXT NOT NULL, accept_language TEXT NOT NULL, accept_encoding TEXT NOT NULL, \
                 content_encoding TEXT NOT NULL, content_language TEXT NOT NULL, \
                 referer TEXT NOT NULL, country TEXT NOT NULL, created_at INTEGER NOT NULL)",
            )
            .execute(pool)
            .await?;
            let started = Instant::now();
            for ids in events.chunks(batch) {
                let visits: Vec<fp::Visit> = ids
                    .iter()
                    .map(|&i| event(args.keys, nonce, i, args.urls, start_time))
                    .collect();
                let mut tx = pool.begin().await?;
                // 13 parameters a row: 2,048 rows stay under SQLite's 32,766.
                for chunk in visits.chunks(2048) {
                    let mut insert = QueryBuilder::<sqlx::Sqlite>::new(format!(
                        "INSERT INTO bench_raw ({columns}) "
                    ));
                    insert.push_values(chunk, |mut row, v| {
                        let f = &v.fingerprint;
                        row.push_bind(&v.session_key)
                            .push_bind(&f.url)
                            .push_bind(f.ip.map(|ip| ip.to_string()))
                            .push_bind(&f.method)
                            .push_bind(&f.user_agent)
                            .push_bind(&f.accept)
                            .push_bind(&f.accept_language)
                            .push_bind(&f.accept_encoding)
                            .push_bind(&f.content_encoding)
                            .push_bind(&f.content_language)
                            .push_bind(&f.referer)
                            .push_bind(&f.country)
                            .push_bind(f.created_at.timestamp_micros());
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Ok(started.elapsed())
        }
        AnyStore::Postgres(store) => {
            let pool = store.pool();
            sqlx::query(
                "CREATE TABLE bench_raw (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 session_key TEXT NOT NULL, url TEXT NOT NULL, ip INET, method TEXT NOT NULL, \
                 user_agent TEXT NOT NULL, accept TEXT NOT NULL, accept_language TEXT NOT NULL, \
                 accept_encoding TEXT NOT NULL, content_encoding TEXT NOT NULL, \
                 content_language TEXT NOT NULL, referer TEXT NOT NULL, country TEXT NOT NULL, \
                 created_at TIMESTAMPTZ NOT NULL)",
            )
            .execute(pool)
            .await?;
            let started = Instant::now();
            for ids in events.chunks(batch) {
                let visits: Vec<fp::Visit> = ids
                    .iter()
                    .map(|&i| event(args.keys, nonce, i, args.urls, start_time))
                    .collect();
                let text =
                    |f: fn(&fp::Visit) -> &str| -> Vec<&str> { visits.iter().map(f).collect() };
                let ips: Vec<Option<String>> = visits
                    .iter()
                    .map(|v| v.fingerprint.ip.map(|ip| ip.to_string()))
                    .collect();
                let times: Vec<DateTime<Utc>> =
                    visits.iter().map(|v| v.fingerprint.created_at).collect();
                sqlx::query(&format!(
                    "INSERT INTO bench_raw ({columns}) SELECT k, u, i::inet, m, ua, a, al, ae, ce, cl, r, c, t \
                     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
                     $13::timestamptz[]) AS v(k, u, i, m, ua, a, al, ae, ce, cl, r, c, t)"
                ))
                .bind(text(|v| &v.session_key))
                .bind(text(|v| &v.fingerprint.url))
                .bind(&ips)
                .bind(text(|v| &v.fingerprint.method))
                .bind(text(|v| &v.fingerprint.user_agent))
                .bind(text(|v| &v.fingerprint.accept))
                .bind(text(|v| &v.fingerprint.accept_language))
                .bind(text(|v| &v.fingerprint.accept_encoding))
                .bind(text(|v| &v.fingerprint.content_encoding))
                .bind(text(|v| &v.fingerprint.content_language))
                .bind(text(|v| &v.fingerprint.referer))
                .bind(text(|v| &v.fingerprint.country))
                .bind(&times)
                .execute(pool)
                .await?;
            }
            Ok(started.elapsed())
        }
    }
}

/// Median milliseconds of `runs` calls of `count` on `n` random stored URLs (after 3 warm-up
/// calls); every call must return a count for every URL.
async fn time_counts<'a, F, Fut>(
    runs: usize,
    all: &'a [String],
    n: usize,
    count: F,
) -> anyhow::Result<f64>
where
    F: Fn(Vec<&'a str>) -> Fut,
    Fut: Future<Output = anyhow::Result<HashMap<String, u64>>>,
{
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs + 3 {
        let urls = pick(all, n, 0x9e37_79b9 + run as u64);
        let asked = urls.len();
        let started = Instant::now();
        let counts = count(urls).await?;
        let took = started.elapsed();
        ensure!(
            counts.len() == asked,
            "asked {asked} URLs, got {} counts",
            counts.len()
        );
        if run >= 3 {
            samples.push(took);
        }
    }
    Ok(median(samples).as_secs_f64() * 1000.0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// A deterministic shuffle (xorshift), so runs pick comparable URLs without a dependency.
fn pick(all: &[String], n: usize, seed: u64) -> Vec<&str> {
    let mut state = seed | 1;
    let mut indices: Vec<usize> = (0..all.len()).collect();
    for i in (1..indices.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        indices.swap(i, (state % (i as u64 + 1)) as usize);
    }
    indices
        .into_iter()
        .take(n)
        .map(|i| all[i].as_str())
        .collect()
}

/// `fp-bench counts`.
#[derive(Debug, clap::Args)]
pub(crate) struct CountsArgs {
    /// The kept store: sqlite://FILE or postgres://... (with its search_path).
    #[arg(long)]
    database_url: String,
    /// Rounds, each a median of `--runs` calls per size.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Timed calls per size and round (after 3 warm-up calls).
    #[arg(long, default_value_t = 20)]
    runs: usize,
}

/// Hit counts for 1, 100 and 1,000 URLs on a kept store, `rounds` times; the URL cache is
/// warmed first with every stored URL, as a running app's recorder fills it.
pub(crate) async fn counts(args: &CountsArgs) -> anyhow::Result<()> {
    let store: Arc<dyn fp::Store> = if args.database_url.starts_with("sqlite:") {
        Arc::new(fp::SqliteStore::connect(&args.database_url).await?)
    } else {
        Arc::new(fp::PostgresStore::connect(&args.database_url).await?)
    };
    store.check_schema().await?;
    let all: Vec<String> = match args.database_url.starts_with("sqlite:") {
        true => {
            let pool = sqlx::SqlitePool::connect(&args.database_url).await?;
            sqlx::query_scalar("SELECT url FROM fingerprint_urls ORDER BY id")
                .fetch_all(&pool)
                .await?
        }
        false => {
            let pool = sqlx::PgPool::connect(&args.database_url).await?;
            sqlx::query_scalar("SELECT url FROM fingerprint_urls ORDER BY id")
                .fetch_all(&pool)
                .await?
        }
    };
    let every: Vec<&str> = all.iter().map(String::as_str).collect();
    store.hit_counts(&every).await?;
    for round in 1..=args.rounds {
        let mut line = format!("round {round}:");
        for n in [1usize, 100, 1000] {
            let ms = time_counts(args.runs, &all, n, |urls| {
                let store = &store;
                async move { Ok(store.hit_counts(&urls).await?) }
            })
            .await?;
            line.push_str(&format!(" {n} URLs {ms:.3} ms;"));
        }
        println!("{line}");
    }
    Ok(())
}

pub(crate) async fn run(args: &StoreArgs) -> anyhow::Result<()> {
    let mut scratches = Vec::new();
    let result = measure(args, &mut scratches).await;
    for scratch in scratches {
        if let Err(error) = scratch.remove().await {
            eprintln!("  could not remove a scratch database: {error:#}");
        }
    }
    result
}

async fn measure(args: &StoreArgs, scratches: &mut Vec<Scratch>) -> anyhow::Result<()> {
    let kind = args.kind;
    let name = kind.name();
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("fp-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let postgres = args.postgres_url.as_deref();
    let mut rows = Vec::new();

    // Batch-size sweep, each on a fresh store (none with `--sweep-events 0`: the first size).
    let mut best: Option<(usize, f64)> = None;
    let sweep: &[usize] = match args.sweep_events {
        0 => &[],
        _ => &args.batch_sizes,
    };
    for &batch in sweep {
        scratches.push(Scratch::create(kind, &dir, postgres, &format!("sweep{batch}")).await?);
        let store = AnyStore::open(scratches[scratches.len() - 1].url(), args).await?;
        let result = ingest(store.dynamic(), args, args.keys, args.sweep_events, batch).await?;
        eprintln!(
            "  {name} ingest, batch {batch}: {:.0} events/s ({} events in {:.2} s, {:.1} ms a batch)",
            result.rate(),
            result.events,
            result.elapsed.as_secs_f64(),
            result.batch_ms()
        );
        store.close().await;
        if let Some(scratch) = scratches.pop() {
            scratch.remove().await?;
        }
        if best.is_none_or(|(_, rate)| result.rate() > rate) {
            best = Some((batch, result.rate()));
        }
        rows.push(result);
    }
    let first = args.batch_sizes.first().copied().unwrap_or(2048);
    let batch = best.map_or(first, |(batch, _)| batch);

    // The full run on a fresh store, kept for the hit counts.
    scratches.push(Scratch::create(kind, &dir, postgres, "ingest").await?);
    let store = AnyStore::open(scratches[scratches.len() - 1].url(), args).await?;
    let full = ingest(store.dynamic(), args, args.keys, args.events, batch).await?;
    eprintln!(
        "  {name} ingest, batch {batch}: {:.0} events/s ({} events in {:.2} s)",
        full.rate(),
        full.events,
        full.elapsed.as_secs_f64()
    );
    let stored = store
        .scalar("SELECT COUNT(*) FROM fingerprint_request_fingerprints")
        .await?;
    let hits = store
        .scalar("SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM fingerprint_hit_counts")
        .await?;

    // Baseline: the same rows, plain INSERTs, in a store of their own.
    scratches.push(Scratch::create(kind, &dir, postgres, "raw").await?);
    let raw_store = AnyStore::open(scratches[scratches.len() - 1].url(), args).await?;
    let raw = raw_insert(&raw_store, args, batch).await?;
    let raw_rate = args.events as f64 / raw.as_secs_f64();
    eprintln!("  {name} plain INSERT, {batch} rows a transaction: {raw_rate:.0} rows/s");
    raw_store.close().await;
    if let Some(scratch) = scratches.pop() {
        scratch.remove().await?;
    }

    let baseline = format!(
        "{} rows/s (plain INSERT of the same rows, {} a transaction)",
        thousands(raw_rate),
        thousands(batch as f64)
    );
    for trial in &rows {
        Row {
            item: "3",
            store: name,
            figure: format!(
                "ingest, batch {} ({} events, fresh store)",
                thousands(trial.batch as f64),
                thousands(trial.events as f64)
            ),
            value: format!(
                "{} events/s ({:.1} ms a batch, {} µs CPU an event in this process)",
                thousands(trial.rate()),
                trial.batch_ms(),
                trial.cpu_per_event()
            ),
            baseline: baseline.clone(),
            ratio: percent(trial.rate(), raw_rate),
            target: format!(">= {} events/s", thousands(args.ingest_target)),
            verdict: at_least(trial.rate(), args.ingest_target),
        }
        .print();
    }
    Row {
        item: "3",
        store: name,
        figure: format!(
            "ingest, {} events, batch {} ({}), delay {} ms, {} writer{}",
            thousands(full.events as f64),
            thousands(batch as f64),
            if sweep.is_empty() { "chosen" } else { "fastest above" },
            args.batch_delay_ms,
            args.writers,
            if args.writers == 1 { "" } else { "s" }
        ),
        value: format!(
            "{} events/s ({:.1} ms a batch, {} µs CPU an event in this process; rows {}, hit counters sum {}, retries {})",
            thousands(full.rate()),
            full.batch_ms(),
            full.cpu_per_event(),
            thousands(stored as f64),
            thousands(hits as f64),
            full.stats.retries
        ),
        baseline,
        ratio: percent(full.rate(), raw_rate),
        target: format!(">= {} events/s", thousands(args.ingest_target)),
        verdict: at_least(full.rate(), args.ingest_target),
    }
    .print();

    // Hit counts on the full run's store.
    let all = store.urls().await?;
    let dynamic = store.dynamic();
    let mut round_trips = Vec::new();
    for i in 0..args.runs + 3 {
        let started = Instant::now();
        store.scalar("SELECT CAST(1 AS BIGINT)").await?;
        if i >= 3 {
            round_trips.push(started.elapsed());
        }
    }
    let floor_ms = median(round_trips).as_secs_f64() * 1000.0;
    let target_ms = args.counts_target_ms.unwrap_or(match kind {
        Kind::Sqlite => 1.0,
        Kind::Postgres => 2.0,
    });
    for n in [1usize, 100, 1000] {
        let ms = time_counts(args.runs, &all, n, |urls| {
            let dynamic = &dynamic;
            async move { Ok(dynamic.hit_counts(&urls).await?) }
        })
        .await?;
        Row {
            item: "4",
            store: name,
            figure: format!(
                "hit counts for {} URL{} on {} fingerprints ({} URLs), median of {}",
                thousands(n as f64),
                if n == 1 { "" } else { "s" },
                thousands(stored as f64),
                thousands(all.len() as f64),
                args.runs
            ),
            value: format!("{ms:.3} ms"),
            baseline: format!("{floor_ms:.3} ms (SELECT 1 on the same pool)"),
            ratio: format!("{:.1}x", ms / floor_ms),
            target: if n == 1000 {
                format!("<= {target_ms} ms")
            } else {
                "-".into()
            },
            verdict: if n == 1000 {
                at_most(ms, target_ms)
            } else {
                "-".into()
            },
        }
        .print();
    }
    store.close().await;
    if args.keep {
        if let Some(kept) = scratches.pop() {
            eprintln!("  kept {}", kept.url());
        }
    }

    // Comparison: what time-ordered session keys changed (fully random ones are what the layer
    // made before).
    if args.key_experiment_events > 0 {
        let mut rates = Vec::new();
        for keys in [Keys::Random, Keys::TimeOrdered] {
            scratches.push(Scratch::create(kind, &dir, postgres, "keys").await?);
            let store = AnyStore::open(scratches[scratches.len() - 1].url(), args).await?;
            let result = ingest(
                store.dynamic(),
                args,
                keys,
                args.key_experiment_events,
                batch,
            )
            .await?;
            eprintln!(
                "  {name} ingest, {keys:?} keys: {:.0} events/s",
                result.rate()
            );
            store.close().await;
            if let Some(scratch) = scratches.pop() {
                scratch.remove().await?;
            }
            rates.push(result);
        }
        Row {
            item: "3 (comparison)",
            store: name,
            figure: format!(
                "ingest, {} events, batch {}, session keys ordered by time (48 bits of ms + 80 random bits, as the layer makes them)",
                thousands(args.key_experiment_events as f64),
                thousands(batch as f64)
            ),
            value: format!(
                "{} events/s ({} µs CPU an event in this process)",
                thousands(rates[1].rate()),
                rates[1].cpu_per_event()
            ),
            baseline: format!(
                "{} events/s (fully random keys, as before, same size, {} µs CPU an event)",
                thousands(rates[0].rate()),
                rates[0].cpu_per_event()
            ),
            ratio: percent(rates[1].rate(), rates[0].rate()),
            target: format!(">= {} events/s", thousands(args.ingest_target)),
            verdict: at_least(rates[1].rate(), args.ingest_target),
        }
        .print();
    }
    if !args.keep && args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

//! Zero-loss capacity: the highest new-visitor request rate at which every request is
//! answered 2xx and stored (rows in the database = requests sent; new visitors, so nothing is
//! debounced), with no request failed and nothing dropped; then what happens at twice that.

use std::time::Duration;

use anyhow::Context;

use crate::db::Pool;
use crate::load::{self, LoadConfig, LoadReport};
use crate::report::{at_least, percent, thousands, Row};

/// `fp-bench capacity`.
#[derive(Debug, clap::Args)]
pub(crate) struct CapacityArgs {
    /// The fingerprinted page, e.g. http://127.0.0.1:39101/articles/1 (sent without a cookie).
    #[arg(long)]
    url: String,
    /// The server's recorder counters (the demo's /stats.json).
    #[arg(long)]
    stats_url: String,
    /// The server's database (rows are counted there).
    #[arg(long)]
    database_url: String,
    /// Store name for the table.
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// Seconds of load per step.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// First rate tried (req/s); doubled while it passes, halved while it fails.
    #[arg(long, default_value_t = 4000.0)]
    start: f64,
    /// Highest rate tried.
    #[arg(long, default_value_t = 200_000.0)]
    max: f64,
    /// Stop bisecting when the bracket is narrower than this fraction of the passing rate.
    #[arg(long, default_value_t = 0.1)]
    precision: f64,
    /// Extra request header, `Name: value` (repeatable), e.g. a browser's User-Agent.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Keep-alive connections of the generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Generator threads.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// The same page on the same app without the fingerprint layer (`--without-fingerprint`):
    /// searched first, with the same generator, as the baseline (every request answered 2xx
    /// on schedule; nothing to store).
    #[arg(long)]
    plain_url: Option<String>,
    /// The target rate.
    #[arg(long, default_value_t = 20_000.0)]
    target: f64,
}

struct Step {
    load: LoadReport,
    /// Whether rows must have been stored (false for the server without the layer).
    stores: bool,
    stored: u64,
    dropped: u64,
    failed: u64,
}

impl Step {
    /// Every request answered 2xx on schedule, stored, nothing dropped or failed.
    fn passed(&self) -> bool {
        self.load.errors == 0
            && self.load.non_2xx == 0
            && self.load.ok == self.load.sent
            && (!self.stores || self.stored == self.load.sent)
            && self.dropped == 0
            && self.failed == 0
            && self.load.achieved_rate() >= 0.97 * self.load.offered_rate
    }
}

/// What is measured: the page, and whether its requests must end up in the database.
#[derive(Clone, Copy)]
struct Target<'a> {
    url: &'a str,
    stores: bool,
    label: &'a str,
}

async fn stats(url: &str) -> anyhow::Result<serde_json::Value> {
    let body = load::get_text(url).await?;
    serde_json::from_str(&body).with_context(|| format!("{url} answered {body:?}"))
}

fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats
        .get(name)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// Waits until the recorder has written everything (pending 0), at most two minutes.
async fn drained(url: &str) -> anyhow::Result<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let now = stats(url).await?;
        if counter(&now, "pending") == 0 || tokio::time::Instant::now() > deadline {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn step(
    args: &CapacityArgs,
    pool: &Pool,
    target: Target<'_>,
    rate: f64,
) -> anyhow::Result<Step> {
    let before_stats = drained(&args.stats_url).await?;
    let before_rows = pool.request_rows().await?;
    let config = LoadConfig::new(
        target.url,
        rate,
        Duration::from_secs_f64(args.duration),
        args.connections,
        &args.headers,
    )?;
    let load = load::run(&config).await?;
    let after_stats = drained(&args.stats_url).await?;
    let after_rows = pool.request_rows().await?;
    let delta = |name| counter(&after_stats, name).saturating_sub(counter(&before_stats, name));
    let step = Step {
        stores: target.stores,
        stored: after_rows.saturating_sub(before_rows),
        dropped: delta("dropped"),
        failed: delta("failed"),
        load,
    };
    eprintln!(
        "  {} {} {:>8} req/s offered: answered {:.0}/s, sent {}, 2xx {}, stored {}, dropped {}, errors {}, non-2xx {}, late {}, p99 {:.1} ms -> {}",
        args.store,
        target.label,
        thousands(rate),
        step.load.achieved_rate(),
        step.load.sent,
        step.load.ok,
        step.stored,
        step.dropped,
        step.load.errors,
        step.load.non_2xx,
        step.load.late,
        step.load.p99_ms,
        if step.passed() { "pass" } else { "fail" }
    );
    Ok(step)
}

/// Rounds to a step of 100 req/s.
fn round(rate: f64) -> f64 {
    ((rate / 100.0).round() * 100.0).max(100.0)
}

/// The highest passing rate (0 when even 100 req/s fails).
async fn search(args: &CapacityArgs, pool: &Pool, target: Target<'_>) -> anyhow::Result<f64> {
    // Find a passing rate below a failing one: double while passing, halve while failing.
    let mut pass: Option<f64> = None;
    let mut fail: Option<f64> = None;
    let mut rate = round(args.start);
    loop {
        if step(args, pool, target, rate).await?.passed() {
            pass = Some(rate);
            if fail.is_some() || rate * 2.0 > args.max {
                break;
            }
            rate = round(rate * 2.0);
        } else {
            fail = Some(rate);
            if pass.is_some() || rate <= 100.0 {
                break;
            }
            rate = round(rate / 2.0);
        }
    }
    // Bisect the bracket.
    if let (Some(mut low), Some(mut high)) = (pass, fail) {
        while high - low > (low * args.precision).max(200.0) {
            let mid = round((low + high) / 2.0);
            if mid <= low || mid >= high {
                break;
            }
            if step(args, pool, target, mid).await?.passed() {
                low = mid;
            } else {
                high = mid;
            }
        }
        pass = Some(low);
    }
    Ok(pass.unwrap_or(0.0))
}

pub(crate) async fn run(args: &CapacityArgs) -> anyhow::Result<()> {
    let pool = Pool::connect(&args.database_url).await?;
    let baseline_rate = match &args.plain_url {
        Some(url) => {
            let plain = Target {
                url,
                stores: false,
                label: "without layer",
            };
            search(args, &pool, plain).await?
        }
        None => 0.0,
    };
    let fingerprinted = Target {
        url: &args.url,
        stores: true,
        label: "with layer",
    };
    let capacity = search(args, &pool, fingerprinted).await?;
    let baseline = if args.plain_url.is_some() {
        format!(
            "{} req/s (same search, same app without the layer)",
            thousands(baseline_rate)
        )
    } else {
        "-".into()
    };
    Row {
        item: "2",
        store: &args.store,
        figure: format!(
            "zero-loss capacity, new visitors ({}s steps)",
            args.duration
        ),
        value: format!("{} req/s", thousands(capacity)),
        baseline,
        ratio: percent(capacity, baseline_rate),
        target: format!(">= {} req/s, 0 errors", thousands(args.target)),
        verdict: at_least(capacity, args.target),
    }
    .print();

    // Twice the capacity: what is lost, and how.
    let double = round(capacity.max(100.0) * 2.0);
    let over = step(args, &pool, fingerprinted, double).await?;
    let lost = over.load.sent.saturating_sub(over.stored);
    Row {
        item: "2",
        store: &args.store,
        figure: format!("at 2x capacity: {} req/s offered", thousands(double)),
        value: format!(
            "answered {} req/s, p99 {:.0} ms; not stored {} of {} (dropped {}, errors {}, non-2xx {})",
            thousands(over.load.achieved_rate()),
            over.load.p99_ms,
            thousands(lost as f64),
            thousands(over.load.sent as f64),
            thousands(over.dropped as f64),
            thousands(over.load.errors as f64),
            thousands(over.load.non_2xx as f64),
        ),
        baseline: format!("{} sent", thousands(over.load.sent as f64)),
        ratio: format!("{} stored", percent(over.stored as f64, over.load.sent as f64)),
        target: "reported".into(),
        verdict: "-".into(),
    }
    .print();
    pool.close().await;
    Ok(())
}

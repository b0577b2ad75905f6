//! `fp-bench`: the measuring half of `scripts/bench.sh` (see BENCHMARKS.md).
//!
//! - `load`: a fixed-rate HTTP/1.1 load generator for 127.0.0.1 (wrk has no rate limit).
//! - `capacity`: the highest new-visitor rate at which every request is answered and stored.
//! - `store`: ingest through the recorder into a fresh store, then hit counts on what it wrote.
//! - `hold-lock`: holds the store's write lock for a while (the queue fills up behind it).
//!
//! Result rows are printed to stdout as Markdown table rows (`| item | store | figure | value |
//! baseline | ratio | target | verdict |`); progress goes to stderr.

use std::time::Duration;

use clap::{Parser, Subcommand};

mod capacity;
mod db;
mod load;
mod report;
mod store;
mod tls;

/// mimalloc, not the system allocator: see the dependency's note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmark tool behind scripts/bench.sh. Every target must be on this machine
/// (127.0.0.1); every run is bounded by its duration or event count.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sends GET requests at a fixed rate and prints what came back, as JSON.
    Load(load::LoadArgs),
    /// Searches the highest new-visitor rate with every request answered 2xx and stored.
    Capacity(capacity::CapacityArgs),
    /// Ingest through the recorder (1M events by default) and hit counts on the result.
    Store(store::StoreArgs),
    /// Hit counts alone, on a store kept by `store --keep` (once its writes and the database's
    /// own maintenance after them are over): several rounds of medians.
    Counts(store::CountsArgs),
    /// TLS handshakes/s and requests/s over TLS: `FingerprintListener` against plain
    /// tokio-rustls, alternating, on 127.0.0.1.
    Tls(tls::TlsArgs),
    /// Prints the number of request fingerprints stored in a database.
    Rows {
        /// The store: sqlite://FILE or postgres://... (with its search_path).
        #[arg(long)]
        database_url: String,
    },
    /// Takes the write lock of the fingerprint tables and keeps it for `--seconds`.
    HoldLock {
        /// The store: sqlite://FILE or postgres://... (with its search_path).
        #[arg(long)]
        database_url: String,
        /// How long to hold the lock.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Command::Load(load) => {
            let runtime = load::runtime(load.threads)?;
            let report = runtime.block_on(load::run(&load.config()?))?;
            println!("{}", report.json());
            Ok(())
        }
        Command::Capacity(capacity) => {
            let runtime = load::runtime(capacity.threads)?;
            runtime.block_on(capacity::run(&capacity))
        }
        Command::Store(store) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(store::run(&store)),
        Command::Counts(counts) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(store::counts(&counts)),
        Command::Tls(tls) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(tls::run(&tls)),
        Command::Rows { database_url } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async {
                let pool = db::Pool::connect(&database_url).await?;
                println!("{}", pool.request_rows().await?);
                pool.close().await;
                Ok(())
            }),
        Command::HoldLock {
            database_url,
            seconds,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(db::hold_lock(&database_url, Duration::from_secs(seconds))),
    }
}

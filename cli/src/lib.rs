//! The `fingerprint` command: maintenance of a fingerprint-rt database (migrations, hit-count
//! rebuilds, statistics, exports, retention, erasure, synthetic data).
//!
//! The options are clap-derive structs ([`Cli`]); [`run`] carries out a command. `main.rs`
//! only parses, runs and maps errors to exit codes ([`CliError::exit_code`]).

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use fingerprint::v1 as fp;
use indicatif::{ProgressBar, ProgressStyle};

mod connect;
mod export;
mod ja4;
mod stats;

pub use connect::open;

/// Maintenance of a fingerprint-rt database.
#[derive(Debug, Parser)]
#[command(name = "fingerprint", version)]
pub struct Cli {
    /// The database: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "FINGERPRINT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the tables.
    Migrate,
    /// Recount every hit counter from the stored request fingerprints.
    RebuildHitCounts {
        /// URLs per transaction.
        #[arg(long, default_value_t = 1000)]
        chunk: u32,
        /// Count requests assessed automated or declared_bot (and sessions the collector
        /// assessed so) as unique visitors; by default they are left out, as the library
        /// records them unless the app set `with_count_automated(true)`.
        #[arg(long)]
        count_automated: bool,
    },
    /// Totals and the most visited URLs.
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// How many URLs to list (at most 1,000).
        #[arg(long, default_value_t = 10)]
        top: u32,
    },
    /// Write fingerprints or sessions as CSV or JSON Lines (streamed: constant memory).
    Export {
        /// What to export.
        #[arg(value_enum)]
        what: Export,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Only rows created at or after this: a date (2026-01-31, from midnight UTC), a time
        /// (RFC 3339) or an age (7d, 12h).
        #[arg(long, value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Retention: delete fingerprints older than an age, and sessions left empty.
    Purge {
        /// The age, e.g. 90d, 12w, 36h.
        #[arg(long, value_parser = parse_age)]
        older_than: Duration,
        /// Rows per transaction.
        #[arg(long, default_value_t = 5000)]
        chunk: u32,
        /// The app counts automated clients (`with_count_automated(true)`): a unique visit
        /// stays counted while any request of its session and URL is left. By default it
        /// leaves the counts with its last request of a client not assessed automated, as
        /// `rebuild-hit-counts` would recount it.
        #[arg(long)]
        count_automated: bool,
    },
    /// Right to erasure: delete a user's sessions and all their fingerprints.
    ForgetUser {
        /// The user id, as the app links it.
        user_id: String,
    },
    /// JA4 fingerprints of TLS ClientHellos (no database needed). Reads JSON Lines on
    /// standard input, each `{"id": ..., "client_hello_hex": "..."}` where the hex is one or
    /// more whole TLS records starting at the 0x16 content-type byte, and prints one line per
    /// input: `{"id": ..., "ja4": ..., "ja4_r": ..., "ja4_o": ..., "ja4_ro": ...}`, or
    /// `{"id": ..., "error": "..."}` for input it cannot read (and goes on).
    Ja4 {
        /// Fingerprint this one ClientHello (hex) instead of reading standard input.
        #[arg(long)]
        hex: Option<String>,
    },
    /// Write synthetic data (for demos and benchmarks); migrates first.
    Seed {
        /// Request fingerprints to write.
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
        /// Spread over this many days before now (1 to 36,500).
        #[arg(
            long,
            default_value_t = 30,
            value_parser = clap::value_parser!(u32).range(1..=36_500)
        )]
        days: u32,
        /// Random seed (the same seed gives the same data).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Export {
    /// Request fingerprints.
    Requests,
    /// Browser fingerprints.
    Browsers,
    /// Sessions.
    Sessions,
}

/// Output format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header line, for spreadsheets: text that would start a
    /// formula (`=`, `+`, `-`, `@`, a tab, a carriage return) gets a leading `'`.
    Csv,
    /// One JSON object per line, every value as stored.
    Jsonl,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The configuration is wrong or incomplete (exit code 2).
    #[error("{0}")]
    Config(String),
    /// The database failed while working (exit code 1).
    #[error(transparent)]
    Store(#[from] fp::StoreError),
    /// Writing the output failed (exit code 1).
    #[error("cannot write the output: {0}")]
    Output(String),
    /// Reading the input failed (exit code 1).
    #[error("{0}")]
    Input(String),
}

impl CliError {
    /// 2 for configuration problems (bad URL, unreachable or unmigrated database, or one
    /// newer than this command), 1 for failures while working.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_)
            | Self::Store(fp::StoreError::NotMigrated | fp::StoreError::SchemaTooNew { .. }) => 2,
            Self::Store(_) | Self::Output(_) | Self::Input(_) => 1,
        }
    }
}

fn parse_age(text: &str) -> Result<Duration, String> {
    not_ambiguous(text)?;
    humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 90d, 12w, 36h)"))
}

/// Refuses an age in `m`: minutes to humantime, months on the dashboard, so a purge
/// `--older-than 3m` meant as three months would delete all but three minutes.
fn not_ambiguous(text: &str) -> Result<(), String> {
    let mut units = text.split(|c: char| c.is_ascii_digit() || c.is_whitespace());
    if units.any(|unit| unit == "m") {
        return Err(format!(
            "{text:?}: \"m\" could be minutes or months: write \"min\" or \"months\""
        ));
    }
    Ok(())
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    // The ambiguous unit's own message; any other failure: what the value may be.
    not_ambiguous(text)?;
    let age = humantime::parse_duration(text)
        .map_err(|_| format!("{text:?} is not a date (2026-01-31), a time or an age (7d)"))?;
    Ok(ago(age))
}

fn ago(age: Duration) -> DateTime<Utc> {
    let age = chrono::TimeDelta::from_std(age).unwrap_or(chrono::TimeDelta::MAX);
    Utc::now()
        .checked_sub_signed(age)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn progress_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

fn tell(bar: &ProgressBar) -> impl Fn(fp::Progress) + Send + Sync + '_ {
    move |progress: fp::Progress| {
        bar.set_length(progress.total);
        bar.set_position(progress.done);
    }
}

/// Runs one command, writing its report to `out` (`ja4` reads standard input).
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    if let Command::Ja4 { hex } = &cli.command {
        return ja4::run(hex.as_deref(), &mut std::io::stdin().lock(), out);
    }
    let url = cli.database_url.ok_or_else(|| {
        CliError::Config(
            "no database: pass --database-url sqlite://FILE or postgres://... \
             (or set FINGERPRINT_DATABASE_URL)"
                .into(),
        )
    })?;
    let migrating = matches!(cli.command, Command::Migrate | Command::Seed { .. });
    let store = open(&url, migrating).await?;
    let write = |out: &mut (dyn Write + Send), text: String| {
        writeln!(out, "{text}").map_err(|e| CliError::Output(e.to_string()))
    };
    match cli.command {
        // Read above, before a database is needed.
        Command::Ja4 { .. } => Ok(()),
        Command::Migrate => {
            // A migration that moves rows (version 5 moves request fingerprints to header
            // profiles) shows a bar on a terminal, and its total afterwards.
            let bar = progress_bar("moving rows");
            store.migrate_with_progress(&tell(&bar)).await?;
            bar.finish_and_clear();
            // The bar keeps the last progress told (a length of 0: none was).
            if let Some(total) = bar.length().filter(|total| *total > 0) {
                write(out, format!("moved {} of {total} rows", bar.position()))?;
            }
            write(
                out,
                "migrated: the fingerprint tables are up to date".into(),
            )
        }
        Command::RebuildHitCounts {
            chunk,
            count_automated,
        } => {
            let bar = progress_bar("rebuilding");
            let report = store
                .rebuild_hit_counts_with_progress(chunk, count_automated, &tell(&bar))
                .await?;
            bar.finish_and_clear();
            write(
                out,
                format!(
                    "rebuilt {} counters from {} unique visits in {} chunks",
                    report.urls, report.visitors, report.chunks
                ),
            )
        }
        Command::Stats { json, top } => {
            let totals = store.totals().await?;
            let urls = store
                .urls(&fp::UrlQuery::new().with_limit(top.clamp(1, 1000)))
                .await?
                .items;
            let text = if json {
                stats::json(&totals, &urls)
            } else {
                stats::text(&totals, &urls)
            };
            write(out, text)
        }
        Command::Seed { rows, days, seed } => {
            store.migrate().await?;
            let bar = progress_bar("seeding");
            let shown = bar.clone();
            let options = fingerprint::seed::SeedOptions::new(rows)
                .with_days(days)
                .with_seed(seed)
                .with_progress(move |p: fingerprint::seed::SeedProgress| {
                    shown.set_length(p.total);
                    shown.set_position(p.request_fingerprints);
                });
            let report = fingerprint::seed::seed(&*store, options).await?;
            bar.finish_and_clear();
            write(
                out,
                format!(
                    "seeded {} request fingerprints in {} sessions ({} linked to {} users), \
                     {} browser fingerprints, {} URLs in {:.1} s",
                    report.request_fingerprints,
                    report.sessions,
                    report.linked_sessions,
                    report.users,
                    report.browser_fingerprints,
                    report.urls,
                    report.elapsed.as_secs_f64()
                ),
            )
        }
        Command::Export {
            what,
            format,
            since,
            output,
        } => match output {
            Some(path) => {
                let file = std::fs::File::create(&path).map_err(|e| {
                    CliError::Config(format!("cannot create {}: {e}", path.display()))
                })?;
                let mut file = std::io::BufWriter::new(file);
                let rows = export::run(&*store, what, format, since, &mut file).await?;
                file.flush().map_err(|e| CliError::Output(e.to_string()))?;
                write(out, format!("exported {rows} rows to {}", path.display()))
            }
            None => {
                let mut buffered = std::io::BufWriter::new(&mut *out);
                export::run(&*store, what, format, since, &mut buffered).await?;
                buffered
                    .flush()
                    .map_err(|e| CliError::Output(e.to_string()))
            }
        },
        Command::Purge {
            older_than,
            chunk,
            count_automated,
        } => {
            let before = ago(older_than);
            let bar = progress_bar("purging");
            let report = store
                .purge(before, chunk, count_automated, &tell(&bar))
                .await?;
            bar.finish_and_clear();
            write(
                out,
                format!(
                    "purged everything before {}: {} request and {} browser fingerprints, \
                     {} sessions; {} unique visits left the hit counts",
                    before.format("%Y-%m-%d %H:%M UTC"),
                    report.request_fingerprints,
                    report.browser_fingerprints,
                    report.sessions,
                    report.visits_uncounted
                ),
            )
        }
        Command::ForgetUser { user_id } => {
            let report = store.forget_user(&user_id).await?;
            let text = if report.sessions == 0 {
                format!("no session is linked to user {user_id:?}: nothing to forget")
            } else {
                format!(
                    "forgot user {user_id:?}: {} sessions, {} request and {} browser \
                     fingerprints; {} unique visits left the hit counts",
                    report.sessions,
                    report.request_fingerprints,
                    report.browser_fingerprints,
                    report.visits_uncounted
                )
            };
            write(out, text)
        }
    }
}

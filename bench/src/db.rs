//! Databases for the benchmarks: scratch stores (a SQLite file or a PostgreSQL schema of their
//! own, removed afterwards), row counts, and a held write lock.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Connection, PgPool, SqlitePool};

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// `base` with `search_path` set to `schema` (as the tests do).
pub(crate) fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A database made for one measurement and removed when [`Scratch::remove`] is called.
#[derive(Debug)]
pub(crate) enum Scratch {
    Sqlite {
        url: String,
        file: PathBuf,
    },
    Postgres {
        url: String,
        base: String,
        schema: String,
    },
}

impl Scratch {
    /// A new empty database: `dir/<label>.db`, or the schema `fp_bench_<pid>_<label>` under
    /// `postgres_base`.
    pub(crate) async fn create(
        kind: Kind,
        dir: &std::path::Path,
        postgres_base: Option<&str>,
        label: &str,
    ) -> anyhow::Result<Self> {
        match kind {
            Kind::Sqlite => {
                let file = dir.join(format!("{label}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
                Ok(Self::Sqlite {
                    url: format!("sqlite://{}", file.display()),
                    file,
                })
            }
            Kind::Postgres => {
                let base = postgres_base
                    .context("--postgres-url (or FINGERPRINT_BENCH_POSTGRES_URL) is needed")?;
                let schema = format!("fp_bench_{}_{label}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(base).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut admin)
                    .await?;
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                Ok(Self::Postgres {
                    url: with_search_path(base, &schema),
                    base: base.to_owned(),
                    schema,
                })
            }
        }
    }

    pub(crate) fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    pub(crate) async fn remove(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { file, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            Self::Postgres { base, schema, .. } => {
                let mut admin = sqlx::PgConnection::connect(&base).await?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
            }
        }
        Ok(())
    }
}

/// A pool on a store's database (sqlite:// or postgres://), for counting and locking.
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub(crate) async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let options =
                SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(30));
            Ok(Self::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            ))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            Ok(Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            ))
        } else {
            bail!("unsupported database URL {url:?}")
        }
    }

    /// Rows of `fingerprint_request_fingerprints`.
    pub(crate) async fn request_rows(&self) -> anyhow::Result<u64> {
        let sql = "SELECT COUNT(*) FROM fingerprint_request_fingerprints";
        let count: i64 = match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// Blocks the recorder's writes for `hold`: SQLite's write lock (`BEGIN IMMEDIATE`), or a
/// PostgreSQL table lock on the sessions table that lets reads (hit counts) through but makes
/// inserts wait. Prints `locked` once it holds the lock.
pub(crate) async fn hold_lock(url: &str, hold: Duration) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(30));
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut connection)
            .await?;
        println!("locked");
        tokio::time::sleep(hold).await;
        sqlx::raw_sql("ROLLBACK").execute(&mut connection).await?;
        connection.close().await?;
    } else {
        let options = PgConnectOptions::from_str(url)?;
        let mut connection = sqlx::PgConnection::connect_with(&options).await?;
        sqlx::raw_sql("BEGIN; LOCK TABLE fingerprint_sessions IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut connection)
            .await?;
        println!("locked");
        tokio::time::sleep(hold).await;
        sqlx::raw_sql("ROLLBACK").execute(&mut connection).await?;
        connection.close().await?;
    }
    println!("released");
    Ok(())
}

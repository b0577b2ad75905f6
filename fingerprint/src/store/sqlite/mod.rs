//! The SQLite store (feature `sqlite`): the embedded default. What is SQLite's own: opening
//! the file, migrations, the write path (`store.rs`), maintenance (`maintenance.rs`) and the
//! hand-planned request list (`requests.rs`). The other reads are shared (`sql/reports.rs`).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::batch::{pow2_chunks, MAX_PARAMS};
use super::{Migrations, SqliteStore, StoreError};

mod dialect;
mod insight;
mod requests;
mod store;
mod users;

const MIGRATIONS: Migrations = &[
    (
        1,
        "initial tables",
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "browser fingerprint duration",
        include_str!("../../../migrations/sqlite/0002_browser_duration.sql"),
    ),
    (
        3,
        "users and devices",
        include_str!("../../../migrations/sqlite/0003_users_and_devices.sql"),
    ),
    (
        4,
        "dashboard",
        include_str!("../../../migrations/sqlite/0004_dashboard.sql"),
    ),
];

impl SqliteStore {
    /// Opens the database at `url` (`sqlite://path.db`, `sqlite::memory:`), creating the file
    /// when missing.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?
        };
        Ok(Self::new(pool))
    }

    /// Resolves URL ids, inserting new URLs in their own short transaction (ids are cached
    /// only once committed).
    async fn url_ids(&self, urls: &[&str]) -> Result<HashMap<String, i64>, StoreError> {
        let mut ids = HashMap::with_capacity(urls.len());
        let mut missing = Vec::new();
        for &url in urls {
            match self.urls.get(url) {
                Some(id) => {
                    ids.insert(url.to_owned(), id);
                }
                None => missing.push(url),
            }
        }
        if missing.is_empty() {
            return Ok(ids);
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in pow2_chunks(&missing, MAX_PARAMS) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO fingerprint_urls (url) ");
            insert.push_values(chunk, |mut row, url| {
                row.push_bind(*url);
            });
            insert.push(" ON CONFLICT (url) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        let mut found = Vec::with_capacity(missing.len());
        for chunk in pow2_chunks(&missing, MAX_PARAMS) {
            let mut select =
                QueryBuilder::<Sqlite>::new("SELECT id, url FROM fingerprint_urls WHERE url IN (");
            let mut list = select.separated(", ");
            for url in chunk {
                list.push_bind(*url);
            }
            select.push(")");
            for row in select.build().fetch_all(&mut *tx).await? {
                found.push((row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?));
            }
        }
        tx.commit().await?;
        for (url, id) in found {
            self.urls.insert(&url, id);
            ids.insert(url, id);
        }
        Ok(ids)
    }
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

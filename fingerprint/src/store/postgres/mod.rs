//! The PostgreSQL store (feature `postgres`). What is PostgreSQL's own: connecting,
//! migrations (under an advisory lock), the write path (`store.rs`, `UNNEST` arrays),
//! maintenance (`maintenance.rs`) and the request list (`requests.rs`). The other reads are
//! shared (`sql/reports.rs`).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::Row;

use super::{Migrations, PostgresStore, StoreError};

mod dialect;
mod insight;
mod store;
mod users;

const MIGRATIONS: Migrations = &[
    (
        1,
        "initial tables",
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "browser fingerprint duration",
        include_str!("../../../migrations/postgres/0002_browser_duration.sql"),
    ),
    (
        3,
        "users and devices",
        include_str!("../../../migrations/postgres/0003_users_and_devices.sql"),
    ),
    (
        4,
        "dashboard",
        include_str!("../../../migrations/postgres/0004_dashboard.sql"),
    ),
];

// "fprtmigr"

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`) with a pool of up to 8 connections.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self::new(pool))
    }

    /// Resolves URL ids; new URLs are inserted and committed on their own (ids are cached
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
        // `missing` is sorted (it comes from a sorted list), so concurrent writers take the
        // unique-index locks in the same order.
        let rows = sqlx::query(
            "WITH new AS ( \
                 INSERT INTO fingerprint_urls (url) SELECT * FROM UNNEST($1::text[]) \
                 ON CONFLICT (url) DO NOTHING RETURNING id, url) \
             SELECT id, url FROM new \
             UNION ALL SELECT id, url FROM fingerprint_urls WHERE url = ANY($1)",
        )
        .bind(&missing)
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let url: String = row.try_get(1)?;
            let id: i64 = row.try_get(0)?;
            self.urls.insert(&url, id);
            ids.insert(url, id);
        }
        // A URL inserted by another instance while ours waited on its unique-index entry is
        // invisible to the statement above (its snapshot predates that commit): read it anew.
        let late: Vec<&str> = missing
            .into_iter()
            .filter(|url| !ids.contains_key(*url))
            .collect();
        if !late.is_empty() {
            for row in sqlx::query("SELECT id, url FROM fingerprint_urls WHERE url = ANY($1)")
                .bind(&late)
                .fetch_all(&self.pool)
                .await?
            {
                let url: String = row.try_get(1)?;
                let id: i64 = row.try_get(0)?;
                self.urls.insert(&url, id);
                ids.insert(url, id);
            }
        }
        Ok(ids)
    }
}

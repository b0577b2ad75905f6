//! The SQLite store (feature `sqlite`): the embedded default. What is SQLite's own: opening
//! the file, its migrations, its dialect (`dialect.rs`) and the hand-planned request list
//! (`requests.rs`). Everything else is shared (`sql/`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Migrations, SqliteStore, StoreError};

mod dialect;
mod requests;

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
    (
        5,
        "header profiles",
        include_str!("../../../migrations/sqlite/0005_header_profiles.sql"),
    ),
    (
        6,
        "network fingerprints",
        include_str!("../../../migrations/sqlite/0006_network_fingerprints.sql"),
    ),
    (
        7,
        "request assessment",
        include_str!("../../../migrations/sqlite/0007_assessment.sql"),
    ),
    (
        8,
        "session assessment",
        include_str!("../../../migrations/sqlite/0008_session_assessment.sql"),
    ),
    (
        9,
        "implied visits",
        include_str!("../../../migrations/sqlite/0009_implied_visits.sql"),
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
}

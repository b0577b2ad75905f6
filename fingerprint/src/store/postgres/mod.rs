//! The PostgreSQL store (feature `postgres`). What is PostgreSQL's own: connecting, its
//! migrations and its dialect (`dialect.rs`). Everything else is shared (`sql/`).

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::{Migrations, PostgresStore, StoreError};

mod dialect;

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
    (
        5,
        "header profiles",
        include_str!("../../../migrations/postgres/0005_header_profiles.sql"),
    ),
    (
        6,
        "network fingerprints",
        include_str!("../../../migrations/postgres/0006_network_fingerprints.sql"),
    ),
    (
        7,
        "request assessment",
        include_str!("../../../migrations/postgres/0007_assessment.sql"),
    ),
    (
        8,
        "session assessment",
        include_str!("../../../migrations/postgres/0008_session_assessment.sql"),
    ),
    (
        9,
        "implied visits",
        include_str!("../../../migrations/postgres/0009_implied_visits.sql"),
    ),
    (
        10,
        "no key checks on kept ids",
        include_str!("../../../migrations/postgres/0010_no_checks_on_kept_ids.sql"),
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
}

//! The error every store method returns.

/// An error from a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or a query failed (the source says why).
    #[error("database error: {source}")]
    Backend {
        /// What failed: for the stores of this crate, an `sqlx::Error`; for a store written
        /// elsewhere, its own error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        /// Whether retrying the same operation later may succeed.
        transient: bool,
    },
    /// The database has not been migrated (or is older than this library).
    #[error("the fingerprint tables are missing or out of date: run migrations (`store.migrate()` or `fingerprint migrate`)")]
    NotMigrated,
    /// The database was migrated by a newer version of this library.
    #[error(
        "the database schema (version {found}) is newer than this library supports ({supported})"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        found: i64,
        /// The newest migration this library knows.
        supported: i64,
    },
    /// A stored value could not be decoded.
    #[error("invalid stored value: {0}")]
    Decode(String),
    /// An argument was refused (a malformed page cursor, for example).
    #[error("{0}")]
    InvalidInput(String),
}

impl StoreError {
    /// A failure of the database behind a store; `transient` when retrying later may
    /// succeed (a lost connection, a timeout, a busy database).
    #[must_use]
    pub fn backend(
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        transient: bool,
    ) -> Self {
        Self::Backend {
            source: source.into(),
            transient,
        }
    }

    /// Whether retrying the same operation later may succeed (connection lost, pool timeout,
    /// deadlock, serialization failure, database busy).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Backend { transient, .. } => *transient,
            Self::NotMigrated
            | Self::SchemaTooNew { .. }
            | Self::Decode(_)
            | Self::InvalidInput(_) => false,
        }
    }
}

/// Runs a read, and once more when it failed in a way a retry may fix (a pooled connection
/// that the database or the network closed: the pool then hands out a fresh one).
pub(crate) async fn read_retrying<T, F, Fut>(read: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    retrying_transient("a store read", 2, read).await
}

/// Runs `operation` up to `tries` times in all, again only after a failure a retry may fix
/// (a closed pooled connection, a deadlock); then its last result.
pub(crate) async fn retrying_transient<T, F, Fut>(
    what: &str,
    tries: u32,
    operation: F,
) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tried = 1;
    loop {
        match operation().await {
            Err(error) if error.is_transient() && tried < tries => {
                tracing::warn!(%error, what, "failed; retrying");
                tried += 1;
            }
            result => return result,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            // A value the query was given that the database cannot take: PostgreSQL's data
            // exceptions (SQLSTATE class 22: a NUL in text, a time out of range) and a value
            // too large for an index (54000); SQLite's "string or blob too big" (18).
            let refused_value = db.code().is_some_and(|code| {
                (code.len() == 5 && code.starts_with("22")) || code == "54000" || code == "18"
            });
            if refused_value {
                return Self::InvalidInput(db.message().to_owned());
            }
        }
        let transient = is_transient(&error);
        Self::backend(error, transient)
    }
}

/// Whether an sqlx error may pass on a retry.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: serialization failure, deadlock, connection exceptions,
            // admin shutdown / cannot connect now.
            matches!(&*code, "40001" | "40P01" | "57P01" | "57P02" | "57P03")
                || code.starts_with("08")
                // SQLite: SQLITE_BUSY, SQLITE_LOCKED (and their extended codes).
                || matches!(&*code, "5" | "6" | "261" | "262" | "517")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_told_apart() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_transient());
        assert!(StoreError::backend("their own failure", true).is_transient());
        assert!(!StoreError::Decode("x".into()).is_transient());
        let error = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(error.to_string().starts_with("database error: "), "{error}");
    }

    #[tokio::test]
    async fn reads_are_retried_once_on_transient_errors_only() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = AtomicU32::new(0);
        let flaky = || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(StoreError::from(sqlx::Error::PoolTimedOut)),
                _ => Ok(7),
            }
        };
        assert_eq!(read_retrying(flaky).await.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let calls = AtomicU32::new(0);
        let down = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u32, _>(StoreError::from(sqlx::Error::PoolTimedOut))
        };
        assert!(read_retrying(down).await.unwrap_err().is_transient());
        assert_eq!(calls.load(Ordering::SeqCst), 2, "once more, not forever");

        let calls = AtomicU32::new(0);
        let bad = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u32, _>(StoreError::InvalidInput("bad cursor".into()))
        };
        assert!(read_retrying(bad).await.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a permanent error is not retried"
        );
    }
}

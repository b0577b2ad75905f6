//! The storage trait and its backends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use chrono::{DateTime, NaiveDate, Utc};

use crate::insight::{
    BreakdownRow, BrowserQuery, BrowserSummary, DailyTraffic, Dimension, RequestQuery,
    SessionQuery, TimelineEvent, UrlHits, UrlQuery, UserPlace,
};
use crate::model::{
    BrowserVisit, SessionRecord, StoredBrowser, StoredRequest, StoredSession, Visit,
};
use crate::users::{
    LinkOutcome, Page, SessionLink, SessionSummary, UserDevices, UserQuery, UserSummary,
    VisitorUser,
};

mod batch;
pub(crate) mod insight;
mod url_cache;
mod users;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use url_cache::UrlCache;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// An error from a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
    /// The store does not implement this operation (a store written outside this crate
    /// that left an optional [`Store`] method to its default).
    #[error("this store does not support {0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (connection lost, pool timeout,
    /// deadlock, serialization failure, database busy).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(error) => match error {
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
            },
            Self::NotMigrated
            | Self::SchemaTooNew { .. }
            | Self::Decode(_)
            | Self::InvalidInput(_)
            | Self::Unsupported(_) => false,
        }
    }
}

/// What a store did with one batch of visits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordOutcome {
    /// Request fingerprints inserted.
    pub inserted: u64,
    /// Visits not inserted because the same session visited the same URL within the debounce
    /// window (in this batch or already in the database).
    pub debounced: u64,
}

/// How far a long operation (rebuild, purge) has come: `done` of `total` units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Units done so far.
    pub done: u64,
    /// Units in all (an estimate taken at the start).
    pub total: u64,
}

impl Progress {
    /// `done` of `total`.
    #[must_use]
    pub fn new(done: u64, total: u64) -> Self {
        Self { done, total }
    }
}

/// Told how far a long operation has come (a progress bar, a log line).
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// What a purge of old fingerprints did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Request fingerprints deleted.
    pub request_fingerprints: u64,
    /// Browser fingerprints deleted.
    pub browser_fingerprints: u64,
    /// Sessions deleted (older than the cutoff, with no fingerprint left).
    pub sessions: u64,
    /// Unique (URL, session) visits taken out of the hit counters, because the session has
    /// no fingerprint of the URL left.
    pub visits_uncounted: u64,
    /// Transactions used.
    pub chunks: u64,
}

/// How much a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Sessions.
    pub sessions: u64,
    /// Sessions linked to a user.
    pub linked_sessions: u64,
    /// Users with at least one session.
    pub users: u64,
    /// Request fingerprints.
    pub request_fingerprints: u64,
    /// Browser fingerprints.
    pub browser_fingerprints: u64,
    /// Distinct browser visitor ids.
    pub visitor_ids: u64,
    /// URLs seen.
    pub urls: u64,
    /// Unique (URL, session) visits: the sum of all hit counters.
    pub unique_visits: u64,
}

/// What forgetting a user did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForgetReport {
    /// The user's sessions deleted.
    pub sessions: u64,
    /// Their request fingerprints deleted.
    pub request_fingerprints: u64,
    /// Their browser fingerprints deleted.
    pub browser_fingerprints: u64,
    /// Unique (URL, session) visits taken out of the hit counters.
    pub visits_uncounted: u64,
}

/// What a hit-count rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RebuildReport {
    /// URLs whose counters were rebuilt.
    pub urls: u64,
    /// Unique (URL, session) pairs counted.
    pub visitors: u64,
    /// Chunks (transactions) used.
    pub chunks: u64,
}

/// Where fingerprints are kept.
///
/// Implemented by [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`] (feature
/// `postgres`). Every method is one query or a small fixed number of them.
///
/// The methods about users, sessions and devices have default bodies that return
/// [`StoreError::Unsupported`], so a store written elsewhere (or a wrapper) only needs the
/// write path and hit counts, and new query methods never break it.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Creates or updates the tables. Safe to run concurrently and repeatedly.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks that the tables exist and are at the version this library expects.
    async fn check_schema(&self) -> Result<(), StoreError>;

    /// Writes a batch of visits in one transaction: creates missing sessions (their first
    /// visit brings the referer and UTM parameters, later ones never overwrite them), inserts
    /// request fingerprints except those within `debounce` of an earlier one of the same session
    /// and URL, records unique (URL, session) pairs and bumps hit counters.
    ///
    /// Visits are stored as given: the recorder fills their derived fields
    /// ([`RequestFingerprint::device`](crate::v1::RequestFingerprint::device),
    /// `country_code`) before it calls this; other callers fill them themselves, e.g. with
    /// [`Device::from_user_agent`](crate::v1::Device::from_user_agent).
    async fn record(
        &self,
        visits: &[Visit],
        debounce: Duration,
    ) -> Result<RecordOutcome, StoreError>;

    /// Unique-visitor counts for `urls` in one query. URLs never seen are absent from the map.
    async fn hit_counts(&self, urls: &[&str]) -> Result<HashMap<String, u64>, StoreError>;

    /// Rebuilds the unique-visitor pairs and hit counters from the stored request fingerprints,
    /// `chunk` URLs per transaction.
    async fn rebuild_hit_counts(&self, chunk: u32) -> Result<RebuildReport, StoreError>;

    /// [`rebuild_hit_counts`](Self::rebuild_hit_counts), telling `progress` after each chunk
    /// (units: URL ids). The default reports once, at the end.
    async fn rebuild_hit_counts_with_progress(
        &self,
        chunk: u32,
        progress: ProgressFn<'_>,
    ) -> Result<RebuildReport, StoreError> {
        let report = self.rebuild_hit_counts(chunk).await?;
        progress(Progress::new(report.urls, report.urls));
        Ok(report)
    }

    /// Retention: deletes request and browser fingerprints created before `before`, `chunk`
    /// rows per transaction, then the sessions older than `before` left without any. Hit
    /// counters stay equal to a recount from the fingerprints left; the summaries of the
    /// users concerned are recomputed. `progress` counts fingerprints.
    #[allow(unused_variables)]
    async fn purge(
        &self,
        before: DateTime<Utc>,
        chunk: u32,
        progress: ProgressFn<'_>,
    ) -> Result<PurgeReport, StoreError> {
        Err(StoreError::Unsupported("purge"))
    }

    /// How many rows of each kind the store holds (counts whole tables: meant for reports,
    /// not for pages).
    async fn totals(&self) -> Result<Totals, StoreError> {
        Err(StoreError::Unsupported("totals"))
    }

    /// Right to erasure: deletes a user's sessions with all their fingerprints, and the
    /// user's summary, in one transaction; the hit counters lose the user's visits.
    #[allow(unused_variables)]
    async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError> {
        Err(StoreError::Unsupported("forget_user"))
    }

    /// Request fingerprints with an id above `after_id` (and created at or after `since`),
    /// in id order, at most `limit`: pages for a streaming export.
    #[allow(unused_variables)]
    async fn export_requests(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        Err(StoreError::Unsupported("export_requests"))
    }

    /// Browser fingerprints, paged like [`export_requests`](Self::export_requests).
    #[allow(unused_variables)]
    async fn export_browsers(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError> {
        Err(StoreError::Unsupported("export_browsers"))
    }

    /// Sessions, paged like [`export_requests`](Self::export_requests).
    #[allow(unused_variables)]
    async fn export_sessions(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredSession>, StoreError> {
        Err(StoreError::Unsupported("export_sessions"))
    }

    /// One session by key.
    async fn session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The newest request fingerprints of a session, newest first.
    async fn session_requests(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError>;

    /// Stores one browser fingerprint (creating its session when new), in one transaction.
    async fn record_browser(&self, visit: &BrowserVisit) -> Result<(), StoreError>;

    /// The newest browser fingerprints of a session, newest first.
    async fn session_browsers(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError>;

    /// Links sessions to users, in one transaction, creating unknown sessions. A session
    /// already linked to another user is left alone. The sessions' stored fingerprints
    /// become part of the users' devices.
    #[allow(unused_variables)]
    async fn link_sessions(&self, links: &[SessionLink]) -> Result<Vec<LinkOutcome>, StoreError> {
        Err(StoreError::Unsupported("link_sessions"))
    }

    /// Sets the user of a session (`None`: anonymous) whatever it was, recomputing the
    /// devices of the previous and the new user. False when the session is unknown.
    #[allow(unused_variables)]
    async fn relink_session(
        &self,
        session_key: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Unsupported("relink_session"))
    }

    /// One user's summary.
    #[allow(unused_variables)]
    async fn user(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError> {
        Err(StoreError::Unsupported("user"))
    }

    /// Users matching `query` (already resolved: `seen_since` set, limit clamped), most
    /// recently seen first.
    #[allow(unused_variables)]
    async fn users(&self, query: &UserQuery) -> Result<Page<UserSummary>, StoreError> {
        Err(StoreError::Unsupported("users"))
    }

    /// The distinct browser visitor ids and request devices of a user.
    #[allow(unused_variables)]
    async fn user_devices(&self, user_id: &str) -> Result<UserDevices, StoreError> {
        Err(StoreError::Unsupported("user_devices"))
    }

    /// The sessions of a user, newest first.
    #[allow(unused_variables)]
    async fn user_sessions(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        Err(StoreError::Unsupported("user_sessions"))
    }

    /// The users whose sessions have browser fingerprints with `visitor_id`.
    #[allow(unused_variables)]
    async fn visitor_users(&self, visitor_id: &str) -> Result<Vec<VisitorUser>, StoreError> {
        Err(StoreError::Unsupported("visitor_users"))
    }

    /// The sessions with browser fingerprints with `visitor_id`, newest first.
    #[allow(unused_variables)]
    async fn visitor_sessions(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        Err(StoreError::Unsupported("visitor_sessions"))
    }

    /// Visits and unique visitors per UTC day from `first` to `last` (inclusive), oldest
    /// first; days without visits are left out. Read from the daily rollup that
    /// [`record`](Self::record) keeps, so it costs the same whatever the number of rows.
    #[allow(unused_variables)]
    async fn daily_traffic(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<DailyTraffic>, StoreError> {
        Err(StoreError::Unsupported("daily_traffic"))
    }

    /// Visits and unique visitors per value of `dimension` from `first` to `last` (UTC days,
    /// inclusive), most visitors first, at most `limit` values. From the daily rollup.
    #[allow(unused_variables)]
    async fn breakdown(
        &self,
        dimension: Dimension,
        first: NaiveDate,
        last: NaiveDate,
        limit: u32,
    ) -> Result<Vec<BreakdownRow>, StoreError> {
        Err(StoreError::Unsupported("breakdown"))
    }

    /// URLs and their hit counts, one page: most hits first, or in URL order under a prefix.
    #[allow(unused_variables)]
    async fn urls(&self, query: &UrlQuery) -> Result<Page<UrlHits>, StoreError> {
        Err(StoreError::Unsupported("urls"))
    }

    /// Sessions with their counts, newest first, one page.
    #[allow(unused_variables)]
    async fn sessions(&self, query: &SessionQuery) -> Result<Page<SessionSummary>, StoreError> {
        Err(StoreError::Unsupported("sessions"))
    }

    /// Request fingerprints, newest first, one page.
    #[allow(unused_variables)]
    async fn request_fingerprints(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<StoredRequest>, StoreError> {
        Err(StoreError::Unsupported("request_fingerprints"))
    }

    /// Browser fingerprints (without components), newest first, one page.
    #[allow(unused_variables)]
    async fn browser_fingerprints(
        &self,
        query: &BrowserQuery,
    ) -> Result<Page<BrowserSummary>, StoreError> {
        Err(StoreError::Unsupported("browser_fingerprints"))
    }

    /// The newest browser fingerprint with `visitor_id`, with its components.
    #[allow(unused_variables)]
    async fn latest_browser(&self, visitor_id: &str) -> Result<Option<StoredBrowser>, StoreError> {
        Err(StoreError::Unsupported("latest_browser"))
    }

    /// Where a user was seen from: (IP, country) pairs of the user's request fingerprints,
    /// most recently seen first, at most `limit`.
    #[allow(unused_variables)]
    async fn user_places(&self, user_id: &str, limit: u32) -> Result<Vec<UserPlace>, StoreError> {
        Err(StoreError::Unsupported("user_places"))
    }

    /// A user's requests, browser fingerprints and logins, newest first, one page
    /// (`after`: the previous page's cursor).
    #[allow(unused_variables)]
    async fn user_timeline(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<TimelineEvent>, StoreError> {
        Err(StoreError::Unsupported("user_timeline"))
    }

    /// Stores browser fingerprints (creating their sessions when new) in one transaction:
    /// what [`record_browser`](Self::record_browser) does for each, in order, all or nothing.
    /// For bulk writes ([`seed`](crate::v1::seed), imports).
    #[allow(unused_variables)]
    async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError> {
        Err(StoreError::Unsupported("record_browsers"))
    }
}

/// The migrations of one backend: (version, description, SQL).
pub(crate) type Migrations = &'static [(i64, &'static str, &'static str)];

/// The statements of a migration script (our scripts have no `;` inside literals).
pub(crate) fn statements(script: &str) -> impl Iterator<Item = &str> {
    script.split(';').map(str::trim).filter(|statement| {
        statement
            .lines()
            .any(|line| !line.trim().is_empty() && !line.trim_start().starts_with("--"))
    })
}

macro_rules! forward_store {
    ($($pointer:ident),*) => {$(
        #[async_trait]
        impl<S: Store + ?Sized> Store for $pointer<S> {
            async fn migrate(&self) -> Result<(), StoreError> {
                (**self).migrate().await
            }
            async fn check_schema(&self) -> Result<(), StoreError> {
                (**self).check_schema().await
            }
            async fn record(
                &self,
                visits: &[Visit],
                debounce: Duration,
            ) -> Result<RecordOutcome, StoreError> {
                (**self).record(visits, debounce).await
            }
            async fn hit_counts(&self, urls: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
                (**self).hit_counts(urls).await
            }
            async fn rebuild_hit_counts(&self, chunk: u32) -> Result<RebuildReport, StoreError> {
                (**self).rebuild_hit_counts(chunk).await
            }
            async fn rebuild_hit_counts_with_progress(
                &self,
                chunk: u32,
                progress: ProgressFn<'_>,
            ) -> Result<RebuildReport, StoreError> {
                (**self).rebuild_hit_counts_with_progress(chunk, progress).await
            }
            async fn purge(
                &self,
                before: DateTime<Utc>,
                chunk: u32,
                progress: ProgressFn<'_>,
            ) -> Result<PurgeReport, StoreError> {
                (**self).purge(before, chunk, progress).await
            }
            async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError> {
                (**self).forget_user(user_id).await
            }
            async fn totals(&self) -> Result<Totals, StoreError> {
                (**self).totals().await
            }
            async fn export_requests(
                &self,
                since: Option<DateTime<Utc>>,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<StoredRequest>, StoreError> {
                (**self).export_requests(since, after_id, limit).await
            }
            async fn export_browsers(
                &self,
                since: Option<DateTime<Utc>>,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<StoredBrowser>, StoreError> {
                (**self).export_browsers(since, after_id, limit).await
            }
            async fn export_sessions(
                &self,
                since: Option<DateTime<Utc>>,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<StoredSession>, StoreError> {
                (**self).export_sessions(since, after_id, limit).await
            }
            async fn session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
                (**self).session(key).await
            }
            async fn session_requests(
                &self,
                session_key: &str,
                limit: u32,
            ) -> Result<Vec<StoredRequest>, StoreError> {
                (**self).session_requests(session_key, limit).await
            }
            async fn record_browser(&self, visit: &BrowserVisit) -> Result<(), StoreError> {
                (**self).record_browser(visit).await
            }
            async fn session_browsers(
                &self,
                session_key: &str,
                limit: u32,
            ) -> Result<Vec<StoredBrowser>, StoreError> {
                (**self).session_browsers(session_key, limit).await
            }
            async fn link_sessions(
                &self,
                links: &[SessionLink],
            ) -> Result<Vec<LinkOutcome>, StoreError> {
                (**self).link_sessions(links).await
            }
            async fn relink_session(
                &self,
                session_key: &str,
                user_id: Option<&str>,
                at: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                (**self).relink_session(session_key, user_id, at).await
            }
            async fn user(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError> {
                (**self).user(user_id).await
            }
            async fn users(&self, query: &UserQuery) -> Result<Page<UserSummary>, StoreError> {
                (**self).users(query).await
            }
            async fn user_devices(&self, user_id: &str) -> Result<UserDevices, StoreError> {
                (**self).user_devices(user_id).await
            }
            async fn user_sessions(
                &self,
                user_id: &str,
                limit: u32,
            ) -> Result<Vec<SessionSummary>, StoreError> {
                (**self).user_sessions(user_id, limit).await
            }
            async fn visitor_users(
                &self,
                visitor_id: &str,
            ) -> Result<Vec<VisitorUser>, StoreError> {
                (**self).visitor_users(visitor_id).await
            }
            async fn visitor_sessions(
                &self,
                visitor_id: &str,
                limit: u32,
            ) -> Result<Vec<SessionSummary>, StoreError> {
                (**self).visitor_sessions(visitor_id, limit).await
            }
            async fn daily_traffic(
                &self,
                first: NaiveDate,
                last: NaiveDate,
            ) -> Result<Vec<DailyTraffic>, StoreError> {
                (**self).daily_traffic(first, last).await
            }
            async fn breakdown(
                &self,
                dimension: Dimension,
                first: NaiveDate,
                last: NaiveDate,
                limit: u32,
            ) -> Result<Vec<BreakdownRow>, StoreError> {
                (**self).breakdown(dimension, first, last, limit).await
            }
            async fn urls(&self, query: &UrlQuery) -> Result<Page<UrlHits>, StoreError> {
                (**self).urls(query).await
            }
            async fn sessions(
                &self,
                query: &SessionQuery,
            ) -> Result<Page<SessionSummary>, StoreError> {
                (**self).sessions(query).await
            }
            async fn request_fingerprints(
                &self,
                query: &RequestQuery,
            ) -> Result<Page<StoredRequest>, StoreError> {
                (**self).request_fingerprints(query).await
            }
            async fn browser_fingerprints(
                &self,
                query: &BrowserQuery,
            ) -> Result<Page<BrowserSummary>, StoreError> {
                (**self).browser_fingerprints(query).await
            }
            async fn latest_browser(
                &self,
                visitor_id: &str,
            ) -> Result<Option<StoredBrowser>, StoreError> {
                (**self).latest_browser(visitor_id).await
            }
            async fn user_places(
                &self,
                user_id: &str,
                limit: u32,
            ) -> Result<Vec<UserPlace>, StoreError> {
                (**self).user_places(user_id, limit).await
            }
            async fn user_timeline(
                &self,
                user_id: &str,
                after: Option<&str>,
                limit: u32,
            ) -> Result<Page<TimelineEvent>, StoreError> {
                (**self).user_timeline(user_id, after, limit).await
            }
            async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError> {
                (**self).record_browsers(visits).await
            }
        }
    )*};
}

// A boxed or shared store is a store (`Box<dyn Store>`, `Arc<dyn Store>`).
forward_store!(Box, Arc);

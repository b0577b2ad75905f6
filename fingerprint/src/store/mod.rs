//! Where fingerprints are kept: three small traits and the SQL store that implements them.
//!
//! - [`Store`]: what the recorder and the layers need (migrate, record visits and browser
//!   fingerprints, link sessions to users, hit counts). A store written elsewhere implements
//!   this and [`Reports`] to back a [`Fingerprint`](crate::v1::Fingerprint).
//! - [`Reports`]: the read side behind `users()`, the dashboard, the CLI's exports.
//! - [`Maintenance`]: rebuilding hit counters, retention, erasure.
//!
//! The crate's own store is [`SqlStore`], one type over SQLite and PostgreSQL. Each read query
//! is written once, generic over the database, in `sql/reports.rs`: **a new dashboard query is
//! one method of [`Reports`] there** (plus its row type in `sql/rows.rs`). The write path,
//! migrations and maintenance, where the two databases really differ (batch inserts, locking,
//! planner hints), live in `sqlite/` and `postgres/`.

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
use crate::model::{
    LinkOutcome, Page, SessionLink, SessionSummary, UserDevices, UserQuery, UserSummary,
    VisitorUser,
};

// The SQL store and its helpers exist when a database is enabled.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod batch;
mod error;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod insight;
mod outcome;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod url_cache;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod users;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub(crate) use error::read_retrying;
pub use error::StoreError;
pub use outcome::{
    ForgetReport, Progress, ProgressFn, PurgeReport, RebuildReport, RecordOutcome, Totals,
};
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use sql::SqlStore;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
pub use url_cache::UrlCache;

/// What the recorder and the layers need from a store: the write path and hit counts.
///
/// Implemented by [`SqliteStore`] (feature `sqlite`) and [`PostgresStore`] (feature
/// `postgres`). Every method is one transaction or a small fixed number of queries.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Creates or updates the tables. Safe to run concurrently and repeatedly.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// [`migrate`](Store::migrate), telling `progress` how far a migration that moves rows
    /// has come (rows done of rows in all; nothing when no migration moves rows).
    async fn migrate_with_progress(&self, progress: ProgressFn<'_>) -> Result<(), StoreError> {
        let _ = progress;
        self.migrate().await
    }

    /// Checks that the tables exist and are at the version this library expects.
    async fn check_schema(&self) -> Result<(), StoreError>;

    /// Writes a batch of visits in one transaction: creates missing sessions (their first
    /// visit brings the referer and UTM parameters, later ones never overwrite them), inserts
    /// request fingerprints except those less than `debounce` before or after another one of
    /// the same session and URL (stored, or earlier in the batch), records unique (URL,
    /// session) pairs and bumps hit counters.
    ///
    /// Writing the same batch again is safe: visits already stored as they are (same session,
    /// URL and time) are not inserted again, and are reported as
    /// [`RecordOutcome::already_stored`]; the recorder retries a batch whose commit's answer
    /// was lost this way.
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

    /// Stores browser fingerprints (creating their sessions when new) in one transaction, in
    /// order, all or nothing.
    async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError>;

    /// Stores one browser fingerprint: [`record_browsers`](Self::record_browsers) of one.
    async fn record_browser(&self, visit: &BrowserVisit) -> Result<(), StoreError> {
        self.record_browsers(std::slice::from_ref(visit)).await
    }

    /// Links sessions to users, in one transaction, creating unknown sessions. A session
    /// already linked to another user is left alone. The sessions' stored fingerprints
    /// become part of the users' devices. One outcome per link, in the order of `links`.
    async fn link_sessions(&self, links: &[SessionLink]) -> Result<Vec<LinkOutcome>, StoreError>;

    /// Sets the user of a session (`None`: anonymous) whatever it was, recomputing the
    /// devices of the previous and the new user. False when the session is unknown.
    async fn relink_session(
        &self,
        session_key: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Unique-visitor counts for `urls` in one query. URLs never seen are absent from the map.
    async fn hit_counts(&self, urls: &[&str]) -> Result<HashMap<String, u64>, StoreError>;
}

/// The read side: users, sessions, devices, the dashboard's queries and exports.
///
/// [`SqlStore`] implements it once for both databases.
#[async_trait]
pub trait Reports: Store {
    /// One session by key.
    async fn session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// The newest request fingerprints of a session, newest first.
    async fn session_requests(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError>;

    /// The newest browser fingerprints of a session, newest first.
    async fn session_browsers(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError>;

    /// One user's summary.
    async fn user(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError>;

    /// Users matching `query` (already resolved: `seen_since` set, limit clamped), most
    /// recently seen first.
    async fn users(&self, query: &UserQuery) -> Result<Page<UserSummary>, StoreError>;

    /// The distinct browser visitor ids and request devices of a user.
    async fn user_devices(&self, user_id: &str) -> Result<UserDevices, StoreError>;

    /// The sessions of a user, newest first.
    async fn user_sessions(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError>;

    /// The users whose sessions have browser fingerprints with `visitor_id`.
    async fn visitor_users(&self, visitor_id: &str) -> Result<Vec<VisitorUser>, StoreError>;

    /// The sessions with browser fingerprints with `visitor_id`, newest first.
    async fn visitor_sessions(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError>;

    /// Visits and unique visitors per UTC day from `first` to `last` (inclusive), oldest
    /// first; days without visits are left out. Read from the daily rollup that
    /// [`Store::record`] keeps, so it costs the same whatever the number of rows.
    async fn daily_traffic(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<DailyTraffic>, StoreError>;

    /// Visits and unique visitors per value of `dimension` from `first` to `last` (UTC days,
    /// inclusive), most visitors first, at most `limit` values. From the daily rollup.
    async fn breakdown(
        &self,
        dimension: Dimension,
        first: NaiveDate,
        last: NaiveDate,
        limit: u32,
    ) -> Result<Vec<BreakdownRow>, StoreError>;

    /// URLs and their hit counts, one page: most hits first, or in URL order under a prefix.
    async fn urls(&self, query: &UrlQuery) -> Result<Page<UrlHits>, StoreError>;

    /// Sessions with their counts, newest first, one page.
    async fn sessions(&self, query: &SessionQuery) -> Result<Page<SessionSummary>, StoreError>;

    /// Request fingerprints, newest first, one page.
    async fn request_fingerprints(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<StoredRequest>, StoreError>;

    /// Browser fingerprints (without components), newest first, one page.
    async fn browser_fingerprints(
        &self,
        query: &BrowserQuery,
    ) -> Result<Page<BrowserSummary>, StoreError>;

    /// The newest browser fingerprint with `visitor_id`, with its components.
    async fn latest_browser(&self, visitor_id: &str) -> Result<Option<StoredBrowser>, StoreError>;

    /// Where a user was seen from: (IP, country) pairs of the user's request fingerprints,
    /// most recently seen first, at most `limit`.
    async fn user_places(&self, user_id: &str, limit: u32) -> Result<Vec<UserPlace>, StoreError>;

    /// A user's requests, browser fingerprints and logins, newest first, one page
    /// (`after`: the previous page's cursor).
    async fn user_timeline(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<TimelineEvent>, StoreError>;

    /// How many rows of each kind the store holds (counts whole tables: meant for reports,
    /// not for pages).
    async fn totals(&self) -> Result<Totals, StoreError>;

    /// Request fingerprints with an id above `after_id` (and created at or after `since`),
    /// in id order, at most `limit`: pages for a streaming export.
    async fn export_requests(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError>;

    /// Browser fingerprints, paged like [`export_requests`](Self::export_requests).
    async fn export_browsers(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError>;

    /// Sessions, paged like [`export_requests`](Self::export_requests).
    async fn export_sessions(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredSession>, StoreError>;
}

/// Maintenance: rebuilding hit counters, retention and erasure (the CLI's commands).
#[async_trait]
pub trait Maintenance: Store {
    /// Rebuilds the unique-visitor pairs and hit counters from the stored request
    /// fingerprints, `chunk` URLs per transaction, telling `progress` after each chunk
    /// (units: URL ids). Without `count_automated`, requests assessed `automated` or
    /// `declared_bot`, and the requests of sessions the collector assessed so, are left out
    /// (as [`with_count_automated`](crate::v1::FingerprintBuilder::with_count_automated)
    /// does when recording).
    async fn rebuild_hit_counts_with_progress(
        &self,
        chunk: u32,
        count_automated: bool,
        progress: ProgressFn<'_>,
    ) -> Result<RebuildReport, StoreError>;

    /// [`rebuild_hit_counts_with_progress`](Self::rebuild_hit_counts_with_progress) without
    /// progress reports.
    async fn rebuild_hit_counts(
        &self,
        chunk: u32,
        count_automated: bool,
    ) -> Result<RebuildReport, StoreError> {
        self.rebuild_hit_counts_with_progress(chunk, count_automated, &|_| {})
            .await
    }

    /// Retention: deletes request and browser fingerprints created before `before`, `chunk`
    /// rows per transaction, then the sessions left without any that were created on a UTC
    /// day wholly before `before` (one created earlier on `before`'s own day stays until a
    /// later purge: the day's rollup counted it, and it must know the session if it comes
    /// back that day). Hit counters stay equal to a recount from the fingerprints left, the
    /// one [`rebuild_hit_counts`](Self::rebuild_hit_counts) makes with the same
    /// `count_automated`: without it, a unique visit leaves the counters when its last request
    /// of a client not assessed automated goes, even if an automated client's request of the
    /// same session and URL stays. The summaries of the users concerned are recomputed.
    /// `progress` counts fingerprints.
    async fn purge(
        &self,
        before: DateTime<Utc>,
        chunk: u32,
        count_automated: bool,
        progress: ProgressFn<'_>,
    ) -> Result<PurgeReport, StoreError>;

    /// Right to erasure: deletes a user's sessions with all their fingerprints, and the
    /// user's summary, in one transaction; the hit counters lose the user's visits.
    async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError>;
}

/// Every capability at once: what [`SqlStore`] is. For apps and tools that pick SQLite or
/// PostgreSQL at run time and keep a `Box<dyn FullStore>` (or `Arc`).
pub trait FullStore: Reports + Maintenance {}

impl<S: Reports + Maintenance> FullStore for S {}

/// A store [`Fingerprint::builder`](crate::v1::Fingerprint::builder) takes: any [`Reports`]
/// store by value, or one already boxed or shared (`Box<dyn Reports>`, `Arc<dyn FullStore>`,
/// ...), for apps that pick their database at run time.
pub trait SharedStore {
    /// The store, shared.
    fn into_shared(self) -> Arc<dyn Reports>;
}

impl<S: Reports> SharedStore for S {
    fn into_shared(self) -> Arc<dyn Reports> {
        Arc::new(self)
    }
}

impl SharedStore for Arc<dyn Reports> {
    fn into_shared(self) -> Arc<dyn Reports> {
        self
    }
}

impl SharedStore for Box<dyn Reports> {
    fn into_shared(self) -> Arc<dyn Reports> {
        Arc::from(self)
    }
}

impl SharedStore for Arc<dyn FullStore> {
    fn into_shared(self) -> Arc<dyn Reports> {
        self
    }
}

impl SharedStore for Box<dyn FullStore> {
    fn into_shared(self) -> Arc<dyn Reports> {
        Arc::<dyn FullStore>::from(self)
    }
}

/// The migrations of one backend: (version, description, SQL).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type Migrations = &'static [(i64, &'static str, &'static str)];

/// The statements of a migration script (our scripts have no `;` inside literals).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn statements(script: &str) -> impl Iterator<Item = &str> {
    script.split(';').map(str::trim).filter(|statement| {
        statement
            .lines()
            .any(|line| !line.trim().is_empty() && !line.trim_start().starts_with("--"))
    })
}

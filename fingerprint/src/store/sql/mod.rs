//! The SQL store: one type over SQLite and PostgreSQL, its read side written once.

use sqlx::{Database, Pool};

use super::UrlCache;

pub(in crate::store) mod dialect;
mod maintenance;
pub(in crate::store) mod migrate;
mod profiles;
mod reports;
pub(in crate::store) mod requests;
mod rows;
pub(in crate::store) mod users;
mod write;

/// Fingerprints in an SQL database, through an sqlx pool: [`SqliteStore`] or
/// [`PostgresStore`].
///
/// It implements [`Store`](super::Store), [`Reports`](super::Reports) and
/// [`Maintenance`](super::Maintenance), each written once for both databases: the few SQL
/// differences live in a private dialect trait. Batch writes take their rows as one JSON
/// parameter, so every batch statement has a fixed text.
pub struct SqlStore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) urls: UrlCache,
    /// Header-profile ids by key (see `profiles.rs`).
    pub(crate) profiles: UrlCache,
    /// Referer ids by referer.
    pub(crate) referers: UrlCache,
}

/// Fingerprints in a SQLite database (feature `sqlite`): nothing to install, one file next
/// to the app.
///
/// [`connect`](SqlStore::connect) opens (and creates) the file in WAL mode with a busy
/// timeout, so the app's readers never wait for the recorder's writes.
///
/// ```no_run
/// # async fn run() -> Result<(), fingerprint::v1::StoreError> {
/// use fingerprint::v1::{SqliteStore, Store};
///
/// let store = SqliteStore::connect("sqlite://fingerprint.db").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub type SqliteStore = SqlStore<sqlx::Sqlite>;

/// Fingerprints in PostgreSQL (feature `postgres`): one shared store for every instance of
/// the app.
///
/// A batch is a handful of statements whatever its size; hit counters stay exact under concurrent writers because a unique (URL, session)
/// pair is counted only by the transaction that inserted it.
///
/// ```no_run
/// # async fn run() -> Result<(), fingerprint::v1::StoreError> {
/// use fingerprint::v1::{PostgresStore, Store};
///
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1/app").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub type PostgresStore = SqlStore<sqlx::Postgres>;

impl<DB: Database> SqlStore<DB> {
    /// Uses an existing pool (the app's own, for example). On SQLite, enable WAL mode and a
    /// busy timeout on it for concurrent readers and writers.
    #[must_use]
    pub fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            urls: UrlCache::default(),
            profiles: UrlCache::default(),
            referers: UrlCache::default(),
        }
    }

    /// Replaces the URL-id cache (default: [`UrlCache::default`]).
    #[must_use]
    pub fn with_url_cache(mut self, cache: UrlCache) -> Self {
        self.urls = cache;
        self
    }

    /// The connection pool.
    #[must_use]
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            urls: self.urls.clone(),
            profiles: self.profiles.clone(),
            referers: self.referers.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &DB::NAME)
            .field("pool", &self.pool)
            .field("urls", &self.urls)
            .finish()
    }
}

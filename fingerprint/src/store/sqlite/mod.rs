//! The SQLite store (feature `sqlite`): the embedded default.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::batch::{pow2_chunks, window_micros, PreparedBatch};
use super::insight::RecordedRow;
use super::url_cache::{add_found, counts_by_url, split_cached};
use super::users::{fold_seen, users_of, KIND_AGENT, KIND_BROWSER};
use super::{
    ForgetReport, Migrations, ProgressFn, PurgeReport, RebuildReport, RecordOutcome, Store,
    StoreError, Totals, UrlCache,
};
use crate::insight::{
    BreakdownRow, BrowserQuery, BrowserSummary, DailyTraffic, Dimension, RequestQuery,
    SessionQuery, TimelineEvent, UrlHits, UrlQuery, UserPlace,
};
use crate::model::{
    BrowserVisit, RequestFingerprint, SessionRecord, StoredBrowser, StoredRequest, StoredSession,
    Utm, Visit,
};
use crate::users::{
    LinkOutcome, Page, SessionLink, SessionSummary, UserDevices, UserQuery, UserSummary,
    VisitorUser,
};

mod insight;
mod maintenance;
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

/// SQLite allows 32,766 bound parameters per statement; stay below.
const MAX_PARAMS: usize = 16_384;

/// Fingerprints in a SQLite database: nothing to install, one file next to the app.
///
/// [`connect`](Self::connect) opens (and creates) the file in WAL mode with a busy timeout, so
/// the app's readers never wait for the recorder's writes.
///
/// ```no_run
/// # async fn run() -> Result<(), fingerprint::v1::StoreError> {
/// use fingerprint::v1::{SqliteStore, Store};
///
/// let store = SqliteStore::connect("sqlite://fingerprint.db").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    urls: UrlCache,
}

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

    /// Uses an existing pool (the app's own, for example). Enable WAL mode and a busy timeout
    /// on it for concurrent readers and writers.
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            urls: UrlCache::default(),
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
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
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

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fingerprint_migrations'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if exists.is_none() {
            return Ok(None);
        }
        Ok(
            sqlx::query_scalar("SELECT MAX(version) FROM fingerprint_migrations")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

fn from_micros(value: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| StoreError::Decode(format!("timestamp {value} out of range")))
}

/// The columns [`stored_request`] reads, from `r` (request fingerprints), `s` (sessions) and
/// `u` (URLs); callers add the condition and order.
const REQUEST_SELECT: &str = "SELECT r.id, s.key, r.ip, r.method, r.user_agent, r.accept, \
     r.accept_language, r.accept_encoding, r.content_encoding, r.content_language, r.referer, \
     r.country, u.url, r.created_at, r.browser, r.browser_version, r.os, r.os_version, \
     r.device_type, r.country_code \
     FROM fingerprint_request_fingerprints r \
     JOIN fingerprint_sessions s ON s.id = r.session_id \
     JOIN fingerprint_urls u ON u.id = r.url_id";

fn stored_request(row: &SqliteRow) -> Result<StoredRequest, StoreError> {
    let ip: Option<String> = row.try_get(2)?;
    let ip = ip
        .map(|ip| {
            ip.parse()
                .map_err(|_| StoreError::Decode(format!("ip {ip:?}")))
        })
        .transpose()?;
    Ok(StoredRequest {
        id: row.try_get(0)?,
        session_key: row.try_get(1)?,
        fingerprint: RequestFingerprint {
            ip,
            method: row.try_get(3)?,
            user_agent: row.try_get(4)?,
            accept: row.try_get(5)?,
            accept_language: row.try_get(6)?,
            accept_encoding: row.try_get(7)?,
            content_encoding: row.try_get(8)?,
            content_language: row.try_get(9)?,
            referer: row.try_get(10)?,
            country: row.try_get(11)?,
            url: row.try_get(12)?,
            created_at: from_micros(row.try_get(13)?)?,
            device: super::users::device(
                row.try_get(14)?,
                row.try_get(15)?,
                row.try_get(16)?,
                row.try_get(17)?,
                row.try_get::<&str, _>(18)?,
            ),
            country_code: row.try_get(19)?,
        },
    })
}

/// The columns [`stored_browser`] reads, from `b` (browser fingerprints), `s` and `u`.
const BROWSER_SELECT: &str = "SELECT b.id, s.key, u.url, b.visitor_id, b.components, \
     b.duration_ms, b.created_at \
     FROM fingerprint_browser_fingerprints b \
     JOIN fingerprint_sessions s ON s.id = b.session_id \
     LEFT JOIN fingerprint_urls u ON u.id = b.url_id";

fn stored_browser(row: &SqliteRow) -> Result<StoredBrowser, StoreError> {
    let duration: Option<i64> = row.try_get(5)?;
    Ok(StoredBrowser {
        id: row.try_get(0)?,
        session_key: row.try_get(1)?,
        url: row.try_get(2)?,
        visitor_id: row.try_get(3)?,
        components: row.try_get(4)?,
        duration_ms: duration.and_then(|ms| u64::try_from(ms).ok()),
        created_at: from_micros(row.try_get(6)?)?,
    })
}

fn missing_id(what: &str, key: &str) -> StoreError {
    StoreError::Decode(format!("no id for {what} {key:?} after insert"))
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS fingerprint_migrations (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at INTEGER NOT NULL
            )",
        )
        .execute(&mut *tx)
        .await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM fingerprint_migrations")
                .fetch_one(&mut *tx)
                .await?;
        let current = current.unwrap_or(0);
        let supported = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > supported {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported,
            });
        }
        for &(version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            for statement in super::statements(sql) {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO fingerprint_migrations (version, description, applied_at) VALUES (?, ?, ?)",
            )
            .bind(version)
            .bind(description)
            .bind(micros(Utc::now()))
            .execute(&mut *tx)
            .await?;
            tracing::info!(version, description, "applied fingerprint migration");
        }
        tx.commit().await?;
        Ok(())
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        let supported = MIGRATIONS.last().map_or(0, |m| m.0);
        match self.schema_version().await? {
            Some(found) if found == supported => Ok(()),
            Some(found) if found > supported => Err(StoreError::SchemaTooNew { found, supported }),
            _ => Err(StoreError::NotMigrated),
        }
    }

    async fn record(
        &self,
        visits: &[Visit],
        debounce: Duration,
    ) -> Result<RecordOutcome, StoreError> {
        if visits.is_empty() {
            return Ok(RecordOutcome::default());
        }
        let batch = PreparedBatch::new(visits, debounce);
        let url_ids = self.url_ids(&batch.urls).await?;
        let url_id = |url: &str| {
            url_ids
                .get(url)
                .copied()
                .ok_or_else(|| missing_id("url", url))
        };

        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;

        // Sessions: the first visit creates the row; later visits never overwrite it.
        for chunk in pow2_chunks(&batch.sessions, MAX_PARAMS / 8) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO fingerprint_sessions (key, created_at, referer, utm_source, \
                 utm_medium, utm_campaign, utm_content, utm_term) ",
            );
            insert.push_values(chunk, |mut row, visit| {
                row.push_bind(&visit.session_key)
                    .push_bind(micros(visit.fingerprint.created_at))
                    .push_bind(&visit.fingerprint.referer)
                    .push_bind(&visit.utm.source)
                    .push_bind(&visit.utm.medium)
                    .push_bind(&visit.utm.campaign)
                    .push_bind(&visit.utm.content)
                    .push_bind(&visit.utm.term);
            });
            insert.push(" ON CONFLICT (key) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        let mut session_ids: HashMap<String, i64> = HashMap::with_capacity(batch.sessions.len());
        let mut session_users: HashMap<String, String> = HashMap::new();
        for chunk in pow2_chunks(&batch.sessions, MAX_PARAMS) {
            let mut select = QueryBuilder::<Sqlite>::new(
                "SELECT id, key, user_id FROM fingerprint_sessions WHERE key IN (",
            );
            let mut list = select.separated(", ");
            for visit in chunk {
                list.push_bind(&visit.session_key);
            }
            select.push(")");
            for row in select.build().fetch_all(&mut *tx).await? {
                let key: String = row.try_get(1)?;
                if let Some(user) = row.try_get::<Option<String>, _>(2)? {
                    session_users.insert(key.clone(), user);
                }
                session_ids.insert(key, row.try_get(0)?);
            }
        }
        let session_id = |key: &str| {
            session_ids
                .get(key)
                .copied()
                .ok_or_else(|| missing_id("session", key))
        };

        // Request fingerprints, except those inside the debounce window of a stored one.
        let window = window_micros(debounce);
        let mut recorded = Vec::with_capacity(batch.rows.len());
        for chunk in pow2_chunks(&batch.rows, MAX_PARAMS / 19) {
            let mut values = Vec::with_capacity(chunk.len());
            for visit in chunk {
                values.push((
                    session_id(&visit.session_key)?,
                    url_id(&visit.fingerprint.url)?,
                    visit,
                ));
            }
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO fingerprint_request_fingerprints (session_id, url_id, ip, method, \
                 user_agent, accept, accept_language, accept_encoding, content_encoding, \
                 content_language, referer, country, created_at, browser, browser_version, os, \
                 os_version, device_type, country_code) \
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, \
                 column9, column10, column11, column12, column13, column14, column15, column16, \
                 column17, column18, column19 FROM (",
            );
            insert.push_values(&values, |mut row, (session, url, visit)| {
                let fp = &visit.fingerprint;
                row.push_bind(*session)
                    .push_bind(*url)
                    .push_bind(fp.ip.map(|ip| ip.to_string()))
                    .push_bind(&fp.method)
                    .push_bind(&fp.user_agent)
                    .push_bind(&fp.accept)
                    .push_bind(&fp.accept_language)
                    .push_bind(&fp.accept_encoding)
                    .push_bind(&fp.content_encoding)
                    .push_bind(&fp.content_language)
                    .push_bind(&fp.referer)
                    .push_bind(&fp.country)
                    .push_bind(micros(fp.created_at))
                    .push_bind(&fp.device.browser)
                    .push_bind(&fp.device.browser_version)
                    .push_bind(&fp.device.os)
                    .push_bind(&fp.device.os_version)
                    .push_bind(fp.device.device_type.as_str())
                    .push_bind(&fp.country_code);
            });
            insert.push(") AS v");
            if window > 0 {
                insert.push(
                    " WHERE NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                     WHERE r.session_id = v.column1 AND r.url_id = v.column2 \
                     AND r.created_at > v.column13 - ",
                );
                insert.push_bind(window);
                insert.push(")");
            }
            let done = insert.build().execute(&mut *tx).await?;
            // For the dashboard's rollups: the rows this insert stored.
            let stored = usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
            if stored == values.len() {
                recorded.extend(
                    values
                        .iter()
                        .map(|(session, _, visit)| RecordedRow::of(*session, &visit.fingerprint)),
                );
            } else if stored > 0 {
                let last = done.last_insert_rowid();
                let first = last.saturating_sub(i64::try_from(stored).unwrap_or(i64::MAX));
                recorded.extend(insight::recorded_rows(&mut tx, first, last).await?);
            }
        }
        let inserted = recorded.len() as u64;

        // Unique visitors and their counters, in the same transaction.
        let mut new_visitors: HashMap<i64, i64> = HashMap::new();
        for chunk in pow2_chunks(&batch.pairs, MAX_PARAMS / 2) {
            let mut values = Vec::with_capacity(chunk.len());
            for (url, session) in chunk {
                values.push((url_id(url)?, session_id(session)?));
            }
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO fingerprint_url_visitors (url_id, session_id) ",
            );
            insert.push_values(&values, |mut row, (url, session)| {
                row.push_bind(*url).push_bind(*session);
            });
            insert.push(" ON CONFLICT DO NOTHING RETURNING url_id");
            for row in insert.build().fetch_all(&mut *tx).await? {
                *new_visitors.entry(row.try_get(0)?).or_default() += 1;
            }
        }
        let mut counts: Vec<(i64, i64)> = new_visitors.into_iter().collect();
        counts.sort_unstable();
        for chunk in pow2_chunks(&counts, MAX_PARAMS / 2) {
            let mut upsert =
                QueryBuilder::<Sqlite>::new("INSERT INTO fingerprint_hit_counts (url_id, hits) ");
            upsert.push_values(chunk, |mut row, (url, hits)| {
                row.push_bind(*url).push_bind(*hits);
            });
            upsert.push(
                " ON CONFLICT (url_id) DO UPDATE SET hits = fingerprint_hit_counts.hits + excluded.hits",
            );
            upsert.build().execute(&mut *tx).await?;
        }

        // The dashboard's IP index and daily rollup, in the same transaction.
        insight::record_rollups(&mut tx, &recorded).await?;

        // What linked users were seen with (every visit counts, debounced or not).
        if !session_users.is_empty() {
            let seen = fold_seen(visits.iter().filter_map(|visit| {
                let user = session_users.get(&visit.session_key)?;
                let fp = &visit.fingerprint;
                Some((
                    user.as_str(),
                    KIND_AGENT,
                    fp.user_agent.as_str(),
                    fp.created_at,
                ))
            }));
            users::upsert_seen(&mut tx, &seen).await?;
            users::refresh_users(&mut tx, &users_of(&seen)).await?;
        }
        tx.commit().await?;

        let considered = batch.rows.len() as u64;
        Ok(RecordOutcome {
            inserted,
            debounced: batch.debounced + considered.saturating_sub(inserted),
        })
    }

    async fn hit_counts(&self, urls: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
        // URL ids from the cache (the recorder fills it), the others in one query; then the
        // counters by id in one statement returning one row: fixed statement texts, and no
        // row per URL to decode.
        let (mut known, unknown) = split_cached(&self.urls, urls);
        if !unknown.is_empty() {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, url FROM fingerprint_urls \
                 WHERE url IN (SELECT value FROM json_each(?1))",
            )
            .bind(serde_json::to_string(&unknown).map_err(|e| StoreError::Decode(e.to_string()))?)
            .fetch_all(&self.pool)
            .await?;
            add_found(&self.urls, &mut known, &unknown, rows);
        }
        if known.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = known.keys().copied().collect();
        let (found, hits): (String, String) = sqlx::query_as(
            "SELECT json_group_array(h.url_id), json_group_array(h.hits) \
             FROM json_each(?1) j JOIN fingerprint_hit_counts h ON h.url_id = j.value",
        )
        .bind(serde_json::to_string(&ids).map_err(|e| StoreError::Decode(e.to_string()))?)
        .fetch_one(&self.pool)
        .await?;
        let decode = |json: &str| -> Result<Vec<i64>, StoreError> {
            serde_json::from_str(json).map_err(|e| StoreError::Decode(e.to_string()))
        };
        Ok(counts_by_url(&known, decode(&found)?, decode(&hits)?))
    }

    async fn rebuild_hit_counts(&self, chunk: u32) -> Result<RebuildReport, StoreError> {
        self.rebuild_impl(chunk, &|_| {}).await
    }

    async fn rebuild_hit_counts_with_progress(
        &self,
        chunk: u32,
        progress: ProgressFn<'_>,
    ) -> Result<RebuildReport, StoreError> {
        self.rebuild_impl(chunk, progress).await
    }

    async fn purge(
        &self,
        before: DateTime<Utc>,
        chunk: u32,
        progress: ProgressFn<'_>,
    ) -> Result<PurgeReport, StoreError> {
        self.purge_impl(before, chunk, progress).await
    }

    async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError> {
        self.forget_user_impl(user_id).await
    }

    async fn totals(&self) -> Result<Totals, StoreError> {
        self.totals_impl().await
    }

    async fn export_requests(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        self.export_requests_impl(since, after_id, limit).await
    }

    async fn export_browsers(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError> {
        self.export_browsers_impl(since, after_id, limit).await
    }

    async fn export_sessions(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredSession>, StoreError> {
        self.export_sessions_impl(since, after_id, limit).await
    }

    async fn session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT key, user_id, created_at, referer, utm_source, utm_medium, utm_campaign, \
             utm_content, utm_term FROM fingerprint_sessions WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            key: row.try_get(0)?,
            user_id: row.try_get(1)?,
            created_at: from_micros(row.try_get(2)?)?,
            referer: row.try_get(3)?,
            utm: Utm {
                source: row.try_get(4)?,
                medium: row.try_get(5)?,
                campaign: row.try_get(6)?,
                content: row.try_get(7)?,
                term: row.try_get(8)?,
            },
        }))
    }

    async fn session_requests(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let rows = sqlx::query(&format!(
            "{REQUEST_SELECT} WHERE s.key = ? ORDER BY r.created_at DESC, r.id DESC LIMIT ?"
        ))
        .bind(session_key)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_request).collect()
    }

    async fn record_browser(&self, visit: &BrowserVisit) -> Result<(), StoreError> {
        let url_ids = match &visit.url {
            Some(url) => self.url_ids(&[url.as_str()]).await?,
            None => HashMap::new(),
        };
        let url_id = visit.url.as_ref().and_then(|url| url_ids.get(url).copied());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (session_id, user) =
            users::ensure_session(&mut tx, &visit.session_key, visit.created_at).await?;
        sqlx::query(
            "INSERT INTO fingerprint_browser_fingerprints \
             (session_id, url_id, visitor_id, components, duration_ms, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(session_id)
        .bind(url_id)
        .bind(&visit.visitor_id)
        .bind(&visit.components)
        .bind(visit.duration_ms.and_then(|ms| i64::try_from(ms).ok()))
        .bind(micros(visit.created_at))
        .execute(&mut *tx)
        .await?;
        if let Some(user) = &user {
            let seen = fold_seen([(
                user.as_str(),
                KIND_BROWSER,
                visit.visitor_id.as_str(),
                visit.created_at,
            )]);
            users::upsert_seen(&mut tx, &seen).await?;
            users::refresh_users(&mut tx, &[user.as_str()]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn session_browsers(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError> {
        let rows = sqlx::query(&format!(
            "{BROWSER_SELECT} WHERE s.key = ? ORDER BY b.created_at DESC, b.id DESC LIMIT ?"
        ))
        .bind(session_key)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_browser).collect()
    }

    async fn link_sessions(&self, links: &[SessionLink]) -> Result<Vec<LinkOutcome>, StoreError> {
        self.link_sessions_impl(links).await
    }

    async fn relink_session(
        &self,
        session_key: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.relink_session_impl(session_key, user_id, at).await
    }

    async fn user(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError> {
        self.user_impl(user_id).await
    }

    async fn users(&self, query: &UserQuery) -> Result<Page<UserSummary>, StoreError> {
        self.users_impl(query).await
    }

    async fn user_devices(&self, user_id: &str) -> Result<UserDevices, StoreError> {
        self.user_devices_impl(user_id).await
    }

    async fn user_sessions(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.user_sessions_impl(user_id, limit).await
    }

    async fn visitor_users(&self, visitor_id: &str) -> Result<Vec<VisitorUser>, StoreError> {
        self.visitor_users_impl(visitor_id).await
    }

    async fn visitor_sessions(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.visitor_sessions_impl(visitor_id, limit).await
    }

    async fn daily_traffic(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<DailyTraffic>, StoreError> {
        self.daily_traffic_impl(first, last).await
    }

    async fn breakdown(
        &self,
        dimension: Dimension,
        first: NaiveDate,
        last: NaiveDate,
        limit: u32,
    ) -> Result<Vec<BreakdownRow>, StoreError> {
        self.breakdown_impl(dimension, first, last, limit).await
    }

    async fn urls(&self, query: &UrlQuery) -> Result<Page<UrlHits>, StoreError> {
        self.urls_impl(query).await
    }

    async fn sessions(&self, query: &SessionQuery) -> Result<Page<SessionSummary>, StoreError> {
        self.sessions_impl(query).await
    }

    async fn request_fingerprints(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<StoredRequest>, StoreError> {
        self.request_fingerprints_impl(query).await
    }

    async fn browser_fingerprints(
        &self,
        query: &BrowserQuery,
    ) -> Result<Page<BrowserSummary>, StoreError> {
        self.browser_fingerprints_impl(query).await
    }

    async fn latest_browser(&self, visitor_id: &str) -> Result<Option<StoredBrowser>, StoreError> {
        self.latest_browser_impl(visitor_id).await
    }

    async fn user_places(&self, user_id: &str, limit: u32) -> Result<Vec<UserPlace>, StoreError> {
        self.user_places_impl(user_id, limit).await
    }

    async fn user_timeline(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<TimelineEvent>, StoreError> {
        self.user_timeline_impl(user_id, after, limit).await
    }

    async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError> {
        self.record_browsers_impl(visits).await
    }
}

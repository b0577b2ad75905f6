//! The PostgreSQL store (feature `postgres`): for apps running on several machines.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use super::batch::{window_micros, PreparedBatch};
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

/// Key of the advisory lock that serialises concurrent `migrate()` calls.
const MIGRATION_LOCK: i64 = 0x6670_7274_6d69_6772; // "fprtmigr"

/// Fingerprints in PostgreSQL: one shared store for every instance of the app.
///
/// Batches are written with `UNNEST` arrays (a handful of statements per batch, whatever its
/// size); hit counters stay exact under concurrent writers because a unique (URL, session)
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
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    urls: UrlCache,
}

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

    /// Uses an existing pool (the app's own, for example).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
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
    pub fn pool(&self) -> &PgPool {
        &self.pool
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

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass('fingerprint_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        if !exists {
            return Ok(None);
        }
        Ok(
            sqlx::query_scalar("SELECT MAX(version) FROM fingerprint_migrations")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

fn missing_id(what: &str, key: &str) -> StoreError {
    StoreError::Decode(format!("no id for {what} {key:?} after insert"))
}

/// The columns [`stored_request`] reads, from `r` (request fingerprints), `s` (sessions) and
/// `u` (URLs); callers add the condition and order.
const REQUEST_SELECT: &str = "SELECT r.id, s.key, host(r.ip), r.method, r.user_agent, r.accept, \
     r.accept_language, r.accept_encoding, r.content_encoding, r.content_language, r.referer, \
     r.country, u.url, r.created_at, r.browser, r.browser_version, r.os, r.os_version, \
     r.device_type, r.country_code \
     FROM fingerprint_request_fingerprints r \
     JOIN fingerprint_sessions s ON s.id = r.session_id \
     JOIN fingerprint_urls u ON u.id = r.url_id";

/// The columns [`stored_browser`] reads, from `b` (browser fingerprints), `s` and `u`.
const BROWSER_SELECT: &str = "SELECT b.id, s.key, u.url, b.visitor_id, b.components::text, \
     b.duration_ms, b.created_at \
     FROM fingerprint_browser_fingerprints b \
     JOIN fingerprint_sessions s ON s.id = b.session_id \
     LEFT JOIN fingerprint_urls u ON u.id = b.url_id";

fn stored_browser(row: &PgRow) -> Result<StoredBrowser, StoreError> {
    let duration: Option<i64> = row.try_get(5)?;
    Ok(StoredBrowser {
        id: row.try_get(0)?,
        session_key: row.try_get(1)?,
        url: row.try_get(2)?,
        visitor_id: row.try_get(3)?,
        components: row.try_get(4)?,
        duration_ms: duration.and_then(|ms| u64::try_from(ms).ok()),
        created_at: row.try_get(6)?,
    })
}

fn stored_request(row: &PgRow) -> Result<StoredRequest, StoreError> {
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
            created_at: row.try_get::<DateTime<Utc>, _>(13)?,
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

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS fingerprint_migrations (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
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
                "INSERT INTO fingerprint_migrations (version, description) VALUES ($1, $2)",
            )
            .bind(version)
            .bind(description)
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

        let mut tx = self.pool.begin().await?;

        // Sessions, in key order: the first visit creates the row, later ones never overwrite.
        let column = |f: fn(&Visit) -> Option<String>| -> Vec<Option<String>> {
            batch.sessions.iter().map(|v| f(v)).collect()
        };
        let keys: Vec<&str> = batch
            .sessions
            .iter()
            .map(|v| v.session_key.as_str())
            .collect();
        let created: Vec<DateTime<Utc>> = batch
            .sessions
            .iter()
            .map(|v| v.fingerprint.created_at)
            .collect();
        let referers: Vec<&str> = batch
            .sessions
            .iter()
            .map(|v| v.fingerprint.referer.as_str())
            .collect();
        let new_sessions = sqlx::query(
            "INSERT INTO fingerprint_sessions (key, created_at, referer, utm_source, utm_medium, \
             utm_campaign, utm_content, utm_term) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[]) \
             ON CONFLICT (key) DO NOTHING RETURNING id, key",
        )
        .bind(&keys)
        .bind(&created)
        .bind(&referers)
        .bind(column(|v| v.utm.source.clone()))
        .bind(column(|v| v.utm.medium.clone()))
        .bind(column(|v| v.utm.campaign.clone()))
        .bind(column(|v| v.utm.content.clone()))
        .bind(column(|v| v.utm.term.clone()))
        .fetch_all(&mut *tx)
        .await?;
        let mut session_ids: HashMap<String, i64> = HashMap::with_capacity(keys.len());
        for row in new_sessions {
            session_ids.insert(row.try_get(1)?, row.try_get(0)?);
        }
        // Existing sessions are locked (shared) so that a concurrent link of one of them waits
        // for this batch, or this batch sees its user.
        let existing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|key| !session_ids.contains_key(*key))
            .collect();
        let mut session_users: HashMap<String, String> = HashMap::new();
        if !existing.is_empty() {
            for row in sqlx::query(
                "SELECT id, key, user_id FROM fingerprint_sessions WHERE key = ANY($1) \
                 ORDER BY key FOR SHARE",
            )
            .bind(&existing)
            .fetch_all(&mut *tx)
            .await?
            {
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
        let rows = &batch.rows;
        let mut sessions = Vec::with_capacity(rows.len());
        let mut urls = Vec::with_capacity(rows.len());
        for visit in rows {
            sessions.push(session_id(&visit.session_key)?);
            urls.push(url_id(&visit.fingerprint.url)?);
        }
        let text = |f: fn(&RequestFingerprint) -> &str| -> Vec<&str> {
            rows.iter().map(|v| f(&v.fingerprint)).collect()
        };
        let ips: Vec<Option<String>> = rows
            .iter()
            .map(|v| v.fingerprint.ip.map(|ip| ip.to_string()))
            .collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|v| v.fingerprint.created_at).collect();
        let window = window_micros(debounce);
        let recorded = sqlx::query(&format!(
            "INSERT INTO fingerprint_request_fingerprints (session_id, url_id, ip, method, \
             user_agent, accept, accept_language, accept_encoding, content_encoding, \
             content_language, referer, country, created_at, browser, browser_version, os, \
             os_version, device_type, country_code) \
             SELECT v.session_id, v.url_id, v.ip::inet, v.method, v.user_agent, v.accept, \
             v.accept_language, v.accept_encoding, v.content_encoding, v.content_language, \
             v.referer, v.country, v.created_at, v.browser, v.browser_version, v.os, \
             v.os_version, v.device_type, v.country_code \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::timestamptz[], $15::text[], $16::text[], $17::text[], \
             $18::text[], $19::text[], $20::text[]) AS v(session_id, url_id, ip, method, \
             user_agent, accept, accept_language, accept_encoding, content_encoding, \
             content_language, referer, country, created_at, browser, browser_version, os, \
             os_version, device_type, country_code) \
             WHERE $14 = 0 OR NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
             WHERE r.session_id = v.session_id AND r.url_id = v.url_id \
             AND r.created_at > v.created_at - make_interval(secs => $14::float8 / 1e6)){}",
            insight::RETURNING
        ))
        .bind(&sessions)
        .bind(&urls)
        .bind(&ips)
        .bind(text(|f| &f.method))
        .bind(text(|f| &f.user_agent))
        .bind(text(|f| &f.accept))
        .bind(text(|f| &f.accept_language))
        .bind(text(|f| &f.accept_encoding))
        .bind(text(|f| &f.content_encoding))
        .bind(text(|f| &f.content_language))
        .bind(text(|f| &f.referer))
        .bind(text(|f| &f.country))
        .bind(&times)
        .bind(window)
        .bind(text(|f| &f.device.browser))
        .bind(text(|f| &f.device.browser_version))
        .bind(text(|f| &f.device.os))
        .bind(text(|f| &f.device.os_version))
        .bind(text(|f| f.device.device_type.as_str()))
        .bind(text(|f| &f.country_code))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(insight::recorded_row)
        .collect::<Result<Vec<_>, _>>()?;
        let inserted = recorded.len() as u64;

        // Unique visitors, then their counters; both in (URL, session) order so that
        // concurrent transactions lock rows in the same order.
        let mut pair_urls = Vec::with_capacity(batch.pairs.len());
        let mut pair_sessions = Vec::with_capacity(batch.pairs.len());
        for (url, session) in &batch.pairs {
            pair_urls.push(url_id(url)?);
            pair_sessions.push(session_id(session)?);
        }
        sqlx::query(
            "WITH new AS ( \
                 INSERT INTO fingerprint_url_visitors (url_id, session_id) \
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) \
                 ON CONFLICT DO NOTHING RETURNING url_id) \
             INSERT INTO fingerprint_hit_counts (url_id, hits) \
             SELECT url_id, COUNT(*) FROM new GROUP BY url_id ORDER BY url_id \
             ON CONFLICT (url_id) DO UPDATE SET hits = fingerprint_hit_counts.hits + excluded.hits",
        )
        .bind(&pair_urls)
        .bind(&pair_sessions)
        .execute(&mut *tx)
        .await?;

        // The dashboard's IP index and daily rollup, in the same transaction (after the hit
        // counters, so every writer takes its row locks in the same order).
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

        let considered = rows.len() as u64;
        Ok(RecordOutcome {
            inserted,
            debounced: batch.debounced + considered.saturating_sub(inserted),
        })
    }

    async fn hit_counts(&self, urls: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
        // URL ids from the cache (the recorder fills it), the others in one query; then the
        // counters by id as one row of two arrays.
        let (mut known, unknown) = split_cached(&self.urls, urls);
        if !unknown.is_empty() {
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, url FROM fingerprint_urls WHERE url = ANY($1)")
                    .bind(&unknown)
                    .fetch_all(&self.pool)
                    .await?;
            add_found(&self.urls, &mut known, &unknown, rows);
        }
        if known.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<i64> = known.keys().copied().collect();
        let (found, hits): (Option<Vec<i64>>, Option<Vec<i64>>) = sqlx::query_as(
            "SELECT array_agg(url_id), array_agg(hits) FROM fingerprint_hit_counts \
             WHERE url_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_one(&self.pool)
        .await?;
        Ok(counts_by_url(
            &known,
            found.unwrap_or_default(),
            hits.unwrap_or_default(),
        ))
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
             utm_content, utm_term FROM fingerprint_sessions WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            key: row.try_get(0)?,
            user_id: row.try_get(1)?,
            created_at: row.try_get(2)?,
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
            "{REQUEST_SELECT} WHERE s.key = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
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
        let mut tx = self.pool.begin().await?;
        let (session_id, user) = users::ensure_session(
            &mut tx,
            &visit.session_key,
            visit.created_at,
            users::RowLock::Share,
        )
        .await?;
        sqlx::query(
            "INSERT INTO fingerprint_browser_fingerprints \
             (session_id, url_id, visitor_id, components, duration_ms, created_at) \
             VALUES ($1, $2, $3, $4::jsonb, $5, $6)",
        )
        .bind(session_id)
        .bind(url_id)
        .bind(&visit.visitor_id)
        .bind(&visit.components)
        .bind(visit.duration_ms.and_then(|ms| i64::try_from(ms).ok()))
        .bind(visit.created_at)
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
            "{BROWSER_SELECT} WHERE s.key = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT $2"
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

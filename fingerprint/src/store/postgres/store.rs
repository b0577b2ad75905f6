//! The write path on PostgreSQL: batches of visits and browser fingerprints, session links.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::insight;
use super::users::{refresh_users, upsert_seen};
use crate::model::{BrowserVisit, RequestFingerprint, Visit};
use crate::model::{LinkOutcome, SessionLink};
use crate::store::batch::{missing_id, window_micros, PreparedBatch};
use crate::store::sql::{migrate, users};
use crate::store::url_cache::{add_found, counts_by_url, split_cached};
use crate::store::users::{fold_seen, users_of, KIND_AGENT, KIND_BROWSER};
use crate::store::{PostgresStore, RecordOutcome, Store, StoreError};

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::migrate(self).await
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        migrate::check_schema(self).await
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
            upsert_seen(&mut tx, &seen).await?;
            refresh_users(&mut tx, &users_of(&seen)).await?;
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

    async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError> {
        if visits.is_empty() {
            return Ok(());
        }
        let mut urls: Vec<&str> = visits.iter().filter_map(|v| v.url.as_deref()).collect();
        urls.sort_unstable();
        urls.dedup();
        let url_ids = self.url_ids(&urls).await?;
        // Each session's earliest visit creates it when it is new; keys in order, so that
        // concurrent writers lock them in the same order.
        let mut firsts: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
        for visit in visits {
            firsts
                .entry(visit.session_key.as_str())
                .and_modify(|first| *first = (*first).min(visit.created_at))
                .or_insert(visit.created_at);
        }
        let keys: Vec<&str> = firsts.keys().copied().collect();
        let times: Vec<DateTime<Utc>> = firsts.values().copied().collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO fingerprint_sessions (key, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[]) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&keys)
        .bind(&times)
        .execute(&mut *tx)
        .await?;
        let mut sessions: HashMap<String, (i64, Option<String>)> = HashMap::new();
        for row in sqlx::query(
            "SELECT id, key, user_id FROM fingerprint_sessions WHERE key = ANY($1) \
             ORDER BY key FOR SHARE",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?
        {
            sessions.insert(row.try_get(1)?, (row.try_get(0)?, row.try_get(2)?));
        }
        let mut session_ids = Vec::with_capacity(visits.len());
        for visit in visits {
            let (session, _) = sessions
                .get(&visit.session_key)
                .ok_or_else(|| missing_id("session", &visit.session_key))?;
            session_ids.push(*session);
        }
        let url_column: Vec<Option<i64>> = visits
            .iter()
            .map(|v| v.url.as_ref().and_then(|url| url_ids.get(url).copied()))
            .collect();
        let visitor_ids: Vec<&str> = visits.iter().map(|v| v.visitor_id.as_str()).collect();
        let components: Vec<&str> = visits.iter().map(|v| v.components.as_str()).collect();
        let durations: Vec<Option<i64>> = visits
            .iter()
            .map(|v| v.duration_ms.and_then(|ms| i64::try_from(ms).ok()))
            .collect();
        let created: Vec<DateTime<Utc>> = visits.iter().map(|v| v.created_at).collect();
        sqlx::query(
            "INSERT INTO fingerprint_browser_fingerprints \
             (session_id, url_id, visitor_id, components, duration_ms, created_at) \
             SELECT v.session_id, v.url_id, v.visitor_id, v.components::jsonb, v.duration_ms, \
             v.created_at FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
             $5::bigint[], $6::timestamptz[]) WITH ORDINALITY \
             AS v(session_id, url_id, visitor_id, components, duration_ms, created_at, n) \
             ORDER BY v.n",
        )
        .bind(&session_ids)
        .bind(&url_column)
        .bind(&visitor_ids)
        .bind(&components)
        .bind(&durations)
        .bind(&created)
        .execute(&mut *tx)
        .await?;
        // What linked users were seen with.
        let seen = fold_seen(visits.iter().filter_map(|visit| {
            let user = sessions.get(&visit.session_key)?.1.as_deref()?;
            Some((
                user,
                KIND_BROWSER,
                visit.visitor_id.as_str(),
                visit.created_at,
            ))
        }));
        if !seen.is_empty() {
            upsert_seen(&mut tx, &seen).await?;
            refresh_users(&mut tx, &users_of(&seen)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn link_sessions(&self, links: &[SessionLink]) -> Result<Vec<LinkOutcome>, StoreError> {
        users::link_sessions(self, links).await
    }

    async fn relink_session(
        &self,
        session_key: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        users::relink_session(self, session_key, user_id, at).await
    }
}

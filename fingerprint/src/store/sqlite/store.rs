//! The write path on SQLite: batches of visits and browser fingerprints, session links.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::users::{refresh_users, upsert_seen};
use super::{insight, micros, MAX_PARAMS};
use crate::model::{BrowserVisit, Visit};
use crate::model::{LinkOutcome, SessionLink};
use crate::store::batch::{missing_id, pow2_chunks, window_micros, PreparedBatch};
use crate::store::insight::RecordedRow;
use crate::store::sql::{migrate, users};
use crate::store::url_cache::{add_found, counts_by_url, split_cached};
use crate::store::users::{fold_seen, users_of, KIND_AGENT, KIND_BROWSER};
use crate::store::{RecordOutcome, SqliteStore, Store, StoreError};

#[async_trait]
impl Store for SqliteStore {
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
            upsert_seen(&mut tx, &seen).await?;
            refresh_users(&mut tx, &users_of(&seen)).await?;
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

    async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError> {
        if visits.is_empty() {
            return Ok(());
        }
        let mut urls: Vec<&str> = visits.iter().filter_map(|v| v.url.as_deref()).collect();
        urls.sort_unstable();
        urls.dedup();
        let url_ids = self.url_ids(&urls).await?;
        // Each session's earliest visit creates it when it is new.
        let mut firsts: BTreeMap<&str, i64> = BTreeMap::new();
        for visit in visits {
            let at = micros(visit.created_at);
            firsts
                .entry(visit.session_key.as_str())
                .and_modify(|first| *first = (*first).min(at))
                .or_insert(at);
        }
        let firsts: Vec<(&str, i64)> = firsts.into_iter().collect();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in pow2_chunks(&firsts, MAX_PARAMS / 2) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO fingerprint_sessions (key, created_at) ");
            insert.push_values(chunk, |mut row, (key, at)| {
                row.push_bind(*key).push_bind(*at);
            });
            insert.push(" ON CONFLICT (key) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        let mut sessions: HashMap<String, (i64, Option<String>)> = HashMap::new();
        for chunk in pow2_chunks(&firsts, MAX_PARAMS) {
            let mut select = QueryBuilder::<Sqlite>::new(
                "SELECT id, key, user_id FROM fingerprint_sessions WHERE key IN (",
            );
            let mut list = select.separated(", ");
            for (key, _) in chunk {
                list.push_bind(*key);
            }
            select.push(")");
            for row in select.build().fetch_all(&mut *tx).await? {
                sessions.insert(row.try_get(1)?, (row.try_get(0)?, row.try_get(2)?));
            }
        }
        for chunk in pow2_chunks(visits, MAX_PARAMS / 6) {
            let mut values = Vec::with_capacity(chunk.len());
            for visit in chunk {
                let (session, _) = sessions
                    .get(&visit.session_key)
                    .ok_or_else(|| missing_id("session", &visit.session_key))?;
                let url = visit.url.as_ref().and_then(|url| url_ids.get(url).copied());
                values.push((*session, url, visit));
            }
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO fingerprint_browser_fingerprints \
                 (session_id, url_id, visitor_id, components, duration_ms, created_at) ",
            );
            insert.push_values(&values, |mut row, (session, url, visit)| {
                row.push_bind(*session)
                    .push_bind(*url)
                    .push_bind(&visit.visitor_id)
                    .push_bind(&visit.components)
                    .push_bind(visit.duration_ms.and_then(|ms| i64::try_from(ms).ok()))
                    .push_bind(micros(visit.created_at));
            });
            insert.build().execute(&mut *tx).await?;
        }
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

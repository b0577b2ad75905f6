//! The write path, once for both databases: every batch statement has a fixed text and takes
//! its rows as one JSON parameter (see [`Dialect::json_rows`]), so a batch of any size is a
//! handful of prepared statements and no per-row binds.
//!
//! One `record` transaction: sessions (created by their first visit, existing ones locked on
//! PostgreSQL, so a concurrent batch, link or purge of the same session waits or is seen),
//! request fingerprints outside the debounce window of a stored one, the unique (URL,
//! session) pairs and their counters, the dashboard's IP index and daily rollup, and what
//! linked users were seen with. Rows are written in key order, so concurrent writers lock
//! them in the same order; a unique pair or a (day, session) pair counts only in the
//! transaction that inserted it, which keeps the counters exact under concurrent writers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::dialect::{column_names, Col, Day, Decoded, Dialect, Sql, Timestamp, LATEST_MICROS};
use super::{migrate, profiles, users, SqlStore};
use crate::assess::{SessionAssessment, Verdict};
use crate::model::{BrowserVisit, LinkOutcome, SessionLink, Visit};
use crate::store::batch::{missing_id, window_micros, FastMap, PreparedBatch};
use crate::store::error::retrying_transient;
use crate::store::insight::{day_of_micros, ip_sessions, DailyDelta, RecordedRow};
use crate::store::url_cache::{add_found, counts_by_url, split_cached, UrlCache};
use crate::store::users::{fold_seen, users_of, DeviceSeen, KIND_AGENT, KIND_BROWSER};
use crate::store::{ProgressFn, RecordOutcome, Store, StoreError};

/// `rows` as the JSON text [`Sql::rows`] binds.
pub(super) fn json<T: Serialize + ?Sized>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Decode(e.to_string()))
}

/// Ids of `keys` (sorted, distinct) in `table`, whose unique column is the first of
/// `columns`: from `cache`, else from the table, inserting `rows` (JSON arrays in `columns`
/// order, one per key, same order) in their own transaction first. Ids are cached only once
/// committed.
pub(super) async fn intern<D: Dialect>(
    store: &SqlStore<D>,
    cache: &UrlCache,
    table: &str,
    columns: &[(&str, Col)],
    keys: &[&str],
    rows: impl Fn(&[usize]) -> Result<String, StoreError>,
) -> Result<FastMap<String, i64>, StoreError> {
    let mut ids = FastMap::with_capacity_and_hasher(keys.len(), Default::default());
    let mut missing = Vec::new();
    for (n, &key) in keys.iter().enumerate() {
        match cache.get(key) {
            Some(id) => {
                ids.insert(key.to_owned(), id);
            }
            None => missing.push(n),
        }
    }
    if missing.is_empty() {
        return Ok(ids);
    }
    let key = columns[0].0;
    let mut tx = D::begin_write(&store.pool).await?;
    Sql::<D>::insert_rows(table, rows(&missing)?, columns)
        .push(format!(" WHERE TRUE ON CONFLICT ({key}) DO NOTHING"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // A new statement after the commit: it also sees rows a concurrent writer committed while
    // this insert waited on their unique-index entries.
    let wanted: Vec<&str> = missing.iter().map(|&n| keys[n]).collect();
    let found: Vec<(i64, String)> =
        Sql::<D>::new(format!("SELECT id, {key} FROM {table} WHERE TRUE"))
            .is_in(key, json(&wanted)?, Col::Text)
            .fetch_all(&store.pool)
            .await?;
    for (id, key) in found {
        cache.insert(&key, id);
        ids.insert(key, id);
    }
    Ok(ids)
}

impl<D: Dialect> SqlStore<D> {
    /// Ids of `urls` (sorted, distinct), inserting the new ones.
    async fn url_ids(&self, urls: &[&str]) -> Result<FastMap<String, i64>, StoreError> {
        intern(
            self,
            &self.urls,
            "fingerprint_urls",
            &[("url", Col::Text)],
            urls,
            |n| json(&n.iter().map(|&n| [urls[n]]).collect::<Vec<_>>()),
        )
        .await
    }

    /// Ids of the distinct non-empty referers of `referers`, inserting the new ones.
    async fn referer_ids<'a>(
        &self,
        referers: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<&'a str, i64>, StoreError> {
        // Keyed by a hash (a referer may be longer than an index entry can be), each distinct
        // referer hashed once.
        let distinct: BTreeSet<&str> = referers.filter(|r| !r.is_empty()).collect();
        let by_key: BTreeMap<String, &str> = distinct
            .into_iter()
            .map(|r| (profiles::key(&[r]), r))
            .collect();
        let keys: Vec<&str> = by_key.keys().map(String::as_str).collect();
        let ids = intern(
            self,
            &self.referers,
            "fingerprint_referers",
            &[("key", Col::Text), ("referer", Col::Text)],
            &keys,
            |n| {
                json(
                    &n.iter()
                        .map(|&n| [keys[n], by_key[keys[n]]])
                        .collect::<Vec<_>>(),
                )
            },
        )
        .await?;
        by_key
            .iter()
            .map(|(key, referer)| {
                let id = ids
                    .get(key)
                    .copied()
                    .ok_or_else(|| missing_id("referer", key))?;
                Ok((*referer, id))
            })
            .collect()
    }

    /// The sessions of `keys` (sorted, distinct), creating the missing ones from `new_rows`
    /// (JSON, in `columns` order, the key first); existing sessions are locked until the
    /// transaction ends (PostgreSQL: see [`Dialect::FOR_BATCH`]).
    async fn session_ids(
        tx: &mut D::Connection,
        columns: &[(&str, Col)],
        new_rows: String,
        keys: &[&str],
    ) -> Result<FastMap<String, SessionRef>, StoreError> {
        let created: Vec<SessionRow> =
            Sql::<D>::insert_rows("fingerprint_sessions", new_rows, columns)
                .push(format!(
                    " WHERE TRUE ON CONFLICT (key) DO NOTHING RETURNING {SESSION_ROW}"
                ))
                .fetch_all_on(&mut *tx)
                .await?;
        let mut sessions: FastMap<String, SessionRef> =
            FastMap::with_capacity_and_hasher(keys.len(), Default::default());
        sessions.extend(created.into_iter().map(|row| SessionRef::of(row, true)));
        let existing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|key| !sessions.contains_key(*key))
            .collect();
        if !existing.is_empty() {
            let rows: Vec<SessionRow> = Sql::<D>::new(format!(
                "SELECT {SESSION_ROW} FROM fingerprint_sessions WHERE TRUE"
            ))
            .is_in("key", json(&existing)?, Col::Text)
            .push(format!(" ORDER BY key{}", D::FOR_BATCH))
            .fetch_all_on(&mut *tx)
            .await?;
            sessions.extend(rows.into_iter().map(|row| SessionRef::of(row, false)));
        }
        Ok(sessions)
    }

    /// How many of the (session, URL, time) `rows` are stored exactly so.
    async fn already_stored(
        tx: &mut D::Connection,
        rows: impl Iterator<Item = (i64, i64, i64)>,
    ) -> Result<u64, StoreError> {
        let rows: Vec<_> = rows.collect();
        let found: Option<(i64,)> = Sql::<D>::new("SELECT COUNT(*) FROM ")
            .rows(
                json(&rows)?,
                &[
                    ("session_id", Col::Int),
                    ("url_id", Col::Int),
                    ("created_at", Col::Time),
                ],
            )
            .push(
                " WHERE EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                 WHERE r.session_id = v.session_id AND r.url_id = v.url_id \
                 AND r.created_at = v.created_at)",
            )
            .fetch_optional_on(&mut *tx)
            .await?;
        Ok(found.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0)))
    }
}

/// The columns of [`SessionRow`].
const SESSION_ROW: &str = "id, key, user_id, first_day, first_url_id";

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    key: String,
    user_id: Option<String>,
    first_day: Option<Day>,
    first_url_id: Option<i64>,
}

/// A session a batch writes to.
struct SessionRef {
    id: i64,
    user: Option<String>,
    /// The day of the session's implied (day, session) pair: the day of the request that
    /// created it (migration 9), unless purged since.
    first_day: Option<i64>,
    /// The URL of the session's implied unique visit (URL, session): of the request that
    /// created it, when that visit counted (migration 9), unless purged since.
    first_url: Option<i64>,
    /// Created by this transaction.
    created: bool,
}

impl SessionRef {
    /// The session's key, and the session.
    fn of(row: SessionRow, created: bool) -> (String, Self) {
        let session = Self {
            id: row.id,
            user: row.user_id,
            first_day: row.first_day.map(|day| day.0),
            first_url: row.first_url_id,
            created,
        };
        (row.key, session)
    }

    /// How this session holds its pair with `value` (a URL id or a day) given `first`, its
    /// implied one of that kind: `None`, the pair is a row; `Some(new)`, the session implies
    /// it, and it is new only in the transaction that created the session.
    fn implied(&self, first: Option<i64>, value: i64) -> Option<bool> {
        (first == Some(value)).then_some(self.created)
    }
}

/// A request fingerprint row as [`REQUEST_COLUMNS`] reads it: the stored columns, then the
/// start and the end of its debounce window.
type RequestRow<'a> = (
    i64,
    i64,
    i64,
    Option<String>,
    &'a str,
    Option<i64>,
    &'a str,
    &'a str,
    i64,
    i64,
    i64,
);

const REQUEST_COLUMNS: &[(&str, Col)] = &[
    ("session_id", Col::Int),
    ("url_id", Col::Int),
    ("profile_id", Col::Int),
    ("ip", Col::Ip),
    ("method", Col::Text),
    ("referer_id", Col::Int),
    ("country", Col::Text),
    ("country_code", Col::Text),
    ("created_at", Col::Time),
    ("since", Col::Time),
    ("until", Col::Time),
];

const SESSION_COLUMNS: &[(&str, Col)] = &[
    ("key", Col::Text),
    ("created_at", Col::Time),
    ("referer_id", Col::Int),
    ("utm_source", Col::Text),
    ("utm_medium", Col::Text),
    ("utm_campaign", Col::Text),
    ("utm_content", Col::Text),
    ("utm_term", Col::Text),
    ("first_day", Col::Day),
    ("first_url_id", Col::Int),
];

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::migrate(self, &|_| {}).await
    }

    async fn migrate_with_progress(&self, progress: ProgressFn<'_>) -> Result<(), StoreError> {
        migrate::migrate(self, progress).await
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
        let profiles = profiles::profile_ids(self, &batch.rows).await?;
        // The referers of the rows and of the sessions they may create.
        let referers = self
            .referer_ids(
                batch
                    .rows
                    .iter()
                    .chain(&batch.sessions)
                    .map(|v| v.fingerprint.referer.as_str()),
            )
            .await?;
        let referer_id = |referer: &str| referers.get(referer).copied();

        let mut tx = D::begin_write(&self.pool).await?;
        if !D::RECORD_LOCK.is_empty() {
            Sql::<D>::new(D::RECORD_LOCK).execute(&mut *tx).await?;
        }
        let keys: Vec<&str> = batch
            .sessions
            .iter()
            .map(|v| v.session_key.as_str())
            .collect();
        let new_sessions = batch
            .sessions
            .iter()
            .map(|v| {
                let utm = &v.utm;
                let fp = &v.fingerprint;
                let at = fp.created_at.timestamp_micros();
                // The session's first request is stored (nothing of a new session can
                // debounce it): its (day, session) pair comes with the session, and so does
                // its (URL, session) pair when it counts.
                let pair = (fp.url.as_str(), v.session_key.as_str());
                let first_url = match batch.pairs.binary_search(&pair) {
                    Ok(_) => Some(url_id(&fp.url)?),
                    Err(_) => None,
                };
                Ok((
                    &v.session_key,
                    at,
                    referer_id(&v.fingerprint.referer),
                    &utm.source,
                    &utm.medium,
                    &utm.campaign,
                    &utm.content,
                    &utm.term,
                    day_of_micros(at),
                    first_url,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sessions =
            Self::session_ids(&mut tx, SESSION_COLUMNS, json(&new_sessions)?, &keys).await?;
        let session = |key: &str| sessions.get(key).ok_or_else(|| missing_id("session", key));
        // Request fingerprints, except those less than the debounce window before or after a
        // stored one (batches may commit out of order); a window of zero still finds the
        // visit itself, stored by an earlier try of this batch. A session this transaction
        // created has no stored one: its rows go in unchecked.
        let window = window_micros(debounce).max(1);
        let mut fresh: Vec<RequestRow<'_>> = Vec::with_capacity(batch.rows.len());
        let mut checked: Vec<RequestRow<'_>> = Vec::new();
        let mut recorded = Vec::with_capacity(batch.rows.len());
        let mut stored_as: FastMap<(i64, i64, i64), (&Visit, i64)> = FastMap::default();
        let mut already_stored = 0;
        for (visit, profile) in batch.rows.iter().zip(&profiles) {
            let fp = &visit.fingerprint;
            let at = fp.created_at.timestamp_micros();
            let (session, url) = (session(&visit.session_key)?, url_id(&fp.url)?);
            let row: RequestRow<'_> = (
                session.id,
                url,
                *profile,
                fp.ip.map(|ip| ip.to_string()),
                &fp.method,
                referer_id(&fp.referer),
                &fp.country,
                &fp.country_code,
                at,
                // The window, within what both databases hold (a window of centuries is
                // "ever").
                at.saturating_sub(window).max(0),
                at.saturating_add(window).min(LATEST_MICROS),
            );
            if session.created {
                fresh.push(row);
                recorded.push(RecordedRow::of(session.id, *profile, fp));
            } else {
                checked.push(row);
                stored_as.insert((session.id, url, at), (visit, *profile));
            }
        }
        // Every column but the last two, the window.
        let names = column_names(&REQUEST_COLUMNS[..REQUEST_COLUMNS.len() - 2]);
        let insert = |rows: &[RequestRow<'_>]| -> Result<Sql<'_, D>, StoreError> {
            let mut insert = Sql::<D>::new(format!(
                "INSERT INTO fingerprint_request_fingerprints ({names}) SELECT {names} FROM "
            ));
            insert.rows(json(rows)?, REQUEST_COLUMNS);
            Ok(insert)
        };
        if !fresh.is_empty() {
            insert(&fresh)?.execute(&mut *tx).await?;
        }
        if !checked.is_empty() {
            let inserted: Vec<(i64, i64, Timestamp)> = insert(&checked)?
                .push(
                    " WHERE NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                     WHERE r.session_id = v.session_id AND r.url_id = v.url_id \
                     AND r.created_at > v.since AND r.created_at < v.until) \
                     RETURNING session_id, url_id, created_at",
                )
                .fetch_all_on(&mut *tx)
                .await?;
            let before = recorded.len();
            recorded.extend(inserted.iter().filter_map(|(session, url, at)| {
                let (visit, profile) = stored_as.remove(&(*session, *url, at.micros()))?;
                Some(RecordedRow::of(*session, profile, &visit.fingerprint))
            }));
            // What is left of `stored_as` was not inserted: debounced, or already stored as it
            // is (a batch written again after a failure whose commit had gone through).
            if recorded.len() - before < checked.len() {
                already_stored = Self::already_stored(&mut tx, stored_as.into_keys()).await?;
            }
        }

        // Unique visitors, then their counters, both in (URL, session) order.
        let pairs = batch
            .pairs
            .iter()
            .map(|(url, key)| {
                let (url, session) = (url_id(url)?, session(key)?);
                Ok(((url, session.id), session.implied(session.first_url, url)))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let url = ("url_id", Col::Int);
        let new = new_pairs::<D, i64>(&mut tx, "fingerprint_url_visitors", url, pairs).await?;
        let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
        for (url, _) in new {
            *counts.entry(url).or_default() += 1;
        }
        if !counts.is_empty() {
            let counts: Vec<(i64, i64)> = counts.into_iter().collect();
            Sql::<D>::insert_rows(
                "fingerprint_hit_counts",
                json(&counts)?,
                &[("url_id", Col::Int), ("hits", Col::Int)],
            )
            .push(
                " WHERE TRUE ON CONFLICT (url_id) DO UPDATE \
                     SET hits = fingerprint_hit_counts.hits + excluded.hits",
            )
            .execute(&mut *tx)
            .await?;
        }

        // The dashboard's IP index and daily rollup (after the counters: the same lock order
        // in every writer).
        let by_id: FastMap<i64, &SessionRef> = sessions.values().map(|s| (s.id, s)).collect();
        record_rollups::<D>(&mut tx, &recorded, &by_id).await?;

        // What linked users were seen with (every visit counts, debounced or not).
        let seen = fold_seen(visits.iter().filter_map(|visit| {
            let user = sessions.get(&visit.session_key)?.user.as_deref()?;
            let fp = &visit.fingerprint;
            Some((user, KIND_AGENT, fp.user_agent.as_str(), fp.created_at))
        }));
        record_seen::<D>(&mut tx, &seen).await?;
        tx.commit().await?;
        let assessed = visits.iter().filter_map(|visit| {
            let assessment = visit.assessment.as_ref()?;
            let at = visit.fingerprint.created_at;
            Some((visit.session_key.as_str(), at, assessment))
        });
        record_assessments(&self.pool, assessed, &sessions).await;

        let inserted = recorded.len() as u64;
        let considered = batch.rows.len() as u64;
        Ok(RecordOutcome {
            inserted,
            debounced: batch.debounced + considered.saturating_sub(inserted + already_stored),
            already_stored,
        })
    }

    async fn hit_counts(&self, urls: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
        // URL ids from the cache (the recorder fills it), the others in one query; then the
        // counters: of one URL by its key, of several by id as one row of two JSON arrays
        // (fixed statement texts, and no row per URL to decode).
        let (mut known, unknown) = split_cached(&self.urls, urls);
        if !unknown.is_empty() {
            let mut lookup = Sql::<D>::new("SELECT id, url FROM fingerprint_urls WHERE ");
            match unknown[..] {
                [url] => lookup.push("url = ").bind(url.to_owned()),
                _ => lookup.push("TRUE").is_in("url", json(&unknown)?, Col::Text),
            };
            let found: Vec<(i64, String)> = lookup.fetch_all(&self.pool).await?;
            add_found(&self.urls, &mut known, &unknown, found);
        }
        if known.is_empty() {
            return Ok(HashMap::new());
        }
        // One URL (a page showing its own count): a plain lookup by key is several times
        // cheaper than building and reading the arrays.
        if let (1, Some(&id)) = (known.len(), known.keys().next()) {
            let hits: Option<(i64,)> =
                Sql::<D>::new("SELECT hits FROM fingerprint_hit_counts WHERE url_id = ")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            let (ids, hits) = hits.map(|(hits,)| (id, hits)).into_iter().unzip();
            return Ok(counts_by_url(&known, ids, hits));
        }
        // Sorted: the lookups walk the counters' pages in order.
        let mut ids: Vec<i64> = known.keys().copied().collect();
        ids.sort_unstable();
        let (found, hits): (Option<String>, Option<String>) = Sql::<D>::new(format!(
            "SELECT {}, {} FROM fingerprint_hit_counts h WHERE TRUE",
            D::json_agg("h.url_id"),
            D::json_agg("h.hits")
        ))
        .is_in("h.url_id", json(&ids)?, Col::Int)
        .fetch_one(&self.pool)
        .await?;
        let decode = |text: Option<String>| -> Result<Vec<i64>, StoreError> {
            text.map_or(Ok(Vec::new()), |text| {
                serde_json::from_str(&text).map_err(|e| StoreError::Decode(e.to_string()))
            })
        };
        Ok(counts_by_url(&known, decode(found)?, decode(hits)?))
    }

    async fn record_browsers(&self, visits: &[BrowserVisit]) -> Result<(), StoreError> {
        if visits.is_empty() {
            return Ok(());
        }
        let mut urls: Vec<&str> = visits.iter().filter_map(|v| v.url.as_deref()).collect();
        urls.sort_unstable();
        urls.dedup();
        let url_ids = self.url_ids(&urls).await?;
        // Each session's earliest visit creates it when it is new; keys in order.
        let mut firsts: BTreeMap<&str, i64> = BTreeMap::new();
        for visit in visits {
            let at = visit.created_at.timestamp_micros();
            firsts
                .entry(visit.session_key.as_str())
                .and_modify(|first| *first = (*first).min(at))
                .or_insert(at);
        }
        let keys: Vec<&str> = firsts.keys().copied().collect();
        let new_sessions: Vec<(&str, i64)> = firsts.into_iter().collect();
        let mut tx = D::begin_write(&self.pool).await?;
        let columns = [("key", Col::Text), ("created_at", Col::Time)];
        let sessions = Self::session_ids(&mut tx, &columns, json(&new_sessions)?, &keys).await?;
        let mut rows = Vec::with_capacity(visits.len());
        for visit in visits {
            let session = sessions
                .get(&visit.session_key)
                .ok_or_else(|| missing_id("session", &visit.session_key))?;
            rows.push((
                session.id,
                visit.url.as_ref().and_then(|url| url_ids.get(url).copied()),
                &visit.visitor_id,
                &visit.components,
                visit.duration_ms.and_then(|ms| i64::try_from(ms).ok()),
                visit.created_at.timestamp_micros(),
            ));
        }
        Sql::<D>::insert_rows(
            "fingerprint_browser_fingerprints",
            json(&rows)?,
            &[
                ("session_id", Col::Int),
                ("url_id", Col::Int),
                ("visitor_id", Col::Text),
                ("components", Col::Json),
                ("duration_ms", Col::Int),
                ("created_at", Col::Time),
            ],
        )
        .execute(&mut *tx)
        .await?;
        let seen = fold_seen(visits.iter().filter_map(|visit| {
            let user = sessions.get(&visit.session_key)?.user.as_deref()?;
            Some((
                user,
                KIND_BROWSER,
                visit.visitor_id.as_str(),
                visit.created_at,
            ))
        }));
        record_seen::<D>(&mut tx, &seen).await?;
        tx.commit().await?;
        let assessed = visits.iter().filter_map(|visit| {
            let assessment = visit.assessment.as_ref()?;
            Some((visit.session_key.as_str(), visit.created_at, assessment))
        });
        record_assessments(&self.pool, assessed, &sessions).await;
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

/// Stores the batch's session assessments on their sessions, merged (in time order) with
/// what each session already has (see [`SessionAssessment::merge`]): a session once
/// `automated` keeps its reasons, so a later clean collector run does not launder it.
///
/// In a transaction of its own, after the batch's, so the batch holds its session locks no
/// longer than it must. Here the rows are locked `FOR UPDATE` in key order, as batches lock
/// them, and nothing else is held. A transient failure is tried again; a lasting one is
/// logged: the batch is stored, its assessments are not.
async fn record_assessments<'a, D: Dialect>(
    pool: &sqlx::Pool<D>,
    assessed: impl Iterator<Item = (&'a str, DateTime<Utc>, &'a SessionAssessment)>,
    sessions: &FastMap<String, SessionRef>,
) {
    let mut items: Vec<(i64, DateTime<Utc>, &SessionAssessment)> = assessed
        .filter_map(|(key, at, assessment)| Some((sessions.get(key)?.id, at, assessment)))
        .collect();
    if items.is_empty() {
        return;
    }
    items.sort_by_key(|(session, at, _)| (*session, *at));
    let mut merged: BTreeMap<i64, SessionAssessment> = BTreeMap::new();
    for (session, _, assessment) in items {
        let next = match merged.get(&session) {
            Some(earlier) => earlier.merge(assessment),
            None => assessment.clone(),
        };
        merged.insert(session, next);
    }
    // Its own transaction, after the batch's: a deadlock or a lost connection is tried again
    // a few times (the batch is stored; only the assessments would be lost).
    let stored = retrying_transient("storing session assessments", 3, || {
        store_assessments::<D>(pool, merged.clone())
    })
    .await;
    if let Err(error) = stored {
        tracing::warn!(%error, "session assessments could not be stored");
    }
}

async fn store_assessments<D: Dialect>(
    pool: &sqlx::Pool<D>,
    mut merged: BTreeMap<i64, SessionAssessment>,
) -> Result<(), StoreError> {
    let mut tx = D::begin_write(pool).await?;
    let ids: Vec<i64> = merged.keys().copied().collect();
    let stored: Vec<(i64, String, String)> =
        Sql::<D>::new("SELECT id, verdict, findings FROM fingerprint_sessions WHERE TRUE")
            .is_in("id", json(&ids)?, Col::Int)
            // In key order, as a batch locks its sessions: the two cannot deadlock.
            .push(" ORDER BY key")
            .push(D::FOR_UPDATE)
            .fetch_all_on(&mut *tx)
            .await?;
    for (session, verdict, findings) in stored {
        let (Some(verdict), Some(batch)) = (Verdict::from_code(&verdict), merged.get(&session))
        else {
            continue;
        };
        let before =
            SessionAssessment::new(verdict, SessionAssessment::findings_from_json(&findings));
        let after = before.merge(batch);
        merged.insert(session, after);
    }
    let rows: Vec<(i64, &str, String)> = merged
        .iter()
        .map(|(session, assessment)| {
            (
                *session,
                assessment.verdict.as_str(),
                assessment.findings_json(),
            )
        })
        .collect();
    Sql::<D>::new(
        "UPDATE fingerprint_sessions SET verdict = v.verdict, findings = v.findings FROM ",
    )
    .rows(
        json(&rows)?,
        &[
            ("session_id", Col::Int),
            ("verdict", Col::Text),
            ("findings", Col::Text),
        ],
    )
    .push(" WHERE fingerprint_sessions.id = v.session_id")
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a batch's stored request fingerprints add to the dashboard's tables, in the batch's
/// transaction: the (IP address, session) pairs, and the daily rollup (new (day, session)
/// pairs are the day's new unique visitors). `sessions` (by id) are the rows' sessions: a
/// pair a session implies is no row (see [`SessionRef::implied`]).
async fn record_rollups<D: Dialect>(
    conn: &mut D::Connection,
    rows: &[RecordedRow<'_>],
    sessions: &FastMap<i64, &SessionRef>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let pairs = ip_sessions(rows);
    if !pairs.is_empty() {
        Sql::<D>::insert_rows(
            "fingerprint_ip_sessions",
            json(&pairs)?,
            &[("ip", Col::Ip), ("session_id", Col::Int)],
        )
        .push(" WHERE TRUE ON CONFLICT DO NOTHING")
        .execute(&mut *conn)
        .await?;
    }
    let delta = DailyDelta::new(rows);
    let pairs = delta.pairs.iter().map(|&(day, session)| {
        let implied = sessions
            .get(&session)
            .and_then(|s| s.implied(s.first_day, day));
        ((day, session), implied)
    });
    let day = ("day", Col::Day);
    let new = new_pairs::<D, Day>(conn, "fingerprint_daily_sessions", day, pairs).await?;
    let increments = delta.increments(new);
    let increments: Vec<_> = increments
        .iter()
        .map(|i| (i.dimension, i.day, &i.value, i.visits, i.visitors))
        .collect();
    Sql::<D>::insert_rows(
        "fingerprint_daily",
        json(&increments)?,
        &[
            ("dimension", Col::Text),
            ("day", Col::Day),
            ("value", Col::Text),
            ("visits", Col::Int),
            ("visitors", Col::Int),
        ],
    )
    .push(
        " WHERE TRUE ON CONFLICT (dimension, day, value) DO UPDATE SET \
             visits = fingerprint_daily.visits + excluded.visits, \
             visitors = fingerprint_daily.visitors + excluded.visitors",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which of `pairs` (a key, then a session id) are new to the store, in order. With each pair
/// comes how its session holds it ([`SessionRef::implied`]): an implied pair is new only with
/// its session; the others are rows of `table` (its `key` column, then `session_id`),
/// inserted here, and new when the insert added them. `K` decodes the key column.
async fn new_pairs<D: Dialect, K: Into<i64>>(
    conn: &mut D::Connection,
    table: &str,
    (key, col): (&str, Col),
    pairs: impl IntoIterator<Item = ((i64, i64), Option<bool>)>,
) -> Result<Vec<(i64, i64)>, StoreError>
where
    (K, i64): Decoded,
{
    let mut new = Vec::new();
    let mut rows = Vec::new();
    for (pair, implied) in pairs {
        match implied {
            None => rows.push(pair),
            Some(true) => new.push(pair),
            Some(false) => {}
        }
    }
    if !rows.is_empty() {
        let columns = [(key, col), ("session_id", Col::Int)];
        let inserted: Vec<(K, i64)> = Sql::<D>::insert_rows(table, json(&rows)?, &columns)
            .push(format!(
                " WHERE TRUE ON CONFLICT DO NOTHING RETURNING {key}, session_id"
            ))
            .fetch_all_on(conn)
            .await?;
        new.extend(
            inserted
                .into_iter()
                .map(|(key, session)| (key.into(), session)),
        );
    }
    Ok(new)
}

/// Records what linked users were seen with (distinct values, first and last seen), then
/// refreshes their summaries.
pub(super) async fn record_seen<D: Dialect>(
    conn: &mut D::Connection,
    seen: &[DeviceSeen<'_>],
) -> Result<(), StoreError> {
    if seen.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = seen
        .iter()
        .map(|s| {
            (
                s.user_id,
                s.kind,
                s.value,
                s.first.timestamp_micros(),
                s.last.timestamp_micros(),
            )
        })
        .collect();
    Sql::<D>::insert_rows(
        "fingerprint_user_devices",
        json(&rows)?,
        &[
            ("user_id", Col::Text),
            ("kind", Col::Int),
            ("value", Col::Text),
            ("first_seen", Col::Time),
            ("last_seen", Col::Time),
        ],
    )
    .push(format!(
        " WHERE TRUE ON CONFLICT (user_id, kind, value) DO UPDATE SET first_seen = {}, \
             last_seen = {}",
        D::least("fingerprint_user_devices.first_seen", "excluded.first_seen"),
        D::greatest("fingerprint_user_devices.last_seen", "excluded.last_seen"),
    ))
    .execute(&mut *conn)
    .await?;
    users::refresh_users::<D>(conn, &users_of(seen)).await
}

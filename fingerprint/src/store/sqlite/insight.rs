//! The dashboard's queries on SQLite, and the daily rollup that `record` keeps.

use std::borrow::Cow;

use chrono::NaiveDate;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use std::collections::{BTreeMap, HashMap};

use super::{from_micros, micros, SqliteStore, MAX_PARAMS};
use crate::insight::{
    clamp_limit, BreakdownRow, BrowserQuery, BrowserSummary, DailyTraffic, Dimension, RequestQuery,
    SessionQuery, TimelineEvent, TimelineKind, UrlHits, UrlQuery, UserPlace,
};
use crate::model::{BrowserVisit, RequestFingerprint, StoredBrowser, StoredRequest, Utm};
use crate::store::batch::pow2_chunks;
use crate::store::insight::{
    check_hex_prefix, date_of_day, day_number, hex_upper_bound, ip_sessions, keyset_page,
    parse_id_cursor, parse_ip, parse_pair_cursor, parse_timeline_cursor, parse_url_cursor,
    prefix_upper_bound, text_ranges, DailyDelta, RecordedRow, TextRange, UrlCursor, DIMENSION_ALL,
};
use crate::store::users::{count, device, fold_seen, users_of, KIND_BROWSER};
use crate::store::StoreError;
use crate::users::{Page, SessionSummary};

/// The request fingerprints with ids in `(low, high]`, as the rollup needs them (for a
/// batch whose insert skipped some rows: the rows of one `INSERT` have consecutive ids).
pub(super) async fn recorded_rows(
    conn: &mut SqliteConnection,
    low: i64,
    high: i64,
) -> Result<Vec<RecordedRow<'static>>, StoreError> {
    let rows = sqlx::query(
        "SELECT session_id, created_at, ip, browser, os, device_type, country_code \
         FROM fingerprint_request_fingerprints WHERE id > ? AND id <= ?",
    )
    .bind(low)
    .bind(high)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RecordedRow {
                session_id: row.try_get(0)?,
                at: row.try_get(1)?,
                ip: row.try_get::<Option<String>, _>(2)?.map(Cow::Owned),
                browser: Cow::Owned(row.try_get(3)?),
                os: Cow::Owned(row.try_get(4)?),
                device_type: Cow::Owned(row.try_get(5)?),
                country_code: Cow::Owned(row.try_get(6)?),
            })
        })
        .collect()
}

/// What a batch's stored request fingerprints add to the dashboard's tables, in the batch's
/// transaction: the (IP address, session) pairs, and the daily rollup (new (day, session)
/// pairs are the day's new unique visitors).
pub(super) async fn record_rollups(
    conn: &mut SqliteConnection,
    rows: &[RecordedRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    for chunk in pow2_chunks(&ip_sessions(rows), MAX_PARAMS / 2) {
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO fingerprint_ip_sessions (ip, session_id) ");
        insert.push_values(chunk, |mut row, (ip, session)| {
            row.push_bind(*ip).push_bind(*session);
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    let delta = DailyDelta::new(rows);
    let mut new_pairs = Vec::new();
    for chunk in pow2_chunks(&delta.pairs, MAX_PARAMS / 2) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO fingerprint_daily_sessions (day, session_id) ",
        );
        insert.push_values(chunk, |mut row, (day, session)| {
            row.push_bind(*day).push_bind(*session);
        });
        insert.push(" ON CONFLICT DO NOTHING RETURNING day, session_id");
        for row in insert.build().fetch_all(&mut *conn).await? {
            new_pairs.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    let increments = delta.increments(new_pairs);
    for chunk in pow2_chunks(&increments, MAX_PARAMS / 5) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors) ",
        );
        upsert.push_values(chunk, |mut row, change| {
            row.push_bind(change.dimension)
                .push_bind(change.day)
                .push_bind(&change.value)
                .push_bind(change.visits)
                .push_bind(change.visitors);
        });
        upsert.push(
            " ON CONFLICT (dimension, day, value) DO UPDATE SET \
             visits = visits + excluded.visits, visitors = visitors + excluded.visitors",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

const REQUEST_COLUMNS_SELECT: &str = "SELECT r.id, s.key, r.ip, r.method, r.user_agent, \
    r.accept, r.accept_language, r.accept_encoding, r.content_encoding, r.content_language, \
    r.referer, r.country, u.url, r.created_at, r.browser, r.browser_version, r.os, r.os_version, \
    r.device_type, r.country_code FROM fingerprint_request_fingerprints r";

const REQUEST_JOINS: &str = " JOIN fingerprint_sessions s ON s.id = r.session_id \
    JOIN fingerprint_urls u ON u.id = r.url_id WHERE 1 = 1";

const CREATED_INDEX: &str = "fingerprint_request_fingerprints_created_at";
const SESSION_INDEX: &str = "fingerprint_request_fingerprints_session_url";
const URL_INDEX: &str = "fingerprint_request_fingerprints_url_session";

/// Up to this many matches of a URL prefix are read through its index and sorted; beyond,
/// rows are walked newest first.
const INDEX_CAP: u32 = 10_000;

/// Up to this many sessions with an address: their rows are read and sorted; beyond, rows are
/// walked newest first.
const SESSION_CAP: u32 = 2_000;

/// How the request-fingerprint list reads its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The planner's choice (a session's rows).
    Auto,
    /// Through this index, its matches sorted.
    Index(&'static str),
    /// The rows of the sessions with the address (from `fingerprint_ip_sessions`), sorted.
    Sessions,
    /// Newest first on the `created_at` index.
    Scan,
}

/// Rows before the cursor `(created_at, id)` in the newest-first order (a form SQLite
/// serves with a range on the `created_at` index).
fn push_before(select: &mut QueryBuilder<'_, Sqlite>, cursor: Option<(i64, i64)>) {
    if let Some((created, id)) = cursor {
        select
            .push(" AND r.created_at <= ")
            .push_bind(created)
            .push(" AND (r.created_at < ")
            .push_bind(created)
            .push(" OR r.id < ")
            .push_bind(id)
            .push(")");
    }
}

/// `column` (an address as text) is in one of `ranges`.
fn push_ip(select: &mut QueryBuilder<'_, Sqlite>, column: &str, ranges: &[TextRange]) {
    select.push(" AND (");
    for (n, range) in ranges.iter().enumerate() {
        if n > 0 {
            select.push(" OR ");
        }
        match range {
            TextRange::Exact(text) => {
                select
                    .push(format_args!("{column} = "))
                    .push_bind(text.clone());
            }
            TextRange::Prefix { low, high } => {
                select
                    .push(format_args!("({column} >= "))
                    .push_bind(low.clone())
                    .push(format_args!(" AND {column} < "))
                    .push_bind(high.clone())
                    .push(")");
            }
        }
    }
    select.push(")");
}

/// `r.url_id` is a URL starting with `prefix`.
fn push_url(select: &mut QueryBuilder<'_, Sqlite>, prefix: &str) {
    select.push(" AND r.url_id IN (SELECT id FROM fingerprint_urls WHERE 1 = 1");
    push_prefix(select, "url", prefix);
    select.push(")");
}

fn stored_request(row: &SqliteRow) -> Result<StoredRequest, StoreError> {
    Ok(StoredRequest {
        id: row.try_get(0)?,
        session_key: row.try_get(1)?,
        fingerprint: RequestFingerprint {
            ip: parse_ip(row.try_get(2)?)?,
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
            device: device(
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

pub(super) const SESSION_COLUMNS: &str =
    "SELECT s.key, s.user_id, s.created_at, s.referer, s.utm_source, \
    s.utm_medium, s.utm_campaign, s.utm_content, s.utm_term, \
    (SELECT COUNT(*) FROM fingerprint_request_fingerprints r WHERE r.session_id = s.id), \
    (SELECT COUNT(*) FROM fingerprint_browser_fingerprints b WHERE b.session_id = s.id), \
    (SELECT MAX(created_at) FROM fingerprint_request_fingerprints r WHERE r.session_id = s.id), \
    (SELECT MAX(created_at) FROM fingerprint_browser_fingerprints b WHERE b.session_id = s.id), \
    s.id FROM fingerprint_sessions s WHERE 1 = 1";

pub(super) fn session_summary(row: &SqliteRow) -> Result<(SessionSummary, String), StoreError> {
    let created: i64 = row.try_get(2)?;
    let id: i64 = row.try_get(13)?;
    let last_request: Option<i64> = row.try_get(11)?;
    let last_browser: Option<i64> = row.try_get(12)?;
    let summary = SessionSummary {
        key: row.try_get(0)?,
        user_id: row.try_get(1)?,
        created_at: from_micros(created)?,
        referer: row.try_get(3)?,
        utm: Utm {
            source: row.try_get(4)?,
            medium: row.try_get(5)?,
            campaign: row.try_get(6)?,
            content: row.try_get(7)?,
            term: row.try_get(8)?,
        },
        request_fingerprints: count(row.try_get(9)?),
        browser_fingerprints: count(row.try_get(10)?),
        last_seen: last_request
            .max(last_browser)
            .map(from_micros)
            .transpose()?,
    };
    Ok((summary, format!("{created}:{id}")))
}

/// `column` starts with the hex `prefix` (validated): one key, or a range on its index.
fn push_hex_prefix(select: &mut QueryBuilder<'_, Sqlite>, column: &str, prefix: &str) {
    if prefix.len() == 32 {
        select
            .push(format_args!(" AND {column} = "))
            .push_bind(prefix.to_owned());
    } else {
        select
            .push(format_args!(" AND {column} >= "))
            .push_bind(prefix.to_owned())
            .push(format_args!(" AND {column} < "))
            .push_bind(hex_upper_bound(prefix));
    }
}

/// `column` starts with `prefix` (byte order: SQLite's default BINARY collation).
fn push_prefix(select: &mut QueryBuilder<'_, Sqlite>, column: &str, prefix: &str) {
    select
        .push(format_args!(" AND {column} >= "))
        .push_bind(prefix.to_owned());
    if let Some(upper) = prefix_upper_bound(prefix) {
        select
            .push(format_args!(" AND {column} < "))
            .push_bind(upper);
    }
}

/// A user's events (`?1`: the user id): requests, browser fingerprints, logins.
const TIMELINE: &str = "SELECT r.created_at AS at, 1 AS kind, r.id AS id, s.key AS key, \
    u.url AS url, r.ip AS ip, r.browser AS browser, r.browser_version AS browser_version, \
    r.os AS os, r.os_version AS os_version, r.device_type AS device_type, \
    r.country_code AS country_code, NULL AS visitor_id \
    FROM fingerprint_sessions s \
    JOIN fingerprint_request_fingerprints r ON r.session_id = s.id \
    JOIN fingerprint_urls u ON u.id = r.url_id WHERE s.user_id = ?1 \
    UNION ALL SELECT b.created_at, 2, b.id, s.key, u.url, NULL, NULL, NULL, NULL, NULL, NULL, \
    '', b.visitor_id FROM fingerprint_sessions s \
    JOIN fingerprint_browser_fingerprints b ON b.session_id = s.id \
    LEFT JOIN fingerprint_urls u ON u.id = b.url_id WHERE s.user_id = ?1 \
    UNION ALL SELECT s.linked_at, 3, s.id, s.key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', \
    NULL FROM fingerprint_sessions s WHERE s.user_id = ?1 AND s.linked_at IS NOT NULL";

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.as_str()).filter(|v| !v.is_empty())
}

impl SqliteStore {
    pub(super) async fn daily_traffic_impl(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<DailyTraffic>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, visits, visitors FROM fingerprint_daily \
             WHERE dimension = ? AND day BETWEEN ? AND ? ORDER BY day",
        )
        .bind(DIMENSION_ALL)
        .bind(day_number(first))
        .bind(day_number(last))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DailyTraffic::new(
                    date_of_day(row.try_get(0)?)?,
                    count(row.try_get(1)?),
                    count(row.try_get(2)?),
                ))
            })
            .collect()
    }

    pub(super) async fn breakdown_impl(
        &self,
        dimension: Dimension,
        first: NaiveDate,
        last: NaiveDate,
        limit: u32,
    ) -> Result<Vec<BreakdownRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT value, SUM(visits), SUM(visitors) FROM fingerprint_daily \
             WHERE dimension = ? AND day BETWEEN ? AND ? GROUP BY value \
             ORDER BY SUM(visitors) DESC, SUM(visits) DESC, value LIMIT ?",
        )
        .bind(dimension.as_str())
        .bind(day_number(first))
        .bind(day_number(last))
        .bind(i64::from(clamp_limit(limit)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BreakdownRow {
                    value: row.try_get(0)?,
                    visits: count(row.try_get(1)?),
                    visitors: count(row.try_get(2)?),
                })
            })
            .collect()
    }

    pub(super) async fn urls_impl(&self, query: &UrlQuery) -> Result<Page<UrlHits>, StoreError> {
        let limit = clamp_limit(query.limit);
        let after = query.after.as_deref().map(parse_url_cursor).transpose()?;
        let mut rows = Vec::new();
        if let Some(prefix) = non_empty(query.prefix.as_ref()) {
            let mut select = QueryBuilder::<Sqlite>::new(
                "SELECT u.url, COALESCE(h.hits, 0) FROM fingerprint_urls u \
                 LEFT JOIN fingerprint_hit_counts h ON h.url_id = u.id WHERE 1 = 1",
            );
            push_prefix(&mut select, "u.url", prefix);
            match after {
                Some(UrlCursor::Url(url)) => {
                    select.push(" AND u.url > ").push_bind(url);
                }
                Some(UrlCursor::Hits(..)) => {
                    return Err(StoreError::InvalidInput(
                        "this cursor belongs to the list by hits".into(),
                    ))
                }
                None => {}
            }
            select
                .push(" ORDER BY u.url LIMIT ")
                .push_bind(i64::from(limit) + 1);
            for row in select.build().fetch_all(&self.pool).await? {
                let url: String = row.try_get(0)?;
                let cursor = format!("u{url}");
                rows.push((
                    UrlHits {
                        url,
                        hits: count(row.try_get(1)?),
                    },
                    cursor,
                ));
            }
        } else {
            let mut select = QueryBuilder::<Sqlite>::new(
                "SELECT u.url, h.hits, h.url_id FROM fingerprint_hit_counts h \
                 JOIN fingerprint_urls u ON u.id = h.url_id WHERE 1 = 1",
            );
            match after {
                Some(UrlCursor::Hits(hits, id)) => {
                    select
                        .push(" AND h.hits <= ")
                        .push_bind(hits)
                        .push(" AND (h.hits < ")
                        .push_bind(hits)
                        .push(" OR h.url_id < ")
                        .push_bind(id)
                        .push(")");
                }
                Some(UrlCursor::Url(_)) => {
                    return Err(StoreError::InvalidInput(
                        "this cursor belongs to a URL prefix search".into(),
                    ))
                }
                None => {}
            }
            select
                .push(" ORDER BY h.hits DESC, h.url_id DESC LIMIT ")
                .push_bind(i64::from(limit) + 1);
            for row in select.build().fetch_all(&self.pool).await? {
                let hits: i64 = row.try_get(1)?;
                let id: i64 = row.try_get(2)?;
                rows.push((
                    UrlHits {
                        url: row.try_get(0)?,
                        hits: count(hits),
                    },
                    format!("h{hits}:{id}"),
                ));
            }
        }
        Ok(keyset_page(rows, limit))
    }

    pub(super) async fn sessions_impl(
        &self,
        query: &SessionQuery,
    ) -> Result<Page<SessionSummary>, StoreError> {
        let limit = clamp_limit(query.limit);
        let mut select = QueryBuilder::<Sqlite>::new(SESSION_COLUMNS);
        if let Some(user) = &query.user_id {
            select.push(" AND s.user_id = ").push_bind(user.clone());
        }
        match query.linked {
            Some(true) => {
                select.push(" AND s.user_id IS NOT NULL");
            }
            Some(false) => {
                select.push(" AND s.user_id IS NULL");
            }
            None => {}
        }
        if let Some(prefix) = non_empty(query.key_prefix.as_ref()) {
            check_hex_prefix(prefix, "session key")?;
            push_hex_prefix(&mut select, "s.key", prefix);
        }
        if let Some(after) = &query.after {
            let (created, id) = parse_pair_cursor(after)?;
            select
                .push(" AND s.created_at <= ")
                .push_bind(created)
                .push(" AND (s.created_at < ")
                .push_bind(created)
                .push(" OR s.id < ")
                .push_bind(id)
                .push(")");
        }
        select
            .push(" ORDER BY s.created_at DESC, s.id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = select.build().fetch_all(&self.pool).await?;
        let rows = rows
            .iter()
            .map(session_summary)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(keyset_page(rows, limit))
    }

    pub(super) async fn request_fingerprints_impl(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<StoredRequest>, StoreError> {
        let limit = clamp_limit(query.limit);
        let after = query.after.as_deref().map(parse_pair_cursor).transpose()?;
        let ranges = query.ip.as_ref().map(text_ranges).transpose()?;
        let url_prefix = non_empty(query.url_prefix.as_ref());
        let user_agent = non_empty(query.user_agent.as_ref());

        // SQLite has no statistics to weigh an IP or URL filter against the newest-first
        // order, so we do, with capped counts on their indexes. An address of few sessions:
        // read those sessions' rows (session index) and sort them. A URL prefix of few rows:
        // read them through the URL index and sort them. Otherwise walk the rows newest
        // first: the page fills quickly.
        let mut access = Access::Auto;
        if query.session_key.is_none() {
            access = Access::Scan;
            if user_agent.is_none() {
                let few_sessions = match &ranges {
                    Some(ranges) => self.count_ip_sessions(ranges).await? <= SESSION_CAP,
                    None => false,
                };
                if few_sessions {
                    access = Access::Sessions;
                } else if let Some(prefix) = url_prefix {
                    let matches = self
                        .count_matches(URL_INDEX, |q| push_url(q, prefix), after)
                        .await?;
                    if matches <= INDEX_CAP {
                        access = Access::Index(URL_INDEX);
                    }
                }
            }
        }

        // The user-agent search examines at most `scan_limit` rows below the cursor: down to
        // the `scan_limit`-th one (none: the window reaches the oldest row).
        let mut floor = None;
        if user_agent.is_some() {
            let mut boundary = QueryBuilder::<Sqlite>::new(format!(
                "SELECT r.created_at, r.id FROM fingerprint_request_fingerprints r \
                 INDEXED BY {CREATED_INDEX} WHERE 1 = 1"
            ));
            push_before(&mut boundary, after);
            boundary
                .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT 1 OFFSET ")
                .push_bind(i64::from(query.scan_limit.max(1)) - 1);
            floor = boundary
                .build_query_as::<(i64, i64)>()
                .fetch_optional(&self.pool)
                .await?;
        }

        let mut select = QueryBuilder::<Sqlite>::new(REQUEST_COLUMNS_SELECT);
        match access {
            Access::Index(index) => {
                // The page's ids from the index (sorted there), then their rows.
                select.push(REQUEST_JOINS).push(format_args!(
                    " AND r.id IN (SELECT r.id FROM fingerprint_request_fingerprints r \
                     INDEXED BY {index} WHERE 1 = 1"
                ));
            }
            Access::Sessions => {
                // The page's ids from the rows of the address's sessions, then their rows.
                select.push(REQUEST_JOINS).push(format_args!(
                    " AND r.id IN (SELECT r.id FROM fingerprint_request_fingerprints r \
                     INDEXED BY {SESSION_INDEX} WHERE r.session_id IN \
                     (SELECT session_id FROM fingerprint_ip_sessions WHERE 1 = 1"
                ));
                if let Some(ranges) = &ranges {
                    push_ip(&mut select, "fingerprint_ip_sessions.ip", ranges);
                }
                select.push(")");
            }
            Access::Scan => {
                select
                    .push(format_args!(" INDEXED BY {CREATED_INDEX}"))
                    .push(REQUEST_JOINS);
            }
            Access::Auto => {
                select.push(REQUEST_JOINS);
            }
        }
        if let Some(key) = &query.session_key {
            select
                .push(" AND r.session_id = (SELECT id FROM fingerprint_sessions WHERE key = ")
                .push_bind(key.clone())
                .push(")");
        }
        if let Some(ranges) = &ranges {
            push_ip(&mut select, "r.ip", ranges);
        }
        if let Some(prefix) = url_prefix {
            push_url(&mut select, prefix);
        }
        push_before(&mut select, after);
        if let Some(text) = user_agent {
            if let Some((created, id)) = floor {
                select
                    .push(" AND r.created_at >= ")
                    .push_bind(created)
                    .push(" AND (r.created_at > ")
                    .push_bind(created)
                    .push(" OR r.id >= ")
                    .push_bind(id)
                    .push(")");
            }
            select
                .push(" AND instr(lower(r.user_agent), ")
                .push_bind(text.to_ascii_lowercase())
                .push(") > 0");
        }
        select
            .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        if matches!(access, Access::Index(_) | Access::Sessions) {
            select.push(") ORDER BY r.created_at DESC, r.id DESC");
        }
        let rows = select.build().fetch_all(&self.pool).await?;
        let rows = rows
            .iter()
            .map(|row| {
                let request = stored_request(row)?;
                let cursor = format!(
                    "{}:{}",
                    request.fingerprint.created_at.timestamp_micros(),
                    request.id
                );
                Ok((request, cursor))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut page = keyset_page(rows, limit);
        if let (None, Some((created, id))) = (&page.next, floor) {
            // The window ended before the matches did: go on below it, if anything is there.
            let mut older = QueryBuilder::<Sqlite>::new(format!(
                "SELECT 1 FROM fingerprint_request_fingerprints r INDEXED BY {CREATED_INDEX} \
                 WHERE 1 = 1"
            ));
            push_before(&mut older, Some((created, id)));
            older.push(" LIMIT 1");
            if older
                .build_query_scalar::<i64>()
                .fetch_optional(&self.pool)
                .await?
                .is_some()
            {
                page.next = Some(format!("{created}:{id}"));
            }
        }
        Ok(page)
    }

    /// The sessions with an address in `ranges`, counted up to `SESSION_CAP + 1`.
    async fn count_ip_sessions(&self, ranges: &[TextRange]) -> Result<u32, StoreError> {
        let mut count = QueryBuilder::<Sqlite>::new(
            "SELECT COUNT(*) FROM (SELECT 1 FROM fingerprint_ip_sessions WHERE 1 = 1",
        );
        push_ip(&mut count, "fingerprint_ip_sessions.ip", ranges);
        count
            .push(" LIMIT ")
            .push_bind(i64::from(SESSION_CAP) + 1)
            .push(")");
        let sessions: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(u32::try_from(sessions).unwrap_or(u32::MAX))
    }

    /// Request fingerprints matching a filter below the cursor, counted on `index` alone,
    /// up to `INDEX_CAP + 1`.
    async fn count_matches(
        &self,
        index: &str,
        filter: impl FnOnce(&mut QueryBuilder<'_, Sqlite>),
        after: Option<(i64, i64)>,
    ) -> Result<u32, StoreError> {
        let mut count = QueryBuilder::<Sqlite>::new(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM fingerprint_request_fingerprints r \
             INDEXED BY {index} WHERE 1 = 1"
        ));
        filter(&mut count);
        push_before(&mut count, after);
        count
            .push(" LIMIT ")
            .push_bind(i64::from(INDEX_CAP) + 1)
            .push(")");
        let matches: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(u32::try_from(matches).unwrap_or(u32::MAX))
    }

    pub(super) async fn browser_fingerprints_impl(
        &self,
        query: &BrowserQuery,
    ) -> Result<Page<BrowserSummary>, StoreError> {
        let limit = clamp_limit(query.limit);
        // The page's ids first (from an index alone when filtered), then their rows: the
        // rows hold the components, too large to read for every match.
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT b.id, s.key, s.user_id, u.url, b.visitor_id, b.duration_ms, b.created_at \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             LEFT JOIN fingerprint_urls u ON u.id = b.url_id \
             WHERE b.id IN (SELECT b.id FROM fingerprint_browser_fingerprints b WHERE 1 = 1",
        );
        if let Some(prefix) = non_empty(query.visitor_prefix.as_ref()) {
            check_hex_prefix(prefix, "visitor id")?;
            push_hex_prefix(&mut select, "b.visitor_id", prefix);
        }
        if let Some(key) = &query.session_key {
            select
                .push(" AND b.session_id = (SELECT id FROM fingerprint_sessions WHERE key = ")
                .push_bind(key.clone())
                .push(")");
        }
        if let Some(after) = &query.after {
            select
                .push(" AND b.id < ")
                .push_bind(parse_id_cursor(after)?);
        }
        select
            .push(" ORDER BY b.id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1)
            .push(") ORDER BY b.id DESC");
        let rows = select.build().fetch_all(&self.pool).await?;
        let rows = rows
            .iter()
            .map(|row| {
                let id: i64 = row.try_get(0)?;
                let duration: Option<i64> = row.try_get(5)?;
                Ok((
                    BrowserSummary {
                        id,
                        session_key: row.try_get(1)?,
                        user_id: row.try_get(2)?,
                        url: row.try_get(3)?,
                        visitor_id: row.try_get(4)?,
                        duration_ms: duration.and_then(|ms| u64::try_from(ms).ok()),
                        created_at: from_micros(row.try_get(6)?)?,
                    },
                    id.to_string(),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(keyset_page(rows, limit))
    }

    pub(super) async fn latest_browser_impl(
        &self,
        visitor_id: &str,
    ) -> Result<Option<StoredBrowser>, StoreError> {
        let row = sqlx::query(
            "SELECT b.id, s.key, u.url, b.visitor_id, b.components, b.duration_ms, b.created_at \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             LEFT JOIN fingerprint_urls u ON u.id = b.url_id \
             WHERE b.visitor_id = ? ORDER BY b.created_at DESC, b.id DESC LIMIT 1",
        )
        .bind(visitor_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let duration: Option<i64> = row.try_get(5)?;
        Ok(Some(StoredBrowser {
            id: row.try_get(0)?,
            session_key: row.try_get(1)?,
            url: row.try_get(2)?,
            visitor_id: row.try_get(3)?,
            components: row.try_get(4)?,
            duration_ms: duration.and_then(|ms| u64::try_from(ms).ok()),
            created_at: from_micros(row.try_get(6)?)?,
        }))
    }

    pub(super) async fn user_places_impl(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<UserPlace>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.ip, r.country_code, COUNT(*), COUNT(DISTINCT r.session_id), \
             MIN(r.created_at), MAX(r.created_at) \
             FROM fingerprint_sessions s \
             JOIN fingerprint_request_fingerprints r ON r.session_id = s.id \
             WHERE s.user_id = ? GROUP BY r.ip, r.country_code \
             ORDER BY MAX(r.created_at) DESC, r.ip LIMIT ?",
        )
        .bind(user_id)
        .bind(i64::from(clamp_limit(limit)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserPlace {
                    ip: parse_ip(row.try_get(0)?)?,
                    country_code: row.try_get(1)?,
                    requests: count(row.try_get(2)?),
                    sessions: count(row.try_get(3)?),
                    first_seen: from_micros(row.try_get(4)?)?,
                    last_seen: from_micros(row.try_get(5)?)?,
                })
            })
            .collect()
    }

    pub(super) async fn user_timeline_impl(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<TimelineEvent>, StoreError> {
        let limit = clamp_limit(limit);
        let cursor = after.map(parse_timeline_cursor).transpose()?;
        let rows = sqlx::query(&format!(
            "SELECT at, kind, id, key, url, ip, browser, browser_version, os, os_version, \
             device_type, country_code, visitor_id FROM ({TIMELINE}) \
             WHERE ?2 IS NULL OR (at, kind, id) < (?2, ?3, ?4) \
             ORDER BY at DESC, kind DESC, id DESC LIMIT ?5"
        ))
        .bind(user_id)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .bind(cursor.map(|c| c.2))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|row| {
                let at: i64 = row.try_get(0)?;
                let kind: i64 = row.try_get(1)?;
                let id: i64 = row.try_get(2)?;
                let browser: Option<String> = row.try_get(6)?;
                let event_device = match browser {
                    Some(browser) => Some(device(
                        browser,
                        row.try_get::<Option<String>, _>(7)?.unwrap_or_default(),
                        row.try_get::<Option<String>, _>(8)?.unwrap_or_default(),
                        row.try_get::<Option<String>, _>(9)?.unwrap_or_default(),
                        &row.try_get::<Option<String>, _>(10)?.unwrap_or_default(),
                    )),
                    None => None,
                };
                Ok((
                    TimelineEvent {
                        at: from_micros(at)?,
                        kind: match kind {
                            1 => TimelineKind::Request,
                            2 => TimelineKind::Browser,
                            _ => TimelineKind::Login,
                        },
                        session_key: row.try_get(3)?,
                        url: row.try_get(4)?,
                        ip: parse_ip(row.try_get(5)?)?,
                        device: event_device,
                        country_code: row.try_get(11)?,
                        visitor_id: row.try_get(12)?,
                    },
                    format!("{at}:{kind}:{id}"),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(keyset_page(rows, limit))
    }

    pub(super) async fn record_browsers_impl(
        &self,
        visits: &[BrowserVisit],
    ) -> Result<(), StoreError> {
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
                let (session, _) = sessions.get(&visit.session_key).ok_or_else(|| {
                    StoreError::Decode(format!("no id for session {:?}", visit.session_key))
                })?;
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
            super::users::upsert_seen(&mut tx, &seen).await?;
            super::users::refresh_users(&mut tx, &users_of(&seen)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

//! The dashboard's queries on PostgreSQL, and the daily rollup that `record` keeps.
//!
//! The rollup stays exact under concurrent writers for the same reason the hit counters do:
//! a (day, session) pair is counted as a new visitor only by the transaction that inserted
//! it, and counter rows are upserted in key order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::{stored_request, PostgresStore};
use crate::insight::{
    clamp_limit, BreakdownRow, BrowserQuery, BrowserSummary, DailyTraffic, Dimension, RequestQuery,
    SessionQuery, TimelineEvent, TimelineKind, UrlHits, UrlQuery, UserPlace,
};
use crate::model::{BrowserVisit, StoredBrowser, StoredRequest, Utm};
use crate::store::insight::{
    check_hex_prefix, date_of_day, day_number, hex_upper_bound, ip_sessions, keyset_page,
    parse_id_cursor, parse_ip, parse_pair_cursor, parse_timeline_cursor, parse_url_cursor,
    prefix_upper_bound, time_of_micros, DailyDelta, RecordedRow, UrlCursor, DIMENSION_ALL,
};
use crate::store::users::{count, device, fold_seen, users_of, KIND_BROWSER};
use crate::store::StoreError;
use crate::users::{Page, SessionSummary};

/// What `record` asks its request-fingerprint insert to return for the rollup.
pub(super) const RETURNING: &str =
    " RETURNING session_id, created_at, host(ip), browser, os, device_type, country_code";

/// A row returned by [`RETURNING`].
pub(super) fn recorded_row(row: &PgRow) -> Result<RecordedRow<'static>, StoreError> {
    let at: DateTime<Utc> = row.try_get(1)?;
    Ok(RecordedRow {
        session_id: row.try_get(0)?,
        at: at.timestamp_micros(),
        ip: row.try_get::<Option<String>, _>(2)?.map(Cow::Owned),
        browser: Cow::Owned(row.try_get(3)?),
        os: Cow::Owned(row.try_get(4)?),
        device_type: Cow::Owned(row.try_get(5)?),
        country_code: Cow::Owned(row.try_get(6)?),
    })
}

/// What a batch's stored request fingerprints add to the dashboard's tables, in the batch's
/// transaction: the (IP address, session) pairs, and the daily rollup (new (day, session)
/// pairs are the day's new unique visitors).
pub(super) async fn record_rollups(
    conn: &mut PgConnection,
    rows: &[RecordedRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let pairs = ip_sessions(rows);
    if !pairs.is_empty() {
        let ips: Vec<&str> = pairs.iter().map(|(ip, _)| *ip).collect();
        let sessions: Vec<i64> = pairs.iter().map(|(_, session)| *session).collect();
        sqlx::query(
            "INSERT INTO fingerprint_ip_sessions (ip, session_id) \
             SELECT v.ip::inet, v.session_id \
             FROM UNNEST($1::text[], $2::bigint[]) AS v(ip, session_id) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&ips)
        .bind(&sessions)
        .execute(&mut *conn)
        .await?;
    }
    let delta = DailyDelta::new(rows);
    let days = delta
        .pairs
        .iter()
        .map(|(day, _)| date_of_day(*day))
        .collect::<Result<Vec<NaiveDate>, _>>()?;
    let sessions: Vec<i64> = delta.pairs.iter().map(|(_, session)| *session).collect();
    let new_pairs = sqlx::query(
        "INSERT INTO fingerprint_daily_sessions (day, session_id) \
         SELECT * FROM UNNEST($1::date[], $2::bigint[]) \
         ON CONFLICT DO NOTHING RETURNING day, session_id",
    )
    .bind(&days)
    .bind(&sessions)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((day_number(row.try_get(0)?), row.try_get(1)?)))
    .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
    let increments = delta.increments(new_pairs);
    let dimensions: Vec<&str> = increments.iter().map(|i| i.dimension).collect();
    let days = increments
        .iter()
        .map(|i| date_of_day(i.day))
        .collect::<Result<Vec<NaiveDate>, _>>()?;
    let values: Vec<&str> = increments.iter().map(|i| i.value.as_str()).collect();
    let visits: Vec<i64> = increments.iter().map(|i| i.visits).collect();
    let visitors: Vec<i64> = increments.iter().map(|i| i.visitors).collect();
    sqlx::query(
        "INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors) \
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[]) \
         ON CONFLICT (dimension, day, value) DO UPDATE SET \
         visits = fingerprint_daily.visits + excluded.visits, \
         visitors = fingerprint_daily.visitors + excluded.visitors",
    )
    .bind(&dimensions)
    .bind(&days)
    .bind(&values)
    .bind(&visits)
    .bind(&visitors)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const REQUEST_COLUMNS: &str = "SELECT r.id, s.key, host(r.ip), r.method, r.user_agent, \
    r.accept, r.accept_language, r.accept_encoding, r.content_encoding, r.content_language, \
    r.referer, r.country, u.url, r.created_at, r.browser, r.browser_version, r.os, \
    r.os_version, r.device_type, r.country_code \
    FROM fingerprint_request_fingerprints r \
    JOIN fingerprint_sessions s ON s.id = r.session_id \
    JOIN fingerprint_urls u ON u.id = r.url_id WHERE TRUE";

pub(super) const SESSION_COLUMNS: &str = "SELECT s.key, s.user_id, s.created_at, s.referer, s.utm_source, \
    s.utm_medium, s.utm_campaign, s.utm_content, s.utm_term, \
    (SELECT COUNT(*) FROM fingerprint_request_fingerprints r WHERE r.session_id = s.id), \
    (SELECT COUNT(*) FROM fingerprint_browser_fingerprints b WHERE b.session_id = s.id), \
    GREATEST( \
        (SELECT MAX(created_at) FROM fingerprint_request_fingerprints r WHERE r.session_id = s.id), \
        (SELECT MAX(created_at) FROM fingerprint_browser_fingerprints b WHERE b.session_id = s.id)), \
    s.id FROM fingerprint_sessions s WHERE TRUE";

pub(super) fn session_summary(row: &PgRow) -> Result<(SessionSummary, String), StoreError> {
    let created: DateTime<Utc> = row.try_get(2)?;
    let id: i64 = row.try_get(12)?;
    let summary = SessionSummary {
        key: row.try_get(0)?,
        user_id: row.try_get(1)?,
        created_at: created,
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
        last_seen: row.try_get(11)?,
    };
    Ok((summary, format!("{}:{id}", created.timestamp_micros())))
}

/// A user's events (`$1`: the user id): requests, browser fingerprints, logins.
const TIMELINE: &str = "SELECT r.created_at AS at, 1 AS kind, r.id AS id, s.key AS key, \
    u.url AS url, host(r.ip) AS ip, r.browser AS browser, r.browser_version AS browser_version, \
    r.os AS os, r.os_version AS os_version, r.device_type AS device_type, \
    r.country_code AS country_code, NULL::text AS visitor_id \
    FROM fingerprint_sessions s \
    JOIN fingerprint_request_fingerprints r ON r.session_id = s.id \
    JOIN fingerprint_urls u ON u.id = r.url_id WHERE s.user_id = $1 \
    UNION ALL SELECT b.created_at, 2, b.id, s.key, u.url, NULL, NULL, NULL, NULL, NULL, NULL, \
    '', b.visitor_id FROM fingerprint_sessions s \
    JOIN fingerprint_browser_fingerprints b ON b.session_id = s.id \
    LEFT JOIN fingerprint_urls u ON u.id = b.url_id WHERE s.user_id = $1 \
    UNION ALL SELECT s.linked_at, 3, s.id, s.key, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', \
    NULL FROM fingerprint_sessions s WHERE s.user_id = $1 AND s.linked_at IS NOT NULL";

/// `column` starts with the hex `prefix` (validated): one key, or a range on its index
/// (right under any collation, see `hex_upper_bound`).
fn push_hex_prefix(select: &mut QueryBuilder<'_, Postgres>, column: &str, prefix: &str) {
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

/// `column` starts with `prefix`, compared byte-wise (the `COLLATE "C"` index of 0004).
fn push_prefix(select: &mut QueryBuilder<'_, Postgres>, column: &str, prefix: &str) {
    select
        .push(format_args!(" AND ({column} COLLATE \"C\") >= "))
        .push_bind(prefix.to_owned());
    if let Some(upper) = prefix_upper_bound(prefix) {
        select
            .push(format_args!(" AND ({column} COLLATE \"C\") < "))
            .push_bind(upper);
    }
}

/// Rows before the cursor `(created_at, id)` in the newest-first order.
fn push_before(select: &mut QueryBuilder<'_, Postgres>, cursor: Option<(DateTime<Utc>, i64)>) {
    if let Some((created, id)) = cursor {
        select
            .push(" AND (r.created_at, r.id) < (")
            .push_bind(created)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.as_str()).filter(|v| !v.is_empty())
}

impl PostgresStore {
    pub(super) async fn daily_traffic_impl(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<DailyTraffic>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, visits, visitors FROM fingerprint_daily \
             WHERE dimension = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
        )
        .bind(DIMENSION_ALL)
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DailyTraffic::new(
                    row.try_get(0)?,
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
            "SELECT value, SUM(visits)::bigint, SUM(visitors)::bigint FROM fingerprint_daily \
             WHERE dimension = $1 AND day BETWEEN $2 AND $3 GROUP BY value \
             ORDER BY SUM(visitors) DESC, SUM(visits) DESC, value LIMIT $4",
        )
        .bind(dimension.as_str())
        .bind(first)
        .bind(last)
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
            let mut select = QueryBuilder::<Postgres>::new(
                "SELECT u.url, COALESCE(h.hits, 0) FROM fingerprint_urls u \
                 LEFT JOIN fingerprint_hit_counts h ON h.url_id = u.id WHERE TRUE",
            );
            push_prefix(&mut select, "u.url", prefix);
            match after {
                Some(UrlCursor::Url(url)) => {
                    select.push(" AND (u.url COLLATE \"C\") > ").push_bind(url);
                }
                Some(UrlCursor::Hits(..)) => {
                    return Err(StoreError::InvalidInput(
                        "this cursor belongs to the list by hits".into(),
                    ))
                }
                None => {}
            }
            select
                .push(" ORDER BY (u.url COLLATE \"C\") LIMIT ")
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
            let mut select = QueryBuilder::<Postgres>::new(
                "SELECT u.url, h.hits, h.url_id FROM fingerprint_hit_counts h \
                 JOIN fingerprint_urls u ON u.id = h.url_id WHERE TRUE",
            );
            match after {
                Some(UrlCursor::Hits(hits, id)) => {
                    select
                        .push(" AND (h.hits, h.url_id) < (")
                        .push_bind(hits)
                        .push(", ")
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
        let mut select = QueryBuilder::<Postgres>::new(SESSION_COLUMNS);
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
                .push(" AND (s.created_at, s.id) < (")
                .push_bind(time_of_micros(created)?)
                .push(", ")
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
        let after = query
            .after
            .as_deref()
            .map(parse_pair_cursor)
            .transpose()?
            .map(|(created, id)| Ok::<_, StoreError>((time_of_micros(created)?, id)))
            .transpose()?;
        let user_agent = non_empty(query.user_agent.as_ref());

        // The user-agent search examines at most `scan_limit` rows below the cursor: down to
        // the `scan_limit`-th one (none: the window reaches the oldest row).
        let mut floor: Option<(DateTime<Utc>, i64)> = None;
        if user_agent.is_some() {
            let mut boundary = QueryBuilder::<Postgres>::new(
                "SELECT r.created_at, r.id FROM fingerprint_request_fingerprints r WHERE TRUE",
            );
            push_before(&mut boundary, after);
            boundary
                .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT 1 OFFSET ")
                .push_bind(i64::from(query.scan_limit.max(1)) - 1);
            floor = boundary
                .build_query_as::<(DateTime<Utc>, i64)>()
                .fetch_optional(&self.pool)
                .await?;
        }

        let mut select = QueryBuilder::<Postgres>::new(REQUEST_COLUMNS);
        if let Some(key) = &query.session_key {
            select
                .push(" AND r.session_id = (SELECT id FROM fingerprint_sessions WHERE key = ")
                .push_bind(key.clone())
                .push(")");
        }
        if let Some(ip) = &query.ip {
            // The sessions with the address (fingerprint_ip_sessions), then their rows.
            let (first, last) = (ip.network().to_string(), ip.last().to_string());
            select
                .push(
                    " AND r.session_id IN (SELECT session_id FROM fingerprint_ip_sessions \
                     WHERE ip >= ",
                )
                .push_bind(first.clone())
                .push("::inet AND ip <= ")
                .push_bind(last.clone())
                .push("::inet) AND r.ip >= ")
                .push_bind(first)
                .push("::inet AND r.ip <= ")
                .push_bind(last)
                .push("::inet");
        }
        if let Some(prefix) = non_empty(query.url_prefix.as_ref()) {
            select.push(" AND r.url_id IN (SELECT id FROM fingerprint_urls WHERE TRUE");
            push_prefix(&mut select, "url", prefix);
            select.push(")");
        }
        push_before(&mut select, after);
        if let Some(text) = user_agent {
            if let Some((created, id)) = floor {
                select
                    .push(" AND (r.created_at, r.id) >= (")
                    .push_bind(created)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            select
                .push(" AND strpos(lower(r.user_agent), ")
                .push_bind(text.to_ascii_lowercase())
                .push(") > 0");
        }
        select
            .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
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
            let mut older = QueryBuilder::<Postgres>::new(
                "SELECT 1 FROM fingerprint_request_fingerprints r WHERE TRUE",
            );
            push_before(&mut older, Some((created, id)));
            older.push(" LIMIT 1");
            if older
                .build_query_scalar::<i32>()
                .fetch_optional(&self.pool)
                .await?
                .is_some()
            {
                page.next = Some(format!("{}:{id}", created.timestamp_micros()));
            }
        }
        Ok(page)
    }

    pub(super) async fn browser_fingerprints_impl(
        &self,
        query: &BrowserQuery,
    ) -> Result<Page<BrowserSummary>, StoreError> {
        let limit = clamp_limit(query.limit);
        let mut select = QueryBuilder::<Postgres>::new(
            "SELECT b.id, s.key, s.user_id, u.url, b.visitor_id, b.duration_ms, b.created_at \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             LEFT JOIN fingerprint_urls u ON u.id = b.url_id WHERE TRUE",
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
            .push_bind(i64::from(limit) + 1);
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
                        created_at: row.try_get(6)?,
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
            "SELECT b.id, s.key, u.url, b.visitor_id, b.components::text, b.duration_ms, \
             b.created_at \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             LEFT JOIN fingerprint_urls u ON u.id = b.url_id \
             WHERE b.visitor_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT 1",
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
            created_at: row.try_get(6)?,
        }))
    }

    pub(super) async fn user_places_impl(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<UserPlace>, StoreError> {
        let rows = sqlx::query(
            "SELECT host(r.ip), r.country_code, COUNT(*), COUNT(DISTINCT r.session_id), \
             MIN(r.created_at), MAX(r.created_at) \
             FROM fingerprint_sessions s \
             JOIN fingerprint_request_fingerprints r ON r.session_id = s.id \
             WHERE s.user_id = $1 GROUP BY r.ip, r.country_code \
             ORDER BY MAX(r.created_at) DESC, r.ip LIMIT $2",
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
                    first_seen: row.try_get(4)?,
                    last_seen: row.try_get(5)?,
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
        let at = cursor.map(|c| time_of_micros(c.0)).transpose()?;
        let rows = sqlx::query(&format!(
            "SELECT at, kind, id, key, url, ip, browser, browser_version, os, os_version, \
             device_type, country_code, visitor_id FROM ({TIMELINE}) AS events \
             WHERE $2::timestamptz IS NULL OR (at, kind, id) < ($2, $3::int, $4::bigint) \
             ORDER BY at DESC, kind DESC, id DESC LIMIT $5"
        ))
        .bind(user_id)
        .bind(at)
        .bind(cursor.map(|c| i32::try_from(c.1).unwrap_or(i32::MAX)))
        .bind(cursor.map(|c| c.2))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .iter()
            .map(|row| {
                let at: DateTime<Utc> = row.try_get(0)?;
                let kind: i32 = row.try_get(1)?;
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
                        at,
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
                    format!("{}:{kind}:{id}", at.timestamp_micros()),
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
            let (session, _) = sessions.get(&visit.session_key).ok_or_else(|| {
                StoreError::Decode(format!("no id for session {:?}", visit.session_key))
            })?;
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
            super::users::upsert_seen(&mut tx, &seen).await?;
            super::users::refresh_users(&mut tx, &users_of(&seen)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

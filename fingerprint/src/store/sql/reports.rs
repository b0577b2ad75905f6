//! The read side, written once for SQLite and PostgreSQL: every [`Reports`] query.
//!
//! A new query is one method here (its row type in `rows.rs`). Write it with [`Sql`] and the
//! few [`Dialect`] fragments. The request list has a file of its own (`requests.rs`): how it
//! reads its table is the database's plan.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::dialect::{time_cursor, Day, Dialect, Sql, Timestamp};
use super::rows::{
    request_select, session_select, summary_select, timeline_events, BrowserDeviceRow, BrowserRow,
    BrowserSummaryRow, DailyRow, PlaceRow, RequestDeviceRow, RequestRow, SessionRow, SummaryRow,
    TimelineRow, TotalsRow, UrlRow, UserRow, ValueRow, VisitorUserRow, BROWSER_SELECT, USER_SELECT,
};
use super::SqlStore;
use crate::assess::{Reason, NO_COLLECTOR_PAGES};
use crate::insight::{
    clamp_limit, BreakdownRow, BrowserQuery, BrowserSummary, DailyTraffic, Dimension, RequestQuery,
    SessionQuery, TimelineEvent, UrlHits, UrlQuery, UserPlace,
};
use crate::model::{Page, SessionSummary, UserDevices, UserQuery, UserSummary, VisitorUser};
use crate::model::{SessionRecord, StoredBrowser, StoredRequest, StoredSession};
use crate::store::insight::{
    check_hex_prefix, hex_upper_bound, keyset_page, non_empty, parse_id_cursor,
    parse_timeline_cursor, parse_url_cursor, UrlCursor, DIMENSION_ALL,
};
use crate::store::users::{count, parse_user_cursor, user_page};
use crate::store::{Reports, Store, StoreError, Totals};

impl<'q, D: Dialect> Sql<'q, D> {
    /// `AND column` starts with the hex `prefix` (validated): one key, or a range on its
    /// index (right under any collation, see `hex_upper_bound`).
    fn hex_prefix(&mut self, column: &str, prefix: &str) -> &mut Self {
        if prefix.len() == 32 {
            self.push(format!(" AND {column} = "))
                .bind(prefix.to_owned())
        } else {
            self.push(format!(" AND {column} >= "))
                .bind(prefix.to_owned())
                .push(format!(" AND {column} < "))
                .bind(hex_upper_bound(prefix))
        }
    }

    /// `AND column` is the id of the session `key`.
    fn session_is(&mut self, column: &str, key: &str) -> &mut Self {
        self.push(format!(
            " AND {column} = (SELECT id FROM fingerprint_sessions WHERE key = "
        ))
        .bind(key.to_owned())
        .push(")")
    }

    /// ` LIMIT n` (a bound parameter).
    fn limit(&mut self, limit: u32) -> &mut Self {
        self.push(" LIMIT ").bind(i64::from(limit))
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Session summaries chosen by `filter` (a condition on `s` with one text parameter,
    /// written `{}`), newest first.
    async fn session_summaries(
        &self,
        filter: (&str, &str),
        value: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        let (before, after) = filter;
        let rows: Vec<SummaryRow> = Sql::new(summary_select())
            .push(format!(" AND {before}"))
            .bind(value.to_owned())
            .push(after)
            .push(" ORDER BY s.created_at DESC, s.id DESC")
            .limit(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|row| row.decode().0).collect())
    }

    /// One export page of `select` (whose table is aliased `alias`): ids above `after_id`,
    /// created at or after `since`, in id order.
    async fn export_page<R: super::dialect::Decoded>(
        &self,
        select: &str,
        alias: &str,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<R>, StoreError> {
        let mut sql = Sql::new(select);
        sql.push(format!(" WHERE {alias}.id > ")).bind(after_id);
        if let Some(since) = since {
            sql.push(format!(" AND {alias}.created_at >= "))
                .bind(Timestamp(since));
        }
        sql.push(format!(" ORDER BY {alias}.id"))
            .limit(limit)
            .fetch_all(&self.pool)
            .await
    }
}

#[async_trait]
impl<D: Dialect> Reports for SqlStore<D>
where
    Self: Store,
{
    async fn session(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = Sql::new(session_select())
            .push(" WHERE s.key = ")
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(SessionRecord::from))
    }

    async fn session_requests(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let rows: Vec<RequestRow> = Sql::new(request_select::<D>())
            .push(" WHERE s.key = ")
            .bind(session_key.to_owned())
            .push(" ORDER BY r.created_at DESC, r.id DESC")
            .limit(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(|row| Ok(row.decode()?.0)).collect()
    }

    async fn session_browsers(
        &self,
        session_key: &str,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError> {
        let rows: Vec<BrowserRow> = Sql::new(BROWSER_SELECT)
            .push(" WHERE s.key = ")
            .bind(session_key.to_owned())
            .push(" ORDER BY b.created_at DESC, b.id DESC")
            .limit(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(StoredBrowser::from).collect())
    }

    async fn user(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError> {
        let row: Option<UserRow> = Sql::new(USER_SELECT)
            .push(" AND user_id = ")
            .bind(user_id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(UserSummary::from))
    }

    async fn users(&self, query: &UserQuery) -> Result<Page<UserSummary>, StoreError> {
        let mut sql = Sql::new(USER_SELECT);
        if let Some(since) = query.seen_since {
            sql.push(" AND last_seen >= ").bind(Timestamp(since));
        }
        for (column, bucket) in [
            ("browser_fingerprints", query.browser_fingerprints),
            ("request_fingerprints", query.request_fingerprints),
        ] {
            if let Some(bucket) = bucket {
                let (low, high) = bucket.range();
                sql.push(format!(" AND {column} >= "))
                    .bind(i64::try_from(low).unwrap_or(i64::MAX))
                    .push(format!(" AND {column} <= "))
                    .bind(i64::try_from(high).unwrap_or(i64::MAX));
            }
        }
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            sql.push(format!(" AND {}(user_id, ", D::POSITION))
                .bind(search.to_owned())
                .push(") > 0");
        }
        // After the cursor in (last seen, newest first, never seen last; user id) order.
        match query.after.as_deref().map(parse_user_cursor).transpose()? {
            Some((Some(seen), user)) => {
                sql.push(" AND (last_seen < ")
                    .bind(Timestamp(seen))
                    .push(" OR (last_seen = ")
                    .bind(Timestamp(seen))
                    .push(" AND user_id < ")
                    .bind(user)
                    .push(") OR last_seen IS NULL)");
            }
            Some((None, user)) => {
                sql.push(" AND last_seen IS NULL AND user_id < ").bind(user);
            }
            None => {}
        }
        let rows: Vec<UserRow> = sql
            .push(" ORDER BY last_seen DESC NULLS LAST, user_id DESC")
            .limit(query.limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let users = rows.into_iter().map(UserSummary::from).collect();
        Ok(user_page(users, query.limit))
    }

    async fn user_devices(&self, user_id: &str) -> Result<UserDevices, StoreError> {
        let browsers: Vec<BrowserDeviceRow> = Sql::new(format!(
            "SELECT b.visitor_id, MIN(b.created_at) AS first_seen, \
             MAX(b.created_at) AS last_seen, COUNT(DISTINCT b.session_id) AS sessions, \
             (SELECT {} FROM fingerprint_request_fingerprints r \
              JOIN fingerprint_browser_fingerprints b2 ON b2.session_id = r.session_id \
              JOIN fingerprint_sessions s2 ON s2.id = b2.session_id \
              WHERE s2.user_id = ",
            D::distinct_list("NULLIF(r.country_code, '')")
        ))
        .bind(user_id.to_owned())
        .push(
            " AND b2.visitor_id = b.visitor_id) AS countries \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             WHERE s.user_id = ",
        )
        .bind(user_id.to_owned())
        .push(" GROUP BY b.visitor_id ORDER BY MAX(b.created_at) DESC")
        .fetch_all(&self.pool)
        .await?;
        let devices: Vec<RequestDeviceRow> = Sql::new(format!(
            "SELECT p.browser, p.browser_version, p.os, p.os_version, p.device_type, \
             MIN(r.created_at) AS first_seen, MAX(r.created_at) AS last_seen, \
             COUNT(DISTINCT r.session_id) AS sessions, COUNT(*) AS requests, \
             {} AS countries, {} AS ja4s \
             FROM fingerprint_request_fingerprints r \
             JOIN fingerprint_profiles p ON p.id = r.profile_id \
             JOIN fingerprint_sessions s ON s.id = r.session_id \
             WHERE s.user_id = ",
            D::distinct_list("NULLIF(r.country_code, '')"),
            D::distinct_list("NULLIF(p.ja4, '')")
        ))
        .bind(user_id.to_owned())
        .push(
            " GROUP BY p.browser, p.browser_version, p.os, p.os_version, p.device_type \
             ORDER BY MAX(r.created_at) DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(UserDevices {
            browsers: browsers.into_iter().map(Into::into).collect(),
            devices: devices.into_iter().map(Into::into).collect(),
        })
    }

    async fn user_sessions(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.session_summaries(("s.user_id = ", ""), user_id, limit)
            .await
    }

    async fn visitor_users(&self, visitor_id: &str) -> Result<Vec<VisitorUser>, StoreError> {
        let rows: Vec<VisitorUserRow> = Sql::new(
            "SELECT s.user_id, COUNT(DISTINCT s.id) AS sessions, \
             MIN(b.created_at) AS first_seen, MAX(b.created_at) AS last_seen \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             WHERE b.visitor_id = ",
        )
        .bind(visitor_id.to_owned())
        .push(
            " AND s.user_id IS NOT NULL \
             GROUP BY s.user_id ORDER BY MAX(b.created_at) DESC, s.user_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(VisitorUser::from).collect())
    }

    async fn visitor_sessions(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        self.session_summaries(
            (
                "s.id IN (SELECT session_id FROM fingerprint_browser_fingerprints \
                 WHERE visitor_id = ",
                ")",
            ),
            visitor_id,
            limit,
        )
        .await
    }

    async fn daily_traffic(
        &self,
        first: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<DailyTraffic>, StoreError> {
        let rows: Vec<DailyRow> =
            Sql::new("SELECT day, visits, visitors FROM fingerprint_daily WHERE dimension = ")
                .bind(DIMENSION_ALL)
                .push(" AND day BETWEEN ")
                .bind(Day::of(first))
                .push(" AND ")
                .bind(Day::of(last))
                .push(" ORDER BY day")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(DailyRow::decode).collect()
    }

    async fn breakdown(
        &self,
        dimension: Dimension,
        first: NaiveDate,
        last: NaiveDate,
        limit: u32,
    ) -> Result<Vec<BreakdownRow>, StoreError> {
        let rows: Vec<ValueRow> = Sql::new(
            "SELECT value, CAST(SUM(visits) AS BIGINT) AS visits, \
             CAST(SUM(visitors) AS BIGINT) AS visitors FROM fingerprint_daily \
             WHERE dimension = ",
        )
        .bind(dimension.as_str())
        .push(" AND day BETWEEN ")
        .bind(Day::of(first))
        .push(" AND ")
        .bind(Day::of(last))
        .push(" GROUP BY value ORDER BY SUM(visitors) DESC, SUM(visits) DESC, value")
        .limit(clamp_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(BreakdownRow::from).collect())
    }

    async fn urls(&self, query: &UrlQuery) -> Result<Page<UrlHits>, StoreError> {
        let limit = clamp_limit(query.limit);
        let after = query.after.as_deref().map(parse_url_cursor).transpose()?;
        let by_url = non_empty(query.prefix.as_ref());
        let mut sql;
        if let Some(prefix) = by_url {
            sql = Sql::new(
                "SELECT u.url, COALESCE(h.hits, 0) AS hits, u.id AS url_id \
                 FROM fingerprint_urls u \
                 LEFT JOIN fingerprint_hit_counts h ON h.url_id = u.id WHERE TRUE",
            );
            sql.prefix("u.url", prefix);
            match after {
                Some(UrlCursor::Url(url)) => {
                    sql.push(format!(" AND {} > ", D::bytewise("u.url")))
                        .bind(url);
                }
                Some(UrlCursor::Hits(..)) => {
                    return Err(StoreError::InvalidInput(
                        "this cursor belongs to the list by hits".into(),
                    ))
                }
                None => {}
            }
            sql.push(format!(" ORDER BY {}", D::bytewise("u.url")));
        } else {
            sql = Sql::new(
                "SELECT u.url, h.hits, h.url_id FROM fingerprint_hit_counts h \
                 JOIN fingerprint_urls u ON u.id = h.url_id WHERE TRUE",
            );
            match after {
                Some(UrlCursor::Hits(hits, id)) => {
                    D::push_before(&mut sql, "h.hits", "h.url_id", (hits, id));
                }
                Some(UrlCursor::Url(_)) => {
                    return Err(StoreError::InvalidInput(
                        "this cursor belongs to a URL prefix search".into(),
                    ))
                }
                None => {}
            }
            sql.push(" ORDER BY h.hits DESC, h.url_id DESC");
        }
        let rows: Vec<UrlRow> = sql.limit(limit + 1).fetch_all(&self.pool).await?;
        let rows = rows
            .into_iter()
            .map(|row| row.decode(by_url.is_some()))
            .collect();
        Ok(keyset_page(rows, limit))
    }

    async fn sessions(&self, query: &SessionQuery) -> Result<Page<SessionSummary>, StoreError> {
        let limit = clamp_limit(query.limit);
        let mut sql = Sql::new(summary_select());
        if let Some(user) = &query.user_id {
            sql.push(" AND s.user_id = ").bind(user.clone());
        }
        match query.linked {
            Some(true) => {
                sql.push(" AND s.user_id IS NOT NULL");
            }
            Some(false) => {
                sql.push(" AND s.user_id IS NULL");
            }
            None => {}
        }
        if let Some(prefix) = non_empty(query.key_prefix.as_ref()) {
            check_hex_prefix(prefix, "session key")?;
            sql.hex_prefix("s.key", prefix);
        }
        if let Some(verdict) = query.verdict {
            // `<> ''` lets PostgreSQL use the partial index with a bound verdict.
            sql.push(" AND s.verdict <> '' AND s.verdict = ")
                .bind(verdict.as_str());
        }
        if query.reason == Some(Reason::NoCollector) {
            // Derived when read, not stored: the counts it is derived from.
            sql.push(
                " AND NOT EXISTS (SELECT 1 FROM fingerprint_browser_fingerprints b \
                 WHERE b.session_id = s.id) \
                 AND (SELECT COUNT(*) FROM fingerprint_request_fingerprints r \
                 WHERE r.session_id = s.id) >= ",
            )
            .bind(NO_COLLECTOR_PAGES as i64);
        } else if let Some(reason) = query.reason {
            // Codes hold `_`, a LIKE wildcard: escaped.
            let code = reason.as_str().replace('_', "\\_");
            sql.push(" AND s.verdict <> '' AND s.findings LIKE ")
                .bind(format!("%\"reason\":\"{code}\"%"))
                .push(" ESCAPE '\\'");
        }
        let after = query.after.as_deref().map(time_cursor).transpose()?;
        let rows: Vec<SummaryRow> = sql
            .before("s.created_at", "s.id", after)
            .push(" ORDER BY s.created_at DESC, s.id DESC")
            .limit(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.into_iter().map(SummaryRow::decode).collect();
        Ok(keyset_page(rows, limit))
    }

    async fn request_fingerprints(
        &self,
        query: &RequestQuery,
    ) -> Result<Page<StoredRequest>, StoreError> {
        super::requests::request_page(self, query).await
    }

    async fn browser_fingerprints(
        &self,
        query: &BrowserQuery,
    ) -> Result<Page<BrowserSummary>, StoreError> {
        let limit = clamp_limit(query.limit);
        // The page's ids first (from an index alone when filtered), then their rows: the
        // rows hold the components, too large to read for every match.
        let mut sql = Sql::new(
            "SELECT b.id, s.key, s.user_id, u.url, b.visitor_id, b.duration_ms, b.created_at \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             LEFT JOIN fingerprint_urls u ON u.id = b.url_id \
             WHERE b.id IN (SELECT b.id FROM fingerprint_browser_fingerprints b WHERE TRUE",
        );
        if let Some(prefix) = non_empty(query.visitor_prefix.as_ref()) {
            check_hex_prefix(prefix, "visitor id")?;
            sql.hex_prefix("b.visitor_id", prefix);
        }
        if let Some(key) = &query.session_key {
            sql.session_is("b.session_id", key);
        }
        if let Some(after) = &query.after {
            sql.push(" AND b.id < ").bind(parse_id_cursor(after)?);
        }
        let rows: Vec<BrowserSummaryRow> = sql
            .push(" ORDER BY b.id DESC")
            .limit(limit + 1)
            .push(") ORDER BY b.id DESC")
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.into_iter().map(BrowserSummaryRow::decode).collect();
        Ok(keyset_page(rows, limit))
    }

    async fn latest_browser(&self, visitor_id: &str) -> Result<Option<StoredBrowser>, StoreError> {
        let row: Option<BrowserRow> = Sql::new(BROWSER_SELECT)
            .push(" WHERE b.visitor_id = ")
            .bind(visitor_id.to_owned())
            .push(" ORDER BY b.created_at DESC, b.id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(StoredBrowser::from))
    }

    async fn user_places(&self, user_id: &str, limit: u32) -> Result<Vec<UserPlace>, StoreError> {
        let rows: Vec<PlaceRow> = Sql::new(format!(
            "SELECT {} AS ip, r.country_code, COUNT(*) AS requests, \
             COUNT(DISTINCT r.session_id) AS sessions, \
             MIN(r.created_at) AS first_seen, MAX(r.created_at) AS last_seen \
             FROM fingerprint_sessions s \
             JOIN fingerprint_request_fingerprints r ON r.session_id = s.id \
             WHERE s.user_id = ",
            D::ip_text("r.ip")
        ))
        .bind(user_id.to_owned())
        .push(" GROUP BY r.ip, r.country_code ORDER BY MAX(r.created_at) DESC, r.ip")
        .limit(clamp_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(PlaceRow::decode).collect()
    }

    async fn user_timeline(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<TimelineEvent>, StoreError> {
        let limit = clamp_limit(limit);
        let cursor = match after {
            Some(after) => {
                let (at, kind, id) = parse_timeline_cursor(after)?;
                Some((Timestamp::of_cursor(at, after)?, kind, id))
            }
            None => None,
        };
        let mut sql = Sql::new(
            "SELECT at, kind, id, key, url, ip, browser, browser_version, os, os_version, \
             device_type, country_code, visitor_id FROM (",
        );
        for (n, part) in timeline_events::<D>().split("{user}").enumerate() {
            if n > 0 {
                sql.bind(user_id.to_owned());
            }
            sql.push(part);
        }
        sql.push(") AS events");
        if let Some((at, kind, id)) = cursor {
            sql.push(" WHERE (at, kind, id) < (")
                .bind(at)
                .push(", ")
                .bind(i32::try_from(kind).unwrap_or(i32::MAX))
                .push(", ")
                .bind(id)
                .push(")");
        }
        let rows: Vec<TimelineRow> = sql
            .push(" ORDER BY at DESC, kind DESC, id DESC")
            .limit(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .into_iter()
            .map(TimelineRow::decode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(keyset_page(rows, limit))
    }

    async fn totals(&self) -> Result<Totals, StoreError> {
        let row: TotalsRow = Sql::new(
            "SELECT (SELECT COUNT(*) FROM fingerprint_sessions) AS sessions, \
             (SELECT COUNT(*) FROM fingerprint_sessions WHERE user_id IS NOT NULL) \
                AS linked_sessions, \
             (SELECT COUNT(*) FROM fingerprint_users) AS users, \
             (SELECT COUNT(*) FROM fingerprint_request_fingerprints) AS request_fingerprints, \
             (SELECT COUNT(*) FROM fingerprint_browser_fingerprints) AS browser_fingerprints, \
             (SELECT COUNT(DISTINCT visitor_id) FROM fingerprint_browser_fingerprints) \
                AS visitor_ids, \
             (SELECT COUNT(*) FROM fingerprint_urls) AS urls, \
             (SELECT CAST(COALESCE(SUM(hits), 0) AS BIGINT) FROM fingerprint_hit_counts) \
                AS unique_visits",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Totals {
            sessions: count(row.sessions),
            linked_sessions: count(row.linked_sessions),
            users: count(row.users),
            request_fingerprints: count(row.request_fingerprints),
            browser_fingerprints: count(row.browser_fingerprints),
            visitor_ids: count(row.visitor_ids),
            urls: count(row.urls),
            unique_visits: count(row.unique_visits),
        })
    }

    async fn export_requests(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRequest>, StoreError> {
        let rows: Vec<RequestRow> = self
            .export_page(&request_select::<D>(), "r", since, after_id, limit)
            .await?;
        rows.into_iter().map(|row| Ok(row.decode()?.0)).collect()
    }

    async fn export_browsers(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredBrowser>, StoreError> {
        let rows: Vec<BrowserRow> = self
            .export_page(BROWSER_SELECT, "b", since, after_id, limit)
            .await?;
        Ok(rows.into_iter().map(StoredBrowser::from).collect())
    }

    async fn export_sessions(
        &self,
        since: Option<DateTime<Utc>>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let rows: Vec<SessionRow> = self
            .export_page(&session_select(), "s", since, after_id, limit)
            .await?;
        Ok(rows.into_iter().map(StoredSession::from).collect())
    }
}

//! Users, sessions and devices on PostgreSQL.
//!
//! Linking locks the session row (`FOR UPDATE`); a batch write locks the existing sessions it
//! writes to (`FOR SHARE`). So a link and a concurrent write to the same session are
//! serialised: either the write sees the user, or the link sees the write's fingerprints.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::insight::{session_summary, SESSION_COLUMNS};
use super::PostgresStore;
use crate::store::users::{
    count, countries, device, user_page, DeviceSeen, KIND_AGENT, KIND_BROWSER,
};
use crate::store::StoreError;
use crate::users::{
    parse_user_cursor, BrowserDevice, LinkOutcome, Page, RequestDevice, SessionLink,
    SessionSummary, UserDevices, UserQuery, UserSummary, VisitorUser,
};

/// The id and user of the session `key`, creating it (at `at`) when it is new, and locking
/// its row: `FOR SHARE` to write fingerprints of it, `FOR UPDATE` to change its user.
pub(super) async fn ensure_session(
    conn: &mut PgConnection,
    key: &str,
    at: DateTime<Utc>,
    lock: RowLock,
) -> Result<(i64, Option<String>), StoreError> {
    sqlx::query(
        "INSERT INTO fingerprint_sessions (key, created_at) VALUES ($1, $2) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let sql = match lock {
        RowLock::Share => "SELECT id, user_id FROM fingerprint_sessions WHERE key = $1 FOR SHARE",
        RowLock::Update => "SELECT id, user_id FROM fingerprint_sessions WHERE key = $1 FOR UPDATE",
    };
    Ok(sqlx::query_as(sql).bind(key).fetch_one(&mut *conn).await?)
}

/// How [`ensure_session`] locks the session row.
#[derive(Debug, Clone, Copy)]
pub(super) enum RowLock {
    /// Writing fingerprints of the session.
    Share,
    /// Changing its user.
    Update,
}

/// Records what linked users were seen with (distinct values, first and last seen).
pub(super) async fn upsert_seen(
    conn: &mut PgConnection,
    seen: &[DeviceSeen<'_>],
) -> Result<(), StoreError> {
    if seen.is_empty() {
        return Ok(());
    }
    let users: Vec<&str> = seen.iter().map(|s| s.user_id).collect();
    let kinds: Vec<i16> = seen.iter().map(|s| s.kind).collect();
    let values: Vec<&str> = seen.iter().map(|s| s.value).collect();
    let firsts: Vec<DateTime<Utc>> = seen.iter().map(|s| s.first).collect();
    let lasts: Vec<DateTime<Utc>> = seen.iter().map(|s| s.last).collect();
    sqlx::query(
        "INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen) \
         SELECT * FROM UNNEST($1::text[], $2::smallint[], $3::text[], $4::timestamptz[], \
         $5::timestamptz[]) \
         ON CONFLICT (user_id, kind, value) DO UPDATE SET \
         first_seen = LEAST(fingerprint_user_devices.first_seen, excluded.first_seen), \
         last_seen = GREATEST(fingerprint_user_devices.last_seen, excluded.last_seen)",
    )
    .bind(&users)
    .bind(&kinds)
    .bind(&values)
    .bind(&firsts)
    .bind(&lasts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Recomputes the summary rows of `users` (sorted) from their sessions and devices, and
/// drops the rows of users left without sessions.
pub(super) async fn refresh_users(
    conn: &mut PgConnection,
    users: &[&str],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO fingerprint_users (user_id) SELECT * FROM UNNEST($1::text[]) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(users)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE fingerprint_users u SET \
         sessions = (SELECT COUNT(*) FROM fingerprint_sessions s WHERE s.user_id = u.user_id), \
         browser_fingerprints = (SELECT COUNT(*) FROM fingerprint_user_devices d \
             WHERE d.user_id = u.user_id AND d.kind = 1), \
         request_fingerprints = (SELECT COUNT(*) FROM fingerprint_user_devices d \
             WHERE d.user_id = u.user_id AND d.kind = 2), \
         first_seen = LEAST( \
             (SELECT MIN(first_seen) FROM fingerprint_user_devices d WHERE d.user_id = u.user_id), \
             (SELECT MIN(COALESCE(linked_at, created_at)) FROM fingerprint_sessions s \
                 WHERE s.user_id = u.user_id)), \
         last_seen = GREATEST( \
             (SELECT MAX(last_seen) FROM fingerprint_user_devices d WHERE d.user_id = u.user_id), \
             (SELECT MAX(COALESCE(linked_at, created_at)) FROM fingerprint_sessions s \
                 WHERE s.user_id = u.user_id)) \
         WHERE u.user_id = ANY($1)",
    )
    .bind(users)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM fingerprint_users WHERE user_id = ANY($1) AND sessions = 0")
        .bind(users)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Adds everything a session's stored fingerprints show to its user's devices.
async fn absorb_session(
    conn: &mut PgConnection,
    session_id: i64,
    user_id: &str,
) -> Result<(), StoreError> {
    for (kind, sql) in [
        (
            KIND_AGENT,
            "SELECT $1, $2, user_agent, MIN(created_at), MAX(created_at) \
             FROM fingerprint_request_fingerprints WHERE session_id = $3 \
             GROUP BY user_agent ORDER BY user_agent",
        ),
        (
            KIND_BROWSER,
            "SELECT $1, $2, visitor_id, MIN(created_at), MAX(created_at) \
             FROM fingerprint_browser_fingerprints WHERE session_id = $3 \
             GROUP BY visitor_id ORDER BY visitor_id",
        ),
    ] {
        sqlx::query(&format!(
            "INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen) \
             {sql} ON CONFLICT (user_id, kind, value) DO UPDATE SET \
             first_seen = LEAST(fingerprint_user_devices.first_seen, excluded.first_seen), \
             last_seen = GREATEST(fingerprint_user_devices.last_seen, excluded.last_seen)"
        ))
        .bind(user_id)
        .bind(kind)
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Rebuilds one user's devices from all of their sessions' fingerprints.
pub(super) async fn rebuild_user_devices(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM fingerprint_user_devices WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM fingerprint_sessions WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    for id in ids {
        absorb_session(conn, id, user_id).await?;
    }
    Ok(())
}

fn summary(row: &PgRow) -> Result<UserSummary, StoreError> {
    Ok(UserSummary {
        user_id: row.try_get(0)?,
        sessions: count(row.try_get(1)?),
        browser_fingerprints: count(row.try_get(2)?),
        request_fingerprints: count(row.try_get(3)?),
        first_seen: row.try_get(4)?,
        last_seen: row.try_get(5)?,
    })
}

const SUMMARY_COLUMNS: &str = "SELECT user_id, sessions, browser_fingerprints, \
    request_fingerprints, first_seen, last_seen FROM fingerprint_users";

/// Session summaries for the sessions chosen by `filter` (a condition on `s` with one text
/// parameter, `$1`), newest first.
async fn session_summaries(
    store: &PostgresStore,
    filter: &str,
    value: &str,
    limit: u32,
) -> Result<Vec<SessionSummary>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SESSION_COLUMNS} AND {filter} ORDER BY s.created_at DESC, s.id DESC LIMIT $2"
    ))
    .bind(value)
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| session_summary(row).map(|(summary, _)| summary))
        .collect()
}

impl PostgresStore {
    pub(super) async fn link_sessions_impl(
        &self,
        links: &[SessionLink],
    ) -> Result<Vec<LinkOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut outcomes = Vec::with_capacity(links.len());
        let mut touched = BTreeSet::new();
        for link in links {
            let (id, current) =
                ensure_session(&mut tx, &link.session_key, link.at, RowLock::Update).await?;
            let outcome = match current {
                Some(user) if user == link.user_id => LinkOutcome::AlreadyLinked,
                Some(other) => LinkOutcome::LinkedToOther(other),
                None => {
                    sqlx::query(
                        "UPDATE fingerprint_sessions SET user_id = $1, linked_at = $2 WHERE id = $3",
                    )
                    .bind(&link.user_id)
                    .bind(link.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    absorb_session(&mut tx, id, &link.user_id).await?;
                    touched.insert(link.user_id.as_str());
                    LinkOutcome::Linked
                }
            };
            outcomes.push(outcome);
        }
        let touched: Vec<&str> = touched.into_iter().collect();
        refresh_users(&mut tx, &touched).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    pub(super) async fn relink_session_impl(
        &self,
        session_key: &str,
        user_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let found: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT id, user_id FROM fingerprint_sessions WHERE key = $1 FOR UPDATE",
        )
        .bind(session_key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, previous)) = found else {
            return Ok(false);
        };
        sqlx::query("UPDATE fingerprint_sessions SET user_id = $1, linked_at = $2 WHERE id = $3")
            .bind(user_id)
            .bind(user_id.map(|_| at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let mut touched: Vec<&str> = previous.as_deref().into_iter().chain(user_id).collect();
        touched.sort_unstable();
        touched.dedup();
        for user in &touched {
            rebuild_user_devices(&mut tx, user).await?;
        }
        refresh_users(&mut tx, &touched).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn user_impl(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError> {
        let row = sqlx::query(&format!("{SUMMARY_COLUMNS} WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(summary).transpose()
    }

    pub(super) async fn users_impl(
        &self,
        query: &UserQuery,
    ) -> Result<Page<UserSummary>, StoreError> {
        let mut select = QueryBuilder::<Postgres>::new(SUMMARY_COLUMNS);
        select.push(" WHERE TRUE");
        if let Some(since) = query.seen_since {
            select.push(" AND last_seen >= ").push_bind(since);
        }
        for (column, bucket) in [
            ("browser_fingerprints", query.browser_fingerprints),
            ("request_fingerprints", query.request_fingerprints),
        ] {
            if let Some(bucket) = bucket {
                let (low, high) = bucket.range();
                select
                    .push(format_args!(" AND {column} >= "))
                    .push_bind(i64::try_from(low).unwrap_or(i64::MAX))
                    .push(format_args!(" AND {column} <= "))
                    .push_bind(i64::try_from(high).unwrap_or(i64::MAX));
            }
        }
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            select
                .push(" AND strpos(user_id, ")
                .push_bind(search.to_owned())
                .push(") > 0");
        }
        if let Some(cursor) = &query.after {
            let (last_seen, user) = parse_user_cursor(cursor)?;
            select
                .push(" AND (last_seen < ")
                .push_bind(last_seen)
                .push(" OR (last_seen = ")
                .push_bind(last_seen)
                .push(" AND user_id < ")
                .push_bind(user)
                .push("))");
        }
        select
            .push(" ORDER BY last_seen DESC NULLS LAST, user_id DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = select.build().fetch_all(&self.pool).await?;
        let users = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        Ok(user_page(users, query.limit))
    }

    pub(super) async fn user_devices_impl(&self, user_id: &str) -> Result<UserDevices, StoreError> {
        let browser_rows = sqlx::query(
            "SELECT b.visitor_id, MIN(b.created_at), MAX(b.created_at), \
             COUNT(DISTINCT b.session_id), \
             (SELECT string_agg(DISTINCT NULLIF(r.country_code, ''), ',') \
              FROM fingerprint_request_fingerprints r \
              JOIN fingerprint_browser_fingerprints b2 ON b2.session_id = r.session_id \
              JOIN fingerprint_sessions s2 ON s2.id = b2.session_id \
              WHERE s2.user_id = $1 AND b2.visitor_id = b.visitor_id) \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             WHERE s.user_id = $1 GROUP BY b.visitor_id ORDER BY MAX(b.created_at) DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let browsers = browser_rows
            .iter()
            .map(|row| {
                Ok(BrowserDevice {
                    visitor_id: row.try_get(0)?,
                    first_seen: row.try_get(1)?,
                    last_seen: row.try_get(2)?,
                    sessions: count(row.try_get(3)?),
                    countries: countries(row.try_get(4)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let device_rows = sqlx::query(
            "SELECT r.browser, r.browser_version, r.os, r.os_version, r.device_type, \
             MIN(r.created_at), MAX(r.created_at), COUNT(DISTINCT r.session_id), COUNT(*), \
             string_agg(DISTINCT NULLIF(r.country_code, ''), ',') \
             FROM fingerprint_request_fingerprints r \
             JOIN fingerprint_sessions s ON s.id = r.session_id \
             WHERE s.user_id = $1 \
             GROUP BY r.browser, r.browser_version, r.os, r.os_version, r.device_type \
             ORDER BY MAX(r.created_at) DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let devices = device_rows
            .iter()
            .map(|row| {
                let kind: String = row.try_get(4)?;
                Ok(RequestDevice {
                    device: device(
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        &kind,
                    ),
                    first_seen: row.try_get(5)?,
                    last_seen: row.try_get(6)?,
                    sessions: count(row.try_get(7)?),
                    requests: count(row.try_get(8)?),
                    countries: countries(row.try_get(9)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(UserDevices { browsers, devices })
    }

    pub(super) async fn user_sessions_impl(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        session_summaries(self, "s.user_id = $1", user_id, limit).await
    }

    pub(super) async fn visitor_sessions_impl(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        session_summaries(
            self,
            "s.id IN (SELECT session_id FROM fingerprint_browser_fingerprints WHERE visitor_id = $1)",
            visitor_id,
            limit,
        )
        .await
    }

    pub(super) async fn visitor_users_impl(
        &self,
        visitor_id: &str,
    ) -> Result<Vec<VisitorUser>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.user_id, COUNT(DISTINCT s.id), MIN(b.created_at), MAX(b.created_at) \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             WHERE b.visitor_id = $1 AND s.user_id IS NOT NULL \
             GROUP BY s.user_id ORDER BY MAX(b.created_at) DESC, s.user_id",
        )
        .bind(visitor_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(VisitorUser {
                    user_id: row.try_get(0)?,
                    sessions: count(row.try_get(1)?),
                    first_seen: row.try_get(2)?,
                    last_seen: row.try_get(3)?,
                })
            })
            .collect()
    }
}

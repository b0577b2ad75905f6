//! Users, sessions and devices on SQLite.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::insight::{session_summary, SESSION_COLUMNS};
use super::{from_micros, micros, SqliteStore, MAX_PARAMS};
use crate::store::batch::pow2_chunks;
use crate::store::users::{
    count, countries, device, user_page, DeviceSeen, KIND_AGENT, KIND_BROWSER,
};
use crate::store::StoreError;
use crate::users::{
    parse_user_cursor, BrowserDevice, LinkOutcome, Page, RequestDevice, SessionLink,
    SessionSummary, UserDevices, UserQuery, UserSummary, VisitorUser,
};

/// The id and user of the session `key`, creating it (at `at`) when it is new.
pub(super) async fn ensure_session(
    conn: &mut SqliteConnection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<(i64, Option<String>), StoreError> {
    sqlx::query(
        "INSERT INTO fingerprint_sessions (key, created_at) VALUES (?, ?) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(micros(at))
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_as("SELECT id, user_id FROM fingerprint_sessions WHERE key = ?")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Records what linked users were seen with (distinct values, first and last seen).
pub(super) async fn upsert_seen(
    conn: &mut SqliteConnection,
    seen: &[DeviceSeen<'_>],
) -> Result<(), StoreError> {
    for chunk in pow2_chunks(seen, MAX_PARAMS / 5) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen) ",
        );
        upsert.push_values(chunk, |mut row, s| {
            row.push_bind(s.user_id)
                .push_bind(s.kind)
                .push_bind(s.value)
                .push_bind(micros(s.first))
                .push_bind(micros(s.last));
        });
        upsert.push(
            " ON CONFLICT (user_id, kind, value) DO UPDATE SET \
             first_seen = MIN(first_seen, excluded.first_seen), \
             last_seen = MAX(last_seen, excluded.last_seen)",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Recomputes the summary rows of `users` from their sessions and devices (and drops the
/// rows of users left without sessions).
pub(super) async fn refresh_users(
    conn: &mut SqliteConnection,
    users: &[&str],
) -> Result<(), StoreError> {
    for chunk in pow2_chunks(users, MAX_PARAMS) {
        let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO fingerprint_users (user_id) ");
        insert.push_values(chunk, |mut row, user| {
            row.push_bind(*user);
        });
        insert.push(" ON CONFLICT (user_id) DO NOTHING");
        insert.build().execute(&mut *conn).await?;

        let mut update = QueryBuilder::<Sqlite>::new(
            "UPDATE fingerprint_users SET \
             sessions = (SELECT COUNT(*) FROM fingerprint_sessions s \
                 WHERE s.user_id = fingerprint_users.user_id), \
             browser_fingerprints = (SELECT COUNT(*) FROM fingerprint_user_devices d \
                 WHERE d.user_id = fingerprint_users.user_id AND d.kind = 1), \
             request_fingerprints = (SELECT COUNT(*) FROM fingerprint_user_devices d \
                 WHERE d.user_id = fingerprint_users.user_id AND d.kind = 2), \
             first_seen = (SELECT MIN(t) FROM ( \
                 SELECT MIN(first_seen) AS t FROM fingerprint_user_devices d \
                     WHERE d.user_id = fingerprint_users.user_id \
                 UNION ALL SELECT MIN(COALESCE(linked_at, created_at)) FROM fingerprint_sessions s \
                     WHERE s.user_id = fingerprint_users.user_id)), \
             last_seen = (SELECT MAX(t) FROM ( \
                 SELECT MAX(last_seen) AS t FROM fingerprint_user_devices d \
                     WHERE d.user_id = fingerprint_users.user_id \
                 UNION ALL SELECT MAX(COALESCE(linked_at, created_at)) FROM fingerprint_sessions s \
                     WHERE s.user_id = fingerprint_users.user_id)) \
             WHERE user_id IN (",
        );
        let mut list = update.separated(", ");
        for user in chunk {
            list.push_bind(*user);
        }
        update.push(")");
        update.build().execute(&mut *conn).await?;

        let mut delete = QueryBuilder::<Sqlite>::new(
            "DELETE FROM fingerprint_users WHERE sessions = 0 AND user_id IN (",
        );
        let mut list = delete.separated(", ");
        for user in chunk {
            list.push_bind(*user);
        }
        delete.push(")");
        delete.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds everything a session's stored fingerprints show to its user's devices.
async fn absorb_session(
    conn: &mut SqliteConnection,
    session_id: i64,
    user_id: &str,
) -> Result<(), StoreError> {
    for (kind, sql) in [
        (
            KIND_AGENT,
            "SELECT ?1, ?2, user_agent, MIN(created_at), MAX(created_at) \
             FROM fingerprint_request_fingerprints WHERE session_id = ?3 GROUP BY user_agent",
        ),
        (
            KIND_BROWSER,
            "SELECT ?1, ?2, visitor_id, MIN(created_at), MAX(created_at) \
             FROM fingerprint_browser_fingerprints WHERE session_id = ?3 GROUP BY visitor_id",
        ),
    ] {
        sqlx::query(&format!(
            "INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen) \
             {sql} ON CONFLICT (user_id, kind, value) DO UPDATE SET \
             first_seen = MIN(first_seen, excluded.first_seen), \
             last_seen = MAX(last_seen, excluded.last_seen)"
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
    conn: &mut SqliteConnection,
    user_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM fingerprint_user_devices WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM fingerprint_sessions WHERE user_id = ?")
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    for id in ids {
        absorb_session(conn, id, user_id).await?;
    }
    Ok(())
}

fn summary(row: &SqliteRow) -> Result<UserSummary, StoreError> {
    let time = |i: usize| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(i)?
            .map(from_micros)
            .transpose()
    };
    Ok(UserSummary {
        user_id: row.try_get(0)?,
        sessions: count(row.try_get(1)?),
        browser_fingerprints: count(row.try_get(2)?),
        request_fingerprints: count(row.try_get(3)?),
        first_seen: time(4)?,
        last_seen: time(5)?,
    })
}

const SUMMARY_COLUMNS: &str = "SELECT user_id, sessions, browser_fingerprints, \
    request_fingerprints, first_seen, last_seen FROM fingerprint_users";

/// Session summaries for the sessions chosen by `filter` (a condition on `s`, binding one
/// text parameter), newest first.
async fn session_summaries(
    store: &SqliteStore,
    filter: &str,
    value: &str,
    limit: u32,
) -> Result<Vec<SessionSummary>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SESSION_COLUMNS} AND {filter} ORDER BY s.created_at DESC, s.id DESC LIMIT ?2"
    ))
    .bind(value)
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| session_summary(row).map(|(summary, _)| summary))
        .collect()
}

impl SqliteStore {
    pub(super) async fn link_sessions_impl(
        &self,
        links: &[SessionLink],
    ) -> Result<Vec<LinkOutcome>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcomes = Vec::with_capacity(links.len());
        let mut touched = BTreeSet::new();
        for link in links {
            let (id, current) = ensure_session(&mut tx, &link.session_key, link.at).await?;
            let outcome = match current {
                Some(user) if user == link.user_id => LinkOutcome::AlreadyLinked,
                Some(other) => LinkOutcome::LinkedToOther(other),
                None => {
                    sqlx::query(
                        "UPDATE fingerprint_sessions SET user_id = ?, linked_at = ? WHERE id = ?",
                    )
                    .bind(&link.user_id)
                    .bind(micros(link.at))
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let found: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, user_id FROM fingerprint_sessions WHERE key = ?")
                .bind(session_key)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id, previous)) = found else {
            return Ok(false);
        };
        sqlx::query("UPDATE fingerprint_sessions SET user_id = ?, linked_at = ? WHERE id = ?")
            .bind(user_id)
            .bind(user_id.map(|_| micros(at)))
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
        let row = sqlx::query(&format!("{SUMMARY_COLUMNS} WHERE user_id = ?"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(summary).transpose()
    }

    pub(super) async fn users_impl(
        &self,
        query: &UserQuery,
    ) -> Result<Page<UserSummary>, StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new(SUMMARY_COLUMNS);
        select.push(" WHERE 1 = 1");
        if let Some(since) = query.seen_since {
            select.push(" AND last_seen >= ").push_bind(micros(since));
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
                .push(" AND instr(user_id, ")
                .push_bind(search)
                .push(") > 0");
        }
        if let Some(cursor) = &query.after {
            let (last_seen, user) = parse_user_cursor(cursor)?;
            let seen = last_seen.map(micros);
            select
                .push(" AND (last_seen < ")
                .push_bind(seen)
                .push(" OR (last_seen = ")
                .push_bind(seen)
                .push(" AND user_id < ")
                .push_bind(user)
                .push("))");
        }
        select
            .push(" ORDER BY last_seen DESC, user_id DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = select.build().fetch_all(&self.pool).await?;
        let users = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        Ok(user_page(users, query.limit))
    }

    pub(super) async fn user_devices_impl(&self, user_id: &str) -> Result<UserDevices, StoreError> {
        let browser_rows = sqlx::query(
            "SELECT b.visitor_id, MIN(b.created_at), MAX(b.created_at), \
             COUNT(DISTINCT b.session_id), \
             (SELECT group_concat(DISTINCT NULLIF(r.country_code, '')) \
              FROM fingerprint_request_fingerprints r \
              JOIN fingerprint_browser_fingerprints b2 ON b2.session_id = r.session_id \
              JOIN fingerprint_sessions s2 ON s2.id = b2.session_id \
              WHERE s2.user_id = ?1 AND b2.visitor_id = b.visitor_id) \
             FROM fingerprint_browser_fingerprints b \
             JOIN fingerprint_sessions s ON s.id = b.session_id \
             WHERE s.user_id = ?1 GROUP BY b.visitor_id ORDER BY MAX(b.created_at) DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let browsers = browser_rows
            .iter()
            .map(|row| {
                Ok(BrowserDevice {
                    visitor_id: row.try_get(0)?,
                    first_seen: from_micros(row.try_get(1)?)?,
                    last_seen: from_micros(row.try_get(2)?)?,
                    sessions: count(row.try_get(3)?),
                    countries: countries(row.try_get(4)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let device_rows = sqlx::query(
            "SELECT r.browser, r.browser_version, r.os, r.os_version, r.device_type, \
             MIN(r.created_at), MAX(r.created_at), COUNT(DISTINCT r.session_id), COUNT(*), \
             group_concat(DISTINCT NULLIF(r.country_code, '')) \
             FROM fingerprint_request_fingerprints r \
             JOIN fingerprint_sessions s ON s.id = r.session_id \
             WHERE s.user_id = ? \
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
                    first_seen: from_micros(row.try_get(5)?)?,
                    last_seen: from_micros(row.try_get(6)?)?,
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
        session_summaries(self, "s.user_id = ?1", user_id, limit).await
    }

    pub(super) async fn visitor_sessions_impl(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        session_summaries(
            self,
            "s.id IN (SELECT session_id FROM fingerprint_browser_fingerprints WHERE visitor_id = ?1)",
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
             WHERE b.visitor_id = ? AND s.user_id IS NOT NULL \
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
                    first_seen: from_micros(row.try_get(2)?)?,
                    last_seen: from_micros(row.try_get(3)?)?,
                })
            })
            .collect()
    }
}

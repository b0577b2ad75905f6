//! Maintenance on SQLite: hit-count rebuilds, retention purges, erasure of a user, exports.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::users::refresh_users;
use super::{micros, MAX_PARAMS};
use crate::store::batch::pow2_chunks;
use crate::store::insight::{day_of_micros, MICROS_PER_DAY};
use crate::store::sql::users::rebuild_user_devices;
use crate::store::{
    ForgetReport, Maintenance, Progress, ProgressFn, PurgeReport, RebuildReport, SqliteStore,
    StoreError,
};

/// `sql` with ` (?, ?, ...)` for `n` values appended.
fn with_list(sql: &str, n: usize) -> String {
    let mut query = String::with_capacity(sql.len() + 3 * n);
    query.push_str(sql);
    query.push_str(" (");
    for i in 0..n {
        query.push_str(if i == 0 { "?" } else { ", ?" });
    }
    query.push(')');
    query
}

/// Deletes the rows of `table` whose `column` is one of `ids`.
async fn delete_ids(
    conn: &mut SqliteConnection,
    table: &str,
    column: &str,
    ids: &[i64],
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for chunk in pow2_chunks(ids, MAX_PARAMS) {
        let sql = with_list(
            &format!("DELETE FROM {table} WHERE {column} IN"),
            chunk.len(),
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        deleted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(deleted)
}

/// Takes `pairs` (URL id, session id) out of the unique visitors and their counters.
async fn uncount(conn: &mut SqliteConnection, pairs: &[(i64, i64)]) -> Result<u64, StoreError> {
    let mut per_url: BTreeMap<i64, i64> = BTreeMap::new();
    let mut removed = 0;
    for chunk in pow2_chunks(pairs, MAX_PARAMS / 2) {
        let mut delete = QueryBuilder::<Sqlite>::new(
            "DELETE FROM fingerprint_url_visitors WHERE (url_id, session_id) IN (VALUES ",
        );
        let mut list = delete.separated(", ");
        for (url, session) in chunk {
            list.push("(")
                .push_bind_unseparated(url)
                .push_unseparated(", ")
                .push_bind_unseparated(session)
                .push_unseparated(")");
        }
        delete.push(") RETURNING url_id");
        for row in delete.build().fetch_all(&mut *conn).await? {
            *per_url.entry(row.try_get(0)?).or_default() += 1;
            removed += 1;
        }
    }
    for (url, n) in per_url {
        sqlx::query("UPDATE fingerprint_hit_counts SET hits = hits - ? WHERE url_id = ?")
            .bind(n)
            .bind(url)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM fingerprint_hit_counts WHERE hits <= 0")
        .execute(&mut *conn)
        .await?;
    Ok(removed)
}

/// The users of the sessions `ids`.
async fn users_of_sessions(
    conn: &mut SqliteConnection,
    ids: &[i64],
) -> Result<BTreeSet<String>, StoreError> {
    let mut users = BTreeSet::new();
    for chunk in pow2_chunks(ids, MAX_PARAMS) {
        let sql = with_list(
            "SELECT DISTINCT user_id FROM fingerprint_sessions \
             WHERE user_id IS NOT NULL AND id IN",
            chunk.len(),
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        users.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(users)
}

#[async_trait]
impl Maintenance for SqliteStore {
    async fn rebuild_hit_counts_with_progress(
        &self,
        chunk: u32,
        progress: ProgressFn<'_>,
    ) -> Result<RebuildReport, StoreError> {
        let chunk = i64::from(chunk.max(1));
        let max_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM fingerprint_urls")
            .fetch_one(&self.pool)
            .await?;
        let total = u64::try_from(max_id).unwrap_or(0);
        let mut report = RebuildReport::default();
        let mut low = 1;
        while low <= max_id {
            let high = low.saturating_add(chunk - 1);
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            for sql in [
                "DELETE FROM fingerprint_url_visitors WHERE url_id BETWEEN ?1 AND ?2",
                "INSERT INTO fingerprint_url_visitors (url_id, session_id) \
                 SELECT DISTINCT url_id, session_id FROM fingerprint_request_fingerprints \
                 WHERE url_id BETWEEN ?1 AND ?2",
                "DELETE FROM fingerprint_hit_counts WHERE url_id BETWEEN ?1 AND ?2",
                "INSERT INTO fingerprint_hit_counts (url_id, hits) \
                 SELECT url_id, COUNT(*) FROM fingerprint_url_visitors \
                 WHERE url_id BETWEEN ?1 AND ?2 GROUP BY url_id",
            ] {
                let done = sqlx::query(sql)
                    .bind(low)
                    .bind(high)
                    .execute(&mut *tx)
                    .await?;
                if sql.starts_with("INSERT INTO fingerprint_url_visitors") {
                    report.visitors += done.rows_affected();
                } else if sql.starts_with("INSERT INTO fingerprint_hit_counts") {
                    report.urls += done.rows_affected();
                }
            }
            tx.commit().await?;
            report.chunks += 1;
            progress(Progress::new(
                u64::try_from(high.min(max_id)).unwrap_or(0),
                total,
            ));
            low = high.saturating_add(1);
        }
        Ok(report)
    }

    async fn purge(
        &self,
        before: DateTime<Utc>,
        chunk: u32,
        progress: ProgressFn<'_>,
    ) -> Result<PurgeReport, StoreError> {
        let chunk = i64::from(chunk.max(1));
        let cutoff = micros(before);
        let total: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM fingerprint_request_fingerprints WHERE created_at < ?1) \
             + (SELECT COUNT(*) FROM fingerprint_browser_fingerprints WHERE created_at < ?1)",
        )
        .bind(cutoff)
        .fetch_one(&self.pool)
        .await?;
        let total = u64::try_from(total).unwrap_or(0);
        let mut report = PurgeReport::default();
        let mut users = BTreeSet::new();
        let tell = |report: &PurgeReport| {
            progress(Progress::new(
                report.request_fingerprints + report.browser_fingerprints,
                total,
            ));
        };

        // Request fingerprints, oldest first; the visits whose last fingerprint goes leave the
        // counters in the same transaction.
        loop {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let rows: Vec<(i64, i64, i64, Option<String>, i64)> = sqlx::query_as(
                "SELECT id, url_id, session_id, ip, created_at \
                 FROM fingerprint_request_fingerprints \
                 WHERE created_at < ? ORDER BY created_at, id LIMIT ?",
            )
            .bind(cutoff)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let sessions: Vec<i64> = rows
                .iter()
                .map(|r| r.2)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            users.extend(users_of_sessions(&mut tx, &sessions).await?);
            report.request_fingerprints +=
                delete_ids(&mut tx, "fingerprint_request_fingerprints", "id", &ids).await?;
            let pairs: BTreeSet<(i64, i64)> = rows.iter().map(|r| (r.1, r.2)).collect();
            let mut gone = Vec::new();
            for (url, session) in pairs {
                let left: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM fingerprint_request_fingerprints \
                     WHERE session_id = ? AND url_id = ? LIMIT 1",
                )
                .bind(session)
                .bind(url)
                .fetch_optional(&mut *tx)
                .await?;
                if left.is_none() {
                    gone.push((url, session));
                }
            }
            report.visits_uncounted += uncount(&mut tx, &gone).await?;
            // The dashboard's (IP, session) and (day, session) rows whose last fingerprint went.
            let ips: BTreeSet<(&str, i64)> = rows
                .iter()
                .filter_map(|r| Some((r.3.as_deref()?, r.2)))
                .collect();
            for (ip, session) in ips {
                sqlx::query(
                    "DELETE FROM fingerprint_ip_sessions WHERE ip = ?1 AND session_id = ?2 \
                     AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints \
                         WHERE session_id = ?2 AND ip = ?1)",
                )
                .bind(ip)
                .bind(session)
                .execute(&mut *tx)
                .await?;
            }
            let days: BTreeSet<(i64, i64)> =
                rows.iter().map(|r| (day_of_micros(r.4), r.2)).collect();
            for (day, session) in days {
                sqlx::query(
                    "DELETE FROM fingerprint_daily_sessions WHERE day = ?1 AND session_id = ?2 \
                     AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints \
                         WHERE session_id = ?2 AND created_at >= ?3 AND created_at < ?4)",
                )
                .bind(day)
                .bind(session)
                .bind(day * MICROS_PER_DAY)
                .bind((day + 1) * MICROS_PER_DAY)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            report.chunks += 1;
            tell(&report);
        }

        loop {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, session_id FROM fingerprint_browser_fingerprints \
                 WHERE created_at < ? ORDER BY created_at, id LIMIT ?",
            )
            .bind(cutoff)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let sessions: Vec<i64> = rows
                .iter()
                .map(|r| r.1)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            users.extend(users_of_sessions(&mut tx, &sessions).await?);
            report.browser_fingerprints +=
                delete_ids(&mut tx, "fingerprint_browser_fingerprints", "id", &ids).await?;
            tx.commit().await?;
            report.chunks += 1;
            tell(&report);
        }

        // Sessions older than the cutoff with nothing left.
        loop {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT s.id FROM fingerprint_sessions s WHERE s.created_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                     WHERE r.session_id = s.id) \
                 AND NOT EXISTS (SELECT 1 FROM fingerprint_browser_fingerprints b \
                     WHERE b.session_id = s.id) \
                 ORDER BY s.id LIMIT ?",
            )
            .bind(cutoff)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                break;
            }
            users.extend(users_of_sessions(&mut tx, &ids).await?);
            report.sessions += delete_ids(&mut tx, "fingerprint_sessions", "id", &ids).await?;
            tx.commit().await?;
            report.chunks += 1;
        }

        // The users concerned, one transaction each.
        for user in &users {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            rebuild_user_devices::<sqlx::Sqlite>(&mut *tx, user).await?;
            refresh_users(&mut tx, &[user.as_str()]).await?;
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sessions: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM fingerprint_sessions WHERE user_id = ?")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        let mut report = ForgetReport::default();
        let mut pairs = Vec::new();
        for chunk in pow2_chunks(&sessions, MAX_PARAMS) {
            let sql = with_list(
                "SELECT url_id, session_id FROM fingerprint_url_visitors WHERE session_id IN",
                chunk.len(),
            );
            let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            pairs.extend(query.fetch_all(&mut *tx).await?);
        }
        report.visits_uncounted = uncount(&mut tx, &pairs).await?;
        for chunk in pow2_chunks(&sessions, MAX_PARAMS) {
            for sql in [
                "DELETE FROM fingerprint_ip_sessions WHERE (ip, session_id) IN \
                 (SELECT ip, session_id FROM fingerprint_request_fingerprints \
                  WHERE ip IS NOT NULL AND session_id IN",
                "DELETE FROM fingerprint_daily_sessions WHERE (day, session_id) IN \
                 (SELECT created_at / 86400000000, session_id FROM fingerprint_request_fingerprints \
                  WHERE session_id IN",
            ] {
                let sql = format!("{})", with_list(sql, chunk.len()));
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(&mut *tx).await?;
            }
        }
        report.request_fingerprints = delete_ids(
            &mut tx,
            "fingerprint_request_fingerprints",
            "session_id",
            &sessions,
        )
        .await?;
        report.browser_fingerprints = delete_ids(
            &mut tx,
            "fingerprint_browser_fingerprints",
            "session_id",
            &sessions,
        )
        .await?;
        report.sessions = delete_ids(&mut tx, "fingerprint_sessions", "id", &sessions).await?;
        for table in ["fingerprint_user_devices", "fingerprint_users"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = ?"))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

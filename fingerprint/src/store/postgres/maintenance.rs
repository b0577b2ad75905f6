//! Maintenance on PostgreSQL: hit-count rebuilds, retention purges, erasure of a user,
//! exports.
//!
//! Whatever takes unique visits out of the counters (rebuild, purge, forget) first locks
//! `fingerprint_url_visitors` against writers (`SHARE ROW EXCLUSIVE`) for its transaction:
//! a recorder batch then either committed before (and its fingerprints are seen), or waits
//! and counts its visits anew after.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Row};

use super::users::refresh_users;
use crate::store::sql::users::rebuild_user_devices;
use crate::store::{
    ForgetReport, Maintenance, PostgresStore, Progress, ProgressFn, PurgeReport, RebuildReport,
    StoreError,
};

async fn lock_visitors(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("LOCK TABLE fingerprint_url_visitors IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Takes the (URL id, session id) pairs out of the unique visitors and their counters;
/// returns how many were removed.
async fn uncount(
    conn: &mut PgConnection,
    urls: &[i64],
    sessions: &[i64],
) -> Result<u64, StoreError> {
    if urls.is_empty() {
        return Ok(0);
    }
    let removed: i64 = sqlx::query_scalar(
        "WITH gone AS ( \
             DELETE FROM fingerprint_url_visitors v \
             USING UNNEST($1::bigint[], $2::bigint[]) AS g(url_id, session_id) \
             WHERE v.url_id = g.url_id AND v.session_id = g.session_id RETURNING v.url_id), \
         counts AS (SELECT url_id, COUNT(*) AS n FROM gone GROUP BY url_id), \
         lowered AS ( \
             UPDATE fingerprint_hit_counts h SET hits = h.hits - c.n \
             FROM counts c WHERE h.url_id = c.url_id) \
         SELECT COALESCE(SUM(n), 0)::bigint FROM counts",
    )
    .bind(urls)
    .bind(sessions)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM fingerprint_hit_counts WHERE url_id = ANY($1) AND hits <= 0")
        .bind(urls)
        .execute(&mut *conn)
        .await?;
    Ok(u64::try_from(removed).unwrap_or(0))
}

/// The users of the sessions `ids`.
async fn users_of_sessions(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM fingerprint_sessions \
         WHERE user_id IS NOT NULL AND id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?)
}

fn distinct(values: impl IntoIterator<Item = i64>) -> Vec<i64> {
    values
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[async_trait]
impl Maintenance for PostgresStore {
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
            let mut tx = self.pool.begin().await?;
            lock_visitors(&mut tx).await?;
            sqlx::query("DELETE FROM fingerprint_url_visitors WHERE url_id BETWEEN $1 AND $2")
                .bind(low)
                .bind(high)
                .execute(&mut *tx)
                .await?;
            report.visitors += sqlx::query(
                "INSERT INTO fingerprint_url_visitors (url_id, session_id) \
                 SELECT DISTINCT url_id, session_id FROM fingerprint_request_fingerprints \
                 WHERE url_id BETWEEN $1 AND $2",
            )
            .bind(low)
            .bind(high)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM fingerprint_hit_counts WHERE url_id BETWEEN $1 AND $2")
                .bind(low)
                .bind(high)
                .execute(&mut *tx)
                .await?;
            report.urls += sqlx::query(
                "INSERT INTO fingerprint_hit_counts (url_id, hits) \
                 SELECT url_id, COUNT(*) FROM fingerprint_url_visitors \
                 WHERE url_id BETWEEN $1 AND $2 GROUP BY url_id",
            )
            .bind(low)
            .bind(high)
            .execute(&mut *tx)
            .await?
            .rows_affected();
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
        let total: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM fingerprint_request_fingerprints WHERE created_at < $1) \
             + (SELECT COUNT(*) FROM fingerprint_browser_fingerprints WHERE created_at < $1)",
        )
        .bind(before)
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

        loop {
            let mut tx = self.pool.begin().await?;
            lock_visitors(&mut tx).await?;
            let rows = sqlx::query(
                "DELETE FROM fingerprint_request_fingerprints WHERE id IN ( \
                     SELECT id FROM fingerprint_request_fingerprints WHERE created_at < $1 \
                     ORDER BY created_at, id LIMIT $2) \
                 RETURNING url_id, session_id, host(ip), created_at",
            )
            .bind(before)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                break;
            }
            report.request_fingerprints += rows.len() as u64;
            let mut pairs = BTreeSet::new();
            let mut ips = BTreeSet::new();
            let mut days = BTreeSet::new();
            for row in &rows {
                let session: i64 = row.try_get(1)?;
                pairs.insert((row.try_get::<i64, _>(0)?, session));
                if let Some(ip) = row.try_get::<Option<String>, _>(2)? {
                    ips.insert((ip, session));
                }
                let at: DateTime<Utc> = row.try_get(3)?;
                days.insert((at.date_naive(), session));
            }
            let sessions = distinct(pairs.iter().map(|p| p.1));
            users.extend(users_of_sessions(&mut tx, &sessions).await?);
            let (urls, pair_sessions): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
            let gone: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT g.url_id, g.session_id \
                 FROM UNNEST($1::bigint[], $2::bigint[]) AS g(url_id, session_id) \
                 WHERE NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                     WHERE r.session_id = g.session_id AND r.url_id = g.url_id)",
            )
            .bind(&urls)
            .bind(&pair_sessions)
            .fetch_all(&mut *tx)
            .await?;
            let (gone_urls, gone_sessions): (Vec<i64>, Vec<i64>) = gone.into_iter().unzip();
            report.visits_uncounted += uncount(&mut tx, &gone_urls, &gone_sessions).await?;
            // The dashboard's (IP, session) and (day, session) rows whose last fingerprint went.
            let (ip_values, ip_sessions): (Vec<String>, Vec<i64>) = ips.into_iter().unzip();
            sqlx::query(
                "DELETE FROM fingerprint_ip_sessions p \
                 USING UNNEST($1::text[], $2::bigint[]) AS g(ip, session_id) \
                 WHERE p.ip = g.ip::inet AND p.session_id = g.session_id \
                 AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                     WHERE r.session_id = g.session_id AND r.ip = g.ip::inet)",
            )
            .bind(&ip_values)
            .bind(&ip_sessions)
            .execute(&mut *tx)
            .await?;
            let (day_values, day_sessions): (Vec<NaiveDate>, Vec<i64>) = days.into_iter().unzip();
            sqlx::query(
                "DELETE FROM fingerprint_daily_sessions p \
                 USING UNNEST($1::date[], $2::bigint[]) AS g(day, session_id) \
                 WHERE p.day = g.day AND p.session_id = g.session_id \
                 AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                     WHERE r.session_id = g.session_id \
                     AND r.created_at >= g.day::timestamp AT TIME ZONE 'UTC' \
                     AND r.created_at < (g.day + 1)::timestamp AT TIME ZONE 'UTC')",
            )
            .bind(&day_values)
            .bind(&day_sessions)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            report.chunks += 1;
            tell(&report);
        }

        loop {
            let mut tx = self.pool.begin().await?;
            let sessions: Vec<i64> = sqlx::query_scalar(
                "DELETE FROM fingerprint_browser_fingerprints WHERE id IN ( \
                     SELECT id FROM fingerprint_browser_fingerprints WHERE created_at < $1 \
                     ORDER BY created_at, id LIMIT $2) \
                 RETURNING session_id",
            )
            .bind(before)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            if sessions.is_empty() {
                break;
            }
            report.browser_fingerprints += sessions.len() as u64;
            users.extend(users_of_sessions(&mut tx, &distinct(sessions)).await?);
            tx.commit().await?;
            report.chunks += 1;
            tell(&report);
        }

        loop {
            let mut tx = self.pool.begin().await?;
            let users_left: Vec<Option<String>> = sqlx::query_scalar(
                "DELETE FROM fingerprint_sessions WHERE id IN ( \
                     SELECT s.id FROM fingerprint_sessions s WHERE s.created_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                         WHERE r.session_id = s.id) \
                     AND NOT EXISTS (SELECT 1 FROM fingerprint_browser_fingerprints b \
                         WHERE b.session_id = s.id) \
                     ORDER BY s.id LIMIT $2) \
                 RETURNING user_id",
            )
            .bind(before)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            if users_left.is_empty() {
                break;
            }
            report.sessions += users_left.len() as u64;
            users.extend(users_left.into_iter().flatten());
            tx.commit().await?;
            report.chunks += 1;
        }

        for user in &users {
            let mut tx = self.pool.begin().await?;
            rebuild_user_devices::<sqlx::Postgres>(&mut *tx, user).await?;
            refresh_users(&mut tx, &[user.as_str()]).await?;
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_visitors(&mut tx).await?;
        let sessions: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM fingerprint_sessions WHERE user_id = $1 ORDER BY id FOR UPDATE",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        let pairs: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT url_id, session_id FROM fingerprint_url_visitors WHERE session_id = ANY($1)",
        )
        .bind(&sessions)
        .fetch_all(&mut *tx)
        .await?;
        let (urls, pair_sessions): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
        for sql in [
            "DELETE FROM fingerprint_ip_sessions p USING ( \
                 SELECT DISTINCT ip, session_id FROM fingerprint_request_fingerprints \
                 WHERE ip IS NOT NULL AND session_id = ANY($1)) g \
             WHERE p.ip = g.ip AND p.session_id = g.session_id",
            "DELETE FROM fingerprint_daily_sessions p USING ( \
                 SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS day, session_id \
                 FROM fingerprint_request_fingerprints WHERE session_id = ANY($1)) g \
             WHERE p.day = g.day AND p.session_id = g.session_id",
        ] {
            sqlx::query(sql).bind(&sessions).execute(&mut *tx).await?;
        }
        let mut report = ForgetReport {
            visits_uncounted: uncount(&mut tx, &urls, &pair_sessions).await?,
            ..ForgetReport::default()
        };
        for (table, count) in [
            (
                "fingerprint_request_fingerprints",
                &mut report.request_fingerprints,
            ),
            (
                "fingerprint_browser_fingerprints",
                &mut report.browser_fingerprints,
            ),
        ] {
            *count = sqlx::query(&format!("DELETE FROM {table} WHERE session_id = ANY($1)"))
                .bind(&sessions)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        report.sessions = sqlx::query("DELETE FROM fingerprint_sessions WHERE id = ANY($1)")
            .bind(&sessions)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for table in ["fingerprint_user_devices", "fingerprint_users"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

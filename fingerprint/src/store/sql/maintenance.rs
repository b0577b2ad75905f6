//! Maintenance, written once: hit-count rebuilds, retention purges, erasure of a user.
//!
//! Whatever takes unique visits out of the counters first locks `fingerprint_url_visitors`
//! against writers for its transaction ([`Dialect::LOCK_VISITORS`] on PostgreSQL; SQLite's
//! write transaction holds the whole database): a recorder batch then either committed
//! before (and its fingerprints are seen), or waits and counts its visits anew after.
//!
//! Lists of ids and pairs are bound as one JSON parameter each, like the write path's rows.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use super::dialect::{Col, Day, Dialect, Sql, Timestamp};
use super::users::rebuild_user_devices;
use super::write::json;
use super::SqlStore;
use crate::store::{
    ForgetReport, Maintenance, Progress, ProgressFn, PurgeReport, RebuildReport, Store, StoreError,
};

/// (URL id, session id) pairs as the columns of [`Sql::rows`].
const PAIR: &[(&str, Col)] = &[("url_id", Col::Int), ("session_id", Col::Int)];

/// Locks the unique visitors against writers until the transaction ends (PostgreSQL).
async fn lock_visitors<D: Dialect>(conn: &mut D::Connection) -> Result<(), StoreError> {
    if !D::LOCK_VISITORS.is_empty() {
        Sql::<D>::new(D::LOCK_VISITORS).execute(conn).await?;
    }
    Ok(())
}

/// The users of the sessions `ids`.
async fn users_of_sessions<D: Dialect>(
    conn: &mut D::Connection,
    ids: &[i64],
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = Sql::<D>::new(
        "SELECT DISTINCT user_id FROM fingerprint_sessions WHERE user_id IS NOT NULL",
    )
    .is_in("id", json(ids)?, Col::Int)
    .fetch_all_on(conn)
    .await?;
    Ok(rows.into_iter().map(|(user,)| user).collect())
}

/// Deletes the rows of `table` whose `column` is one of `ids`; how many went.
async fn delete_ids<D: Dialect>(
    conn: &mut D::Connection,
    table: &str,
    column: &str,
    ids: &[i64],
) -> Result<u64, StoreError> {
    Sql::<D>::new(format!("DELETE FROM {table} WHERE TRUE"))
        .is_in(column, json(ids)?, Col::Int)
        .execute(conn)
        .await
}

/// Takes the (URL id, session id) `pairs` out of the unique visitors and their counters;
/// returns how many were removed.
async fn uncount<D: Dialect>(
    conn: &mut D::Connection,
    pairs: &[(i64, i64)],
) -> Result<u64, StoreError> {
    if pairs.is_empty() {
        return Ok(0);
    }
    let pairs = json(pairs)?;
    let mut removed: Vec<(i64,)> = Sql::<D>::new(
        "DELETE FROM fingerprint_url_visitors WHERE (url_id, session_id) IN \
         (SELECT url_id, session_id FROM ",
    )
    .rows(pairs.clone(), PAIR)
    .push(") RETURNING url_id")
    .fetch_all_on(&mut *conn)
    .await?;
    // The pairs sessions imply (migration 9): found, then cleared.
    let implied = |statement: &str| {
        let mut sql = Sql::<D>::new(format!(
            "{statement} WHERE (first_url_id, id) IN (SELECT url_id, session_id FROM "
        ));
        sql.rows(pairs.clone(), PAIR).push(")");
        sql
    };
    let cleared: Vec<(i64,)> = implied("SELECT first_url_id FROM fingerprint_sessions")
        .fetch_all_on(&mut *conn)
        .await?;
    if !cleared.is_empty() {
        implied("UPDATE fingerprint_sessions SET first_url_id = NULL")
            .execute(&mut *conn)
            .await?;
        removed.extend(cleared);
    }
    let mut per_url: BTreeMap<i64, i64> = BTreeMap::new();
    for (url,) in removed {
        *per_url.entry(url).or_default() += 1;
    }
    let counts: Vec<(i64, i64)> = per_url.into_iter().collect();
    if !counts.is_empty() {
        Sql::<D>::new("UPDATE fingerprint_hit_counts SET hits = hits - v.gone FROM ")
            .rows(json(&counts)?, &[("url_id", Col::Int), ("gone", Col::Int)])
            .push(" WHERE fingerprint_hit_counts.url_id = v.url_id")
            .execute(conn)
            .await?;
        let urls: Vec<i64> = counts.iter().map(|(url, _)| *url).collect();
        Sql::<D>::new("DELETE FROM fingerprint_hit_counts WHERE hits <= 0")
            .is_in("url_id", json(&urls)?, Col::Int)
            .execute(conn)
            .await?;
    }
    Ok(counts
        .iter()
        .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
        .sum())
}

/// A request fingerprint a purge deleted.
#[derive(sqlx::FromRow)]
struct Purged {
    url_id: i64,
    session_id: i64,
    ip: Option<String>,
    created_at: Timestamp,
}

/// Deletes the oldest `chunk` fingerprints of `table` created before `before` and returns
/// `returning` of each.
fn delete_oldest<'q, D: Dialect>(
    table: &str,
    returning: &str,
    before: DateTime<Utc>,
    chunk: i64,
) -> Sql<'q, D> {
    let mut sql = Sql::new(format!(
        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE created_at < "
    ));
    sql.bind(Timestamp(before))
        .push(" ORDER BY created_at, id LIMIT ")
        .bind(chunk)
        .push(format!(") RETURNING {returning}"));
    sql
}

/// `AND` the request `r` counts as a unique visit: any request with `count_automated`;
/// otherwise not one of an automated client, by its own verdict or its session's (as the
/// recorder counts by default).
fn counted_requests(count_automated: bool) -> &'static str {
    if count_automated {
        ""
    } else {
        " AND NOT EXISTS (SELECT 1 FROM fingerprint_profiles p WHERE p.id = r.profile_id \
         AND p.verdict IN ('automated', 'declared_bot')) \
         AND NOT EXISTS (SELECT 1 FROM fingerprint_sessions s WHERE s.id = r.session_id \
         AND s.verdict IN ('automated', 'declared_bot'))"
    }
}

/// Purges one chunk of request fingerprints in `conn`'s transaction: the visits whose last
/// counted fingerprint ([`counted_requests`]) went leave the counters, and the dashboard's
/// (IP, session) and (day, session) rows whose last fingerprint went are deleted. None when
/// nothing was left to purge.
async fn purge_requests<D: Dialect>(
    conn: &mut D::Connection,
    before: DateTime<Utc>,
    chunk: i64,
    count_automated: bool,
    report: &mut PurgeReport,
    users: &mut BTreeSet<String>,
) -> Result<bool, StoreError> {
    lock_visitors::<D>(conn).await?;
    let returning = format!("url_id, session_id, {} AS ip, created_at", D::ip_text("ip"));
    let rows: Vec<Purged> = delete_oldest::<D>(
        "fingerprint_request_fingerprints",
        &returning,
        before,
        chunk,
    )
    .fetch_all_on(conn)
    .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    report.request_fingerprints += rows.len() as u64;
    let pairs: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| (r.url_id, r.session_id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sessions: Vec<i64> = rows
        .iter()
        .map(|r| r.session_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    users.extend(users_of_sessions::<D>(conn, &sessions).await?);

    let gone: Vec<(i64, i64)> = Sql::<D>::new("SELECT v.url_id, v.session_id FROM ")
        .rows(json(&pairs)?, PAIR)
        .push(format!(
            " WHERE NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
             WHERE r.session_id = v.session_id AND r.url_id = v.url_id{})",
            counted_requests(count_automated)
        ))
        .fetch_all_on(conn)
        .await?;
    report.visits_uncounted += uncount::<D>(conn, &gone).await?;

    let ips: Vec<(String, i64)> = rows
        .iter()
        .filter_map(|r| Some((r.ip.clone()?, r.session_id)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !ips.is_empty() {
        Sql::<D>::new(
            "DELETE FROM fingerprint_ip_sessions WHERE (ip, session_id) IN \
             (SELECT v.ip, v.session_id FROM ",
        )
        .rows(json(&ips)?, &[("ip", Col::Ip), ("session_id", Col::Int)])
        .push(
            " WHERE NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
             WHERE r.session_id = v.session_id AND r.ip = v.ip))",
        )
        .execute(conn)
        .await?;
    }

    // Only days wholly before the cutoff: the rollup keeps counting the cutoff's day, so
    // its (day, session) pairs stay, or a visitor coming back later that day would count
    // twice.
    let cutoff_day = Day::of(before.date_naive());
    let days: Vec<(Day, i64)> = rows
        .iter()
        .map(|r| (Day::of(r.created_at.0.date_naive()), r.session_id))
        .filter(|(day, _)| day.0 < cutoff_day.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let bounds = days
        .iter()
        .map(|(day, session)| {
            let start = day.date()?.and_time(chrono::NaiveTime::MIN).and_utc();
            let end = start + TimeDelta::days(1);
            Ok((
                day.0,
                *session,
                start.timestamp_micros(),
                end.timestamp_micros(),
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let bounds = json(&bounds)?;
    // The pairs whose last request went: rows, or implied by their session (migration 9).
    for statement in [
        "DELETE FROM fingerprint_daily_sessions WHERE (day, session_id) IN",
        "UPDATE fingerprint_sessions SET first_day = NULL WHERE (first_day, id) IN",
    ] {
        Sql::<D>::new(format!("{statement} (SELECT v.day, v.session_id FROM "))
            .rows(
                bounds.clone(),
                &[
                    ("day", Col::Day),
                    ("session_id", Col::Int),
                    ("day_start", Col::Time),
                    ("day_end", Col::Time),
                ],
            )
            .push(
                " WHERE NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                 WHERE r.session_id = v.session_id \
                 AND r.created_at >= v.day_start AND r.created_at < v.day_end))",
            )
            .execute(conn)
            .await?;
    }
    Ok(true)
}

#[async_trait]
impl<D: Dialect> Maintenance for SqlStore<D>
where
    Self: Store,
{
    async fn rebuild_hit_counts_with_progress(
        &self,
        chunk: u32,
        count_automated: bool,
        progress: ProgressFn<'_>,
    ) -> Result<RebuildReport, StoreError> {
        let people_only = counted_requests(count_automated);
        let chunk = i64::from(chunk.max(1));
        let (max_id,): (i64,) = Sql::<D>::new("SELECT COALESCE(MAX(id), 0) FROM fingerprint_urls")
            .fetch_one(&self.pool)
            .await?;
        let total = u64::try_from(max_id).unwrap_or(0);
        let mut report = RebuildReport::default();
        let mut low = 1_i64;
        while low <= max_id {
            let high = low.saturating_add(chunk - 1);
            let mut tx = D::begin_write(&self.pool).await?;
            lock_visitors::<D>(&mut *tx).await?;
            let range = |sql: &str, suffix: &str| {
                let mut statement = Sql::<D>::new(sql);
                statement
                    .push(" WHERE url_id BETWEEN ")
                    .bind(low)
                    .push(" AND ")
                    .bind(high)
                    .push(suffix);
                statement
            };
            // Sessions whose implied pair (migration 9) is in the chunk, found among the
            // sessions of the chunk's requests (on the requests' URL index).
            let implied = |sql: &mut Sql<'_, D>| {
                let [open, close] = D::key_in_subquery("id");
                sql.push("first_url_id BETWEEN ")
                    .bind(low)
                    .push(" AND ")
                    .bind(high)
                    .push(format!(
                        " AND {open}SELECT r.session_id FROM fingerprint_request_fingerprints r \
                         WHERE r.url_id BETWEEN "
                    ))
                    .bind(low)
                    .push(" AND ")
                    .bind(high)
                    .push(close);
            };
            // An implied pair without a request that counts goes.
            let mut clear =
                Sql::<D>::new("UPDATE fingerprint_sessions SET first_url_id = NULL WHERE ");
            implied(&mut clear);
            clear.push(format!(
                " AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                 WHERE r.session_id = fingerprint_sessions.id \
                 AND r.url_id = fingerprint_sessions.first_url_id{people_only})"
            ));
            clear.execute(&mut *tx).await?;
            range("DELETE FROM fingerprint_url_visitors", "")
                .execute(&mut *tx)
                .await?;
            range(
                "INSERT INTO fingerprint_url_visitors (url_id, session_id) \
                 SELECT DISTINCT r.url_id, r.session_id FROM fingerprint_request_fingerprints r",
                &format!(
                    "{people_only} AND NOT EXISTS (SELECT 1 FROM fingerprint_sessions i \
                     WHERE i.id = r.session_id AND i.first_url_id = r.url_id)"
                ),
            )
            .execute(&mut *tx)
            .await?;
            range("DELETE FROM fingerprint_hit_counts", "")
                .execute(&mut *tx)
                .await?;
            let mut count = range(
                "INSERT INTO fingerprint_hit_counts (url_id, hits) \
                 SELECT url_id, COUNT(*) FROM (SELECT url_id FROM fingerprint_url_visitors",
                " UNION ALL SELECT first_url_id FROM fingerprint_sessions WHERE ",
            );
            implied(&mut count);
            let counted: Vec<(i64,)> = count
                .push(") AS v GROUP BY url_id RETURNING hits")
                .fetch_all_on(&mut *tx)
                .await?;
            report.urls += counted.len() as u64;
            report.visitors += counted
                .iter()
                .map(|(hits,)| u64::try_from(*hits).unwrap_or(0))
                .sum::<u64>();
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
        count_automated: bool,
        progress: ProgressFn<'_>,
    ) -> Result<PurgeReport, StoreError> {
        let chunk = i64::from(chunk.max(1));
        let cutoff_day_start = before
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        let (total,): (i64,) = Sql::<D>::new(
            "SELECT (SELECT COUNT(*) FROM fingerprint_request_fingerprints WHERE created_at < ",
        )
        .bind(Timestamp(before))
        .push(") + (SELECT COUNT(*) FROM fingerprint_browser_fingerprints WHERE created_at < ")
        .bind(Timestamp(before))
        .push(")")
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

        // Request fingerprints, oldest first, a chunk per transaction.
        loop {
            let mut tx = D::begin_write(&self.pool).await?;
            if !purge_requests::<D>(
                &mut *tx,
                before,
                chunk,
                count_automated,
                &mut report,
                &mut users,
            )
            .await?
            {
                break;
            }
            tx.commit().await?;
            report.chunks += 1;
            tell(&report);
        }

        loop {
            let mut tx = D::begin_write(&self.pool).await?;
            let sessions: Vec<(i64,)> = delete_oldest::<D>(
                "fingerprint_browser_fingerprints",
                "session_id",
                before,
                chunk,
            )
            .fetch_all_on(&mut *tx)
            .await?;
            if sessions.is_empty() {
                break;
            }
            report.browser_fingerprints += sessions.len() as u64;
            let sessions: Vec<i64> = sessions
                .into_iter()
                .map(|(id,)| id)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            users.extend(users_of_sessions::<D>(&mut *tx, &sessions).await?);
            tx.commit().await?;
            report.chunks += 1;
            tell(&report);
        }

        // Sessions of days wholly before the cutoff with nothing left (one of the cutoff's day
        // stays, as its (day, session) pair does: the day's rollup counted it, and a visit
        // later that day must find it): locked first, in key order as batches lock sessions
        // (no deadlock with one), then deleted by a statement that checks again. A batch
        // writing to such a session holds it locked until it commits; the lock waits for it,
        // and the second check (a new snapshot on PostgreSQL) sees its rows, so a session
        // that just got a visit stays.
        let empty = " AND NOT EXISTS (SELECT 1 FROM fingerprint_request_fingerprints r \
                 WHERE r.session_id = s.id) \
             AND NOT EXISTS (SELECT 1 FROM fingerprint_browser_fingerprints b \
                 WHERE b.session_id = s.id)";
        loop {
            let mut tx = D::begin_write(&self.pool).await?;
            let locked: Vec<(i64,)> =
                Sql::<D>::new("SELECT s.id FROM fingerprint_sessions s WHERE s.created_at < ")
                    .bind(Timestamp(cutoff_day_start))
                    .push(empty)
                    .push(" ORDER BY s.key LIMIT ")
                    .bind(chunk)
                    .push(D::FOR_UPDATE)
                    .fetch_all_on(&mut *tx)
                    .await?;
            if locked.is_empty() {
                break;
            }
            let ids: Vec<i64> = locked.into_iter().map(|(id,)| id).collect();
            let deleted: Vec<(Option<String>,)> =
                Sql::<D>::new("DELETE FROM fingerprint_sessions AS s WHERE TRUE")
                    .is_in("s.id", json(&ids)?, Col::Int)
                    .push(empty)
                    .push(" RETURNING user_id")
                    .fetch_all_on(&mut *tx)
                    .await?;
            report.sessions += deleted.len() as u64;
            users.extend(deleted.into_iter().filter_map(|(user,)| user));
            tx.commit().await?;
            report.chunks += 1;
        }

        // The users concerned, one transaction each.
        for user in &users {
            let mut tx = D::begin_write(&self.pool).await?;
            rebuild_user_devices::<D>(&mut *tx, user).await?;
            super::users::refresh_users::<D>(&mut *tx, &[user.as_str()]).await?;
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn forget_user(&self, user_id: &str) -> Result<ForgetReport, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        // First the user (a link in progress finishes, and is erased too), then the visitors.
        super::users::lock_user::<D>(&mut *tx, user_id).await?;
        lock_visitors::<D>(&mut *tx).await?;
        let sessions: Vec<(i64,)> =
            Sql::<D>::new("SELECT id FROM fingerprint_sessions WHERE user_id = ")
                .bind(user_id.to_owned())
                .push(" ORDER BY id")
                .push(D::FOR_UPDATE)
                .fetch_all_on(&mut *tx)
                .await?;
        let sessions: Vec<i64> = sessions.into_iter().map(|(id,)| id).collect();
        // The sessions' unique visits are the (URL, session) pairs of their requests: found
        // on the requests' (session, URL) index.
        let pairs: Vec<(i64, i64)> = Sql::<D>::new(
            "SELECT DISTINCT url_id, session_id FROM fingerprint_request_fingerprints WHERE TRUE",
        )
        .is_in("session_id", json(&sessions)?, Col::Int)
        .push(" ORDER BY url_id, session_id")
        .fetch_all_on(&mut *tx)
        .await?;
        let mut report = ForgetReport {
            visits_uncounted: uncount::<D>(&mut *tx, &pairs).await?,
            ..ForgetReport::default()
        };
        // The sessions go whole: so do their rows in the dashboard's indexes.
        for table in ["fingerprint_ip_sessions", "fingerprint_daily_sessions"] {
            delete_ids::<D>(&mut *tx, table, "session_id", &sessions).await?;
        }
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
            *count = delete_ids::<D>(&mut *tx, table, "session_id", &sessions).await?;
        }
        report.sessions =
            delete_ids::<D>(&mut *tx, "fingerprint_sessions", "id", &sessions).await?;
        for table in ["fingerprint_user_devices", "fingerprint_users"] {
            Sql::<D>::new(format!("DELETE FROM {table} WHERE user_id = "))
                .bind(user_id.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

//! Linking sessions to users, the same way on both databases. A link locks the session row
//! (`FOR UPDATE` on PostgreSQL; SQLite's write transaction holds the database), so a link and
//! a concurrent write to the same session are serialised: either the write sees the user, or
//! the link sees the write's fingerprints.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::dialect::{Col, Dialect, Sql, Timestamp};
use super::write::json;
use super::SqlStore;
use crate::model::{LinkOutcome, SessionLink};
use crate::store::batch::missing_id;
use crate::store::users::{KIND_AGENT, KIND_BROWSER};
use crate::store::StoreError;

/// The id and user of the session `key`, creating it (at `at`) when it is new, its row
/// locked to change its user.
async fn ensure_session<D: Dialect>(
    conn: &mut D::Connection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<(i64, Option<String>), StoreError> {
    Sql::<D>::new("INSERT INTO fingerprint_sessions (key, created_at) VALUES (")
        .bind(key.to_owned())
        .push(", ")
        .bind(Timestamp(at))
        .push(") ON CONFLICT (key) DO NOTHING")
        .execute(conn)
        .await?;
    Sql::<D>::new("SELECT id, user_id FROM fingerprint_sessions WHERE key = ")
        .bind(key.to_owned())
        .push(D::FOR_UPDATE)
        .fetch_optional_on(conn)
        .await?
        .ok_or_else(|| missing_id("session", key))
}

/// Adds everything the stored fingerprints of the sessions `ids` show to their users'
/// devices, in one statement that takes the rows in (user, kind, value) order, byte-wise:
/// the order a batch writes what linked users were seen with, so the two never wait for
/// each other in a circle.
pub(crate) async fn absorb_sessions<D: Dialect>(
    conn: &mut D::Connection,
    ids: &[i64],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids = json(ids)?;
    let mut sql = Sql::<D>::new(format!(
        "INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen) \
         SELECT user_id, kind, value, MIN(at), MAX(at) FROM (\
         SELECT s.user_id, {KIND_AGENT} AS kind, p.user_agent AS value, r.created_at AS at \
         FROM fingerprint_request_fingerprints r \
         JOIN fingerprint_profiles p ON p.id = r.profile_id \
         JOIN fingerprint_sessions s ON s.id = r.session_id WHERE TRUE"
    ));
    sql.is_in("r.session_id", ids.clone(), Col::Int)
        .push(format!(
            " UNION ALL SELECT s.user_id, {KIND_BROWSER}, b.visitor_id, b.created_at \
         FROM fingerprint_browser_fingerprints b \
         JOIN fingerprint_sessions s ON s.id = b.session_id WHERE TRUE"
        ));
    sql.is_in("b.session_id", ids, Col::Int).push(format!(
        ") AS seen WHERE user_id IS NOT NULL GROUP BY user_id, kind, value \
         ORDER BY {}, kind, {} \
         ON CONFLICT (user_id, kind, value) DO UPDATE SET first_seen = {}, last_seen = {}",
        D::bytewise("user_id"),
        D::bytewise("value"),
        D::least("fingerprint_user_devices.first_seen", "excluded.first_seen"),
        D::greatest("fingerprint_user_devices.last_seen", "excluded.last_seen"),
    ));
    sql.execute(conn).await?;
    Ok(())
}

/// Rebuilds one user's devices from all of their sessions' fingerprints.
pub(crate) async fn rebuild_user_devices<D: Dialect>(
    conn: &mut D::Connection,
    user_id: &str,
) -> Result<(), StoreError> {
    Sql::<D>::new("DELETE FROM fingerprint_user_devices WHERE user_id = ")
        .bind(user_id.to_owned())
        .execute(conn)
        .await?;
    let sessions: Vec<(i64,)> =
        Sql::<D>::new("SELECT id FROM fingerprint_sessions WHERE user_id = ")
            .bind(user_id.to_owned())
            .fetch_all_on(conn)
            .await?;
    let ids: Vec<i64> = sessions.into_iter().map(|(id,)| id).collect();
    absorb_sessions::<D>(conn, &ids).await
}

/// Locks `user_id` until the transaction ends against other links to and erasures of it
/// (see [`Dialect::LOCK_USER`]).
pub(crate) async fn lock_user<D: Dialect>(
    conn: &mut D::Connection,
    user_id: &str,
) -> Result<(), StoreError> {
    let [head, tail] = D::LOCK_USER;
    if !head.is_empty() {
        Sql::<D>::new(head)
            .bind(user_id.to_owned())
            .push(tail)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// `Store::link_sessions`. The users are locked first, then the sessions, each in key order
/// (the order batches lock sessions in), so a link and a batch or another link never wait
/// for each other in a circle; a session given twice is linked in the order given.
pub(crate) async fn link_sessions<D: Dialect>(
    store: &SqlStore<D>,
    links: &[SessionLink],
) -> Result<Vec<LinkOutcome>, StoreError> {
    let mut tx = D::begin_write(&store.pool).await?;
    // An erasure of a user waits for this link, or this link for it: never a session linked
    // to a user while the user is being erased.
    let users: BTreeSet<&str> = links.iter().map(|link| link.user_id.as_str()).collect();
    for user in &users {
        lock_user::<D>(&mut *tx, user).await?;
    }
    let mut order: Vec<usize> = (0..links.len()).collect();
    order.sort_by_key(|&n| links[n].session_key.as_str());
    let mut outcomes = vec![None; links.len()];
    let mut touched = BTreeSet::new();
    let mut linked = Vec::new();
    for n in order {
        let link = &links[n];
        let (id, current) = ensure_session::<D>(&mut *tx, &link.session_key, link.at).await?;
        let outcome = match current {
            Some(user) if user == link.user_id => LinkOutcome::AlreadyLinked,
            Some(other) => LinkOutcome::LinkedToOther(other),
            None => {
                Sql::<D>::new("UPDATE fingerprint_sessions SET user_id = ")
                    .bind(link.user_id.clone())
                    .push(", linked_at = ")
                    .bind(Timestamp(link.at))
                    .push(" WHERE id = ")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                linked.push(id);
                touched.insert(link.user_id.as_str());
                LinkOutcome::Linked
            }
        };
        outcomes[n] = Some(outcome);
    }
    absorb_sessions::<D>(&mut *tx, &linked).await?;
    let touched: Vec<&str> = touched.into_iter().collect();
    refresh_users::<D>(&mut *tx, &touched).await?;
    tx.commit().await?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// `Store::relink_session`.
pub(crate) async fn relink_session<D: Dialect>(
    store: &SqlStore<D>,
    session_key: &str,
    user_id: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // Both users are locked, in order, before the session: the one it leaves (read first,
    // then again under the locks: a link may have moved the session meanwhile, and then the
    // transaction starts again) and the one it goes to.
    let session = || {
        let mut sql = Sql::<D>::new("SELECT id, user_id FROM fingerprint_sessions WHERE key = ");
        sql.bind(session_key.to_owned());
        sql
    };
    let mut tries = 0;
    let (mut tx, id, previous) = loop {
        tries += 1;
        let mut tx = D::begin_write(&store.pool).await?;
        let seen: Option<(i64, Option<String>)> = session().fetch_optional_on(&mut *tx).await?;
        let Some((_, seen)) = seen else {
            return Ok(false);
        };
        let users: BTreeSet<&str> = seen.as_deref().into_iter().chain(user_id).collect();
        for user in users {
            lock_user::<D>(&mut *tx, user).await?;
        }
        let found: Option<(i64, Option<String>)> = session()
            .push(D::FOR_UPDATE)
            .fetch_optional_on(&mut *tx)
            .await?;
        let Some((id, previous)) = found else {
            return Ok(false);
        };
        if previous == seen || tries == 3 {
            if let Some(user) = previous.as_deref().filter(|_| previous != seen) {
                // Moved three times in a row: its user now is locked out of order.
                lock_user::<D>(&mut *tx, user).await?;
            }
            break (tx, id, previous);
        }
    };
    Sql::<D>::new("UPDATE fingerprint_sessions SET user_id = ")
        .bind(user_id.map(str::to_owned))
        .push(", linked_at = ")
        .bind(user_id.map(|_| Timestamp(at)))
        .push(" WHERE id = ")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let mut touched: Vec<&str> = previous.as_deref().into_iter().chain(user_id).collect();
    touched.sort_unstable();
    touched.dedup();
    for user in &touched {
        rebuild_user_devices::<D>(&mut *tx, user).await?;
    }
    refresh_users::<D>(&mut *tx, &touched).await?;
    tx.commit().await?;
    Ok(true)
}

/// Recomputes the summary rows of `users` (sorted) from their sessions and devices, and
/// drops the rows of users left without sessions.
pub(crate) async fn refresh_users<D: Dialect>(
    conn: &mut D::Connection,
    users: &[&str],
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let list = json(users)?;
    Sql::<D>::insert_rows(
        "fingerprint_users",
        json(&users.iter().map(|u| [u]).collect::<Vec<_>>())?,
        &[("user_id", Col::Text)],
    )
    .push(" WHERE TRUE ON CONFLICT (user_id) DO NOTHING")
    .execute(conn)
    .await?;
    Sql::<D>::new(
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
                 WHERE s.user_id = fingerprint_users.user_id) AS f), \
         last_seen = (SELECT MAX(t) FROM ( \
             SELECT MAX(last_seen) AS t FROM fingerprint_user_devices d \
                 WHERE d.user_id = fingerprint_users.user_id \
             UNION ALL SELECT MAX(COALESCE(linked_at, created_at)) FROM fingerprint_sessions s \
                 WHERE s.user_id = fingerprint_users.user_id) AS l) \
         WHERE TRUE",
    )
    .is_in("user_id", list.clone(), Col::Text)
    .execute(conn)
    .await?;
    Sql::<D>::new("DELETE FROM fingerprint_users WHERE sessions = 0")
        .is_in("user_id", list, Col::Text)
        .execute(conn)
        .await?;
    Ok(())
}

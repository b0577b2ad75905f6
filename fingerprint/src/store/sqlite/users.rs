//! Users, sessions and devices on SQLite.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{micros, MAX_PARAMS};
use crate::store::batch::pow2_chunks;
use crate::store::users::{DeviceSeen, KIND_AGENT, KIND_BROWSER};
use crate::store::StoreError;

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
pub(super) async fn absorb_session(
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

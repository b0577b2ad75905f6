//! Users, sessions and devices on PostgreSQL.
//!
//! Linking locks the session row (`FOR UPDATE`); a batch write locks the existing sessions it
//! writes to (`FOR SHARE`). So a link and a concurrent write to the same session are
//! serialised: either the write sees the user, or the link sees the write's fingerprints.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::store::users::DeviceSeen;
use crate::store::StoreError;

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

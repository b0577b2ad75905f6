//! Users, sessions and devices on SQLite.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{micros, MAX_PARAMS};
use crate::store::batch::pow2_chunks;
use crate::store::users::DeviceSeen;
use crate::store::StoreError;

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

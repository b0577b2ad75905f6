//! The daily rollup and the IP index that `record` keeps on SQLite.

use std::borrow::Cow;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::MAX_PARAMS;
use crate::store::batch::pow2_chunks;
use crate::store::insight::{ip_sessions, DailyDelta, RecordedRow};
use crate::store::StoreError;

/// The request fingerprints with ids in `(low, high]`, as the rollup needs them (for a
/// batch whose insert skipped some rows: the rows of one `INSERT` have consecutive ids).
pub(super) async fn recorded_rows(
    conn: &mut SqliteConnection,
    low: i64,
    high: i64,
) -> Result<Vec<RecordedRow<'static>>, StoreError> {
    let rows = sqlx::query(
        "SELECT session_id, created_at, ip, browser, os, device_type, country_code \
         FROM fingerprint_request_fingerprints WHERE id > ? AND id <= ?",
    )
    .bind(low)
    .bind(high)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RecordedRow {
                session_id: row.try_get(0)?,
                at: row.try_get(1)?,
                ip: row.try_get::<Option<String>, _>(2)?.map(Cow::Owned),
                browser: Cow::Owned(row.try_get(3)?),
                os: Cow::Owned(row.try_get(4)?),
                device_type: Cow::Owned(row.try_get(5)?),
                country_code: Cow::Owned(row.try_get(6)?),
            })
        })
        .collect()
}

/// What a batch's stored request fingerprints add to the dashboard's tables, in the batch's
/// transaction: the (IP address, session) pairs, and the daily rollup (new (day, session)
/// pairs are the day's new unique visitors).
pub(super) async fn record_rollups(
    conn: &mut SqliteConnection,
    rows: &[RecordedRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    for chunk in pow2_chunks(&ip_sessions(rows), MAX_PARAMS / 2) {
        let mut insert =
            QueryBuilder::<Sqlite>::new("INSERT INTO fingerprint_ip_sessions (ip, session_id) ");
        insert.push_values(chunk, |mut row, (ip, session)| {
            row.push_bind(*ip).push_bind(*session);
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    let delta = DailyDelta::new(rows);
    let mut new_pairs = Vec::new();
    for chunk in pow2_chunks(&delta.pairs, MAX_PARAMS / 2) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO fingerprint_daily_sessions (day, session_id) ",
        );
        insert.push_values(chunk, |mut row, (day, session)| {
            row.push_bind(*day).push_bind(*session);
        });
        insert.push(" ON CONFLICT DO NOTHING RETURNING day, session_id");
        for row in insert.build().fetch_all(&mut *conn).await? {
            new_pairs.push((row.try_get(0)?, row.try_get(1)?));
        }
    }
    let increments = delta.increments(new_pairs);
    for chunk in pow2_chunks(&increments, MAX_PARAMS / 5) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors) ",
        );
        upsert.push_values(chunk, |mut row, change| {
            row.push_bind(change.dimension)
                .push_bind(change.day)
                .push_bind(&change.value)
                .push_bind(change.visits)
                .push_bind(change.visitors);
        });
        upsert.push(
            " ON CONFLICT (dimension, day, value) DO UPDATE SET \
             visits = visits + excluded.visits, visitors = visitors + excluded.visitors",
        );
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

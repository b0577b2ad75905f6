//! The dashboard's queries on PostgreSQL, and the daily rollup that `record` keeps.
//!
//! The rollup stays exact under concurrent writers for the same reason the hit counters do:
//! a (day, session) pair is counted as a new visitor only by the transaction that inserted
//! it, and counter rows are upserted in key order.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::store::insight::{date_of_day, day_number, ip_sessions, DailyDelta, RecordedRow};
use crate::store::StoreError;

/// What `record` asks its request-fingerprint insert to return for the rollup.
pub(super) const RETURNING: &str =
    " RETURNING session_id, created_at, host(ip), browser, os, device_type, country_code";

/// A row returned by [`RETURNING`].
pub(super) fn recorded_row(row: &PgRow) -> Result<RecordedRow<'static>, StoreError> {
    let at: DateTime<Utc> = row.try_get(1)?;
    Ok(RecordedRow {
        session_id: row.try_get(0)?,
        at: at.timestamp_micros(),
        ip: row.try_get::<Option<String>, _>(2)?.map(Cow::Owned),
        browser: Cow::Owned(row.try_get(3)?),
        os: Cow::Owned(row.try_get(4)?),
        device_type: Cow::Owned(row.try_get(5)?),
        country_code: Cow::Owned(row.try_get(6)?),
    })
}

/// What a batch's stored request fingerprints add to the dashboard's tables, in the batch's
/// transaction: the (IP address, session) pairs, and the daily rollup (new (day, session)
/// pairs are the day's new unique visitors).
pub(super) async fn record_rollups(
    conn: &mut PgConnection,
    rows: &[RecordedRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let pairs = ip_sessions(rows);
    if !pairs.is_empty() {
        let ips: Vec<&str> = pairs.iter().map(|(ip, _)| *ip).collect();
        let sessions: Vec<i64> = pairs.iter().map(|(_, session)| *session).collect();
        sqlx::query(
            "INSERT INTO fingerprint_ip_sessions (ip, session_id) \
             SELECT v.ip::inet, v.session_id \
             FROM UNNEST($1::text[], $2::bigint[]) AS v(ip, session_id) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&ips)
        .bind(&sessions)
        .execute(&mut *conn)
        .await?;
    }
    let delta = DailyDelta::new(rows);
    let days = delta
        .pairs
        .iter()
        .map(|(day, _)| date_of_day(*day))
        .collect::<Result<Vec<NaiveDate>, _>>()?;
    let sessions: Vec<i64> = delta.pairs.iter().map(|(_, session)| *session).collect();
    let new_pairs = sqlx::query(
        "INSERT INTO fingerprint_daily_sessions (day, session_id) \
         SELECT * FROM UNNEST($1::date[], $2::bigint[]) \
         ON CONFLICT DO NOTHING RETURNING day, session_id",
    )
    .bind(&days)
    .bind(&sessions)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((day_number(row.try_get(0)?), row.try_get(1)?)))
    .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
    let increments = delta.increments(new_pairs);
    let dimensions: Vec<&str> = increments.iter().map(|i| i.dimension).collect();
    let days = increments
        .iter()
        .map(|i| date_of_day(i.day))
        .collect::<Result<Vec<NaiveDate>, _>>()?;
    let values: Vec<&str> = increments.iter().map(|i| i.value.as_str()).collect();
    let visits: Vec<i64> = increments.iter().map(|i| i.visits).collect();
    let visitors: Vec<i64> = increments.iter().map(|i| i.visitors).collect();
    sqlx::query(
        "INSERT INTO fingerprint_daily (dimension, day, value, visits, visitors) \
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[]) \
         ON CONFLICT (dimension, day, value) DO UPDATE SET \
         visits = fingerprint_daily.visits + excluded.visits, \
         visitors = fingerprint_daily.visitors + excluded.visitors",
    )
    .bind(&dimensions)
    .bind(&days)
    .bind(&values)
    .bind(&visits)
    .bind(&visitors)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

//! What PostgreSQL does its own way in the shared queries, and how its columns store times
//! and days (TIMESTAMPTZ, DATE).

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{Database, Decode, Encode, Pool, Postgres, Transaction, Type};

use crate::insight::{IpFilter, RequestQuery};
use crate::store::sql::dialect::{date_of, sealed, Day, Dialect, Param, Sql, Timestamp};
use crate::store::sql::dialect::{Access, Col};
use crate::store::{Migrations, StoreError};

impl sealed::Sealed for Postgres {}

impl Dialect for Postgres {
    crate::store::sql::dialect::run_queries!();

    const MIGRATIONS: Migrations = super::MIGRATIONS;

    const MIGRATIONS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS fingerprint_migrations (
        version BIGINT PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )";

    const HAS_MIGRATIONS_TABLE: &'static str =
        "SELECT 1 WHERE to_regclass('fingerprint_migrations') IS NOT NULL";

    // An advisory lock held to the end of the transaction; the key spells "fprtmigr".
    const MIGRATION_LOCK: &'static str = "SELECT pg_advisory_xact_lock(7381525633637640050)";

    const LOCK_VISITORS: &'static str =
        "LOCK TABLE fingerprint_url_visitors IN SHARE ROW EXCLUSIVE MODE";

    // An advisory lock on a hash of the user id (a collision only makes two users wait).
    const LOCK_USER: [&'static str; 2] = [
        "SELECT pg_advisory_xact_lock(hashtextextended('fingerprint_user:' || ",
        ", 0))",
    ];

    // Held by concurrent batches together; it waits for LOCK_VISITORS (a purge clears implied
    // (day, session) pairs on sessions a batch would otherwise lock first).
    const RECORD_LOCK: &'static str = "LOCK TABLE fingerprint_url_visitors IN ROW EXCLUSIVE MODE";

    const FOR_UPDATE: &'static str = " FOR UPDATE";

    fn least(a: &str, b: &str) -> String {
        format!("LEAST({a}, {b})")
    }

    fn greatest(a: &str, b: &str) -> String {
        format!("GREATEST({a}, {b})")
    }

    const FOR_BATCH: &'static str = " FOR NO KEY UPDATE";

    fn json_rows(columns: &[(&str, Col)]) -> [String; 2] {
        let items: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(n, (name, col))| format!("{} AS {name}", item(&format!("e ->> {n}"), *col)))
            .collect();
        [
            format!("(SELECT {} FROM jsonb_array_elements(", items.join(", ")),
            "::jsonb) AS j(e)) AS v".to_owned(),
        ]
    }

    fn key_in_subquery(column: &str) -> [String; 2] {
        // An array made once (an init plan) and probed on the key's index: with `IN`, the
        // planner hashes the subquery against a scan of the whole table.
        [format!("{column} = ANY(ARRAY("), "))".to_owned()]
    }

    fn json_in(column: &str, col: Col) -> [String; 2] {
        // `= ANY(array)` is served by the column's index (a subquery is often hashed against
        // a scan of the table). A JSON array of integers is a valid array literal once its
        // brackets are braces; other values go through `jsonb`.
        match col {
            Col::Int => [
                format!("{column} = ANY(translate("),
                ", '[]', '{}')::bigint[])".to_owned(),
            ],
            _ => [
                format!(
                    "{column} = ANY(ARRAY(SELECT {} FROM jsonb_array_elements_text(",
                    item("t", col)
                ),
                "::jsonb) AS j(t)))".to_owned(),
            ],
        }
    }

    fn json_agg(expression: &str) -> String {
        format!("json_agg({expression})::text")
    }

    fn begin_write(
        pool: &Pool<Self>,
    ) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>> {
        Box::pin(pool.begin())
    }

    fn ip_text(column: &str) -> String {
        format!("host({column})")
    }

    fn bytewise(column: &str) -> String {
        // Matches the `COLLATE "C"` indexes of migration 0004.
        format!("({column} COLLATE \"C\")")
    }

    const POSITION: &'static str = "strpos";

    fn distinct_list(expression: &str) -> String {
        format!("string_agg(DISTINCT {expression}, ',')")
    }

    fn push_before<'q, T: Param<'q> + Copy>(
        sql: &mut Sql<'q, Self>,
        first: &str,
        id: &str,
        cursor: (T, i64),
    ) {
        let (value, last) = cursor;
        sql.push(format!(" AND ({first}, {id}) < ("))
            .bind(value)
            .push(", ")
            .bind(last)
            .push(")");
    }

    fn indexed_by(_index: &str) -> String {
        String::new()
    }

    fn push_ip_in(
        sql: &mut Sql<'_, Self>,
        column: &str,
        filter: &IpFilter,
    ) -> Result<(), StoreError> {
        sql.push(format!(" AND ({column} >= "))
            .bind(filter.network().to_string())
            .push(format!("::inet AND {column} <= "))
            .bind(filter.last().to_string())
            .push("::inet)");
        Ok(())
    }

    fn plan_requests<'a>(
        _store: &'a crate::store::SqlStore<Self>,
        query: &'a RequestQuery,
        _after: Option<(Timestamp, i64)>,
    ) -> BoxFuture<'a, Result<Access, StoreError>> {
        // The planner weighs the other filters; an address is looked up through the
        // (IP, session) index first, as on SQLite when the address has few sessions.
        let access = if query.ip.is_some() {
            Access::Sessions
        } else {
            Access::Auto
        };
        Box::pin(std::future::ready(Ok(access)))
    }
}

/// `text`, an item of a batch's JSON rows, as the type of `col`.
fn item(text: &str, col: Col) -> String {
    match col {
        Col::Int => format!("({text})::bigint"),
        Col::Text => text.to_owned(),
        Col::Time => format!("(timestamptz 'epoch' + interval '1 microsecond' * ({text})::bigint)"),
        Col::Day => format!("(date '1970-01-01' + ({text})::integer)"),
        Col::Ip => format!("({text})::inet"),
        Col::Json => format!("({text})::jsonb"),
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<DateTime<Utc> as Decode<'r, Postgres>>::decode(
            value,
        )?))
    }
}

impl Type<Postgres> for Day {
    fn type_info() -> PgTypeInfo {
        <NaiveDate as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <NaiveDate as Type<Postgres>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Postgres> for Day {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <NaiveDate as Encode<'q, Postgres>>::encode(date_of(self.0)?, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Day {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let date = <NaiveDate as Decode<'r, Postgres>>::decode(value)?;
        Ok(Self(crate::store::insight::day_number(date)))
    }
}

//! What SQLite does its own way in the shared queries, and how its columns store times and
//! days (INTEGER microseconds and days since the epoch).

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, Pool, Sqlite, Transaction, Type};

use crate::insight::{IpFilter, RequestQuery};
use crate::store::sql::dialect::{date_of, sealed, Day, Dialect, Param, Sql, Timestamp};
use crate::store::sql::dialect::{Access, Col};
use crate::store::{Migrations, StoreError};

impl sealed::Sealed for Sqlite {}

impl Dialect for Sqlite {
    crate::store::sql::dialect::run_queries!();

    const MIGRATIONS: Migrations = super::MIGRATIONS;

    const MIGRATIONS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS fingerprint_migrations (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at INTEGER NOT NULL
    )";

    const HAS_MIGRATIONS_TABLE: &'static str =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fingerprint_migrations'";

    const MIGRATION_LOCK: &'static str = "";

    const LOCK_VISITORS: &'static str = "";

    const LOCK_USER: [&'static str; 2] = ["", ""];

    const RECORD_LOCK: &'static str = "";

    const FOR_UPDATE: &'static str = "";

    fn least(a: &str, b: &str) -> String {
        format!("MIN({a}, {b})")
    }

    fn greatest(a: &str, b: &str) -> String {
        format!("MAX({a}, {b})")
    }

    const FOR_BATCH: &'static str = "";

    fn json_rows(columns: &[(&str, Col)]) -> [String; 2] {
        // `->>` gives each item its SQL type (INTEGER, REAL, TEXT or NULL): every column kind
        // is stored as it comes. Each row's array is made JSONB once (`jsonb`, SQLite 3.45+,
        // as bundled), kept in a materialized table, and read in place by every `->>`:
        // `json_each`'s `value` is text, turned out again and looked up for every column
        // that names it (about 10 % of a batch of new visitors, BENCHMARKS.md).
        let items: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(n, (name, _))| format!("e ->> {n} AS {name}"))
            .collect();
        [
            "(WITH r(e) AS MATERIALIZED (SELECT jsonb(value) FROM json_each(".to_owned(),
            format!(")) SELECT {} FROM r) AS v", items.join(", ")),
        ]
    }

    fn key_in_subquery(column: &str) -> [String; 2] {
        [format!("{column} IN ("), ")".to_owned()]
    }

    fn json_in(column: &str, _col: Col) -> [String; 2] {
        [
            format!("{column} IN (SELECT value FROM json_each("),
            "))".to_owned(),
        ]
    }

    fn json_agg(expression: &str) -> String {
        format!("json_group_array({expression})")
    }

    fn begin_write(
        pool: &Pool<Self>,
    ) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>> {
        Box::pin(pool.begin_with("BEGIN IMMEDIATE"))
    }

    fn ip_text(column: &str) -> String {
        column.to_owned()
    }

    fn bytewise(column: &str) -> String {
        // The default BINARY collation already compares bytes.
        column.to_owned()
    }

    const POSITION: &'static str = "instr";

    fn distinct_list(expression: &str) -> String {
        format!("group_concat(DISTINCT {expression})")
    }

    fn push_before<'q, T: Param<'q> + Copy>(
        sql: &mut Sql<'q, Self>,
        first: &str,
        id: &str,
        cursor: (T, i64),
    ) {
        let (value, last) = cursor;
        sql.push(format!(" AND {first} <= "))
            .bind(value)
            .push(format!(" AND ({first} < "))
            .bind(value)
            .push(format!(" OR {id} < "))
            .bind(last)
            .push(")");
    }

    fn indexed_by(index: &str) -> String {
        format!(" INDEXED BY {index}")
    }

    fn push_ip_in(
        sql: &mut Sql<'_, Self>,
        column: &str,
        filter: &IpFilter,
    ) -> Result<(), StoreError> {
        super::requests::push_ip_in(sql, column, filter)
    }

    fn plan_requests<'a>(
        store: &'a crate::store::SqlStore<Self>,
        query: &'a RequestQuery,
        after: Option<(Timestamp, i64)>,
    ) -> BoxFuture<'a, Result<Access, StoreError>> {
        Box::pin(super::requests::plan(store, query, after))
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(self.micros(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Self::from_micros(micros)?)
    }
}

impl Type<Sqlite> for Day {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Day {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, BoxDynError> {
        date_of(self.0)?;
        <i64 as Encode<'q, Sqlite>>::encode(self.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Day {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<i64 as Decode<'r, Sqlite>>::decode(value)?))
    }
}

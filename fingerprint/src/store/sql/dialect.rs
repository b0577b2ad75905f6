//! What differs between SQLite and PostgreSQL in the queries both stores share, and the small
//! query builder those queries are written with.
//!
//! A read query is written once, generic over `D: Dialect`: its text comes from `Sql` with
//! the few dialect fragments below, its binds go through `Sql::bind`, and its rows decode
//! into one `#[derive(sqlx::FromRow)]` type per result. Columns whose storage differs decode
//! through the newtypes here: [`Timestamp`] (INTEGER microseconds on SQLite, TIMESTAMPTZ on
//! PostgreSQL) and [`Day`] (INTEGER days since the epoch on SQLite, DATE on PostgreSQL).
//!
//! The items are `pub` only because the public store types name `Dialect` in their impl
//! bounds; the module is private, so nothing outside the crate can name or implement them.
#![allow(unreachable_pub)]

use std::fmt::Display;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use sqlx::{Database, Pool, QueryBuilder, Transaction};

use super::SqlStore;
use crate::insight::{IpFilter, RequestQuery};
use crate::store::{Migrations, StoreError};

pub(in crate::store) mod sealed {
    pub trait Sealed {}
}

/// A database the SQL store runs on: sqlx's `Sqlite` (feature `sqlite`, implemented in
/// `sqlite/dialect.rs`) or `Postgres` (feature `postgres`, `postgres/dialect.rs`). Sealed.
///
/// It holds what really differs between the two: a few SQL fragments, how a write
/// transaction starts and locks, and the statements each database runs its own way.
pub trait Dialect: Database + sealed::Sealed {
    /// The migrations: (version, description, SQL).
    const MIGRATIONS: Migrations;

    /// Creates the table of applied migrations (`version`, `description`, `applied_at`).
    const MIGRATIONS_TABLE: &'static str;

    /// Returns one row when the table of applied migrations exists.
    const HAS_MIGRATIONS_TABLE: &'static str;

    /// Serialises concurrent `migrate()` calls inside their transaction (empty: the write
    /// transaction already does).
    const MIGRATION_LOCK: &'static str;

    /// Locks the unique visitors against writers until the transaction ends (empty: the write
    /// transaction already holds the database).
    const LOCK_VISITORS: &'static str;

    /// The text before and after a user id that makes a statement locking that user, until
    /// the transaction ends, against the others that link sessions to or erase the same user
    /// (empty: the write transaction already holds the database).
    const LOCK_USER: [&'static str; 2];

    /// The first statement of a recording transaction (empty: the write transaction already
    /// holds the database): a lock that conflicts with [`Self::LOCK_VISITORS`], so a purge or
    /// a rebuild and a batch wait for each other before either holds a row the other needs.
    const RECORD_LOCK: &'static str;

    /// Appended to a `SELECT` of a row a transaction is about to change: ` FOR UPDATE` where
    /// rows are locked (PostgreSQL); empty where the write transaction holds the database.
    const FOR_UPDATE: &'static str;

    /// `column`, an IP address (TEXT on SQLite, INET on PostgreSQL), as text.
    fn ip_text(column: &str) -> String;

    /// `column` compared byte-wise, so a prefix range matches its index whatever the
    /// database's collation.
    fn bytewise(column: &str) -> String;

    /// The function that finds text in text: `POSITION(haystack, needle) > 0` when found.
    const POSITION: &'static str;

    /// The distinct non-NULL values of `expression` in a group, joined with commas.
    fn distinct_list(expression: &str) -> String;

    /// The smaller of two non-NULL expressions.
    fn least(a: &str, b: &str) -> String;

    /// The larger of two non-NULL expressions.
    fn greatest(a: &str, b: &str) -> String;

    /// `AND` rows strictly before the keyset cursor `(first, id)` in `(first DESC, id DESC)`
    /// order. SQLite serves the split form with a range on the index of `first`; PostgreSQL
    /// compares row values.
    fn push_before<'q, T: Param<'q> + Copy>(
        sql: &mut Sql<'q, Self>,
        first: &str,
        id: &str,
        cursor: (T, i64),
    );

    /// ` INDEXED BY index` after a table name where the query names its index (SQLite);
    /// empty where the planner chooses (PostgreSQL).
    fn indexed_by(index: &str) -> String;

    /// `AND column` (an IP address) is in the network `filter`.
    fn push_ip_in(
        sql: &mut Sql<'_, Self>,
        column: &str,
        filter: &IpFilter,
    ) -> Result<(), StoreError>;

    /// How the request list reads its table for `query` (`after`: its cursor).
    fn plan_requests<'a>(
        store: &'a SqlStore<Self>,
        query: &'a RequestQuery,
        after: Option<(Timestamp, i64)>,
    ) -> BoxFuture<'a, Result<Access, StoreError>>;

    /// Appended to the `SELECT` of the existing sessions a batch writes to: ` FOR NO KEY
    /// UPDATE` (PostgreSQL), so two batches writing to one session take turns and the second
    /// one's debounce sees the first one's rows, and a link, a purge or an erasure of the
    /// session waits for the batch (foreign-key checks, which take `KEY SHARE`, do not).
    /// Empty on SQLite, whose write transaction holds the database.
    const FOR_BATCH: &'static str;

    /// The text before and after a parameter holding a JSON array of arrays that makes it a
    /// table `v` with `columns` (the items of each array, in order, as these types).
    fn json_rows(columns: &[(&str, Col)]) -> [String; 2];

    /// The text before and after a parameter holding a JSON array of values of type `col`
    /// that makes it the condition "`column` is one of them", served by `column`'s index.
    fn json_in(column: &str, col: Col) -> [String; 2];

    /// The text before and after a subquery that makes it the condition "`column` (a
    /// primary key) is one of its rows", read by the key's index for each of them (not a scan
    /// of the table hashed against the subquery).
    fn key_in_subquery(column: &str) -> [String; 2];

    /// The values of `expression` in a group as one JSON array (text; NULL for no rows).
    fn json_agg(expression: &str) -> String;

    /// Starts a write transaction (SQLite takes the database's write lock at once).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> BoxFuture<'_, Result<Transaction<'static, Self>, sqlx::Error>>;

    // How sqlx runs a built query on this database. The calls are the same for both; they
    // are here because generic code cannot name sqlx's bounds for them.

    /// Runs the statement on a connection; the rows it changed.
    fn execute_on<'e, 'q: 'e>(
        conn: &'e mut Self::Connection,
        builder: &'e mut QueryBuilder<'q, Self>,
    ) -> BoxFuture<'e, Result<u64, sqlx::Error>>;

    /// The rows of the query, read on a connection.
    fn fetch_all_on<'e, 'q: 'e, T: Decoded + 'e>(
        conn: &'e mut Self::Connection,
        builder: &'e mut QueryBuilder<'q, Self>,
    ) -> BoxFuture<'e, Result<Vec<T>, sqlx::Error>>;

    /// Appends a placeholder bound to `value`.
    fn push_bind<'q, T: Param<'q>>(builder: &mut QueryBuilder<'q, Self>, value: T);

    /// The rows of the query, read from the pool.
    fn fetch_all<'e, 'q: 'e, T: Decoded + 'e>(
        pool: &'e Pool<Self>,
        builder: &'e mut QueryBuilder<'q, Self>,
    ) -> BoxFuture<'e, Result<Vec<T>, sqlx::Error>>;

    /// The first row of the query, if any, read from the pool.
    fn fetch_optional<'e, 'q: 'e, T: Decoded + 'e>(
        pool: &'e Pool<Self>,
        builder: &'e mut QueryBuilder<'q, Self>,
    ) -> BoxFuture<'e, Result<Option<T>, sqlx::Error>>;
}

/// The methods of [`Dialect`] that run a built query: the same text for both databases, where
/// generic code cannot name sqlx's bounds (a connection or pool of a known database is an
/// executor; one of `D: Database` is not). Expanded inside each `impl Dialect`.
macro_rules! run_queries {
    () => {
        fn execute_on<'e, 'q: 'e>(
            conn: &'e mut <Self as sqlx::Database>::Connection,
            builder: &'e mut sqlx::QueryBuilder<'q, Self>,
        ) -> futures_util::future::BoxFuture<'e, Result<u64, sqlx::Error>> {
            Box::pin(async move { Ok(builder.build().execute(conn).await?.rows_affected()) })
        }

        fn fetch_all_on<'e, 'q: 'e, T: $crate::store::sql::dialect::Decoded + 'e>(
            conn: &'e mut <Self as sqlx::Database>::Connection,
            builder: &'e mut sqlx::QueryBuilder<'q, Self>,
        ) -> futures_util::future::BoxFuture<'e, Result<Vec<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_all(conn).await })
        }

        fn push_bind<'q, T: $crate::store::sql::dialect::Param<'q>>(
            builder: &mut sqlx::QueryBuilder<'q, Self>,
            value: T,
        ) {
            builder.push_bind(value);
        }

        fn fetch_all<'e, 'q: 'e, T: $crate::store::sql::dialect::Decoded + 'e>(
            pool: &'e sqlx::Pool<Self>,
            builder: &'e mut sqlx::QueryBuilder<'q, Self>,
        ) -> futures_util::future::BoxFuture<'e, Result<Vec<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_all(pool).await })
        }

        fn fetch_optional<'e, 'q: 'e, T: $crate::store::sql::dialect::Decoded + 'e>(
            pool: &'e sqlx::Pool<Self>,
            builder: &'e mut sqlx::QueryBuilder<'q, Self>,
        ) -> futures_util::future::BoxFuture<'e, Result<Option<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_optional(pool).await })
        }
    };
}
pub(in crate::store) use run_queries;

/// How a batch statement reads an item of its JSON rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// An integer.
    Int,
    /// Text.
    Text,
    /// A time as microseconds since the epoch.
    Time,
    /// A UTC day as days since the epoch.
    Day,
    /// An IP address as text.
    Ip,
    /// JSON text.
    Json,
}

/// The names of `columns`, separated by commas.
pub fn column_names(columns: &[(&str, Col)]) -> String {
    columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the request list reads its table .
#[allow(unreachable_pub)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The planner's choice.
    Auto,
    /// The page's ids through this index (its matches sorted), then their rows.
    Index(&'static str),
    /// The page's ids from the rows of the sessions with the address (from
    /// `fingerprint_ip_sessions`), then their rows.
    Sessions,
    /// Newest first on the `created_at` index.
    Scan,
}

/// A query being written: SQL text and its bound values, in order.
#[allow(missing_debug_implementations)]
pub struct Sql<'q, D: Database>(QueryBuilder<'q, D>);

impl<'q, D: Dialect> Sql<'q, D> {
    /// A query starting with `sql`.
    pub fn new(sql: impl Into<String>) -> Self {
        Self(QueryBuilder::new(sql))
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.0.push(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind<T: Param<'q>>(&mut self, value: T) -> &mut Self {
        D::push_bind(&mut self.0, value);
        self
    }

    /// `INSERT INTO table (columns) SELECT columns FROM (...) AS v`: the rows of the JSON array
    /// of arrays `json`; the caller adds its `WHERE` and conflict clause.
    pub fn insert_rows(table: &str, json: String, columns: &[(&str, Col)]) -> Self {
        let names = column_names(columns);
        let mut sql = Self::new(format!(
            "INSERT INTO {table} ({names}) SELECT {names} FROM "
        ));
        sql.rows(json, columns);
        sql
    }

    /// `(SELECT ...) AS v`: the JSON array of arrays `json` as a table with `columns`.
    pub fn rows(&mut self, json: String, columns: &[(&str, Col)]) -> &mut Self {
        let [head, tail] = D::json_rows(columns);
        self.push(head).bind(json).push(tail)
    }

    /// `AND column` is one of the values of type `col` in the JSON array `json`.
    pub fn is_in(&mut self, column: &str, json: String, col: Col) -> &mut Self {
        let [head, tail] = D::json_in(column, col);
        self.push(" AND ").push(head).bind(json).push(tail)
    }

    /// `AND` rows before `cursor` (see [`Dialect::push_before`]), when there is one.
    pub fn before(&mut self, time: &str, id: &str, cursor: Option<(Timestamp, i64)>) -> &mut Self
    where
        Timestamp: Param<'q>,
    {
        if let Some(cursor) = cursor {
            D::push_before(self, time, id, cursor);
        }
        self
    }

    /// `AND column` starts with `prefix`, as a byte-wise range (nothing when empty).
    pub fn prefix(&mut self, column: &str, prefix: &str) -> &mut Self {
        if prefix.is_empty() {
            return self;
        }
        let column = D::bytewise(column);
        self.push(format!(" AND {column} >= "))
            .bind(prefix.to_owned());
        if let Some(upper) = crate::store::insight::prefix_upper_bound(prefix) {
            self.push(format!(" AND {column} < ")).bind(upper);
        }
        self
    }

    /// The rows, decoded.
    pub async fn fetch_all<T: Decoded>(&mut self, pool: &Pool<D>) -> Result<Vec<T>, StoreError> {
        Ok(D::fetch_all(pool, &mut self.0).await?)
    }

    /// The first row, if any, decoded.
    pub async fn fetch_optional<T: Decoded>(
        &mut self,
        pool: &Pool<D>,
    ) -> Result<Option<T>, StoreError> {
        Ok(D::fetch_optional(pool, &mut self.0).await?)
    }

    /// Runs the statement in a transaction (or on a connection); the rows it changed.
    pub async fn execute(&mut self, conn: &mut D::Connection) -> Result<u64, StoreError> {
        Ok(D::execute_on(conn, &mut self.0).await?)
    }

    /// The rows, decoded, read in a transaction (or on a connection).
    pub async fn fetch_all_on<T: Decoded>(
        &mut self,
        conn: &mut D::Connection,
    ) -> Result<Vec<T>, StoreError> {
        Ok(D::fetch_all_on(conn, &mut self.0).await?)
    }

    /// The first row, if any, read in a transaction (or on a connection).
    pub async fn fetch_optional_on<T: Decoded>(
        &mut self,
        conn: &mut D::Connection,
    ) -> Result<Option<T>, StoreError> {
        Ok(D::fetch_all_on(conn, &mut self.0).await?.into_iter().next())
    }

    /// The one row, decoded; a query that returns none is a decode error.
    pub async fn fetch_one<T: Decoded>(&mut self, pool: &Pool<D>) -> Result<T, StoreError> {
        self.fetch_optional(pool)
            .await?
            .ok_or_else(|| StoreError::Decode("a query for one row returned none".into()))
    }
}

/// A time stored as INTEGER microseconds since the epoch (SQLite) or TIMESTAMPTZ
/// (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The time of `micros` microseconds since the epoch.
    pub fn from_micros(micros: i64) -> Result<Self, StoreError> {
        DateTime::from_timestamp_micros(micros)
            .map(Self)
            .ok_or_else(|| StoreError::Decode(format!("timestamp {micros} out of range")))
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    /// The time of a page cursor: refused as invalid input unless both databases hold it
    /// (years 1 to 9999).
    pub fn of_cursor(micros: i64, cursor: &str) -> Result<Self, StoreError> {
        if !(EARLIEST_MICROS..=LATEST_MICROS).contains(&micros) {
            return Err(crate::store::insight::invalid_cursor(cursor));
        }
        Self::from_micros(micros)
    }
}

/// 0001-01-01 00:00:00 UTC in microseconds since the epoch.
const EARLIEST_MICROS: i64 = -62_135_596_800_000_000;

/// 9999-12-31 23:59:59.999999 UTC in microseconds since the epoch: the end of a window of
/// centuries (a time both databases hold).
pub(crate) const LATEST_MICROS: i64 = 253_402_300_799_999_999;

/// A `time:id` page cursor as a keyset position.
pub(crate) fn time_cursor(cursor: &str) -> Result<(Timestamp, i64), StoreError> {
    let (micros, id) = crate::store::insight::parse_pair_cursor(cursor)?;
    Ok((Timestamp::of_cursor(micros, cursor)?, id))
}

/// A UTC day stored as INTEGER days since the epoch (SQLite) or DATE (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl From<Day> for i64 {
    fn from(day: Day) -> Self {
        day.0
    }
}

impl Day {
    /// The day of `date`.
    pub fn of(date: NaiveDate) -> Self {
        Self(crate::store::insight::day_number(date))
    }

    /// The date of the day.
    pub fn date(self) -> Result<NaiveDate, StoreError> {
        crate::store::insight::date_of_day(self.0)
    }
}

pub(in crate::store) fn date_of(day: i64) -> Result<NaiveDate, sqlx::error::BoxDynError> {
    TimeDelta::try_days(day)
        .and_then(|days| NaiveDate::default().checked_add_signed(days))
        .ok_or_else(|| format!("day {day} out of range").into())
}

// What a value must be to be bound, and a row type to be decoded, on every database this
// build has: one bound per enabled backend, none for a disabled one.

#[cfg(feature = "sqlite")]
pub trait SqliteParam<'q>: sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> {}
#[cfg(feature = "sqlite")]
impl<'q, T: sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>> SqliteParam<'q> for T {}
#[cfg(not(feature = "sqlite"))]
pub trait SqliteParam<'q> {}
#[cfg(not(feature = "sqlite"))]
impl<T> SqliteParam<'_> for T {}

#[cfg(feature = "postgres")]
pub trait PgParam<'q>: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> {}
#[cfg(feature = "postgres")]
impl<'q, T: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>> PgParam<'q> for T {}
#[cfg(not(feature = "postgres"))]
pub trait PgParam<'q> {}
#[cfg(not(feature = "postgres"))]
impl<T> PgParam<'_> for T {}

/// A value that can be bound on every enabled database.
pub trait Param<'q>: SqliteParam<'q> + PgParam<'q> + Send + 'q {}
impl<'q, T: SqliteParam<'q> + PgParam<'q> + Send + 'q> Param<'q> for T {}

#[cfg(feature = "sqlite")]
pub trait SqliteDecoded: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> {}
#[cfg(feature = "sqlite")]
impl<T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>> SqliteDecoded for T {}
#[cfg(not(feature = "sqlite"))]
pub trait SqliteDecoded {}
#[cfg(not(feature = "sqlite"))]
impl<T> SqliteDecoded for T {}

#[cfg(feature = "postgres")]
pub trait PgDecoded: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> {}
#[cfg(feature = "postgres")]
impl<T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>> PgDecoded for T {}
#[cfg(not(feature = "postgres"))]
pub trait PgDecoded {}
#[cfg(not(feature = "postgres"))]
impl<T> PgDecoded for T {}

/// A row type that decodes on every enabled database.
pub trait Decoded: SqliteDecoded + PgDecoded + Send + Unpin {}
impl<T: SqliteDecoded + PgDecoded + Send + Unpin> Decoded for T {}

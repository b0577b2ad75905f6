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
use sqlx::{Database, Pool, QueryBuilder};

use super::SqlStore;
use crate::insight::RequestQuery;
use crate::model::StoredRequest;
use crate::store::StoreError;
use crate::users::Page;

mod sealed {
    pub trait Sealed {}
}

/// A database the SQL store runs on: sqlx's `Sqlite` (feature `sqlite`) or `Postgres`
/// (feature `postgres`). Sealed: the crate implements it for those two only.
pub trait Dialect: Database + sealed::Sealed {
    /// `column`, an IP address (TEXT on SQLite, INET on PostgreSQL), as text.
    fn ip_text(column: &str) -> String;

    /// `column` compared byte-wise, so a prefix range matches its index whatever the
    /// database's collation.
    fn bytewise(column: &str) -> String;

    /// The function that finds text in text: `POSITION(haystack, needle) > 0` when found.
    const POSITION: &'static str;

    /// The distinct non-NULL values of `expression` in a group, joined with commas.
    fn distinct_list(expression: &str) -> String;

    /// `AND` rows strictly before the keyset cursor `(first, id)` in `(first DESC, id DESC)`
    /// order. SQLite serves the split form with a range on the index of `first`; PostgreSQL
    /// compares row values.
    fn push_before<'q, T: Param<'q> + Copy>(
        sql: &mut Sql<'q, Self>,
        first: &str,
        id: &str,
        cursor: (T, i64),
    );

    /// The request-fingerprint list (`Reports::request_fingerprints`): the one read written
    /// per database, because SQLite has no statistics to weigh its filters against the
    /// newest-first order and picks its index by hand (`sqlite/requests.rs`).
    fn request_page<'a>(
        store: &'a SqlStore<Self>,
        query: &'a RequestQuery,
    ) -> BoxFuture<'a, Result<Page<StoredRequest>, StoreError>>;

    #[doc(hidden)]
    fn push_bind<'q, T: Param<'q>>(builder: &mut QueryBuilder<'q, Self>, value: T);

    #[doc(hidden)]
    fn fetch_all<'e, 'q: 'e, T: Decoded + 'e>(
        pool: &'e Pool<Self>,
        builder: &'e mut QueryBuilder<'q, Self>,
    ) -> BoxFuture<'e, Result<Vec<T>, sqlx::Error>>;

    #[doc(hidden)]
    fn fetch_optional<'e, 'q: 'e, T: Decoded + 'e>(
        pool: &'e Pool<Self>,
        builder: &'e mut QueryBuilder<'q, Self>,
    ) -> BoxFuture<'e, Result<Option<T>, sqlx::Error>>;
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

    /// Appends placeholders bound to `values`, separated by commas.
    pub fn bind_list<T: Param<'q>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.0.push(", ");
            }
            D::push_bind(&mut self.0, value);
        }
        self
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
}

/// A UTC day stored as INTEGER days since the epoch (SQLite) or DATE (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

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

fn date_of(day: i64) -> Result<NaiveDate, sqlx::error::BoxDynError> {
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

#[cfg(feature = "sqlite")]
mod sqlite {
    use futures_util::future::BoxFuture;
    use sqlx::error::BoxDynError;
    use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
    use sqlx::{Database, Decode, Encode, Pool, QueryBuilder, Sqlite, Type};

    use super::{
        date_of, Day, Decoded, Dialect, Page, Param, RequestQuery, Sql, SqlStore, StoreError,
        StoredRequest, Timestamp,
    };

    impl super::sealed::Sealed for Sqlite {}

    impl Dialect for Sqlite {
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

        fn request_page<'a>(
            store: &'a SqlStore<Self>,
            query: &'a RequestQuery,
        ) -> BoxFuture<'a, Result<Page<StoredRequest>, StoreError>> {
            Box::pin(crate::store::sqlite::requests::page(store, query))
        }

        fn push_bind<'q, T: Param<'q>>(builder: &mut QueryBuilder<'q, Self>, value: T) {
            builder.push_bind(value);
        }

        fn fetch_all<'e, 'q: 'e, T: Decoded + 'e>(
            pool: &'e Pool<Self>,
            builder: &'e mut QueryBuilder<'q, Self>,
        ) -> BoxFuture<'e, Result<Vec<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_all(pool).await })
        }

        fn fetch_optional<'e, 'q: 'e, T: Decoded + 'e>(
            pool: &'e Pool<Self>,
            builder: &'e mut QueryBuilder<'q, Self>,
        ) -> BoxFuture<'e, Result<Option<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_optional(pool).await })
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
}

#[cfg(feature = "postgres")]
mod postgres {
    use chrono::{DateTime, NaiveDate, Utc};
    use futures_util::future::BoxFuture;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgTypeInfo, PgValueRef};
    use sqlx::{Database, Decode, Encode, Pool, Postgres, QueryBuilder, Type};

    use super::{
        date_of, Day, Decoded, Dialect, Page, Param, RequestQuery, Sql, SqlStore, StoreError,
        StoredRequest, Timestamp,
    };

    impl super::sealed::Sealed for Postgres {}

    impl Dialect for Postgres {
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

        fn request_page<'a>(
            store: &'a SqlStore<Self>,
            query: &'a RequestQuery,
        ) -> BoxFuture<'a, Result<Page<StoredRequest>, StoreError>> {
            Box::pin(crate::store::postgres::requests::page(store, query))
        }

        fn push_bind<'q, T: Param<'q>>(builder: &mut QueryBuilder<'q, Self>, value: T) {
            builder.push_bind(value);
        }

        fn fetch_all<'e, 'q: 'e, T: Decoded + 'e>(
            pool: &'e Pool<Self>,
            builder: &'e mut QueryBuilder<'q, Self>,
        ) -> BoxFuture<'e, Result<Vec<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_all(pool).await })
        }

        fn fetch_optional<'e, 'q: 'e, T: Decoded + 'e>(
            pool: &'e Pool<Self>,
            builder: &'e mut QueryBuilder<'q, Self>,
        ) -> BoxFuture<'e, Result<Option<T>, sqlx::Error>> {
            Box::pin(async move { builder.build_query_as::<T>().fetch_optional(pool).await })
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
}

//! How SQLite reads the request list (`sql/requests.rs` writes it). SQLite has no statistics
//! to weigh an IP or URL filter against the newest-first order, so the plan does, with capped
//! counts on the candidate indexes. An address of few sessions: read those sessions' rows
//! (session index) and sort them. A URL prefix of few rows: read them through the URL index
//! and sort them. Otherwise walk the rows newest first: the page fills quickly.

use sqlx::Sqlite;

use crate::insight::{IpFilter, RequestQuery};
use crate::store::insight::non_empty;
use crate::store::insight::{text_ranges, TextRange};
use crate::store::sql::dialect::Access;
use crate::store::sql::dialect::{Sql, Timestamp};
use crate::store::{SqliteStore, StoreError};

/// The index on `(url_id, session_id)`.
const URL_INDEX: &str = "fingerprint_request_fingerprints_url_session";

/// Up to this many matches of a URL prefix are read through its index and sorted; beyond,
/// rows are walked newest first.
const INDEX_CAP: i64 = 10_000;

/// Up to this many sessions with an address: their rows are read and sorted; beyond, rows are
/// walked newest first.
const SESSION_CAP: i64 = 2_000;

/// `AND column` (an address as text) is in one of the text ranges of `filter`.
pub(super) fn push_ip_in(
    sql: &mut Sql<'_, Sqlite>,
    column: &str,
    filter: &IpFilter,
) -> Result<(), StoreError> {
    sql.push(" AND (");
    for (n, range) in text_ranges(filter)?.into_iter().enumerate() {
        if n > 0 {
            sql.push(" OR ");
        }
        match range {
            TextRange::Exact(text) => {
                sql.push(format!("{column} = ")).bind(text);
            }
            TextRange::Prefix { low, high } => {
                sql.push(format!("({column} >= "))
                    .bind(low)
                    .push(format!(" AND {column} < "))
                    .bind(high)
                    .push(")");
            }
        }
    }
    sql.push(")");
    Ok(())
}

/// The plan for `query`.
pub(super) async fn plan(
    store: &SqliteStore,
    query: &RequestQuery,
    after: Option<(Timestamp, i64)>,
) -> Result<Access, StoreError> {
    if query.session_key.is_some() {
        return Ok(Access::Auto);
    }
    if query.filters_profiles() {
        return Ok(Access::Scan);
    }
    if let Some(ip) = &query.ip {
        let mut count =
            Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM fingerprint_ip_sessions WHERE TRUE");
        push_ip_in(&mut count, "fingerprint_ip_sessions.ip", ip)?;
        let (sessions,): (i64,) = count
            .push(" LIMIT ")
            .bind(SESSION_CAP + 1)
            .push(")")
            .fetch_one(&store.pool)
            .await?;
        if sessions <= SESSION_CAP {
            return Ok(Access::Sessions);
        }
    }
    if let Some(prefix) = non_empty(query.url_prefix.as_ref()) {
        let (matches,): (i64,) = Sql::<Sqlite>::new(format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM fingerprint_request_fingerprints r \
             INDEXED BY {URL_INDEX} WHERE TRUE"
        ))
        .url_prefix(prefix)
        .before("r.created_at", "r.id", after)
        .push(" LIMIT ")
        .bind(INDEX_CAP + 1)
        .push(")")
        .fetch_one(&store.pool)
        .await?;
        if matches <= INDEX_CAP {
            return Ok(Access::Index(URL_INDEX));
        }
    }
    Ok(Access::Scan)
}

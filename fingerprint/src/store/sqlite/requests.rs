//! The request-fingerprint list on SQLite, planned by hand.
//!
//! The other reads are shared with PostgreSQL (`sql/reports.rs`); this one is not, because
//! SQLite has no statistics to weigh an IP or URL filter against the newest-first order: the
//! list counts matches on the candidate indexes (capped) and names its index (`INDEXED BY`).

use sqlx::{QueryBuilder, Sqlite};

use crate::insight::{clamp_limit, RequestQuery};
use crate::model::StoredRequest;
use crate::store::insight::{
    keyset_page, parse_pair_cursor, prefix_upper_bound, text_ranges, TextRange,
};
use crate::store::sql::{non_empty, request_columns, RequestRow};
use crate::store::{SqliteStore, StoreError};
use crate::users::Page;

const REQUEST_JOINS: &str = " JOIN fingerprint_sessions s ON s.id = r.session_id \
    JOIN fingerprint_urls u ON u.id = r.url_id WHERE 1 = 1";

const CREATED_INDEX: &str = "fingerprint_request_fingerprints_created_at";
const SESSION_INDEX: &str = "fingerprint_request_fingerprints_session_url";
const URL_INDEX: &str = "fingerprint_request_fingerprints_url_session";
/// Up to this many matches of a URL prefix are read through its index and sorted; beyond,
/// rows are walked newest first.
const INDEX_CAP: u32 = 10_000;
/// Up to this many sessions with an address: their rows are read and sorted; beyond, rows are
/// walked newest first.
const SESSION_CAP: u32 = 2_000;
/// How the request-fingerprint list reads its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// The planner's choice (a session's rows).
    Auto,
    /// Through this index, its matches sorted.
    Index(&'static str),
    /// The rows of the sessions with the address (from `fingerprint_ip_sessions`), sorted.
    Sessions,
    /// Newest first on the `created_at` index.
    Scan,
}

/// Rows before the cursor `(created_at, id)` in the newest-first order (a form SQLite
/// serves with a range on the `created_at` index).
fn push_before(select: &mut QueryBuilder<'_, Sqlite>, cursor: Option<(i64, i64)>) {
    if let Some((created, id)) = cursor {
        select
            .push(" AND r.created_at <= ")
            .push_bind(created)
            .push(" AND (r.created_at < ")
            .push_bind(created)
            .push(" OR r.id < ")
            .push_bind(id)
            .push(")");
    }
}

/// `column` (an address as text) is in one of `ranges`.
fn push_ip(select: &mut QueryBuilder<'_, Sqlite>, column: &str, ranges: &[TextRange]) {
    select.push(" AND (");
    for (n, range) in ranges.iter().enumerate() {
        if n > 0 {
            select.push(" OR ");
        }
        match range {
            TextRange::Exact(text) => {
                select
                    .push(format_args!("{column} = "))
                    .push_bind(text.clone());
            }
            TextRange::Prefix { low, high } => {
                select
                    .push(format_args!("({column} >= "))
                    .push_bind(low.clone())
                    .push(format_args!(" AND {column} < "))
                    .push_bind(high.clone())
                    .push(")");
            }
        }
    }
    select.push(")");
}

/// `r.url_id` is a URL starting with `prefix`.
fn push_url(select: &mut QueryBuilder<'_, Sqlite>, prefix: &str) {
    select.push(" AND r.url_id IN (SELECT id FROM fingerprint_urls WHERE 1 = 1");
    push_prefix(select, prefix);
    select.push(")");
}

/// One page of the request-fingerprint list (`Reports::request_fingerprints` on SQLite).
pub(crate) async fn page(
    store: &SqliteStore,
    query: &RequestQuery,
) -> Result<Page<StoredRequest>, StoreError> {
    let limit = clamp_limit(query.limit);
    let after = query.after.as_deref().map(parse_pair_cursor).transpose()?;
    let ranges = query.ip.as_ref().map(text_ranges).transpose()?;
    let url_prefix = non_empty(query.url_prefix.as_ref());
    let user_agent = non_empty(query.user_agent.as_ref());

    // SQLite has no statistics to weigh an IP or URL filter against the newest-first
    // order, so we do, with capped counts on their indexes. An address of few sessions:
    // read those sessions' rows (session index) and sort them. A URL prefix of few rows:
    // read them through the URL index and sort them. Otherwise walk the rows newest
    // first: the page fills quickly.
    let mut access = Access::Auto;
    if query.session_key.is_none() {
        access = Access::Scan;
        if user_agent.is_none() {
            let few_sessions = match &ranges {
                Some(ranges) => count_ip_sessions(store, ranges).await? <= SESSION_CAP,
                None => false,
            };
            if few_sessions {
                access = Access::Sessions;
            } else if let Some(prefix) = url_prefix {
                let matches =
                    count_matches(store, URL_INDEX, |q| push_url(q, prefix), after).await?;
                if matches <= INDEX_CAP {
                    access = Access::Index(URL_INDEX);
                }
            }
        }
    }

    // The user-agent search examines at most `scan_limit` rows below the cursor: down to
    // the `scan_limit`-th one (none: the window reaches the oldest row).
    let mut floor = None;
    if user_agent.is_some() {
        let mut boundary = QueryBuilder::<Sqlite>::new(format!(
            "SELECT r.created_at, r.id FROM fingerprint_request_fingerprints r \
                 INDEXED BY {CREATED_INDEX} WHERE 1 = 1"
        ));
        push_before(&mut boundary, after);
        boundary
            .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT 1 OFFSET ")
            .push_bind(i64::from(query.scan_limit.max(1)) - 1);
        floor = boundary
            .build_query_as::<(i64, i64)>()
            .fetch_optional(&store.pool)
            .await?;
    }

    let mut select = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {} FROM fingerprint_request_fingerprints r",
        request_columns::<Sqlite>()
    ));
    match access {
        Access::Index(index) => {
            // The page's ids from the index (sorted there), then their rows.
            select.push(REQUEST_JOINS).push(format_args!(
                " AND r.id IN (SELECT r.id FROM fingerprint_request_fingerprints r \
                     INDEXED BY {index} WHERE 1 = 1"
            ));
        }
        Access::Sessions => {
            // The page's ids from the rows of the address's sessions, then their rows.
            select.push(REQUEST_JOINS).push(format_args!(
                " AND r.id IN (SELECT r.id FROM fingerprint_request_fingerprints r \
                     INDEXED BY {SESSION_INDEX} WHERE r.session_id IN \
                     (SELECT session_id FROM fingerprint_ip_sessions WHERE 1 = 1"
            ));
            if let Some(ranges) = &ranges {
                push_ip(&mut select, "fingerprint_ip_sessions.ip", ranges);
            }
            select.push(")");
        }
        Access::Scan => {
            select
                .push(format_args!(" INDEXED BY {CREATED_INDEX}"))
                .push(REQUEST_JOINS);
        }
        Access::Auto => {
            select.push(REQUEST_JOINS);
        }
    }
    if let Some(key) = &query.session_key {
        select
            .push(" AND r.session_id = (SELECT id FROM fingerprint_sessions WHERE key = ")
            .push_bind(key.clone())
            .push(")");
    }
    if let Some(ranges) = &ranges {
        push_ip(&mut select, "r.ip", ranges);
    }
    if let Some(prefix) = url_prefix {
        push_url(&mut select, prefix);
    }
    push_before(&mut select, after);
    if let Some(text) = user_agent {
        if let Some((created, id)) = floor {
            select
                .push(" AND r.created_at >= ")
                .push_bind(created)
                .push(" AND (r.created_at > ")
                .push_bind(created)
                .push(" OR r.id >= ")
                .push_bind(id)
                .push(")");
        }
        select
            .push(" AND instr(lower(r.user_agent), ")
            .push_bind(text.to_ascii_lowercase())
            .push(") > 0");
    }
    select
        .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    if matches!(access, Access::Index(_) | Access::Sessions) {
        select.push(") ORDER BY r.created_at DESC, r.id DESC");
    }
    let rows = select
        .build_query_as::<RequestRow>()
        .fetch_all(&store.pool)
        .await?
        .into_iter()
        .map(RequestRow::decode)
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut page = keyset_page(rows, limit);
    if let (None, Some((created, id))) = (&page.next, floor) {
        // The window ended before the matches did: go on below it, if anything is there.
        let mut older = QueryBuilder::<Sqlite>::new(format!(
            "SELECT 1 FROM fingerprint_request_fingerprints r INDEXED BY {CREATED_INDEX} \
                 WHERE 1 = 1"
        ));
        push_before(&mut older, Some((created, id)));
        older.push(" LIMIT 1");
        if older
            .build_query_scalar::<i64>()
            .fetch_optional(&store.pool)
            .await?
            .is_some()
        {
            page.next = Some(format!("{created}:{id}"));
        }
    }
    Ok(page)
}

/// The sessions with an address in `ranges`, counted up to `SESSION_CAP + 1`.
async fn count_ip_sessions(store: &SqliteStore, ranges: &[TextRange]) -> Result<u32, StoreError> {
    let mut count = QueryBuilder::<Sqlite>::new(
        "SELECT COUNT(*) FROM (SELECT 1 FROM fingerprint_ip_sessions WHERE 1 = 1",
    );
    push_ip(&mut count, "fingerprint_ip_sessions.ip", ranges);
    count
        .push(" LIMIT ")
        .push_bind(i64::from(SESSION_CAP) + 1)
        .push(")");
    let sessions: i64 = count.build_query_scalar().fetch_one(&store.pool).await?;
    Ok(u32::try_from(sessions).unwrap_or(u32::MAX))
}

/// Request fingerprints matching a filter below the cursor, counted on `index` alone,
/// up to `INDEX_CAP + 1`.
async fn count_matches(
    store: &SqliteStore,
    index: &str,
    filter: impl FnOnce(&mut QueryBuilder<'_, Sqlite>),
    after: Option<(i64, i64)>,
) -> Result<u32, StoreError> {
    let mut count = QueryBuilder::<Sqlite>::new(format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM fingerprint_request_fingerprints r \
             INDEXED BY {index} WHERE 1 = 1"
    ));
    filter(&mut count);
    push_before(&mut count, after);
    count
        .push(" LIMIT ")
        .push_bind(i64::from(INDEX_CAP) + 1)
        .push(")");
    let matches: i64 = count.build_query_scalar().fetch_one(&store.pool).await?;
    Ok(u32::try_from(matches).unwrap_or(u32::MAX))
}

/// `url` starts with `prefix` (byte order: SQLite's default BINARY collation).
fn push_prefix(select: &mut QueryBuilder<'_, Sqlite>, prefix: &str) {
    select.push(" AND url >= ").push_bind(prefix.to_owned());
    if let Some(upper) = prefix_upper_bound(prefix) {
        select.push(" AND url < ").push_bind(upper);
    }
}

//! The request-fingerprint list on PostgreSQL.
//!
//! The other reads are shared with SQLite (`sql/reports.rs`); this one has a form per
//! database because SQLite's plans its index by hand (`sqlite/requests.rs`), while here an
//! address filter compares `inet` values and the planner's statistics choose the index.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use crate::insight::{clamp_limit, RequestQuery};
use crate::model::StoredRequest;
use crate::store::insight::{keyset_page, parse_pair_cursor, prefix_upper_bound, time_of_micros};
use crate::store::sql::{non_empty, request_select, RequestRow};
use crate::store::{PostgresStore, StoreError};
use crate::users::Page;

/// Rows before the cursor `(created_at, id)` in the newest-first order.
fn push_before(select: &mut QueryBuilder<'_, Postgres>, cursor: Option<(DateTime<Utc>, i64)>) {
    if let Some((created, id)) = cursor {
        select
            .push(" AND (r.created_at, r.id) < (")
            .push_bind(created)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
}

/// `column` starts with `prefix`, compared byte-wise (the `COLLATE "C"` index of 0004).
fn push_prefix(select: &mut QueryBuilder<'_, Postgres>, column: &str, prefix: &str) {
    select
        .push(format_args!(" AND ({column} COLLATE \"C\") >= "))
        .push_bind(prefix.to_owned());
    if let Some(upper) = prefix_upper_bound(prefix) {
        select
            .push(format_args!(" AND ({column} COLLATE \"C\") < "))
            .push_bind(upper);
    }
}

/// One page of the request-fingerprint list (`Reports::request_fingerprints` on PostgreSQL).
pub(crate) async fn page(
    store: &PostgresStore,
    query: &RequestQuery,
) -> Result<Page<StoredRequest>, StoreError> {
    let limit = clamp_limit(query.limit);
    let after = query
        .after
        .as_deref()
        .map(parse_pair_cursor)
        .transpose()?
        .map(|(created, id)| Ok::<_, StoreError>((time_of_micros(created)?, id)))
        .transpose()?;
    let user_agent = non_empty(query.user_agent.as_ref());

    // The user-agent search examines at most `scan_limit` rows below the cursor: down to
    // the `scan_limit`-th one (none: the window reaches the oldest row).
    let mut floor: Option<(DateTime<Utc>, i64)> = None;
    if user_agent.is_some() {
        let mut boundary = QueryBuilder::<Postgres>::new(
            "SELECT r.created_at, r.id FROM fingerprint_request_fingerprints r WHERE TRUE",
        );
        push_before(&mut boundary, after);
        boundary
            .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT 1 OFFSET ")
            .push_bind(i64::from(query.scan_limit.max(1)) - 1);
        floor = boundary
            .build_query_as::<(DateTime<Utc>, i64)>()
            .fetch_optional(&store.pool)
            .await?;
    }

    let mut select = QueryBuilder::<Postgres>::new(request_select::<Postgres>() + " WHERE TRUE");
    if let Some(key) = &query.session_key {
        select
            .push(" AND r.session_id = (SELECT id FROM fingerprint_sessions WHERE key = ")
            .push_bind(key.clone())
            .push(")");
    }
    if let Some(ip) = &query.ip {
        // The sessions with the address (fingerprint_ip_sessions), then their rows.
        let (first, last) = (ip.network().to_string(), ip.last().to_string());
        select
            .push(
                " AND r.session_id IN (SELECT session_id FROM fingerprint_ip_sessions \
                     WHERE ip >= ",
            )
            .push_bind(first.clone())
            .push("::inet AND ip <= ")
            .push_bind(last.clone())
            .push("::inet) AND r.ip >= ")
            .push_bind(first)
            .push("::inet AND r.ip <= ")
            .push_bind(last)
            .push("::inet");
    }
    if let Some(prefix) = non_empty(query.url_prefix.as_ref()) {
        select.push(" AND r.url_id IN (SELECT id FROM fingerprint_urls WHERE TRUE");
        push_prefix(&mut select, "url", prefix);
        select.push(")");
    }
    push_before(&mut select, after);
    if let Some(text) = user_agent {
        if let Some((created, id)) = floor {
            select
                .push(" AND (r.created_at, r.id) >= (")
                .push_bind(created)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        select
            .push(" AND strpos(lower(r.user_agent), ")
            .push_bind(text.to_ascii_lowercase())
            .push(") > 0");
    }
    select
        .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
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
        let mut older = QueryBuilder::<Postgres>::new(
            "SELECT 1 FROM fingerprint_request_fingerprints r WHERE TRUE",
        );
        push_before(&mut older, Some((created, id)));
        older.push(" LIMIT 1");
        if older
            .build_query_scalar::<i32>()
            .fetch_optional(&store.pool)
            .await?
            .is_some()
        {
            page.next = Some(format!("{}:{id}", created.timestamp_micros()));
        }
    }
    Ok(page)
}

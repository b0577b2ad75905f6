//! The request-fingerprint list (`Reports::request_fingerprints`), written once. How it reads
//! the table is the database's choice ([`Dialect::plan_requests`]): PostgreSQL's planner
//! weighs the filters with its statistics; SQLite has none, so its plan counts matches on the
//! candidate indexes and names one (`INDEXED BY`).

use super::dialect::{time_cursor, Access};
use super::dialect::{Dialect, Sql, Timestamp};
use super::rows::{request_columns, RequestRow};
use super::SqlStore;
use crate::insight::{clamp_limit, RequestQuery};
use crate::model::Page;
use crate::model::StoredRequest;
use crate::store::insight::keyset_page;
use crate::store::insight::non_empty;
use crate::store::StoreError;

/// The index on `created_at`.
pub(crate) const CREATED_INDEX: &str = "fingerprint_request_fingerprints_created_at";
/// The index on `(session_id, url_id, created_at)`.
pub(crate) const SESSION_INDEX: &str = "fingerprint_request_fingerprints_session_url";

const JOINS: &str = " JOIN fingerprint_sessions s ON s.id = r.session_id \
    JOIN fingerprint_urls u ON u.id = r.url_id \
    JOIN fingerprint_profiles p ON p.id = r.profile_id WHERE TRUE";

impl<D: Dialect> Sql<'_, D> {
    /// `AND r.url_id` is a URL starting with `prefix`.
    pub(crate) fn url_prefix(&mut self, prefix: &str) -> &mut Self {
        self.push(" AND r.url_id IN (SELECT id FROM fingerprint_urls WHERE TRUE")
            .prefix("url", prefix)
            .push(")")
    }
}

/// One page of the request-fingerprint list.
pub(crate) async fn request_page<D: Dialect>(
    store: &SqlStore<D>,
    query: &RequestQuery,
) -> Result<Page<StoredRequest>, StoreError> {
    let limit = clamp_limit(query.limit);
    let after = query.after.as_deref().map(time_cursor).transpose()?;
    let user_agent = non_empty(query.user_agent.as_ref());
    let ja4 = non_empty(query.ja4.as_ref());
    let access = D::plan_requests(store, query, after).await?;

    // A user-agent, JA4, verdict or reason search examines at most `scan_limit` rows below the cursor: down
    // to the `scan_limit`-th one (none: the window reaches the oldest row).
    let mut floor: Option<(Timestamp, i64)> = None;
    if query.filters_profiles() {
        floor = Sql::<D>::new(format!(
            "SELECT r.created_at, r.id FROM fingerprint_request_fingerprints r{} WHERE TRUE",
            D::indexed_by(CREATED_INDEX)
        ))
        .before("r.created_at", "r.id", after)
        .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT 1 OFFSET ")
        .bind(i64::from(query.scan_limit.max(1)) - 1)
        .fetch_optional(&store.pool)
        .await?;
    }

    let mut sql = Sql::<D>::new(format!(
        "SELECT {} FROM fingerprint_request_fingerprints r",
        request_columns::<D>()
    ));
    match access {
        Access::Index(index) => {
            sql.push(JOINS).push(format!(
                " AND r.id IN (SELECT r.id FROM fingerprint_request_fingerprints r{} WHERE TRUE",
                D::indexed_by(index)
            ));
        }
        Access::Sessions => {
            sql.push(JOINS).push(format!(
                " AND r.id IN (SELECT r.id FROM fingerprint_request_fingerprints r{} \
                 WHERE r.session_id IN (SELECT session_id FROM fingerprint_ip_sessions \
                 WHERE TRUE",
                D::indexed_by(SESSION_INDEX)
            ));
            if let Some(ip) = &query.ip {
                D::push_ip_in(&mut sql, "fingerprint_ip_sessions.ip", ip)?;
            }
            sql.push(")");
        }
        Access::Scan => {
            sql.push(D::indexed_by(CREATED_INDEX)).push(JOINS);
        }
        Access::Auto => {
            sql.push(JOINS);
        }
    }
    if let Some(key) = &query.session_key {
        sql.push(" AND r.session_id = (SELECT id FROM fingerprint_sessions WHERE key = ")
            .bind(key.clone())
            .push(")");
    }
    if let Some(ip) = &query.ip {
        D::push_ip_in(&mut sql, "r.ip", ip)?;
    }
    if let Some(prefix) = non_empty(query.url_prefix.as_ref()) {
        sql.url_prefix(prefix);
    }
    sql.before("r.created_at", "r.id", after);
    if let Some((created, id)) = floor {
        sql.push(" AND r.created_at >= ")
            .bind(created)
            .push(" AND (r.created_at > ")
            .bind(created)
            .push(" OR r.id >= ")
            .bind(id)
            .push(")");
    }
    // The profiles are few: find the matching ones, then their rows.
    if let Some(ja4) = ja4 {
        sql.push(" AND r.profile_id IN (SELECT id FROM fingerprint_profiles WHERE ja4 = ")
            .bind(ja4.to_owned())
            .push(")");
    }
    if let Some(verdict) = query.verdict {
        sql.push(" AND r.profile_id IN (SELECT id FROM fingerprint_profiles WHERE verdict = ")
            .bind(verdict.as_str())
            .push(")");
    }
    if let Some(reason) = query.reason {
        // Stored as codes joined by `,`; `_` (a LIKE wildcard) escaped.
        let code = reason.as_str().replace('_', "\\_");
        sql.push(
            " AND r.profile_id IN (SELECT id FROM fingerprint_profiles \
             WHERE (',' || reasons || ',') LIKE ",
        )
        .bind(format!("%,{code},%"))
        .push(" ESCAPE '\\')");
    }
    if let Some(text) = user_agent {
        sql.push(format!(
            " AND r.profile_id IN (SELECT id FROM fingerprint_profiles \
             WHERE {}(lower(user_agent), ",
            D::POSITION
        ))
        .bind(text.to_ascii_lowercase())
        .push(") > 0)");
    }
    sql.push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
        .bind(i64::from(limit) + 1);
    if matches!(access, Access::Index(_) | Access::Sessions) {
        sql.push(") ORDER BY r.created_at DESC, r.id DESC");
    }
    let rows: Vec<RequestRow> = sql.fetch_all(&store.pool).await?;
    let rows = rows
        .into_iter()
        .map(RequestRow::decode)
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut page = keyset_page(rows, limit);
    if let (None, Some((created, id))) = (&page.next, floor) {
        // The window ended before the matches did: go on below it, if anything is there.
        let older: Option<(i32,)> = Sql::<D>::new(format!(
            "SELECT 1 FROM fingerprint_request_fingerprints r{} WHERE TRUE",
            D::indexed_by(CREATED_INDEX)
        ))
        .before("r.created_at", "r.id", Some((created, id)))
        .push(" LIMIT 1")
        .fetch_optional(&store.pool)
        .await?;
        if older.is_some() {
            page.next = Some(format!("{}:{id}", created.micros()));
        }
    }
    Ok(page)
}

//! Header profiles: the user agent, accept and content headers of a request, with the device
//! derived from them, stored once in `fingerprint_profiles` and referenced by id from each
//! request fingerprint (they repeat across most requests). Ids are cached like URL ids.
//!
//! Since migration 6 a profile also holds the request's network fingerprints (JA4, HTTP/2,
//! header order), and since migration 7 its assessment: they repeat the same way.
//!
//! A profile's `key` is a hash of its values computed here, so both databases and every
//! instance of the app agree on it without comparing the texts in an index. Profiles are
//! never deleted: cached ids stay valid.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::dialect::{column_names, Col, Dialect, Sql};
use super::write::{intern, json};
use super::SqlStore;
use crate::model::{RequestFingerprint, Visit};
use crate::store::batch::{missing_id, FastMap};
use crate::store::{Progress, ProgressFn, StoreError};

/// The profile's values, in [`COLUMNS`] order after the key.
type Values<'a> = [&'a str; 16];

/// Values a profile had before migration 6 added the network fingerprints: the key covers
/// only these when the others are empty, so keys stored before stay valid.
const BEFORE_NETWORK: usize = 11;

/// Values a profile had before migration 7 added the assessment.
const BEFORE_ASSESSMENT: usize = 14;

/// The columns of `fingerprint_profiles`, its unique key first.
const COLUMNS: &[(&str, Col)] = &[
    ("key", Col::Text),
    ("user_agent", Col::Text),
    ("accept", Col::Text),
    ("accept_language", Col::Text),
    ("accept_encoding", Col::Text),
    ("content_encoding", Col::Text),
    ("content_language", Col::Text),
    ("browser", Col::Text),
    ("browser_version", Col::Text),
    ("os", Col::Text),
    ("os_version", Col::Text),
    ("device_type", Col::Text),
    ("ja4", Col::Text),
    ("http2", Col::Text),
    ("headers", Col::Text),
    ("verdict", Col::Text),
    ("reasons", Col::Text),
];

/// The key of a profile.
fn profile_key(values: &Values<'_>) -> String {
    // The values of the migrations up to the last one whose values are not all empty: the
    // key a profile got before the later columns existed stays its key.
    let end = [BEFORE_NETWORK, BEFORE_ASSESSMENT]
        .into_iter()
        .find(|&end| values[end..].iter().all(|value| value.is_empty()))
        .unwrap_or(values.len());
    key(&values[..end])
}

fn values(fp: &RequestFingerprint) -> Values<'_> {
    let device = &fp.device;
    [
        &fp.user_agent,
        &fp.accept,
        &fp.accept_language,
        &fp.accept_encoding,
        &fp.content_encoding,
        &fp.content_language,
        &device.browser,
        &device.browser_version,
        &device.os,
        &device.os_version,
        device.device_type.as_str(),
        &fp.ja4,
        &fp.http2,
        &fp.headers,
        &fp.verdict,
        &fp.reasons,
    ]
}

/// The key of a profile (or a referer): 128 bits of SHA-256 over the length-prefixed values,
/// in hex.
pub(super) fn key(values: &[&str]) -> String {
    let mut hash = Sha256::new();
    for value in values {
        hash.update((value.len() as u64).to_le_bytes());
        hash.update(value.as_bytes());
    }
    crate::hex::lower(&hash.finalize()[..16])
}

/// A row of `fingerprint_profiles` in [`COLUMNS`] order (or a prefix of it), for
/// [`Sql::rows`].
fn row<'a>(key: &'a str, values: &[&'a str]) -> Vec<&'a str> {
    let mut row = Vec::with_capacity(1 + values.len());
    row.push(key);
    row.extend(values);
    row
}

/// Ids of `profiles` (by key, sorted), inserting the new ones.
async fn ids<D: Dialect>(
    store: &SqlStore<D>,
    profiles: &BTreeMap<String, Values<'_>>,
) -> Result<FastMap<String, i64>, StoreError> {
    let keys: Vec<&str> = profiles.keys().map(String::as_str).collect();
    intern(
        store,
        &store.profiles,
        "fingerprint_profiles",
        COLUMNS,
        &keys,
        |missing| {
            let rows: Vec<Vec<&str>> = missing
                .iter()
                .map(|&n| row(keys[n], &profiles[keys[n]]))
                .collect();
            json(&rows)
        },
    )
    .await
}

/// The profile id of each row, in order, inserting the new profiles first (committed on
/// their own, like URLs).
pub(super) async fn profile_ids<D: Dialect>(
    store: &SqlStore<D>,
    rows: &[&Visit],
) -> Result<Vec<i64>, StoreError> {
    // Each row's values hashed once; each distinct profile keyed once; rows keep the index
    // of their profile.
    let mut index: FastMap<Values<'_>, usize> = FastMap::default();
    let mut keys: Vec<String> = Vec::new();
    let mut profiles: BTreeMap<String, Values<'_>> = BTreeMap::new();
    let mut of_rows = Vec::with_capacity(rows.len());
    for visit in rows {
        let values = values(&visit.fingerprint);
        let n = *index.entry(values).or_insert_with(|| {
            let key = profile_key(&values);
            profiles.entry(key.clone()).or_insert(values);
            keys.push(key);
            keys.len() - 1
        });
        of_rows.push(n);
    }
    let ids = ids(store, &profiles).await?;
    let ids: Vec<i64> = keys
        .iter()
        .map(|key| {
            ids.get(key)
                .copied()
                .ok_or_else(|| missing_id("profile", key))
        })
        .collect::<Result<_, _>>()?;
    Ok(of_rows.into_iter().map(|n| ids[n]).collect())
}

/// The statement of migration 5 that this step replaces.
pub(super) const MIGRATION_STEP: &str = "/* move request headers to fingerprint_profiles */";

/// Rows copied per statement by [`migrate_rows`].
const CHUNK: i64 = 50_000;

/// Migration 5's data step, in the migration's transaction: the referers and profiles of the
/// stored request fingerprints and sessions, then the rows copied to `fingerprint_requests_new`
/// with their profile and referer ids, in id ranges, telling `progress` the rows done.
pub(super) async fn migrate_rows<D: Dialect>(
    conn: &mut D::Connection,
    progress: ProgressFn<'_>,
) -> Result<(), StoreError> {
    let referers: Vec<(String,)> = Sql::<D>::new(
        "SELECT referer FROM fingerprint_request_fingerprints WHERE referer <> '' \
         UNION SELECT referer FROM fingerprint_sessions WHERE referer <> ''",
    )
    .fetch_all_on(&mut *conn)
    .await?;
    let referers: BTreeMap<String, &str> = referers
        .iter()
        .map(|(referer,)| (key(&[referer.as_str()]), referer.as_str()))
        .collect();
    let referers: Vec<(&str, &str)> = referers.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    // In chunks: an old database may hold more distinct texts than one parameter can carry.
    for chunk in referers.chunks(1_000) {
        Sql::<D>::insert_rows(
            "fingerprint_referers",
            json(chunk)?,
            &[("key", Col::Text), ("referer", Col::Text)],
        )
        .execute(&mut *conn)
        .await?;
    }

    // The columns of migration 5 (the network ones come with migration 6).
    let columns = &COLUMNS[..=BEFORE_NETWORK];
    let names = column_names(&columns[1..]);
    let found: Vec<ProfileRow> = Sql::<D>::new(format!(
        "SELECT DISTINCT {names} FROM fingerprint_request_fingerprints"
    ))
    .fetch_all_on(&mut *conn)
    .await?;
    let mut profiles: BTreeMap<String, [&str; BEFORE_NETWORK]> = BTreeMap::new();
    for row in &found {
        let values = row.values();
        profiles.insert(key(&values), values);
    }
    let all: Vec<Vec<&str>> = profiles
        .iter()
        .map(|(key, values)| row(key, values))
        .collect();
    for chunk in all.chunks(1_000) {
        Sql::<D>::insert_rows("fingerprint_profiles", json(chunk)?, columns)
            .execute(&mut *conn)
            .await?;
    }

    let (low, high, total): (Option<i64>, Option<i64>, i64) =
        Sql::<D>::new("SELECT MIN(id), MAX(id), COUNT(*) FROM fingerprint_request_fingerprints")
            .fetch_optional_on(&mut *conn)
            .await?
            .unwrap_or((None, None, 0));
    let (Some(low), Some(high)) = (low, high) else {
        return Ok(());
    };
    let total = u64::try_from(total).unwrap_or(0);
    let join = columns[1..]
        .iter()
        .map(|(name, _)| format!("p.{name} = r.{name}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut done = 0;
    let mut start = low;
    while start <= high {
        let end = start.saturating_add(CHUNK);
        done += Sql::<D>::new(
            "INSERT INTO fingerprint_requests_new (id, session_id, url_id, profile_id, ip, \
             method, referer_id, country, country_code, created_at) \
             SELECT r.id, r.session_id, r.url_id, p.id, r.ip, r.method, f.id, r.country, \
             r.country_code, r.created_at FROM fingerprint_request_fingerprints r \
             LEFT JOIN fingerprint_referers f ON f.referer = r.referer AND r.referer <> '' \
             JOIN fingerprint_profiles p ON ",
        )
        .push(&join)
        .push(" WHERE r.id >= ")
        .bind(start)
        .push(" AND r.id < ")
        .bind(end)
        .execute(&mut *conn)
        .await?;
        progress(Progress::new(done, total));
        tracing::info!(
            done,
            total,
            "migration 5: request fingerprints moved to profiles"
        );
        start = end;
    }
    if done != total {
        return Err(StoreError::Decode(format!(
            "migration 5 copied {done} of {total} request fingerprints"
        )));
    }
    Ok(())
}

/// A distinct profile of the old request table.
#[derive(sqlx::FromRow)]
struct ProfileRow {
    user_agent: String,
    accept: String,
    accept_language: String,
    accept_encoding: String,
    content_encoding: String,
    content_language: String,
    browser: String,
    browser_version: String,
    os: String,
    os_version: String,
    device_type: String,
}

impl ProfileRow {
    fn values(&self) -> [&str; BEFORE_NETWORK] {
        [
            &self.user_agent,
            &self.accept,
            &self.accept_language,
            &self.accept_encoding,
            &self.content_encoding,
            &self.content_language,
            &self.browser,
            &self.browser_version,
            &self.os,
            &self.os_version,
            &self.device_type,
        ]
    }
}

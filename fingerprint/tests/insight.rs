//! The dashboard's store queries, the same suite on SQLite and on PostgreSQL: the daily
//! rollup against the raw fingerprints (incremental, after the migration's backfill, with
//! debounced rows, under concurrent writers), every list paged to its end, every filter
//! against a plain scan of the rows, and refused input.

#![cfg(feature = "seed")]

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use common::TestDb;
use fingerprint::v1 as fp;
use sqlx::Row;

suite!(
    the_daily_rollup_matches_the_raw_fingerprints,
    the_migration_backfills_the_same_rollup,
    sessions_stored_before_migration_9_count_once,
    debounced_rows_are_not_counted,
    concurrent_writers_count_each_visitor_once,
    every_list_pages_through_every_row_once,
    request_filters_find_what_a_scan_finds,
    ipv6_networks,
    browser_visitor_and_user_queries,
    refused_input_is_invalid_input,
    record_browsers_is_record_browser_in_one_transaction,
    long_texts_are_stored_whole,
    one_large_batch_is_one_write,
    a_window_of_forever_debounces_every_repeat,
    the_window_reaches_both_ways_and_zero_stores_each_visit_once,
    users_never_seen_are_paged_through_too,
);

/// 2026-11-20 15:00 UTC: the end of every seeded period here.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_186_800, 0).unwrap()
}

async fn seeded(db: &TestDb, rows: u64) -> fingerprint::seed::SeedReport {
    let report = fingerprint::seed::seed(
        &*db.store(),
        fingerprint::seed::SeedOptions::new(rows)
            .with_now(now())
            .with_days(8)
            .with_users(40)
            .with_pages(60)
            .with_batch_size(700),
    )
    .await
    .unwrap();
    assert_eq!(report.request_fingerprints, rows);
    report
}

/// One stored request fingerprint, read with plain SQL.
#[derive(Debug, Clone)]
struct Raw {
    id: i64,
    session_id: i64,
    session_key: String,
    user_id: Option<String>,
    url: String,
    ip: Option<IpAddr>,
    user_agent: String,
    at: DateTime<Utc>,
    values: [String; 8],
}

impl Raw {
    fn day(&self) -> NaiveDate {
        self.at.date_naive()
    }
}

async fn raw_requests(db: &TestDb) -> Vec<Raw> {
    let sql = |ip: &str, at: &str| {
        format!(
            "SELECT r.id, r.session_id, s.key, s.user_id, u.url, {ip}, p.user_agent, {at}, \
             p.browser, p.os, p.device_type, r.country_code, p.ja4, p.http2, p.headers, \
             p.verdict \
             FROM fingerprint_request_fingerprints r \
             JOIN fingerprint_profiles p ON p.id = r.profile_id \
             JOIN fingerprint_sessions s ON s.id = r.session_id \
             JOIN fingerprint_urls u ON u.id = r.url_id ORDER BY r.id"
        )
    };
    let mut raws = Vec::new();
    match db {
        TestDb::Sqlite { store, .. } => {
            for row in sqlx::query(&sql("r.ip", "r.created_at"))
                .fetch_all(store.pool())
                .await
                .unwrap()
            {
                let ip: Option<String> = row.get(5);
                raws.push(Raw {
                    id: row.get(0),
                    session_id: row.get(1),
                    session_key: row.get(2),
                    user_id: row.get(3),
                    url: row.get(4),
                    ip: ip.map(|ip| ip.parse().unwrap()),
                    user_agent: row.get(6),
                    at: DateTime::from_timestamp_micros(row.get(7)).unwrap(),
                    values: std::array::from_fn(|i| row.get(8 + i)),
                });
            }
        }
        TestDb::Postgres { store, .. } => {
            for row in sqlx::query(&sql("host(r.ip)", "r.created_at"))
                .fetch_all(store.pool())
                .await
                .unwrap()
            {
                let ip: Option<String> = row.get(5);
                raws.push(Raw {
                    id: row.get(0),
                    session_id: row.get(1),
                    session_key: row.get(2),
                    user_id: row.get(3),
                    url: row.get(4),
                    ip: ip.map(|ip| ip.parse().unwrap()),
                    user_agent: row.get(6),
                    at: row.get(7),
                    values: std::array::from_fn(|i| row.get(8 + i)),
                });
            }
        }
    }
    raws
}

/// What the rollup must hold, computed from the raw rows: per day (visits, visitors), and per
/// (dimension index, value) over all days (visits, visitors of their first row of the day).
type Expected = (
    BTreeMap<NaiveDate, (u64, u64)>,
    HashMap<(usize, String), (u64, u64)>,
);

fn expected(raws: &[Raw]) -> Expected {
    let mut days: BTreeMap<NaiveDate, (u64, HashSet<i64>)> = BTreeMap::new();
    let mut firsts: HashMap<(NaiveDate, i64), &Raw> = HashMap::new();
    let mut values: HashMap<(usize, String), (u64, u64)> = HashMap::new();
    for raw in raws {
        let entry = days.entry(raw.day()).or_default();
        entry.0 += 1;
        entry.1.insert(raw.session_id);
        let first = firsts.entry((raw.day(), raw.session_id)).or_insert(raw);
        if (raw.at, raw.id) < (first.at, first.id) {
            *first = raw;
        }
        for (n, value) in raw.values.iter().enumerate() {
            values.entry((n, value.clone())).or_default().0 += 1;
        }
    }
    for first in firsts.values() {
        for (n, value) in first.values.iter().enumerate() {
            values.entry((n, value.clone())).or_default().1 += 1;
        }
    }
    let days = days
        .into_iter()
        .map(|(day, (visits, sessions))| (day, (visits, sessions.len() as u64)))
        .collect();
    (days, values)
}

async fn check_rollup(db: &TestDb) {
    let store = db.store();
    let raws = raw_requests(db).await;
    assert!(!raws.is_empty());
    let (days, values) = expected(&raws);
    let first = *days.keys().next().unwrap();
    let last = *days.keys().last().unwrap();
    let traffic = store.daily_traffic(first, last).await.unwrap();
    let stored: BTreeMap<NaiveDate, (u64, u64)> = traffic
        .iter()
        .map(|t| (t.day, (t.visits, t.visitors)))
        .collect();
    assert_eq!(stored, days, "visits and unique visitors per day");
    assert_eq!(db.rollup_mismatches().await, 0, "the (day, session) pairs");
    for (n, dimension) in fp::Dimension::ALL.into_iter().enumerate() {
        let rows = store.breakdown(dimension, first, last, 1000).await.unwrap();
        let stored: HashMap<(usize, String), (u64, u64)> = rows
            .iter()
            .map(|r| ((n, r.value.clone()), (r.visits, r.visitors)))
            .collect();
        let wanted: HashMap<(usize, String), (u64, u64)> = values
            .iter()
            .filter(|((d, _), _)| *d == n)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(stored, wanted, "{dimension}");
        // Most visitors first, and the values add up to the days' visitors.
        assert!(rows.windows(2).all(|w| w[0].visitors >= w[1].visitors));
        let visitors: u64 = rows.iter().map(|r| r.visitors).sum();
        assert_eq!(visitors, days.values().map(|d| d.1).sum::<u64>());
    }
}

async fn the_daily_rollup_matches_the_raw_fingerprints(db: TestDb) {
    seeded(&db, 3_000).await;
    check_rollup(&db).await;
    let store = db.store();
    // A window of days: only those days, in order.
    let end = now().date_naive();
    let traffic = store
        .daily_traffic(end - TimeDelta::days(2), end)
        .await
        .unwrap();
    assert_eq!(traffic.len(), 3, "{traffic:?}");
    assert!(traffic.windows(2).all(|w| w[0].day < w[1].day));
    assert!(store
        .daily_traffic(end + TimeDelta::days(1), end + TimeDelta::days(9))
        .await
        .unwrap()
        .is_empty());
    let top = store
        .breakdown(fp::Dimension::Country, end - TimeDelta::days(30), end, 3)
        .await
        .unwrap();
    assert_eq!(top.len(), 3);
    assert_eq!(
        top[0].value, "US",
        "the seeded data set is mostly from the US"
    );
}

/// Turns the seeded database back into the layout of version 3 (request fingerprints with
/// their header and device texts on every row; no profiles, rollups or IP index) and
/// forgets migrations 4 and 5.
async fn downgrade_to_version_3(db: &TestDb) {
    let mut sqls = vec![
        "CREATE TABLE fingerprint_old_requests AS SELECT r.id, r.session_id, r.url_id, r.ip, \
         r.method, p.user_agent, p.accept, p.accept_language, p.accept_encoding, \
         p.content_encoding, p.content_language, COALESCE(f.referer, '') AS referer, \
         r.country, r.created_at, p.browser, p.browser_version, p.os, p.os_version, \
         p.device_type, r.country_code \
         FROM fingerprint_request_fingerprints r \
         JOIN fingerprint_profiles p ON p.id = r.profile_id \
         LEFT JOIN fingerprint_referers f ON f.id = r.referer_id ORDER BY r.id",
        "UPDATE fingerprint_sessions SET referer = (SELECT f.referer FROM fingerprint_referers f \
         WHERE f.id = fingerprint_sessions.referer_id) WHERE referer_id IS NOT NULL",
        "ALTER TABLE fingerprint_sessions DROP COLUMN referer_id",
        "DROP INDEX fingerprint_sessions_verdict",
        "ALTER TABLE fingerprint_sessions DROP COLUMN verdict",
        "ALTER TABLE fingerprint_sessions DROP COLUMN findings",
        "ALTER TABLE fingerprint_sessions DROP COLUMN first_day",
        "ALTER TABLE fingerprint_sessions DROP COLUMN first_url_id",
        "DROP TABLE fingerprint_request_fingerprints",
        "ALTER TABLE fingerprint_old_requests RENAME TO fingerprint_request_fingerprints",
        "DROP TABLE fingerprint_profiles",
        "DROP TABLE fingerprint_referers",
        "DROP TABLE fingerprint_daily",
        "DROP TABLE fingerprint_daily_sessions",
        "DROP TABLE fingerprint_ip_sessions",
        "DELETE FROM fingerprint_migrations WHERE version >= 4",
        "CREATE INDEX fingerprint_url_visitors_session ON fingerprint_url_visitors (session_id)",
        // Version 3 counted every client, bots included.
        "DELETE FROM fingerprint_url_visitors",
        "INSERT INTO fingerprint_url_visitors (url_id, session_id) \
         SELECT DISTINCT url_id, session_id FROM fingerprint_request_fingerprints",
        "DELETE FROM fingerprint_hit_counts",
        "INSERT INTO fingerprint_hit_counts (url_id, hits) \
         SELECT url_id, COUNT(*) FROM fingerprint_url_visitors GROUP BY url_id",
    ];
    if db.is_postgres() {
        sqls.push("DROP INDEX fingerprint_urls_url_bytes");
        sqls.push("ALTER TABLE fingerprint_hit_counts RESET (fillfactor)");
    } else {
        sqls.push("DROP INDEX fingerprint_hit_counts_hits");
    }
    db.execute_all(&sqls).await;
}

/// Everything the store reads back about the seeded data.
/// Requests, daily traffic, browsers, the first user's devices, sessions.
type Snapshot = (
    Vec<fp::StoredRequest>,
    Vec<fp::DailyTraffic>,
    Vec<fp::BreakdownRow>,
    fp::UserDevices,
    Vec<fp::StoredSession>,
);

async fn snapshot(store: &dyn fp::FullStore) -> Snapshot {
    let end = now().date_naive();
    let start = end - TimeDelta::days(10);
    let mut requests: Vec<fp::StoredRequest> = Vec::new();
    loop {
        let after = requests.last().map_or(0, |r| r.id);
        let page = store.export_requests(None, after, 1_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        requests.extend(page);
    }
    let users = store
        .users(&fp::UserQuery::new().with_limit(1))
        .await
        .unwrap();
    (
        requests,
        store.daily_traffic(start, end).await.unwrap(),
        store
            .breakdown(fp::Dimension::Browser, start, end, 100)
            .await
            .unwrap(),
        store.user_devices(&users.items[0].user_id).await.unwrap(),
        store.export_sessions(None, 0, 1_000).await.unwrap(),
    )
}

async fn the_migration_backfills_the_same_rollup(db: TestDb) {
    seeded(&db, 2_000).await;
    let store = db.store();
    let mut before = snapshot(&*store).await;
    assert_eq!(before.0.len(), 2_000);
    // Each seeded engine has one JA4, so each device of a user shows one.
    assert!(!before.3.devices.is_empty());
    for device in &before.3.devices {
        assert_eq!(device.ja4s.len(), 1, "{device:?}");
        assert!(device.ja4s[0].starts_with("t13d"), "{device:?}");
    }
    // The version-3 layout has no network fingerprints or assessment (migrations 6 and 7
    // add them, empty).
    for request in &mut before.0 {
        let f = &mut request.fingerprint;
        (f.ja4, f.http2, f.headers, f.verdict) = Default::default();
    }
    for device in &mut before.3.devices {
        device.ja4s.clear();
    }
    assert!(before.4.iter().any(|s| !s.referer.is_empty()));
    assert!(before.0.iter().any(|r| !r.fingerprint.referer.is_empty()));
    downgrade_to_version_3(&db).await;
    assert!(store.check_schema().await.is_err());

    // Migrations 4 (the dashboard's rollups, backfilled) and 5 (header profiles, rows moved
    // with progress) on the old rows.
    let seen = std::sync::Mutex::new(Vec::new());
    store
        .migrate_with_progress(&|progress| seen.lock().unwrap().push(progress))
        .await
        .unwrap();
    store.check_schema().await.unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen.last(),
        Some(&fp::Progress::new(2_000, 2_000)),
        "{seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0].done < w[1].done), "{seen:?}");

    // The same data, read back the same way; one profile per distinct header set.
    assert_eq!(snapshot(&*store).await, before);
    let distinct: HashSet<(String, String, String)> = before
        .0
        .iter()
        .map(|r| {
            let f = &r.fingerprint;
            (
                f.user_agent.clone(),
                f.accept.clone(),
                f.accept_language.clone(),
            )
        })
        .collect();
    assert!(db.count("fingerprint_profiles").await >= distinct.len() as i64);
    assert!(db.count("fingerprint_profiles").await < 200);
    check_rollup(&db).await;
    // And the migrated store goes on recording and counting.
    seeded_more(&db).await;
    check_rollup(&db).await;
    assert_eq!(db.recount_hits().await, db.counters().await);
}

/// Migration 9 on a database of version 8, with rows: the (day, session) and (URL, session)
/// pairs of the sessions stored before are rows, those of sessions created after come with
/// the session, and each visitor counts once a day, and once a URL, either way.
async fn sessions_stored_before_migration_9_count_once(db: TestDb) {
    let store = db.store();
    let day = now() - TimeDelta::days(3);
    let visit = |session: u32, url: &str, at: DateTime<Utc>| {
        fp::Visit::new(
            format!("{session:032x}"),
            fp::RequestFingerprint::new(format!("https://shop.example{url}"), at),
        )
    };
    let before = [visit(1, "/a", day), visit(2, "/a", day)];
    store.record(&before, Duration::ZERO).await.unwrap();
    assert_eq!(db.count("fingerprint_daily_sessions").await, 0, "implied");
    assert_eq!(db.count("fingerprint_url_visitors").await, 0, "implied");
    // Version 8 kept every pair as a row and had no columns for them.
    db.execute_all(&[
        "INSERT INTO fingerprint_daily_sessions (day, session_id) \
         SELECT first_day, id FROM fingerprint_sessions WHERE first_day IS NOT NULL",
        "INSERT INTO fingerprint_url_visitors (url_id, session_id) \
         SELECT first_url_id, id FROM fingerprint_sessions WHERE first_url_id IS NOT NULL",
        "ALTER TABLE fingerprint_sessions DROP COLUMN first_day",
        "ALTER TABLE fingerprint_sessions DROP COLUMN first_url_id",
        "DELETE FROM fingerprint_migrations WHERE version >= 9",
    ])
    .await;
    assert!(store.check_schema().await.is_err());
    store.migrate().await.unwrap();
    store.check_schema().await.unwrap();
    assert_eq!(db.count("fingerprint_daily_sessions").await, 2);
    assert_eq!(db.visitor_pairs().await, 2);
    check_rollup(&db).await;

    // Session 1 again the same day (not a new visitor), and the next day (a new one);
    // session 3 is new (its pair comes with it), and comes back the next day.
    let next = day + TimeDelta::days(1);
    let after = [
        visit(1, "/b", day + TimeDelta::minutes(5)),
        visit(1, "/a", next),
        visit(3, "/a", day + TimeDelta::minutes(6)),
        visit(3, "/c", next + TimeDelta::minutes(1)),
    ];
    store.record(&after, Duration::ZERO).await.unwrap();
    // And again, in a batch of its own: nothing new.
    store
        .record(
            &[visit(3, "/d", day + TimeDelta::minutes(7))],
            Duration::ZERO,
        )
        .await
        .unwrap();
    check_rollup(&db).await;
    let traffic = store
        .daily_traffic(day.date_naive(), next.date_naive())
        .await
        .unwrap();
    let counted: Vec<(u64, u64)> = traffic.iter().map(|t| (t.visits, t.visitors)).collect();
    assert_eq!(counted, vec![(5, 3), (2, 2)]);
    // Rows: the two pairs stored before, and the second day's pairs of sessions 1 and 3.
    assert_eq!(db.count("fingerprint_daily_sessions").await, 4);
    // Unique visits: /a by 1, 2, 3; /b by 1; /c and /d by 3. Rows: the two stored before,
    // and those of sessions 1 and 3 other than the URL each session came with.
    assert_eq!(db.count("fingerprint_url_visitors").await, 5);
    assert_eq!(db.visitor_pairs().await, 6);
    let counters = db.counters().await;
    assert_eq!(counters, db.recount_hits().await);
    assert_eq!(counters["https://shop.example/a"], 3);

    // A rebuild keeps each pair where it is and the counts as they were.
    let report = store.rebuild_hit_counts(2, false).await.unwrap();
    assert_eq!((report.urls, report.visitors), (4, 6));
    assert_eq!(db.count("fingerprint_url_visitors").await, 5);
    assert_eq!(db.visitor_pairs().await, 6);
    assert_eq!(db.counters().await, counters);
}

async fn seeded_more(db: &TestDb) {
    let store = db.store();
    let at = now() - TimeDelta::hours(1);
    let mut visits = Vec::new();
    for n in 0..20 {
        let mut fingerprint =
            fp::RequestFingerprint::new(format!("https://shop.example/more/{n}"), at);
        fingerprint.user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0".into();
        visits.push(fp::Visit::new(
            format!("{:032x}", 0xabc00 + n % 7),
            fingerprint,
        ));
    }
    store.record(&visits, Duration::ZERO).await.unwrap();
}

async fn debounced_rows_are_not_counted(db: TestDb) {
    let store = db.store();
    let base = now() - TimeDelta::hours(3);
    let visit = |session: u32, url: &str, seconds: i64, agent: &str, country: &str| {
        let mut fingerprint = fp::RequestFingerprint::new(
            format!("https://shop.example{url}"),
            base + TimeDelta::seconds(seconds),
        );
        fingerprint.user_agent = agent.into();
        fingerprint.country_code = country.into();
        fp::Visit::new(format!("{session:032x}"), fingerprint)
    };
    let window = Duration::from_secs(10);
    store
        .record(
            &[visit(1, "/a", 0, "A", "PL"), visit(2, "/a", 0, "B", "DE")],
            window,
        )
        .await
        .unwrap();
    // The database debounces the first two (same session and URL within 10 s); the rest
    // are stored.
    let outcome = store
        .record(
            &[
                visit(1, "/a", 5, "C", "FR"),
                visit(2, "/a", 9, "C", "FR"),
                visit(1, "/b", 6, "D", "PL"),
                visit(3, "/a", 7, "E", "CZ"),
            ],
            window,
        )
        .await
        .unwrap();
    assert_eq!((outcome.inserted, outcome.debounced), (2, 2));
    check_rollup(&db).await;
    let day = base.date_naive();
    let traffic = store.daily_traffic(day, day).await.unwrap();
    assert_eq!((traffic[0].visits, traffic[0].visitors), (4, 3));
    let countries = store
        .breakdown(fp::Dimension::Country, day, day, 10)
        .await
        .unwrap();
    let fr = countries.iter().find(|c| c.value == "FR");
    assert!(fr.is_none(), "debounced rows leave no trace: {countries:?}");
}

async fn concurrent_writers_count_each_visitor_once(db: TestDb) {
    let stores = [db.store(), db.another_instance().await];
    let base = now() - TimeDelta::days(2);
    let mut tasks = Vec::new();
    for (n, store) in stores.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for round in 0..12i64 {
                let mut visits = Vec::new();
                for session in 0..40u32 {
                    // Both instances write the same sessions on the same two days.
                    let at = base
                        + TimeDelta::hours((round % 2) * 24)
                        + TimeDelta::seconds(round * 60 + i64::from(session));
                    let mut fingerprint = fp::RequestFingerprint::new(
                        format!("https://shop.example/{n}/{round}"),
                        at,
                    );
                    fingerprint.user_agent = format!("agent {}", session % 3);
                    visits.push(fp::Visit::new(format!("{session:032x}"), fingerprint));
                }
                store.record(&visits, Duration::ZERO).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    check_rollup(&db).await;
    let first = base.date_naive();
    let traffic = db
        .store()
        .daily_traffic(first, first + TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(traffic.len(), 2);
    for day in traffic {
        assert_eq!((day.visits, day.visitors), (2 * 6 * 40, 40));
    }
}

/// Every page of a list, in order.
async fn all_pages<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<fp::Page<T>, fp::StoreError>>,
{
    let mut items = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let got = page(after.take()).await.unwrap();
        items.extend(got.items);
        match got.next {
            Some(next) => after = Some(next),
            None => return items,
        }
    }
    panic!("a list never ended");
}

async fn every_list_pages_through_every_row_once(db: TestDb) {
    let report = seeded(&db, 1_500).await;
    let store = db.store();
    let raws = raw_requests(&db).await;

    let requests = all_pages(|after| {
        let mut query = fp::RequestQuery::new().with_limit(37);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.request_fingerprints(&query).await }
    })
    .await;
    let ids: Vec<i64> = requests.iter().map(|r| r.id).collect();
    let mut newest_first: Vec<&Raw> = raws.iter().collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse((r.at, r.id)));
    let wanted: Vec<i64> = newest_first.iter().map(|r| r.id).collect();
    assert_eq!(ids, wanted, "newest first, each once");
    let by_id: HashMap<i64, &Raw> = raws.iter().map(|r| (r.id, r)).collect();
    for request in &requests {
        let raw = by_id[&request.id];
        assert_eq!(request.fingerprint.url, raw.url);
        assert_eq!(request.session_key, raw.session_key);
        assert_eq!(request.fingerprint.ip, raw.ip);
        assert_eq!(request.fingerprint.created_at, raw.at);
        assert_eq!(request.fingerprint.device.browser, raw.values[0]);
    }

    let sessions = all_pages(|after| {
        let mut query = fp::SessionQuery::new().with_limit(29);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.sessions(&query).await }
    })
    .await;
    assert_eq!(sessions.len() as u64, report.sessions);
    let keys: HashSet<&str> = sessions.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys.len(), sessions.len(), "each session once");
    assert!(sessions
        .windows(2)
        .all(|w| w[0].created_at >= w[1].created_at));
    let counts: usize = sessions
        .iter()
        .map(|s| s.request_fingerprints as usize)
        .sum();
    assert_eq!(counts, raws.len());
    // Linked and anonymous sessions split the list.
    let linked = all_pages(|after| {
        let mut query = fp::SessionQuery::new().with_linked(true).with_limit(50);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.sessions(&query).await }
    })
    .await;
    assert_eq!(linked.len() as u64, report.linked_sessions);
    assert!(linked.iter().all(|s| s.user_id.is_some()));
    let anonymous = store
        .sessions(&fp::SessionQuery::new().with_linked(false).with_limit(1000))
        .await
        .unwrap();
    assert_eq!(
        anonymous.items.len() + linked.len(),
        sessions.len(),
        "{:?}",
        anonymous.next
    );
    let user = linked[0].user_id.clone().unwrap();
    let of_user = store
        .sessions(&fp::SessionQuery::new().with_user(&user).with_limit(1000))
        .await
        .unwrap();
    assert_eq!(
        of_user.items,
        store.user_sessions(&user, 1000).await.unwrap(),
        "the same sessions as the user's own list"
    );
    let prefix = &sessions[3].key[..2];
    let with_prefix = store
        .sessions(
            &fp::SessionQuery::new()
                .with_key_prefix(prefix)
                .with_limit(1000),
        )
        .await
        .unwrap();
    let wanted: BTreeSet<&str> = keys
        .iter()
        .copied()
        .filter(|k| k.starts_with(prefix))
        .collect();
    let got: BTreeSet<&str> = with_prefix.items.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(got, wanted);

    let browsers = all_pages(|after| {
        let mut query = fp::BrowserQuery::new().with_limit(23);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.browser_fingerprints(&query).await }
    })
    .await;
    assert_eq!(browsers.len() as u64, report.browser_fingerprints);
    assert!(browsers.windows(2).all(|w| w[0].id > w[1].id));

    let urls = all_pages(|after| {
        let mut query = fp::UrlQuery::new().with_limit(9);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.urls(&query).await }
    })
    .await;
    let counters = db.counters().await;
    assert_eq!(urls.len(), counters.len());
    for url in &urls {
        assert_eq!(url.hits, counters[&url.url], "{}", url.url);
    }
    assert!(
        urls.windows(2).all(|w| w[0].hits >= w[1].hits),
        "most hits first"
    );
    let names: HashSet<&str> = urls.iter().map(|u| u.url.as_str()).collect();
    assert_eq!(names.len(), urls.len());
    let prefix = "https://shop.example/products/";
    let under = all_pages(|after| {
        let mut query = fp::UrlQuery::new().with_prefix(prefix).with_limit(4);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.urls(&query).await }
    })
    .await;
    let mut wanted: Vec<&str> = names
        .iter()
        .copied()
        .filter(|u| u.starts_with(prefix))
        .collect();
    wanted.sort_unstable();
    let got: Vec<&str> = under.iter().map(|u| u.url.as_str()).collect();
    assert_eq!(got, wanted, "in URL order");
    assert!(!got.is_empty());
}

fn assert_newest_first(requests: &[fp::StoredRequest]) {
    let keys: Vec<_> = requests
        .iter()
        .map(|r| (r.fingerprint.created_at, r.id))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "newest first");
}

fn ids_of(requests: &[fp::StoredRequest]) -> BTreeSet<i64> {
    requests.iter().map(|r| r.id).collect()
}

async fn search(db: &TestDb, query: fp::RequestQuery) -> Vec<fp::StoredRequest> {
    let store = db.store();
    all_pages(|after| {
        let mut query = query.clone().with_limit(25);
        if let Some(after) = after {
            query = query.with_after(after);
        }
        let store = &store;
        async move { store.request_fingerprints(&query).await }
    })
    .await
}

async fn request_filters_find_what_a_scan_finds(db: TestDb) {
    // More than 10,000 rows: broad filters walk the rows on SQLite, narrow ones use an index.
    seeded(&db, 12_000).await;
    let raws = raw_requests(&db).await;
    let scan = |keep: &dyn Fn(&Raw) -> bool| -> BTreeSet<i64> {
        raws.iter().filter(|r| keep(r)).map(|r| r.id).collect()
    };

    // An address seen several times, and networks around it.
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    for raw in &raws {
        if let Some(ip) = raw.ip.filter(IpAddr::is_ipv4) {
            *per_ip.entry(ip).or_default() += 1;
        }
    }
    let (&busy, _) = per_ip.iter().max_by_key(|(ip, n)| (**n, **ip)).unwrap();
    let IpAddr::V4(v4) = busy else { unreachable!() };
    let [a, b, c, _] = v4.octets();
    for network in [
        busy.to_string(),
        format!("{a}.{b}.{c}.0/24"),
        format!("{a}.{b}.0.0/20"),
        format!("{a}.{b}.0.0/16"),
        format!("{a}.0.0.0/8"),
        format!("{a}.{b}.{c}.0/26"),
    ] {
        let filter: fp::IpFilter = network.parse().unwrap();
        let found = search(&db, fp::RequestQuery::new().with_ip(filter)).await;
        let wanted = scan(&|r: &Raw| r.ip.is_some_and(|ip| filter.contains(ip)));
        assert_eq!(ids_of(&found), wanted, "{network}");
        assert_newest_first(&found);
        if network == busy.to_string() {
            assert!(wanted.len() >= 2, "{network}: {}", wanted.len());
        }
    }

    // URL prefixes, narrow and wide.
    for prefix in [
        "https://shop.example/",
        "https://shop.example/products/",
        "https://shop.example/search?q=",
        "https://shop.example/nothing-here",
    ] {
        let found = search(&db, fp::RequestQuery::new().with_url_prefix(prefix)).await;
        assert_eq!(
            ids_of(&found),
            scan(&|r: &Raw| r.url.starts_with(prefix)),
            "{prefix}"
        );
        assert_newest_first(&found);
    }

    // User-agent substrings, case-insensitive, in windows of 300 rows: some pages come
    // back short or empty with a cursor to go on, and every match is found once.
    for text in ["firefox", "SamsungBrowser", "iPhone OS 16", "no such agent"] {
        let found = search(
            &db,
            fp::RequestQuery::new()
                .with_user_agent(text)
                .with_scan_limit(300),
        )
        .await;
        let lower = text.to_ascii_lowercase();
        let wanted = scan(&|r: &Raw| r.user_agent.to_ascii_lowercase().contains(&lower));
        assert_eq!(ids_of(&found), wanted, "{text}");
        assert_eq!(found.len(), wanted.len(), "{text}: each match once");
        assert_newest_first(&found);
    }
    // JA4s, exactly, in windows of 300 rows.
    let ja4s: BTreeSet<String> = raws.iter().map(|r| r.values[4].clone()).collect();
    assert!(ja4s.len() > 2, "the seed has several: {ja4s:?}");
    for ja4 in ja4s
        .iter()
        .map(String::as_str)
        .chain(["t13d0000h2_000000000000_000000000000"])
    {
        let found = search(
            &db,
            fp::RequestQuery::new().with_ja4(ja4).with_scan_limit(300),
        )
        .await;
        assert_eq!(ids_of(&found), scan(&|r: &Raw| r.values[4] == ja4), "{ja4}");
        assert_newest_first(&found);
    }
    let store = db.store();
    let first = store
        .request_fingerprints(
            &fp::RequestQuery::new()
                .with_user_agent("no such agent")
                .with_scan_limit(300),
        )
        .await
        .unwrap();
    assert!(first.items.is_empty());
    assert!(first.next.is_some(), "an empty window still goes on");

    // A session; and filters together.
    let key = raws[raws.len() / 2].session_key.clone();
    let found = search(&db, fp::RequestQuery::new().with_session(&key)).await;
    assert_eq!(ids_of(&found), scan(&|r: &Raw| r.session_key == key));
    let filter: fp::IpFilter = format!("{a}.0.0.0/8").parse().unwrap();
    let found = search(
        &db,
        fp::RequestQuery::new()
            .with_ip(filter)
            .with_url_prefix("https://shop.example/products")
            .with_user_agent("windows"),
    )
    .await;
    assert_eq!(
        ids_of(&found),
        scan(&|r: &Raw| r.ip.is_some_and(|ip| filter.contains(ip))
            && r.url.starts_with("https://shop.example/products")
            && r.user_agent.to_ascii_lowercase().contains("windows"))
    );
    let unknown = search(&db, fp::RequestQuery::new().with_session("f".repeat(32))).await;
    assert!(unknown.is_empty());
}

async fn ipv6_networks(db: TestDb) {
    let store = db.store();
    let at = now() - TimeDelta::hours(2);
    let addresses = [
        "2001:db8:5::1",
        "2001:db8:5:1::",
        "2001:db8:5:ffff:1:2:3:4",
        "2001:db8:50::1",
        "2001:db8::5",
        "10.0.0.1",
        "::ffff:10.0.0.2",
    ];
    let visits: Vec<fp::Visit> = addresses
        .iter()
        .enumerate()
        .map(|(n, ip)| {
            let mut fingerprint =
                fp::RequestFingerprint::new(format!("https://shop.example/{n}"), at);
            fingerprint.ip = Some(ip.parse().unwrap());
            fp::Visit::new(format!("{n:032x}"), fingerprint)
        })
        .collect();
    store.record(&visits, Duration::ZERO).await.unwrap();
    let found = |page: fp::Page<fp::StoredRequest>| -> BTreeSet<String> {
        page.items
            .iter()
            .map(|r| r.fingerprint.ip.unwrap().to_string())
            .collect()
    };
    let filter: fp::IpFilter = "2001:db8:5::/48".parse().unwrap();
    let page = store
        .request_fingerprints(&fp::RequestQuery::new().with_ip(filter))
        .await
        .unwrap();
    assert_eq!(
        found(page),
        BTreeSet::from([
            "2001:db8:5::1".to_owned(),
            "2001:db8:5:1::".to_owned(),
            "2001:db8:5:ffff:1:2:3:4".to_owned()
        ])
    );
    let one: fp::IpFilter = "2001:db8::5".parse().unwrap();
    let page = store
        .request_fingerprints(&fp::RequestQuery::new().with_ip(one))
        .await
        .unwrap();
    assert_eq!(found(page), BTreeSet::from(["2001:db8::5".to_owned()]));
    // Networks SQLite cannot search as text: refused there, found on PostgreSQL.
    let odd: fp::IpFilter = "2001:db8::/40".parse().unwrap();
    let result = store
        .request_fingerprints(&fp::RequestQuery::new().with_ip(odd))
        .await;
    if db.is_postgres() {
        assert_eq!(found(result.unwrap()).len(), 5, "2001:db8:0-ff::/40");
    } else {
        assert!(
            matches!(&result, Err(fp::StoreError::InvalidInput(reason)) if reason.contains("IPv6")),
            "{result:?}"
        );
    }
}

async fn browser_visitor_and_user_queries(db: TestDb) {
    seeded(&db, 2_000).await;
    let store = db.store();
    let browsers = store
        .browser_fingerprints(&fp::BrowserQuery::new().with_limit(1000))
        .await
        .unwrap();
    assert!(browsers.next.is_none());
    let all = browsers.items;
    assert!(all.len() > 20);

    // Visitor-id prefixes of every length find exactly the matching rows.
    let visitor = all[all.len() / 3].visitor_id.clone();
    for length in [1, 2, 5, 32] {
        let prefix = &visitor[..length];
        let found = store
            .browser_fingerprints(
                &fp::BrowserQuery::new()
                    .with_visitor_prefix(prefix)
                    .with_limit(1000),
            )
            .await
            .unwrap();
        let wanted: Vec<i64> = all
            .iter()
            .filter(|b| b.visitor_id.starts_with(prefix))
            .map(|b| b.id)
            .collect();
        let got: Vec<i64> = found.items.iter().map(|b| b.id).collect();
        assert_eq!(got, wanted, "{prefix}");
    }
    // The newest fingerprint of a visitor id, with its components.
    let latest = store.latest_browser(&visitor).await.unwrap().unwrap();
    let newest = all
        .iter()
        .filter(|b| b.visitor_id == visitor)
        .max_by_key(|b| (b.created_at, b.id))
        .unwrap();
    assert_eq!(latest.id, newest.id);
    let components: serde_json::Value = serde_json::from_str(&latest.components).unwrap();
    assert!(components.get("webgl").is_some(), "{components}");
    assert!(store
        .latest_browser(&"0".repeat(32))
        .await
        .unwrap()
        .is_none());
    // Of one session.
    let session = &all[0].session_key;
    let of_session = store
        .browser_fingerprints(&fp::BrowserQuery::new().with_session(session))
        .await
        .unwrap();
    assert!(of_session.items.iter().all(|b| &b.session_key == session));
    assert!(!of_session.items.is_empty());

    // Shared devices: some visitor id belongs to two users.
    let mut users_of: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for browser in &all {
        if let Some(user) = &browser.user_id {
            users_of
                .entry(browser.visitor_id.as_str())
                .or_default()
                .insert(user);
        }
    }
    let shared = users_of.iter().find(|(_, users)| users.len() > 1);
    if let Some((visitor, users)) = shared {
        let listed: BTreeSet<String> = store
            .visitor_users(visitor)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.user_id)
            .collect();
        let users: BTreeSet<String> = users.iter().map(|u| (*u).to_owned()).collect();
        assert_eq!(listed, users);
    }

    // A user's places and timeline.
    let raws = raw_requests(&db).await;
    let user = all
        .iter()
        .find_map(|b| b.user_id.clone())
        .expect("a linked browser fingerprint");
    let mine: Vec<&Raw> = raws
        .iter()
        .filter(|r| r.user_id.as_deref() == Some(user.as_str()))
        .collect();
    let places = store.user_places(&user, 1000).await.unwrap();
    assert_eq!(
        places.iter().map(|p| p.requests).sum::<u64>(),
        mine.len() as u64
    );
    let ips: BTreeSet<Option<IpAddr>> = mine.iter().map(|r| r.ip).collect();
    assert_eq!(
        places.iter().map(|p| p.ip).collect::<BTreeSet<_>>(),
        ips,
        "one row per address (and country)"
    );
    assert!(places.windows(2).all(|w| w[0].last_seen >= w[1].last_seen));

    let timeline = all_pages(|after| {
        let store = &store;
        let user = user.clone();
        async move { store.user_timeline(&user, after.as_deref(), 7).await }
    })
    .await;
    let sessions = store.user_sessions(&user, 1000).await.unwrap();
    let browsers_of_user = all
        .iter()
        .filter(|b| b.user_id.as_deref() == Some(user.as_str()))
        .count();
    let count = |kind| timeline.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count(fp::TimelineKind::Request), mine.len());
    assert_eq!(count(fp::TimelineKind::Browser), browsers_of_user);
    assert_eq!(count(fp::TimelineKind::Login), sessions.len());
    assert!(
        timeline.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first"
    );
    let request = timeline
        .iter()
        .find(|e| e.kind == fp::TimelineKind::Request)
        .unwrap();
    assert!(request.url.is_some() && request.device.is_some());
    let browser = timeline
        .iter()
        .find(|e| e.kind == fp::TimelineKind::Browser);
    assert!(browser.is_none_or(|b| b.visitor_id.is_some()));
    assert!(store
        .user_timeline("nobody", None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

async fn refused_input_is_invalid_input(db: TestDb) {
    seeded(&db, 300).await;
    let store = db.store();
    let invalid = |result: Result<(), fp::StoreError>, what: &str| {
        assert!(
            matches!(result, Err(fp::StoreError::InvalidInput(_))),
            "{what}: {result:?}"
        );
    };
    // What PostgreSQL refuses in a value (a NUL in text) is invalid input too; SQLite holds
    // it, and finds no such user.
    let nul = store.user("a\0b").await.map(|_| ());
    if matches!(db, TestDb::Postgres { .. }) {
        invalid(nul, "a NUL in a user id");
    } else {
        assert!(nul.is_ok(), "{nul:?}");
    }
    for cursor in [
        "",
        "x",
        "-1",
        "1:2:3:x",
        "99999999999999999999",
        "9223372036854775807:1",
    ] {
        invalid(
            store
                .request_fingerprints(&fp::RequestQuery::new().with_after(cursor))
                .await
                .map(drop),
            cursor,
        );
        invalid(
            store
                .browser_fingerprints(&fp::BrowserQuery::new().with_after(cursor))
                .await
                .map(drop),
            cursor,
        );
        invalid(
            store
                .sessions(&fp::SessionQuery::new().with_after(cursor))
                .await
                .map(drop),
            cursor,
        );
        invalid(
            store
                .urls(&fp::UrlQuery::new().with_after(cursor))
                .await
                .map(drop),
            cursor,
        );
        invalid(
            store
                .user_timeline("1000", Some(cursor), 10)
                .await
                .map(drop),
            cursor,
        );
    }
    // A cursor of one list order is refused by the other.
    let by_hits = store
        .urls(&fp::UrlQuery::new().with_limit(1))
        .await
        .unwrap();
    invalid(
        store
            .urls(
                &fp::UrlQuery::new()
                    .with_prefix("https://")
                    .with_after(by_hits.next.unwrap()),
            )
            .await
            .map(drop),
        "hits cursor in a prefix search",
    );
    for prefix in ["XYZ", "<script>", &"a".repeat(33), "abc def"] {
        invalid(
            store
                .browser_fingerprints(&fp::BrowserQuery::new().with_visitor_prefix(prefix))
                .await
                .map(drop),
            prefix,
        );
        invalid(
            store
                .sessions(&fp::SessionQuery::new().with_key_prefix(prefix))
                .await
                .map(drop),
            prefix,
        );
    }
}

async fn record_browsers_is_record_browser_in_one_transaction(db: TestDb) {
    let store = db.store();
    let at = now() - TimeDelta::hours(5);
    // Two identical histories under different session keys and users: one written a visit at
    // a time, the other in one batch. Known and new sessions, linked and anonymous ones, a
    // repeated visitor id, one without a page.
    let history = |prefix: char| -> Vec<fp::BrowserVisit> {
        let key = |n: u32| format!("{prefix}{n:031x}");
        (0..9u32)
            .map(|n| {
                let mut visit = fp::BrowserVisit::new(
                    key(n % 4),
                    format!("{:032x}", 0xbeef + n % 3),
                    format!(r#"{{"screen":[{},800,24]}}"#, 1000 + n),
                    at + TimeDelta::seconds(i64::from(n)),
                );
                visit.url = (n != 4).then(|| format!("https://shop.example/b/{}", n % 2));
                visit.duration_ms = Some(u64::from(n) * 10);
                visit
            })
            .collect()
    };
    for (prefix, user) in [('a', "user-a"), ('b', "user-b")] {
        // Session 0 exists and is linked before the browser fingerprints arrive.
        let key = format!("{prefix}{:031x}", 0);
        store
            .record(
                &[fp::Visit::new(
                    &key,
                    fp::RequestFingerprint::new("https://shop.example/", at),
                )],
                Duration::ZERO,
            )
            .await
            .unwrap();
        store
            .link_sessions(&[fp::SessionLink::new(&key, user, at)])
            .await
            .unwrap();
    }
    for visit in history('a') {
        store.record_browser(&visit).await.unwrap();
    }
    store.record_browsers(&history('b')).await.unwrap();
    store.record_browsers(&[]).await.unwrap();

    for n in 0..4u32 {
        let one = store
            .session_browsers(&format!("a{n:031x}"), 100)
            .await
            .unwrap();
        let batch = store
            .session_browsers(&format!("b{n:031x}"), 100)
            .await
            .unwrap();
        let strip = |browsers: Vec<fp::StoredBrowser>| -> Vec<_> {
            browsers
                .into_iter()
                .map(|b| {
                    (
                        b.url,
                        b.visitor_id,
                        b.components,
                        b.duration_ms,
                        b.created_at,
                    )
                })
                .collect()
        };
        assert_eq!(strip(one), strip(batch), "session {n}");
        let first = store.session(&format!("a{n:031x}")).await.unwrap().unwrap();
        let second = store.session(&format!("b{n:031x}")).await.unwrap().unwrap();
        assert_eq!(first.created_at, second.created_at, "session {n}");
    }
    let devices = |user: &'static str| {
        let store = db.store();
        async move {
            store
                .user_devices(user)
                .await
                .unwrap()
                .browsers
                .into_iter()
                .map(|b| (b.visitor_id, b.first_seen, b.last_seen, b.sessions))
                .collect::<Vec<_>>()
        }
    };
    let a = devices("user-a").await;
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(a, devices("user-b").await);
    let summary = |user| {
        let store = db.store();
        async move { store.user(user).await.unwrap().unwrap() }
    };
    let (a, b) = (summary("user-a").await, summary("user-b").await);
    assert_eq!(
        (a.browser_fingerprints, a.last_seen),
        (b.browser_fingerprints, b.last_seen)
    );
    // Ids follow the order of the batch, as one call at a time would.
    let batch = store
        .browser_fingerprints(&fp::BrowserQuery::new().with_visitor_prefix("0000"))
        .await
        .unwrap();
    let order: Vec<(String, DateTime<Utc>)> = batch
        .items
        .iter()
        .filter(|b| b.session_key.starts_with('b'))
        .map(|b| (b.session_key.clone(), b.created_at))
        .collect();
    assert!(order.windows(2).all(|w| w[0].1 > w[1].1), "{order:?}");
}

/// Referers and headers as long as the layer keeps them, in characters that take three bytes
/// each (more than an index entry can hold on PostgreSQL): stored and read back whole, and
/// shared with the next visit that has the same ones.
async fn long_texts_are_stored_whole(db: TestDb) {
    let store = db.store();
    let long = |n: usize, from: u32| -> String {
        (0..n)
            .map(|i| char::from_u32(0x4e00 + from + (i as u32 * 7919) % 20_000).unwrap())
            .collect()
    };
    let visit = |session: u32, url: &str| {
        let mut fingerprint =
            fp::RequestFingerprint::new(format!("https://shop.example{url}"), now());
        fingerprint.referer = long(2047, 0);
        fingerprint.user_agent = long(255, 1);
        fingerprint.accept_language = long(255, 2);
        fp::Visit::new(format!("{session:032x}"), fingerprint)
    };
    store
        .record(&[visit(1, "/a"), visit(2, "/b")], Duration::ZERO)
        .await
        .unwrap();
    let rows = store.export_requests(None, 0, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.fingerprint.referer, long(2047, 0));
        assert_eq!(row.fingerprint.user_agent, long(255, 1));
        assert_eq!(row.fingerprint.accept_language, long(255, 2));
    }
    let sessions = store.export_sessions(None, 0, 10).await.unwrap();
    assert!(sessions.iter().all(|s| s.referer == long(2047, 0)));
    assert_eq!(db.count("fingerprint_referers").await, 1);
    assert_eq!(db.count("fingerprint_profiles").await, 1);
}

/// A batch far larger than a statement's parameter limit (each statement takes its rows as
/// one parameter): 40,000 visits of 20,000 sessions on 500 URLs, in one `record` call, then the
/// same again (every visit found stored, or debounced by the stored rows).
async fn one_large_batch_is_one_write(db: TestDb) {
    let store = db.store();
    let visits: Vec<fp::Visit> = (0..40_000_u32)
        .map(|n| {
            let mut fingerprint = fp::RequestFingerprint::new(
                format!("https://shop.example/p/{}", n % 500),
                now() - TimeDelta::seconds(i64::from(n % 3)),
            );
            fingerprint.user_agent = format!("agent {}", n % 40);
            fingerprint.referer = format!("https://ref.example/{}", n % 70);
            fingerprint.ip = Some(IpAddr::from([198, 51, 100, (n % 200) as u8]));
            fp::Visit::new(format!("{:032x}", n % 20_000), fingerprint)
        })
        .collect();
    let window = Duration::from_secs(3_600);
    let first = store.record(&visits, window).await.unwrap();
    // Two visits per (session, URL) pair, inside one window: one stored.
    assert_eq!((first.inserted, first.debounced), (20_000, 20_000));
    // Written again (as after a lost commit answer): the stored visits are found as they
    // are, the others debounced by them.
    let again = store.record(&visits, window).await.unwrap();
    assert_eq!(
        (again.inserted, again.debounced, again.already_stored),
        (0, 20_000, 20_000)
    );
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 20_000);
    assert_eq!(db.count("fingerprint_profiles").await, 40);
    assert_eq!(db.count("fingerprint_referers").await, 70);
    assert_eq!(db.recount_hits().await, db.counters().await);
    let counts = db.counters().await;
    assert_eq!(counts.values().sum::<u64>(), 20_000);
    check_rollup(&db).await;
}

/// The longest debounce window there is: every repeat of a (session, URL) is debounced, in
/// the batch and against the stored rows, and nothing overflows.
async fn a_window_of_forever_debounces_every_repeat(db: TestDb) {
    let store = db.store();
    let visit = |days: i64| {
        fp::Visit::new(
            format!("{:032x}", 7),
            fp::RequestFingerprint::new("https://shop.example/a", now() - TimeDelta::days(days)),
        )
    };
    let first = store
        .record(&[visit(900), visit(1)], Duration::MAX)
        .await
        .unwrap();
    assert_eq!((first.inserted, first.debounced), (1, 1));
    let later = store.record(&[visit(0)], Duration::MAX).await.unwrap();
    assert_eq!((later.inserted, later.debounced), (0, 1));
}

/// A stored visit debounces those less than the window before or after it, and never one
/// outside the window, whatever order batches are written in (several writers or instances
/// commit out of order). A window of zero stores every visit, each once: a batch written
/// again finds its rows stored.
async fn the_window_reaches_both_ways_and_zero_stores_each_visit_once(db: TestDb) {
    let store = db.store();
    let visit = |url: &str, secs: i64| {
        fp::Visit::new(
            format!("{:032x}", 8),
            fp::RequestFingerprint::new(url, now() + TimeDelta::seconds(secs)),
        )
    };
    let minute = Duration::from_secs(60);
    let outcome = |o: fp::RecordOutcome| (o.inserted, o.debounced, o.already_stored);
    // The later visit first, then two earlier ones: 30 s before it, and 90 s before it.
    for (secs, expected) in [(100, (1, 0, 0)), (70, (0, 1, 0)), (10, (1, 0, 0))] {
        let visits = [visit("https://a.example/", secs)];
        let recorded = store.record(&visits, minute).await.unwrap();
        assert_eq!(outcome(recorded), expected, "at {secs} s");
    }

    // Window zero: every visit once, in or out of order, and a batch again is found stored.
    let batch = [
        visit("https://b.example/", 5),
        visit("https://b.example/", 3),
        visit("https://b.example/", 4),
    ];
    let zero = Duration::ZERO;
    assert_eq!(
        outcome(store.record(&batch[..1], zero).await.unwrap()),
        (1, 0, 0)
    );
    assert_eq!(
        outcome(store.record(&batch, zero).await.unwrap()),
        (2, 0, 1)
    );
    assert_eq!(
        outcome(store.record(&batch, zero).await.unwrap()),
        (0, 0, 3)
    );
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 5);
    assert_eq!(db.recount_hits().await, db.counters().await);
    check_rollup(&db).await;
}

/// Users never seen (`last_seen` NULL: what migration 3 made of users whose sessions had no
/// fingerprint) sort last, and paging by one finds every user once, them included.
async fn users_never_seen_are_paged_through_too(db: TestDb) {
    let store = db.store();
    let visit = fp::Visit::new(
        format!("{:032x}", 1),
        fp::RequestFingerprint::new("https://a.example/", now()),
    );
    store.record(&[visit], Duration::ZERO).await.unwrap();
    let mut links = vec![fp::SessionLink::new(format!("{:032x}", 1), "seen", now())];
    for (n, user) in ["ghost-a", "ghost-b", "ghost-c"].into_iter().enumerate() {
        links.push(fp::SessionLink::new(
            format!("{:032x}", 10 + n),
            user,
            now(),
        ));
    }
    store.link_sessions(&links).await.unwrap();
    db.execute("UPDATE fingerprint_users SET last_seen = NULL WHERE user_id LIKE 'ghost-%'")
        .await;
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let mut query = fp::UserQuery::new().with_limit(1);
        if let Some(after) = &after {
            query = query.with_after(after);
        }
        let page = store.users(&query).await.unwrap();
        found.extend(
            page.items
                .iter()
                .map(|u| (u.user_id.clone(), u.last_seen.is_some())),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected = [
        ("seen", true),
        ("ghost-c", false),
        ("ghost-b", false),
        ("ghost-a", false),
    ]
    .map(|(user, seen)| (user.to_owned(), seen));
    assert_eq!(found, expected);
}

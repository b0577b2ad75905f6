//! Retention, erasure, exports and rebuilds, on SQLite and PostgreSQL: hit counters always
//! equal a recount from the fingerprints left.

#[macro_use]
mod common;

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use common::TestDb;
use fingerprint::v1 as fp;

suite!(
    purge_deletes_old_data_and_keeps_counts_exact,
    forget_user_erases_the_user_and_their_visits,
    exports_page_through_everything_once,
    rebuild_reports_progress,
    a_batch_and_maintenance_on_its_sessions_both_finish,
    a_purge_inside_a_day_keeps_its_visitors_counted_once,
    a_purge_counts_visits_as_the_app_does,
);

fn key(n: u32) -> String {
    format!("{n:032x}")
}

fn visit(session: u32, url: &str, at: DateTime<Utc>, agent: &str) -> fp::Visit {
    let mut fingerprint = fp::RequestFingerprint::new(format!("http://site{url}"), at);
    fingerprint.user_agent = agent.into();
    fingerprint.ip = Some(std::net::IpAddr::from([
        10,
        0,
        0,
        u8::try_from(session).unwrap(),
    ]));
    fp::Visit::new(key(session), fingerprint)
}

/// A batch's transaction as the store writes one on PostgreSQL, its existing sessions locked
/// one by one, so a test can start something else between two of them.
struct Batch(sqlx::Transaction<'static, sqlx::Postgres>);

impl Batch {
    async fn begin(db: &TestDb) -> Self {
        let TestDb::Postgres { store, .. } = db else {
            unreachable!()
        };
        Self(store.pool().begin().await.unwrap())
    }

    /// Locks the session `key` as a batch writing to it does.
    async fn lock(&mut self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT id FROM fingerprint_sessions WHERE key = $1 FOR NO KEY UPDATE")
            .bind(key)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }
}

/// A link's transaction as the store starts one on PostgreSQL: `user` locked until it ends.
async fn link_of_user(db: &TestDb, user: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let TestDb::Postgres { store, .. } = db else {
        unreachable!()
    };
    let mut link = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('fingerprint_user:' || $1, 0))")
        .bind(user)
        .execute(&mut *link)
        .await
        .unwrap();
    link
}

/// Sessions 1 and 2, a request each at `at`, and session 1 linked to `user`.
async fn two_sessions_the_first_linked_to(db: &TestDb, user: &str, at: DateTime<Utc>) {
    let store = db.store();
    store
        .record(
            &[visit(1, "/a", at, "agent"), visit(2, "/b", at, "agent")],
            Duration::ZERO,
        )
        .await
        .unwrap();
    store
        .link_sessions(&[fp::SessionLink::new(key(1), user, at)])
        .await
        .unwrap();
}

/// Waits (at most 2 s) until a connection to the test database waits for a lock.
async fn until_one_waits_for_a_lock(db: &TestDb) {
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE wait_event_type = 'Lock' AND datname = current_database()";
    for _ in 0..100 {
        if db.scalar(waiting).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records what a progress callback was told.
#[derive(Default)]
struct Seen(Mutex<Vec<fp::Progress>>);

impl Seen {
    fn last(&self) -> Option<fp::Progress> {
        self.0.lock().unwrap().last().copied()
    }
}

/// A unique visit whose last request of a person is purged, with only an automated client's
/// request of the same session and URL left, leaves the counters unless the app counts
/// automated clients: the counters stay what a rebuild with the same setting would count.
async fn a_purge_counts_visits_as_the_app_does(db: TestDb) {
    let store = db.store();
    let now = Utc::now().trunc_subsecs(0);
    let automated = |session: u32, url: &str, at: DateTime<Utc>| {
        let mut visit = visit(session, url, at, "curl/8.5.0").with_counted(false);
        visit.fingerprint.verdict = "automated".into();
        visit
    };
    // /a: session 1, a person long ago, then an automated client recently; session 2, a
    // person both times. /b: session 3 as session 1, purged later by an app that counts
    // automated clients.
    let visits = [
        visit(1, "/a", now - TimeDelta::days(100), "agent"),
        automated(1, "/a", now - TimeDelta::days(1)),
        visit(2, "/a", now - TimeDelta::days(100), "agent"),
        visit(2, "/a", now - TimeDelta::days(1), "agent"),
        visit(3, "/b", now - TimeDelta::days(50), "agent"),
        automated(3, "/b", now - TimeDelta::days(1)),
    ];
    for visit in &visits {
        store
            .record(std::slice::from_ref(visit), Duration::ZERO)
            .await
            .unwrap();
    }
    let hits = |counters: &std::collections::HashMap<String, u64>, url: &str| {
        counters
            .get(&format!("http://site{url}"))
            .copied()
            .unwrap_or(0)
    };
    let counters = db.counters().await;
    assert_eq!((hits(&counters, "/a"), hits(&counters, "/b")), (2, 1));

    let purged = store
        .purge(now - TimeDelta::days(90), 100, false, &|_| {})
        .await
        .unwrap();
    assert_eq!(purged.request_fingerprints, 2);
    assert_eq!(purged.visits_uncounted, 1, "{purged:?}");
    let counters = db.counters().await;
    assert_eq!(hits(&counters, "/a"), 1, "{counters:?}");
    assert_eq!(hits(&counters, "/a"), hits(&db.recount_hits().await, "/a"));

    let purged = store
        .purge(now - TimeDelta::days(30), 100, true, &|_| {})
        .await
        .unwrap();
    assert_eq!(purged.request_fingerprints, 1);
    assert_eq!(purged.visits_uncounted, 0, "{purged:?}");
    assert_eq!(hits(&db.counters().await, "/b"), 1);
    let report = store.rebuild_hit_counts(1000, true).await.unwrap();
    assert_eq!(hits(&db.counters().await, "/b"), 1, "{report:?}");
}

/// A purge whose cutoff falls inside a UTC day deletes that day's earlier requests but not
/// the day's record of who came: a visitor coming back later that day is not counted twice.
async fn a_purge_inside_a_day_keeps_its_visitors_counted_once(db: TestDb) {
    let store = db.store();
    let day = (Utc::now() - TimeDelta::days(2)).date_naive();
    let at = |hour: u32| day.and_hms_opt(hour, 0, 0).unwrap().and_utc();
    let hour = Duration::from_secs(3_600);
    // Session 1 came at 05:00 only; session 2 came at 05:00 and again at 07:00.
    let first = [
        visit(1, "/a", at(5), "agent"),
        visit(2, "/a", at(5), "agent"),
    ];
    store.record(&first, hour).await.unwrap();
    store
        .record(&[visit(2, "/b", at(7), "agent")], hour)
        .await
        .unwrap();
    let purged = store.purge(at(6), 100, false, &|_| {}).await.unwrap();
    assert_eq!(purged.request_fingerprints, 2);
    // Session 1 comes back at 19:00 the same day.
    store
        .record(&[visit(1, "/c", at(19), "agent")], hour)
        .await
        .unwrap();
    let traffic = store.daily_traffic(day, day).await.unwrap();
    assert_eq!(traffic.len(), 1);
    assert_eq!(
        (traffic[0].visits, traffic[0].visitors),
        (4, 2),
        "{traffic:?}"
    );
}

async fn purge_deletes_old_data_and_keeps_counts_exact(db: TestDb) {
    let store = db.store();
    let now = Utc::now();
    let old = now - TimeDelta::days(100);
    let recent = now - TimeDelta::days(1);
    // Session 1: old only (anonymous). Session 2: old and recent, linked to "u". Session 3:
    // recent only.
    let visits = vec![
        visit(1, "/a", old, "old agent"),
        visit(1, "/b", old, "old agent"),
        visit(2, "/a", old, "old agent"),
        visit(2, "/a", recent, "new agent"),
        visit(2, "/c", old, "old agent"),
        visit(3, "/a", recent, "new agent"),
        visit(3, "/b", recent, "new agent"),
    ];
    for visit in &visits {
        // One by one: sessions take their creation time from their first visit.
        store
            .record(std::slice::from_ref(visit), Duration::ZERO)
            .await
            .unwrap();
    }
    store
        .link_sessions(&[fp::SessionLink::new(key(2), "u", old)])
        .await
        .unwrap();
    store
        .record_browser(&fp::BrowserVisit::new(key(1), "a".repeat(32), "{}", old))
        .await
        .unwrap();
    store
        .record_browser(&fp::BrowserVisit::new(key(2), "b".repeat(32), "{}", recent))
        .await
        .unwrap();
    assert_eq!(db.counters().await, db.recount_hits().await);
    assert_eq!(db.count("fingerprint_ip_sessions").await, 3);
    assert_eq!(db.rollup_mismatches().await, 0);
    let before = store.user("u").await.unwrap().unwrap();
    assert_eq!(before.request_fingerprints, 2, "old and new agent");

    let seen = Seen::default();
    let report = store
        .purge(now - TimeDelta::days(90), 2, false, &|p| {
            seen.0.lock().unwrap().push(p)
        })
        .await
        .unwrap();
    assert_eq!(report.request_fingerprints, 4);
    assert_eq!(report.browser_fingerprints, 1);
    assert_eq!(report.sessions, 1, "session 1 had nothing left");
    // (a, 1), (b, 1) and (c, 2) lost their last fingerprint; (a, 2) did not.
    assert_eq!(report.visits_uncounted, 3);
    assert!(report.chunks >= 3, "{report:?}");
    let last = seen.last().unwrap();
    assert_eq!((last.done, last.total), (5, 5));
    assert!(seen.0.lock().unwrap().len() >= 3);

    let counters = db.counters().await;
    assert_eq!(counters, db.recount_hits().await);
    assert_eq!(
        db.rollup_mismatches().await,
        0,
        "IP and day indexes follow the purge"
    );
    assert_eq!(
        db.count("fingerprint_ip_sessions").await,
        2,
        "session 1's IP is gone"
    );
    assert_eq!(counters.get("http://site/a"), Some(&2));
    assert_eq!(counters.get("http://site/b"), Some(&1));
    assert_eq!(counters.get("http://site/c"), None);
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 3);
    assert_eq!(db.count("fingerprint_sessions").await, 2);
    assert!(store.session(&key(1)).await.unwrap().is_none());
    let after = store.user("u").await.unwrap().unwrap();
    assert_eq!(after.request_fingerprints, 1, "only the new agent is left");
    assert_eq!(after.browser_fingerprints, 1);
    assert_eq!(after.sessions, 1);

    // Nothing older left: a second purge does nothing.
    let again = store
        .purge(now - TimeDelta::days(90), 2, false, &|_| {})
        .await
        .unwrap();
    assert_eq!(again, fp::PurgeReport::default());
}

async fn forget_user_erases_the_user_and_their_visits(db: TestDb) {
    let store = db.store();
    let t = Utc::now() - TimeDelta::hours(2);
    let visits = vec![
        visit(1, "/a", t, "agent"),
        visit(1, "/b", t, "agent"),
        visit(2, "/a", t, "agent"),
        visit(3, "/a", t, "agent"),
        visit(3, "/b", t, "agent"),
    ];
    store.record(&visits, Duration::ZERO).await.unwrap();
    store
        .link_sessions(&[
            fp::SessionLink::new(key(1), "gone", t),
            fp::SessionLink::new(key(2), "gone", t),
            fp::SessionLink::new(key(3), "stays", t),
        ])
        .await
        .unwrap();
    store
        .record_browser(&fp::BrowserVisit::new(key(1), "c".repeat(32), "{}", t))
        .await
        .unwrap();

    assert_eq!(db.count("fingerprint_ip_sessions").await, 3);
    let report = store.forget_user("gone").await.unwrap();
    assert_eq!(
        db.rollup_mismatches().await,
        0,
        "IP and day indexes follow the erasure"
    );
    assert_eq!(
        db.count("fingerprint_ip_sessions").await,
        1,
        "only session 3's IP is left"
    );
    assert_eq!(report.sessions, 2);
    assert_eq!(report.request_fingerprints, 3);
    assert_eq!(report.browser_fingerprints, 1);
    assert_eq!(report.visits_uncounted, 3);
    assert_eq!(db.counters().await, db.recount_hits().await);
    assert_eq!(
        store
            .hit_counts(&["http://site/a", "http://site/b"])
            .await
            .unwrap(),
        [
            ("http://site/a".to_owned(), 1),
            ("http://site/b".to_owned(), 1)
        ]
        .into_iter()
        .collect()
    );
    assert!(store.user("gone").await.unwrap().is_none());
    assert!(store.user_sessions("gone", 10).await.unwrap().is_empty());
    assert!(store
        .user_devices("gone",)
        .await
        .unwrap()
        .devices
        .is_empty());
    assert!(store
        .visitor_users(&"c".repeat(32))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.user("stays").await.unwrap().unwrap().sessions, 1);
    assert_eq!(
        store.forget_user("nobody").await.unwrap(),
        fp::ForgetReport::default()
    );
}

async fn exports_page_through_everything_once(db: TestDb) {
    let store = db.store();
    let start = (Utc::now() - TimeDelta::days(10)).trunc_subsecs(6);
    let mut visits = Vec::new();
    for n in 0..10u32 {
        let at = start + TimeDelta::days(i64::from(n));
        visits.push(visit(n, &format!("/{n}"), at, "agent"));
    }
    for visit in &visits {
        store
            .record(std::slice::from_ref(visit), Duration::ZERO)
            .await
            .unwrap();
        store
            .record_browser(&fp::BrowserVisit::new(
                &visit.session_key,
                "d".repeat(32),
                "{\"screen\":[1,2,3]}",
                visit.fingerprint.created_at,
            ))
            .await
            .unwrap();
    }
    store
        .link_sessions(&[fp::SessionLink::new(key(4), "u4", start)])
        .await
        .unwrap();

    let mut after = 0;
    let mut urls = Vec::new();
    loop {
        let page = store.export_requests(None, after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = last.id;
        urls.extend(page.into_iter().map(|r| r.fingerprint.url));
    }
    let expected: Vec<String> = (0..10).map(|n| format!("http://site/{n}")).collect();
    assert_eq!(urls, expected);

    let since = start + TimeDelta::days(7);
    let recent = store.export_requests(Some(since), 0, 100).await.unwrap();
    assert_eq!(recent.len(), 3, "days 7, 8, 9");
    let browsers = store.export_browsers(Some(since), 0, 100).await.unwrap();
    assert_eq!(browsers.len(), 3);
    let components: serde_json::Value = serde_json::from_str(&browsers[0].components).unwrap();
    assert_eq!(components, serde_json::json!({ "screen": [1, 2, 3] }));
    let all_browsers = store.export_browsers(None, 0, 100).await.unwrap();
    assert_eq!(all_browsers.len(), 10);
    let sessions = store.export_sessions(None, 0, 100).await.unwrap();
    assert_eq!(sessions.len(), 10);
    let linked = sessions.iter().find(|s| s.key == key(4)).unwrap();
    assert_eq!(linked.user_id.as_deref(), Some("u4"));
    assert!(linked.linked_at.is_some());
    let page = store
        .export_sessions(Some(since), sessions[0].id, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert!(
        page.iter().all(|s| s.created_at >= since),
        "{since} {page:#?}"
    );
}

async fn rebuild_reports_progress(db: TestDb) {
    let store = db.store();
    let t = Utc::now();
    let visits: Vec<fp::Visit> = (0..7).map(|n| visit(n, &format!("/{n}"), t, "a")).collect();
    store.record(&visits, Duration::ZERO).await.unwrap();
    db.execute("DELETE FROM fingerprint_hit_counts").await;
    let seen = Seen::default();
    let report = store
        .rebuild_hit_counts_with_progress(3, false, &|p| seen.0.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!((report.urls, report.visitors, report.chunks), (7, 7, 3));
    let steps: Vec<(u64, u64)> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|p| (p.done, p.total))
        .collect();
    assert_eq!(steps, [(3, 7), (6, 7), (7, 7)]);
    assert_eq!(db.counters().await, db.recount_hits().await);
}

/// A recorder batch of an existing session, and a maintenance transaction that locks the
/// unique visitors, then that session (as `forget_user` does): both finish. On PostgreSQL the
/// batch took its session `FOR SHARE` and then waited for the locked table, while the
/// maintenance waited for the session: a deadlock, and one of them failed. SQLite's write
/// transaction holds the whole database: the batch waits for the other to commit.
async fn a_batch_and_maintenance_on_its_sessions_both_finish(db: TestDb) {
    let store = db.store();
    let at = Utc::now() - TimeDelta::hours(1);
    store
        .record(&[visit(1, "/a", at, "agent")], Duration::ZERO)
        .await
        .unwrap();
    let batch = |store: Box<dyn fp::FullStore>| {
        tokio::spawn(async move {
            let later = visit(1, "/b", at + TimeDelta::minutes(1), "agent");
            store.record(&[later], Duration::ZERO).await
        })
    };
    // The batch has time to reach its wait; the test holds however far it got.
    let settle = Duration::from_millis(500);
    match &db {
        TestDb::Postgres { store: pg, .. } => {
            let mut tx = pg.pool().begin().await.unwrap();
            sqlx::query("LOCK TABLE fingerprint_url_visitors IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            let batch = batch(db.store());
            tokio::time::sleep(settle).await;
            let locked: Vec<(i64,)> =
                sqlx::query_as("SELECT id FROM fingerprint_sessions WHERE key = $1 FOR UPDATE")
                    .bind(key(1))
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
            assert_eq!(locked.len(), 1);
            tx.commit().await.unwrap();
            batch.await.unwrap().unwrap();
        }
        TestDb::Sqlite { store: lite, .. } => {
            let mut conn = lite.pool().acquire().await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *conn)
                .await
                .unwrap();
            let batch = batch(db.store());
            tokio::time::sleep(settle).await;
            let locked: Vec<(i64,)> =
                sqlx::query_as("SELECT id FROM fingerprint_sessions WHERE key = ?")
                    .bind(key(1))
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            assert_eq!(locked.len(), 1);
            sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
            batch.await.unwrap().unwrap();
        }
    }
    assert_eq!(db.counters().await, db.recount_hits().await);
    assert_eq!(db.visitor_pairs().await, 2);
}

/// PostgreSQL checks a request fingerprint's key to its session (sessions are deleted, and the
/// key keeps a row from outliving its session) but not its keys to URLs, header profiles and
/// referers, which the store inserts itself and never deletes (migration 10: those checks
/// were a third of a batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_keys_to_deleted_rows_are_checked() {
    let Some(db) = TestDb::postgres("kept_ids").await else {
        return;
    };
    let keys = |table: &'static str| {
        format!(
            "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' \
             AND conrelid = '{table}'::regclass"
        )
    };
    assert_eq!(
        db.scalar(&keys("fingerprint_request_fingerprints")).await,
        1
    );
    assert_eq!(db.scalar(&keys("fingerprint_sessions")).await, 0);
    let session_key = "SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' \
         AND conrelid = 'fingerprint_request_fingerprints'::regclass \
         AND confrelid = 'fingerprint_sessions'::regclass AND confdeltype = 'c'";
    assert_eq!(db.scalar(session_key).await, 1, "cascades from its session");
}

/// A purge that finds an old session empty keeps it when a batch is writing a visit to it at
/// that moment (PostgreSQL: the batch holds the session `FOR NO KEY UPDATE`; the purge waits
/// for it, then checks again). Before, it deleted the session, and the new visit with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_keeps_an_old_session_a_batch_is_writing_to() {
    let Some(db) = TestDb::postgres("purge_race").await else {
        return;
    };
    let TestDb::Postgres { store: pg, .. } = &db else {
        unreachable!()
    };
    sqlx::query(
        "INSERT INTO fingerprint_sessions (key, created_at) \
         VALUES ('returning', now() - interval '400 days')",
    )
    .execute(pg.pool())
    .await
    .unwrap();
    // A batch's transaction, as the store writes one: the existing session locked, then its
    // new row.
    let mut batch = pg.pool().begin().await.unwrap();
    let (id,): (i64,) = sqlx::query_as(
        "SELECT id FROM fingerprint_sessions WHERE key = 'returning' FOR NO KEY UPDATE",
    )
    .fetch_one(&mut *batch)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO fingerprint_browser_fingerprints (session_id, visitor_id, components, \
         created_at) VALUES ($1, 'visitor', '{}', now())",
    )
    .bind(id)
    .execute(&mut *batch)
    .await
    .unwrap();
    let store = db.store();
    let purge = tokio::spawn(async move {
        store
            .purge(Utc::now() - TimeDelta::days(90), 100, false, &|_| {})
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!purge.is_finished(), "the purge waits for the batch");
    batch.commit().await.unwrap();
    let report = purge.await.unwrap().unwrap();
    assert_eq!(report.sessions, 0, "{report:?}");
    assert_eq!(db.count("fingerprint_sessions").await, 1);
    assert_eq!(db.count("fingerprint_browser_fingerprints").await, 1);
}

/// An erasure while a link of one of the user's sessions is in progress (PostgreSQL): the
/// erasure waits for the link, then erases that session too; no session is left linked to
/// the erased user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_waits_for_a_link_in_progress_and_erases_it() {
    let Some(db) = TestDb::postgres("erasure_race").await else {
        return;
    };
    let at = Utc::now();
    two_sessions_the_first_linked_to(&db, "u", at).await;
    // A link's transaction, as the store writes one: the user locked, then the session linked.
    let mut link = link_of_user(&db, "u").await;
    sqlx::query("UPDATE fingerprint_sessions SET user_id = 'u', linked_at = now() WHERE key = $1")
        .bind(key(2))
        .execute(&mut *link)
        .await
        .unwrap();
    let erasing = db.store();
    let forget = tokio::spawn(async move { erasing.forget_user("u").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!forget.is_finished(), "the erasure waits for the link");
    link.commit().await.unwrap();
    let report = forget.await.unwrap().unwrap();
    assert_eq!(report.sessions, 2, "{report:?}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM fingerprint_sessions WHERE user_id = 'u'")
            .await,
        0
    );
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 0);
}

/// A relink of a session away from its user waits for a link to that user in progress
/// (PostgreSQL): both users of a relink are locked, the one it leaves too, so the user's
/// summary is computed after the link, not beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relink_locks_the_user_it_leaves() {
    let Some(db) = TestDb::postgres("relink_lock").await else {
        return;
    };
    let at = Utc::now();
    two_sessions_the_first_linked_to(&db, "u", at).await;
    // A link's transaction, as the store writes one: the user locked first.
    let link = link_of_user(&db, "u").await;
    let relinking = db.store();
    let relink = tokio::spawn(async move { relinking.relink_session(&key(1), None, at).await });
    until_one_waits_for_a_lock(&db).await;
    assert!(!relink.is_finished(), "the relink waits for the link");
    link.commit().await.unwrap();
    assert!(relink.await.unwrap().unwrap());
    assert_eq!(db.store().user("u").await.unwrap(), None);
}

/// Links lock their sessions in key order, as batches do (PostgreSQL): a batch holding the
/// first of two sessions and then taking the second does not deadlock with a link of both
/// given in the other order; the outcomes still come in the order of the links, and a
/// session given twice is linked in the order given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_lock_sessions_in_key_order_as_batches_do() {
    let Some(db) = TestDb::postgres("link_order").await else {
        return;
    };
    let at = Utc::now();
    two_sessions_the_first_linked_to(&db, "v", at).await;
    // A batch's transaction, as the store writes one: its sessions locked in key order.
    let mut batch = Batch::begin(&db).await;
    batch.lock(&key(1)).await.unwrap();
    let linking = db.store();
    let link = tokio::spawn(async move {
        linking
            .link_sessions(&[
                fp::SessionLink::new(key(2), "u", at),
                fp::SessionLink::new(key(1), "u", at),
                fp::SessionLink::new(key(2), "w", at),
            ])
            .await
    });
    // The link waits for the batch's first session.
    until_one_waits_for_a_lock(&db).await;
    assert!(!link.is_finished(), "the link waits for the batch");
    // The batch takes its second session: free, unless the link took it out of key order
    // (then one of the two is aborted as a deadlock).
    let second = batch.lock(&key(2)).await;
    assert!(second.is_ok(), "{second:?}");
    batch.0.commit().await.unwrap();
    let outcomes = link.await.unwrap().unwrap();
    assert_eq!(
        outcomes,
        [
            fp::LinkOutcome::Linked,
            fp::LinkOutcome::LinkedToOther("v".into()),
            fp::LinkOutcome::LinkedToOther("u".into()),
        ]
    );
}

/// A link adds its sessions' devices to the user in (user, kind, value) order, the order a
/// batch writes what linked users were seen with (PostgreSQL): a batch writing the user's
/// first device and then the second does not deadlock with a link whose sessions hold them
/// in the other order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_add_devices_in_the_order_batches_do() {
    let Some(db) = TestDb::postgres("device_order").await else {
        return;
    };
    let store = db.store();
    let at = Utc::now();
    // Session 1 (first in key order) was seen with agent "b", session 2 with agent "a".
    store
        .record(
            &[visit(1, "/a", at, "b"), visit(2, "/a", at, "a")],
            Duration::ZERO,
        )
        .await
        .unwrap();
    // A batch's transaction, as the store writes one: what user "u" was seen with, sorted.
    let mut batch = Batch::begin(&db).await;
    let seen = |agent: &'static str| {
        sqlx::query(
            "INSERT INTO fingerprint_user_devices (user_id, kind, value, first_seen, last_seen) \
             VALUES ('u', 2, $1, now(), now()) ON CONFLICT (user_id, kind, value) \
             DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(agent)
    };
    seen("a").execute(&mut *batch.0).await.unwrap();
    let linking = db.store();
    let link = tokio::spawn(async move {
        linking
            .link_sessions(&[
                fp::SessionLink::new(key(1), "u", at),
                fp::SessionLink::new(key(2), "u", at),
            ])
            .await
    });
    until_one_waits_for_a_lock(&db).await;
    assert!(!link.is_finished(), "the link waits for the batch");
    let second = seen("b").execute(&mut *batch.0).await;
    assert!(second.is_ok(), "{second:?}");
    batch.0.commit().await.unwrap();
    link.await.unwrap().unwrap();
    let devices = "SELECT COUNT(*) FROM fingerprint_user_devices WHERE user_id = 'u'";
    assert_eq!(db.scalar(devices).await, 2);
}

/// A purge locks the empty old sessions it deletes in key order, as batches lock sessions
/// (PostgreSQL): a batch holding the first of two such sessions and then taking the second
/// does not deadlock with it, though the second was created first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_locks_sessions_in_key_order_as_batches_do() {
    let Some(db) = TestDb::postgres("purge_order").await else {
        return;
    };
    let store = db.store();
    let old = Utc::now() - TimeDelta::days(100);
    // Two sessions without fingerprints, the later key created first (the lower id).
    for n in [2, 1] {
        store
            .link_sessions(&[fp::SessionLink::new(key(n), "u", old)])
            .await
            .unwrap();
    }
    let mut batch = Batch::begin(&db).await;
    batch.lock(&key(1)).await.unwrap();
    let purging = db.store();
    let purge = tokio::spawn(async move {
        purging
            .purge(Utc::now() - TimeDelta::days(90), 100, false, &|_| {})
            .await
    });
    until_one_waits_for_a_lock(&db).await;
    assert!(!purge.is_finished(), "the purge waits for the batch");
    let second = batch.lock(&key(2)).await;
    assert!(second.is_ok(), "{second:?}");
    batch.0.commit().await.unwrap();
    let report = purge.await.unwrap().unwrap();
    assert_eq!(report.sessions, 2, "{report:?}");
}

/// Two batches writing the same returning visit at once (two app instances, PostgreSQL):
/// the second waits for the first and its debounce sees the first one's row, so the visit
/// is stored once. Each insert is slowed down by a trigger, so the two overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_of_one_session_debounce_each_other() {
    let Some(db) = TestDb::postgres("debounce_race").await else {
        return;
    };
    let store = db.store();
    let at = Utc::now();
    let window = Duration::from_secs(3_600);
    store
        .record(&[visit(1, "/a", at, "agent")], window)
        .await
        .unwrap();
    db.execute_all(&[
        "CREATE FUNCTION slow_insert() RETURNS trigger AS \
         'BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END' LANGUAGE plpgsql",
        "CREATE TRIGGER slow BEFORE INSERT ON fingerprint_request_fingerprints \
         FOR EACH ROW EXECUTE FUNCTION slow_insert()",
    ])
    .await;
    let write = |seconds: i64| {
        let store = db.store();
        let visit = visit(1, "/b", at + TimeDelta::seconds(seconds), "agent");
        tokio::spawn(async move { store.record(&[visit], window).await.unwrap() })
    };
    let first = write(1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = write(2);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(
        (
            first.inserted + second.inserted,
            first.debounced + second.debounced
        ),
        (1, 1),
        "{first:?} {second:?}"
    );
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 2);
}

//! Request fingerprinting end to end, the same suite on SQLite and on PostgreSQL: a real server
//! on 127.0.0.1, the fingerprint layer on a route, a real database.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use common::{cookie_key, serve, TestDb};
use fingerprint::v1 as fp;
use tokio::sync::Semaphore;

suite!(
    anonymous_get_is_recorded,
    headers_are_stored_as_sent_and_truncated,
    utm_and_referer_stay_with_the_first_record,
    debounce_follows_the_clock,
    concurrent_requests_of_a_page_enqueue_it_once,
    hit_counts_count_unique_sessions,
    hit_counts_for_objects_and_rebuild,
    automated_clients_are_stored_but_not_counted,
    claimed_crawlers_are_verified_through_the_apps_resolver,
    behaviour_limits_flag_the_request_and_the_session,
    two_instances_give_exact_hit_counts,
    concurrent_batches_of_one_instance_count_exactly,
    a_batch_written_again_after_a_lost_answer_counts_as_stored,
    a_batch_that_panics_is_counted_as_failed,
    a_nul_in_the_query_does_not_fail_the_batch,
    waits_of_duration_max_are_very_long,
    one_refused_visit_costs_only_itself,
    a_stuck_write_ends_at_the_shutdown_timeout,
    shutdown_under_load_loses_nothing,
    full_queue_drops_and_counts_without_blocking,
    forwarded_headers_only_from_trusted_proxies,
    only_the_configured_client_ip_header_counts,
    #[cfg(feature = "tower-sessions")]
    tower_sessions_carry_the_session,
    migrate_is_idempotent_and_checked,
);

fn fingerprinted(fingerprint: &fp::Fingerprint) -> Router {
    Router::new()
        .route("/path", get(|| async { "the view" }))
        .route("/{*rest}", get(|| async { "any" }))
        .route_layer(fingerprint.layer())
}

/// A client whose user agent claims no browser: assessed `unknown`, so counted.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("fingerprint-tests/1")
        .build()
        .unwrap()
}

async fn anonymous_get_is_recorded(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;

    let response = client()
        .get(format!("http://{addr}/path?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let key = cookie_key(&response).expect("a session cookie");
    // A response that gives a visitor its key is not for shared caches.
    assert_eq!(response.headers()["vary"], "Cookie");
    assert_eq!(response.headers()["cache-control"], "private");
    assert_eq!(response.text().await.unwrap(), "the view");
    let again = client()
        .get(format!("http://{addr}/path?x=2"))
        .header("cookie", format!("fingerprint_session={key}"))
        .send()
        .await
        .unwrap();
    assert!(cookie_key(&again).is_none());
    assert!(
        again.headers().get("cache-control").is_none(),
        "no key, no change"
    );
    fingerprint.flush().await.unwrap();

    assert_eq!(db.count("fingerprint_sessions").await, 1);
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 2);
    let session = db
        .store()
        .session(&key)
        .await
        .unwrap()
        .expect("session row");
    assert_eq!(session.user_id, None);
    let requests = db.store().session_requests(&key, 10).await.unwrap();
    assert_eq!(requests.len(), 2);
    let stored = &requests[1].fingerprint;
    assert_eq!(stored.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(stored.user_agent, "fingerprint-tests/1");
    assert_eq!(stored.method, "GET");
    assert_eq!(stored.url, format!("http://{addr}/path?x=1"));
    let age = Utc::now() - stored.created_at;
    assert!(age.num_seconds().abs() < 5, "created {age} ago");
    assert_eq!(fingerprint.shutdown().await.stored, 2);
}

async fn headers_are_stored_as_sent_and_truncated(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let headers = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        ),
        ("accept", "text/html,application/xhtml+xml;q=0.9"),
        ("accept-language", "cs-CZ,cs;q=0.9,en;q=0.8"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("content-encoding", "gzip"),
        ("content-language", "de-DE"),
        ("referer", "https://search.example/?q=fingerprint"),
        ("cf-ipcountry", "CZ"),
    ];
    let mut request = client().get(format!("http://{addr}/sent"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let key = cookie_key(&request.send().await.unwrap()).unwrap();

    let long = |n: usize| "x".repeat(n);
    let mut request = client().get(format!("http://{addr}/long?{}", long(3000)));
    for name in [
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "content-encoding",
        "content-language",
    ] {
        request = request.header(name, long(300));
    }
    let long_key = cookie_key(
        &request
            .header("referer", long(3000))
            .header("cf-ipcountry", long(40))
            .send()
            .await
            .unwrap(),
    )
    .unwrap();
    fingerprint.flush().await.unwrap();

    let sent = &db.store().session_requests(&key, 1).await.unwrap()[0].fingerprint;
    assert_eq!(sent.user_agent, headers[0].1);
    assert_eq!(sent.accept, headers[1].1);
    assert_eq!(sent.accept_language, headers[2].1);
    assert_eq!(sent.accept_encoding, headers[3].1);
    assert_eq!(sent.content_encoding, headers[4].1);
    assert_eq!(sent.content_language, headers[5].1);
    assert_eq!(sent.referer, headers[6].1);
    assert_eq!(sent.country, headers[7].1);

    let long = &db.store().session_requests(&long_key, 1).await.unwrap()[0].fingerprint;
    for value in [
        &long.user_agent,
        &long.accept,
        &long.accept_language,
        &long.accept_encoding,
        &long.content_encoding,
        &long.content_language,
    ] {
        assert_eq!(value.chars().count(), 255);
    }
    assert_eq!(long.referer.chars().count(), 2047);
    assert_eq!(long.country.chars().count(), 16);
    assert_eq!(long.url.chars().count(), 2048);
    assert!(long.url.starts_with(&format!("http://{addr}/long?xxx")));
}

async fn utm_and_referer_stay_with_the_first_record(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let first = client()
        .get(format!(
            "http://{addr}/landing?utm_source=news%20letter&utm_medium=email&utm_campaign=launch&utm_content=top&utm_term=rust+web"
        ))
        .header("referer", "https://mail.example/inbox")
        .send()
        .await
        .unwrap();
    let key = cookie_key(&first).unwrap();
    fingerprint.flush().await.unwrap();
    client()
        .get(format!(
            "http://{addr}/other?utm_source=elsewhere&utm_campaign=second"
        ))
        .header("referer", "https://other.example/")
        .header("cookie", format!("fingerprint_session={key}"))
        .send()
        .await
        .unwrap();
    fingerprint.flush().await.unwrap();

    let session = db.store().session(&key).await.unwrap().unwrap();
    assert_eq!(session.referer, "https://mail.example/inbox");
    assert_eq!(session.utm.source.as_deref(), Some("news letter"));
    assert_eq!(session.utm.medium.as_deref(), Some("email"));
    assert_eq!(session.utm.campaign.as_deref(), Some("launch"));
    assert_eq!(session.utm.content.as_deref(), Some("top"));
    assert_eq!(session.utm.term.as_deref(), Some("rust web"));
    assert_eq!(
        db.store().session_requests(&key, 10).await.unwrap().len(),
        2
    );
    assert_eq!(db.count("fingerprint_sessions").await, 1);
}

async fn debounce_follows_the_clock(db: TestDb) {
    let clock = fp::ManualClock::new();
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_clock(clock.clone())
        .with_debounce(Duration::from_secs(10))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let first = client()
        .get(format!("http://{addr}/page"))
        .send()
        .await
        .unwrap();
    let key = &cookie_key(&first).unwrap();
    let (fingerprint, db) = (&fingerprint, &db);
    let fingerprint_rows = &|| async move {
        fingerprint.flush().await.unwrap();
        db.store().session_requests(key, 100).await.unwrap().len()
    };
    let visit = |path: &'static str| async move {
        client()
            .get(format!("http://{addr}{path}"))
            .header("cookie", format!("fingerprint_session={key}"))
            .send()
            .await
            .unwrap();
        fingerprint_rows().await
    };

    assert_eq!(fingerprint_rows().await, 1);
    clock.advance(Duration::from_secs(9));
    assert_eq!(visit("/page").await, 1, "inside the window");
    clock.advance(Duration::from_millis(999));
    assert_eq!(visit("/page").await, 1, "still inside the window");
    assert_eq!(
        visit("/page?other").await,
        2,
        "another URL is not debounced"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(visit("/page").await, 3, "the window has passed");
    assert_eq!(visit("/page").await, 3);
    clock.advance(Duration::from_secs(10));
    assert_eq!(visit("/page").await, 4);
    let stats = fingerprint.stats();
    assert_eq!(stats.skipped, 3);
    assert_eq!(stats.stored, 4);
}

/// Requests of one session and page at the same moment: one is enqueued, the others are
/// debounced in the layer (none left for the store to debounce).
async fn concurrent_requests_of_a_page_enqueue_it_once(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_clock(fp::ManualClock::new())
        .with_debounce(Duration::from_secs(10))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    for round in 0..5 {
        let key = format!("{round:032x}");
        let requests = (0..16).map(|_| {
            client()
                .get(format!("http://{addr}/page"))
                .header("cookie", format!("fingerprint_session={key}"))
                .send()
        });
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.unwrap().status(), 200);
        }
    }
    fingerprint.flush().await.unwrap();
    let stats = fingerprint.stats();
    assert_eq!((stats.enqueued, stats.skipped), (5, 75), "{stats:?}");
    assert_eq!((stats.stored, stats.debounced), (5, 0), "{stats:?}");
}

async fn hit_counts_count_unique_sessions(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_debounce(Duration::ZERO)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let hits = fingerprint.hits();
    assert!(hits
        .for_urls(Vec::<String>::new())
        .await
        .unwrap()
        .is_empty());

    let page = format!("http://{addr}/article/1");
    let with_query = format!("http://{addr}/article/1?ref=x");
    let first = client().get(&page).send().await.unwrap();
    let key = cookie_key(&first).unwrap();
    for _ in 0..9 {
        client()
            .get(&page)
            .header("cookie", format!("fingerprint_session={key}"))
            .send()
            .await
            .unwrap();
    }
    client()
        .get(&with_query)
        .header("cookie", format!("fingerprint_session={key}"))
        .send()
        .await
        .unwrap();
    fingerprint.flush().await.unwrap();
    assert_eq!(
        db.count("fingerprint_request_fingerprints").await,
        11,
        "debounce is off"
    );
    assert_eq!(
        hits.for_url(&page).await.unwrap(),
        1,
        "one session counts once"
    );
    assert_eq!(hits.for_url(&with_query).await.unwrap(), 1);

    // A new session (e.g. after logout and login) counts again.
    client().get(&page).send().await.unwrap();
    fingerprint.flush().await.unwrap();
    let never = format!("http://{addr}/never");
    let counts = hits
        .for_urls([page.as_str(), with_query.as_str(), never.as_str()])
        .await
        .unwrap();
    assert_eq!(counts.len(), 3);
    assert_eq!(counts[&page], 2);
    assert_eq!(counts[&with_query], 1);
    assert_eq!(counts[&never], 0);
    assert_eq!(db.counters().await, db.recount_hits().await);

    // Another instance (another process, or after a restart) has no URL ids cached: it looks
    // them up, and counts the same; asked again, it answers from its cache.
    let cold = db.another_instance().await;
    let asked = [page.as_str(), with_query.as_str(), never.as_str()];
    let mut expected = std::collections::HashMap::new();
    expected.insert(page.clone(), 2);
    expected.insert(with_query.clone(), 1);
    assert_eq!(cold.hit_counts(&asked).await.unwrap(), expected);
    assert_eq!(cold.hit_counts(&asked).await.unwrap(), expected);
}

async fn automated_clients_are_stored_but_not_counted(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let page = format!("http://{addr}/path");
    // A tool, a declared crawler and a client that claims no browser: three sessions.
    for user_agent in [
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "fingerprint-tests/1",
    ] {
        let response = client()
            .get(&page)
            .header("user-agent", user_agent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    fingerprint.flush().await.unwrap();
    assert_eq!(
        db.count("fingerprint_request_fingerprints").await,
        3,
        "all stored"
    );
    let hits = fingerprint.hits();
    assert_eq!(
        hits.for_url(&page).await.unwrap(),
        1,
        "only the unknown client counts"
    );
    assert_eq!(db.counters().await, db.recount_hits().await);

    // The rebuild respects the setting, either way.
    let store = db.store();
    store.rebuild_hit_counts(10, true).await.unwrap();
    assert_eq!(hits.for_url(&page).await.unwrap(), 3);
    store.rebuild_hit_counts(10, false).await.unwrap();
    assert_eq!(hits.for_url(&page).await.unwrap(), 1);

    // An app that counts them: the crawler's visit of another page counts.
    let counting = fp::Fingerprint::builder(db.store())
        .with_count_automated(true)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&counting)).await;
    let other = format!("http://{addr}/other");
    client()
        .get(&other)
        .header("user-agent", "curl/8.5.0")
        .send()
        .await
        .unwrap();
    counting.flush().await.unwrap();
    assert_eq!(counting.hits().for_url(&other).await.unwrap(), 1);
}

/// A resolver that knows one name for 127.0.0.1 (and that name's address, when given).
struct OneName {
    name: &'static str,
    resolves_back: bool,
}

#[async_trait]
impl fp::CrawlerResolver for OneName {
    async fn reverse(&self, ip: std::net::IpAddr) -> Result<Vec<String>, fp::ResolveError> {
        assert!(ip.is_loopback(), "tests resolve nothing else");
        Ok(vec![self.name.to_owned()])
    }
    async fn forward(&self, host: &str) -> Result<Vec<std::net::IpAddr>, fp::ResolveError> {
        let back = self.resolves_back && host == self.name;
        Ok(if back {
            vec!["127.0.0.1".parse()?]
        } else {
            vec![]
        })
    }
}

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Requests `/crawled` as Googlebot (a new session each time) until the handler sees the
/// verification's result; returns (what the handler saw, the session key).
async fn crawl_until_verified(addr: std::net::SocketAddr) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = client()
            .get(format!("http://{addr}/crawled"))
            .header("user-agent", GOOGLEBOT)
            .send()
            .await
            .unwrap();
        let key = cookie_key(&response).unwrap();
        let seen = response.text().await.unwrap();
        if seen.contains(",crawler_") {
            return (seen, key);
        }
        assert_eq!(
            seen, "declared_bot known_crawler_ua",
            "before the lookup finished"
        );
        assert!(std::time::Instant::now() < deadline, "the lookup finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn claimed_crawlers_are_verified_through_the_apps_resolver(db: TestDb) {
    for (resolver, verdict, reason, evidence) in [
        (
            OneName {
                name: "localhost",
                resolves_back: true,
            },
            fp::Verdict::Automated,
            fp::Reason::CrawlerNotVerified,
            "claims Googlebot; the address has a name, not in googlebot.com or google.com",
        ),
        (
            OneName {
                name: "crawl-1.googlebot.com.",
                resolves_back: false,
            },
            fp::Verdict::Automated,
            fp::Reason::CrawlerNotVerified,
            "claims Googlebot; the address's name is in googlebot.com or google.com, but does \
             not resolve back to it",
        ),
        (
            OneName {
                name: "crawl-1.googlebot.com",
                resolves_back: true,
            },
            fp::Verdict::DeclaredBot,
            fp::Reason::CrawlerVerified,
            "Googlebot: the address is crawl-1.googlebot.com, which resolves back to it",
        ),
    ] {
        let fingerprint = fp::Fingerprint::builder(db.store())
            .with_crawler_resolver(resolver)
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/crawled",
                get(|visit: fp::CurrentVisit| async move {
                    let a = visit.assessment;
                    format!("{} {}", a.verdict.as_str(), a.reason_codes())
                }),
            )
            .route_layer(fingerprint.layer());
        let addr = serve(app).await;
        let (seen, key) = crawl_until_verified(addr).await;
        assert_eq!(
            seen,
            format!("{} known_crawler_ua,{}", verdict.as_str(), reason.as_str())
        );
        fingerprint.flush().await.unwrap();
        let session = db.store().session(&key).await.unwrap().unwrap();
        let assessment = session
            .assessment
            .expect("the verification, on the session");
        assert_eq!(assessment.verdict, verdict);
        assert_eq!(assessment.findings.len(), 1);
        assert_eq!(assessment.findings[0].reason, reason);
        assert_eq!(assessment.findings[0].evidence, evidence);
    }
    // Crawlers, verified or not, are not counted as visitors.
    assert_eq!(db.counters().await, db.recount_hits().await);
    assert!(db.counters().await.values().all(|hits| *hits == 0));
}

async fn behaviour_limits_flag_the_request_and_the_session(db: TestDb) {
    let clock = fp::ManualClock::new();
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_clock(clock.clone())
        .with_behaviour_limits(
            fp::BehaviourLimits::new()
                .with_session_requests(3)
                .with_session_urls(2)
                .with_address_sessions(2),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/{page}",
            get(|visit: fp::CurrentVisit| async move {
                let a = visit.assessment;
                format!("{} {}", a.verdict.as_str(), a.reason_codes())
            }),
        )
        .route_layer(fingerprint.layer());
    let addr = serve(app).await;
    let get = |path: &'static str, key: Option<String>| async move {
        let mut request = client().get(format!("http://{addr}/{path}"));
        if let Some(key) = key {
            request = request.header("cookie", format!("fingerprint_session={key}"));
        }
        let response = request.send().await.unwrap();
        let key = cookie_key(&response);
        (response.text().await.unwrap(), key)
    };
    let (first, key) = get("a", None).await;
    assert_eq!(first, "unknown ");
    let key = key.unwrap();
    // The same page again: debounced, but counted against the session's rate.
    assert_eq!(get("a", Some(key.clone())).await.0, "unknown ");
    assert_eq!(get("a", Some(key.clone())).await.0, "unknown ");
    // The fourth request in the minute crosses the limit of three.
    assert_eq!(
        get("a", Some(key.clone())).await.0,
        "unknown session_request_rate"
    );
    // Every request of the minute carries it, so a handler can slow the client down.
    assert_eq!(
        get("b", Some(key.clone())).await.0,
        "unknown session_request_rate"
    );
    // A third distinct URL crosses the limit of two: with the rate, two weak reasons.
    assert_eq!(
        get("c", Some(key.clone())).await.0,
        "automated session_request_rate,session_url_spread"
    );
    // Two more sessions from 127.0.0.1 in the minute: the third crosses its limit.
    assert_eq!(get("a", None).await.0, "unknown ");
    assert_eq!(get("a", None).await.0, "unknown address_session_rate");
    fingerprint.flush().await.unwrap();

    let assessment = db
        .store()
        .session(&key)
        .await
        .unwrap()
        .unwrap()
        .assessment
        .expect("the behaviour, on the session");
    assert_eq!(assessment.verdict, fp::Verdict::Automated);
    let findings: Vec<(&str, &str)> = assessment
        .findings
        .iter()
        .map(|f| (f.reason.as_str(), f.evidence.as_str()))
        .collect();
    assert_eq!(
        findings,
        [
            ("session_request_rate", "more than 3 requests in one minute"),
            (
                "session_url_spread",
                "more than 2 distinct URLs in one minute"
            ),
        ]
    );
    // /a, /b and /c: the /a that crossed the limit reached the store for its finding, and
    // the store's own debounce kept it out of the rows.
    let requests = db.store().session_requests(&key, 10).await.unwrap();
    assert_eq!(requests.len(), 3);
    // Live counts: the session's /a and /b were counted before it was found automated; its
    // /c (automated when it came) was not. A rebuild leaves the automated session out.
    let page = |path: &str| format!("http://{addr}/{path}");
    let counters = db.counters().await;
    assert_eq!((counters[&page("a")], counters[&page("b")]), (3, 1));
    assert!(!counters.contains_key(&page("c")));
    db.store().rebuild_hit_counts(10, false).await.unwrap();
    assert_eq!(db.counters().await, db.recount_hits().await);
    assert_eq!(db.counters().await[&page("a")], 2);
    // A new minute: the limits count again.
    clock.advance(Duration::from_secs(60));
    assert_eq!(get("d", Some(key.clone())).await.0, "unknown ");
}

struct Article(u32);

impl fp::AbsoluteUrl for Article {
    fn absolute_url(&self) -> std::borrow::Cow<'_, str> {
        format!("/article/{}", self.0).into()
    }
}

async fn hit_counts_for_objects_and_rebuild(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    for (article, sessions) in [(1, 3), (2, 1), (3, 0)] {
        for _ in 0..sessions {
            client()
                .get(format!("http://{addr}/article/{article}"))
                .send()
                .await
                .unwrap();
        }
    }
    fingerprint.flush().await.unwrap();
    let origin = format!("http://{addr}");
    let articles = [Article(1), Article(2), Article(3)];
    let hits = fingerprint.hits();
    assert_eq!(
        hits.for_objects(&origin, &articles).await.unwrap(),
        vec![3, 1, 0]
    );

    // Counters wiped by hand: the rebuild restores them from the raw fingerprints.
    db.execute("DELETE FROM fingerprint_hit_counts").await;
    db.execute("DELETE FROM fingerprint_url_visitors").await;
    db.execute("UPDATE fingerprint_sessions SET first_url_id = NULL")
        .await;
    assert_eq!(
        hits.for_objects(&origin, &articles).await.unwrap(),
        vec![0, 0, 0]
    );
    let report = db.store().rebuild_hit_counts(1, true).await.unwrap();
    assert_eq!(report.urls, 2);
    assert_eq!(report.visitors, 4);
    assert_eq!(report.chunks, 2, "one URL per chunk");
    assert_eq!(
        hits.for_objects(&origin, &articles).await.unwrap(),
        vec![3, 1, 0]
    );
    assert_eq!(db.counters().await, db.recount_hits().await);
}

/// Two app instances (two recorders, two pools) writing the same URLs and sessions at once.
async fn two_instances_give_exact_hit_counts(db: TestDb) {
    let instances = [
        fp::Fingerprint::builder(db.store())
            .with_debounce(Duration::ZERO)
            .with_batch_size(64)
            .build()
            .unwrap(),
        fp::Fingerprint::builder(db.another_instance().await)
            .with_debounce(Duration::ZERO)
            .with_batch_size(64)
            .build()
            .unwrap(),
    ];
    let addrs = [
        serve(fingerprinted(&instances[0])).await,
        serve(fingerprinted(&instances[1])).await,
    ];
    let keys: Vec<String> = (0..40).map(|i| format!("{i:032x}")).collect();
    let mut tasks = Vec::new();
    for round in 0..4 {
        for (i, key) in keys.iter().enumerate() {
            let addr = addrs[(i + round) % 2];
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                for page in 0..5 {
                    client()
                        .get(format!("http://shared.example/page/{page}"))
                        .header("host", "shared.example")
                        .header("cookie", format!("fingerprint_session={key}"))
                        .send_to(addr)
                        .await;
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for instance in &instances {
        instance.shutdown().await;
    }
    let counters = db.counters().await;
    assert_eq!(counters, db.recount_hits().await);
    assert_eq!(counters.len(), 5);
    assert!(counters.values().all(|&n| n == 40), "{counters:?}");
    assert_eq!(
        db.count("fingerprint_request_fingerprints").await,
        4 * 40 * 5
    );
    assert_eq!(db.visitor_pairs().await, 40 * 5);

    // A third instance reads them: one URL at a time, first looked up by its text (its URL
    // cache is empty), then by the cached id; and several at once.
    let reader = fp::Fingerprint::builder(db.another_instance().await)
        .build()
        .unwrap();
    let hits = reader.hits();
    for _ in 0..2 {
        for page in 0..5 {
            let url = format!("http://shared.example/page/{page}");
            assert_eq!(hits.for_url(&url).await.unwrap(), 40, "{url}");
        }
        assert_eq!(
            hits.for_url("http://shared.example/never").await.unwrap(),
            0
        );
    }
    let urls: Vec<String> = (0..6)
        .map(|page| format!("http://shared.example/page/{page}"))
        .collect();
    let many = hits.for_urls(&urls).await.unwrap();
    assert_eq!(many.len(), 6);
    assert!(urls[..5].iter().all(|url| many[url] == 40), "{many:?}");
    assert_eq!(many[&urls[5]], 0);
    reader.shutdown().await;
}

/// One instance writing batches at once (`with_writers`): the batches overlap, a flush
/// waits for all of them, and counts stay exact.
async fn concurrent_batches_of_one_instance_count_exactly(db: TestDb) {
    // Overlap: with the store holding every write, three batches are in `record` at once.
    let gate = Arc::new(Semaphore::new(0));
    let gated = Gated::new(db.store(), &gate);
    let recording = Arc::clone(&gated.recording);
    let fingerprint = fp::Fingerprint::builder(gated)
        .with_batch_size(1)
        .with_writers(3)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    for i in 0..6 {
        client()
            .get(format!("http://{addr}/held/{i}"))
            .send()
            .await
            .unwrap();
    }
    let overlapping = async {
        while recording.1.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), overlapping)
        .await
        .expect("three batches in the store at once");
    assert_eq!(recording.1.load(Ordering::SeqCst), 3, "never more than 3");
    gate.add_permits(1_000);
    fingerprint.flush().await.unwrap();
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 6);
    fingerprint.shutdown().await;

    // Exactness: 40 sessions on 5 pages from many connections, batches of 16, four writers.
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_debounce(Duration::ZERO)
        .with_batch_size(16)
        .with_writers(4)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let mut tasks = Vec::new();
    for round in 0..4 {
        for i in 0..40 {
            tasks.push(tokio::spawn(async move {
                for page in 0..5 {
                    client()
                        .get(format!("http://{addr}/shared/{}", (page + round) % 5))
                        .header("cookie", format!("fingerprint_session={i:032x}"))
                        .send()
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    // A flush returns once every batch before it is written, whichever writer has it.
    fingerprint.flush().await.unwrap();
    let stats = fingerprint.stats();
    assert_eq!(stats.stored, 4 * 40 * 5, "{stats:?}");
    assert_eq!(
        db.count("fingerprint_request_fingerprints").await,
        6 + 4 * 40 * 5
    );
    let counters = db.counters().await;
    assert_eq!(counters, db.recount_hits().await);
    let shared: Vec<u64> = counters
        .iter()
        .filter(|(url, _)| url.contains("/shared/"))
        .map(|(_, &n)| n)
        .collect();
    assert_eq!(shared, vec![40; 5], "{counters:?}");
    assert_eq!(db.rollup_mismatches().await, 0);
    fingerprint.shutdown().await;

    assert!(matches!(
        fp::Fingerprint::builder(db.store()).with_writers(0).build(),
        Err(fp::BuildError::Zero("writers"))
    ));
}

/// A batch whose commit went through but whose answer was lost is written again: its
/// visits, found stored as they are, count as stored, not as debounced, and nothing is
/// stored twice.
async fn a_batch_written_again_after_a_lost_answer_counts_as_stored(db: TestDb) {
    let gate = Arc::new(Semaphore::new(1_000));
    let gated = Gated::new(db.store(), &gate);
    let lose_answers = Arc::clone(&gated.lose_answers);
    let fingerprint = fp::Fingerprint::builder(gated)
        .with_batch_size(100)
        .with_retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    // New sessions, and a returning one (its session stored before the batch).
    let returning = format!("fingerprint_session={:032x}", 99);
    client()
        .get(format!("http://{addr}/before"))
        .header("cookie", &returning)
        .send()
        .await
        .unwrap();
    fingerprint.flush().await.unwrap();
    // Held at the store: the first visit is a batch of its own, the other 19 one batch, and
    // both answers are lost.
    let held = gate.acquire_many(1_000).await.unwrap();
    lose_answers.store(2, Ordering::SeqCst);
    for i in 0..10 {
        get_page(addr, &format!("/again/{i}")).await;
        client()
            .get(format!("http://{addr}/again/{i}"))
            .header("cookie", &returning)
            .send()
            .await
            .unwrap();
    }
    enqueued(&fingerprint, 21).await;
    drop(held);
    fingerprint.flush().await.unwrap();
    let stats = fingerprint.stats();
    assert_eq!(stats.retries, 2, "{stats:?}");
    assert_eq!(stats.enqueued, 21, "{stats:?}");
    assert_eq!((stats.stored, stats.debounced), (21, 0), "{stats:?}");
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 21);
    assert_eq!(db.counters().await, db.recount_hits().await);
    assert_eq!(db.rollup_mismatches().await, 0);
    fingerprint.shutdown().await;
}

/// A `%00` in a UTM parameter (a NUL once decoded, which PostgreSQL cannot store) neither
/// fails its batch nor reaches the store.
async fn a_nul_in_the_query_does_not_fail_the_batch(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_batch_size(10)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    for path in ["/nul?utm_source=a%00b&utm_term=%00", "/plain"] {
        get_page(addr, path).await;
    }
    fingerprint.flush().await.unwrap();
    let stats = fingerprint.stats();
    assert_eq!((stats.stored, stats.failed), (2, 0), "{stats:?}");
    let sessions = db.store().export_sessions(None, 0, 10).await.unwrap();
    let utm: Vec<_> = sessions
        .iter()
        .filter_map(|s| s.utm.source.clone())
        .collect();
    assert_eq!(utm, ["ab"]);
    assert!(sessions.iter().all(|s| s.utm.term.is_none()));
    fingerprint.shutdown().await;
}

/// Waits of `Duration::MAX` (never give up, no batch delay limit) are taken as "very long",
/// not an overflow: visits are written, flushed and shut down as usual.
async fn waits_of_duration_max_are_very_long(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_batch_delay(Duration::MAX)
        .with_shutdown_timeout(Duration::MAX)
        .with_retry_backoff(Duration::MAX, Duration::MAX)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    get_page(addr, "/forever").await;
    fingerprint.flush().await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(10), fingerprint.shutdown())
        .await
        .expect("shutdown returns");
    assert_eq!((stats.enqueued, stats.stored), (1, 1), "{stats:?}");
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 1);
}

/// A batch the store refuses for good because of one visit (a value the database cannot
/// take) is written again in halves: only that visit is lost. A half that then panics (a
/// store with a bug) loses itself, and every visit is counted once.
async fn one_refused_visit_costs_only_itself(db: TestDb) {
    let gate = Arc::new(Semaphore::new(1_000));
    let fingerprint = fp::Fingerprint::builder(Gated::new(db.store(), &gate))
        .with_retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    // Refused with good visits around it: [a, b, refused] [c, d, e, f] after one split.
    let held = gate.acquire_many(1_000).await.unwrap();
    for path in ["/a", "/b", "/refused/x", "/c", "/d", "/e", "/f"] {
        get_page(addr, path).await;
    }
    enqueued(&fingerprint, 7).await;
    drop(held);
    fingerprint.flush().await.unwrap();
    let stats = fingerprint.stats();
    assert_eq!((stats.stored, stats.failed), (6, 1), "{stats:?}");
    assert!(
        stats.retries >= 3,
        "the whole batch was tried first: {stats:?}"
    );
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 6);

    // Refused, and a panic in the other half: [g, h, refused] [panics, i, j, k].
    let held = gate.acquire_many(1_000).await.unwrap();
    for path in ["/g", "/h", "/refused/y", "/panics/z", "/i", "/j", "/k"] {
        get_page(addr, path).await;
    }
    enqueued(&fingerprint, 14).await;
    drop(held);
    fingerprint.flush().await.unwrap();
    let stats = fingerprint.stats();
    assert_eq!((stats.stored, stats.failed), (8, 6), "{stats:?}");
    assert_eq!(stats.pending(), 0, "{stats:?}");
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 8);
    fingerprint.shutdown().await;
}

/// A GET of `path` on the server at `addr`, answered.
async fn get_page(addr: std::net::SocketAddr, path: &str) {
    client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
}

/// Waits until `n` visits are enqueued in all.
async fn enqueued(fingerprint: &fp::Fingerprint, n: u64) {
    let all_in = async {
        while fingerprint.stats().enqueued < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), all_in)
        .await
        .unwrap_or_else(|_| panic!("{n} enqueued: {:?}", fingerprint.stats()));
}

/// A write that never finishes (stuck on a lock, say) does not hold the shutdown past its
/// timeout: what it held, and what is queued behind it, is counted as failed.
async fn a_stuck_write_ends_at_the_shutdown_timeout(db: TestDb) {
    let gate = Arc::new(Semaphore::new(0)); // never opened
    let fingerprint = fp::Fingerprint::builder(Gated::new(db.store(), &gate))
        .with_shutdown_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    for i in 0..5 {
        get_page(addr, &format!("/stuck/{i}")).await;
    }
    let stats = tokio::time::timeout(Duration::from_secs(10), fingerprint.shutdown())
        .await
        .expect("shutdown ends at its timeout");
    assert_eq!((stats.enqueued, stats.failed), (5, 5), "{stats:?}");
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 0);
}

/// A batch whose writing panics (a store with a bug) is counted as failed, and the writer
/// goes on with the next one.
async fn a_batch_that_panics_is_counted_as_failed(db: TestDb) {
    let gate = Arc::new(Semaphore::new(1_000));
    let fingerprint = fp::Fingerprint::builder(Gated::new(db.store(), &gate))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    for path in ["/panics/1", "/after"] {
        get_page(addr, path).await;
        fingerprint.flush().await.unwrap();
    }
    let stats = fingerprint.stats();
    assert_eq!(
        (stats.enqueued, stats.failed, stats.stored),
        (2, 1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.pending(), 0, "{stats:?}");
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 1);
    fingerprint.shutdown().await;
}

/// Sends a request to `addr` whatever host the URL names (so two servers share URLs).
trait SendTo {
    async fn send_to(self, addr: std::net::SocketAddr);
}

impl SendTo for reqwest::RequestBuilder {
    async fn send_to(self, addr: std::net::SocketAddr) {
        let request = self.build().unwrap();
        let mut url = request.url().clone();
        url.set_host(Some(&addr.ip().to_string())).unwrap();
        url.set_port(Some(addr.port())).unwrap();
        let mut forwarded = reqwest::Request::new(request.method().clone(), url);
        *forwarded.headers_mut() = request.headers().clone();
        let response = client().execute(forwarded).await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

async fn shutdown_under_load_loses_nothing(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_batch_size(50)
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let response = client()
                    .get(format!("http://{addr}/load/{worker}/{i}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Shut down while requests are still arriving.
    while sent.load(Ordering::Relaxed) < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = fingerprint.shutdown().await;
    for task in tasks {
        task.await.unwrap();
    }
    let stored = db.count("fingerprint_request_fingerprints").await as u64;
    assert!(stats.enqueued >= 300, "{stats:?}");
    assert_eq!(stats.pending(), 0, "{stats:?}");
    assert_eq!(stats.failed, 0);
    assert_eq!(
        stats.stored, stats.enqueued,
        "every enqueued visit is stored"
    );
    assert_eq!(stored, stats.enqueued);
    // Requests after shutdown still succeed; their visits are refused and counted.
    let after = fingerprint.stats();
    assert_eq!(
        after.enqueued, stats.enqueued,
        "nothing is accepted after shutdown"
    );
    assert_eq!(after.enqueued + after.dropped, 800, "{after:?}");
}

/// A store that holds every write until the test opens the gate: a store written outside
/// the crate, wrapping one of ours (reads are passed through).
#[derive(Debug)]
struct Gated {
    inner: Box<dyn fp::FullStore>,
    gate: Arc<Semaphore>,
    /// Batches inside `record` now, and the most there were at once.
    recording: Arc<(AtomicUsize, AtomicUsize)>,
    /// How many more batches to write and then answer with a lost connection (their commit
    /// went through, its answer did not come back).
    lose_answers: Arc<AtomicUsize>,
}

impl Gated {
    fn new(inner: Box<dyn fp::FullStore>, gate: &Arc<Semaphore>) -> Self {
        Self {
            inner,
            gate: Arc::clone(gate),
            recording: Arc::default(),
            lose_answers: Arc::default(),
        }
    }
}

#[async_trait]
impl fp::Store for Gated {
    async fn migrate(&self) -> Result<(), fp::StoreError> {
        self.inner.migrate().await
    }
    async fn check_schema(&self) -> Result<(), fp::StoreError> {
        self.inner.check_schema().await
    }
    async fn record(
        &self,
        visits: &[fp::Visit],
        debounce: Duration,
    ) -> Result<fp::RecordOutcome, fp::StoreError> {
        if visits
            .iter()
            .any(|v| v.fingerprint.url.contains("/refused/"))
        {
            return Err(fp::StoreError::InvalidInput(
                "a value it cannot take".into(),
            ));
        }
        assert!(
            !visits
                .iter()
                .any(|v| v.fingerprint.url.contains("/panics/")),
            "a store with a bug"
        );
        let (now, most) = &*self.recording;
        most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        let permit = self.gate.acquire().await.unwrap();
        let outcome = self.inner.record(visits, debounce).await;
        drop(permit);
        now.fetch_sub(1, Ordering::SeqCst);
        let lose = |n: usize| n.checked_sub(1);
        if outcome.is_ok()
            && self
                .lose_answers
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, lose)
                .is_ok()
        {
            let lost = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
            return Err(fp::StoreError::backend(lost, true));
        }
        outcome
    }
    async fn record_browsers(&self, visits: &[fp::BrowserVisit]) -> Result<(), fp::StoreError> {
        let _permit = self.gate.acquire().await.unwrap();
        self.inner.record_browsers(visits).await
    }
    async fn link_sessions(
        &self,
        links: &[fp::SessionLink],
    ) -> Result<Vec<fp::LinkOutcome>, fp::StoreError> {
        let _permit = self.gate.acquire().await.unwrap();
        self.inner.link_sessions(links).await
    }
    async fn relink_session(
        &self,
        key: &str,
        user: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, fp::StoreError> {
        let _permit = self.gate.acquire().await.unwrap();
        self.inner.relink_session(key, user, at).await
    }
    async fn hit_counts(
        &self,
        urls: &[&str],
    ) -> Result<std::collections::HashMap<String, u64>, fp::StoreError> {
        self.inner.hit_counts(urls).await
    }
}

#[async_trait]
impl fp::Reports for Gated {
    async fn session(&self, key: &str) -> Result<Option<fp::SessionRecord>, fp::StoreError> {
        self.inner.session(key).await
    }
    async fn session_requests(
        &self,
        key: &str,
        limit: u32,
    ) -> Result<Vec<fp::StoredRequest>, fp::StoreError> {
        self.inner.session_requests(key, limit).await
    }
    async fn session_browsers(
        &self,
        key: &str,
        limit: u32,
    ) -> Result<Vec<fp::StoredBrowser>, fp::StoreError> {
        self.inner.session_browsers(key, limit).await
    }
    async fn user(&self, user: &str) -> Result<Option<fp::UserSummary>, fp::StoreError> {
        self.inner.user(user).await
    }
    async fn users(
        &self,
        query: &fp::UserQuery,
    ) -> Result<fp::Page<fp::UserSummary>, fp::StoreError> {
        self.inner.users(query).await
    }
    async fn user_devices(&self, user: &str) -> Result<fp::UserDevices, fp::StoreError> {
        self.inner.user_devices(user).await
    }
    async fn user_sessions(
        &self,
        user: &str,
        limit: u32,
    ) -> Result<Vec<fp::SessionSummary>, fp::StoreError> {
        self.inner.user_sessions(user, limit).await
    }
    async fn visitor_users(&self, visitor: &str) -> Result<Vec<fp::VisitorUser>, fp::StoreError> {
        self.inner.visitor_users(visitor).await
    }
    async fn visitor_sessions(
        &self,
        visitor: &str,
        limit: u32,
    ) -> Result<Vec<fp::SessionSummary>, fp::StoreError> {
        self.inner.visitor_sessions(visitor, limit).await
    }
    async fn daily_traffic(
        &self,
        first: chrono::NaiveDate,
        last: chrono::NaiveDate,
    ) -> Result<Vec<fp::DailyTraffic>, fp::StoreError> {
        self.inner.daily_traffic(first, last).await
    }
    async fn breakdown(
        &self,
        dimension: fp::Dimension,
        first: chrono::NaiveDate,
        last: chrono::NaiveDate,
        limit: u32,
    ) -> Result<Vec<fp::BreakdownRow>, fp::StoreError> {
        self.inner.breakdown(dimension, first, last, limit).await
    }
    async fn urls(&self, query: &fp::UrlQuery) -> Result<fp::Page<fp::UrlHits>, fp::StoreError> {
        self.inner.urls(query).await
    }
    async fn sessions(
        &self,
        query: &fp::SessionQuery,
    ) -> Result<fp::Page<fp::SessionSummary>, fp::StoreError> {
        self.inner.sessions(query).await
    }
    async fn request_fingerprints(
        &self,
        query: &fp::RequestQuery,
    ) -> Result<fp::Page<fp::StoredRequest>, fp::StoreError> {
        self.inner.request_fingerprints(query).await
    }
    async fn browser_fingerprints(
        &self,
        query: &fp::BrowserQuery,
    ) -> Result<fp::Page<fp::BrowserSummary>, fp::StoreError> {
        self.inner.browser_fingerprints(query).await
    }
    async fn latest_browser(
        &self,
        visitor: &str,
    ) -> Result<Option<fp::StoredBrowser>, fp::StoreError> {
        self.inner.latest_browser(visitor).await
    }
    async fn user_places(
        &self,
        user: &str,
        limit: u32,
    ) -> Result<Vec<fp::UserPlace>, fp::StoreError> {
        self.inner.user_places(user, limit).await
    }
    async fn user_timeline(
        &self,
        user: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<fp::Page<fp::TimelineEvent>, fp::StoreError> {
        self.inner.user_timeline(user, after, limit).await
    }
    async fn totals(&self) -> Result<fp::Totals, fp::StoreError> {
        self.inner.totals().await
    }
    async fn export_requests(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<fp::StoredRequest>, fp::StoreError> {
        self.inner.export_requests(since, after, limit).await
    }
    async fn export_browsers(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<fp::StoredBrowser>, fp::StoreError> {
        self.inner.export_browsers(since, after, limit).await
    }
    async fn export_sessions(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<fp::StoredSession>, fp::StoreError> {
        self.inner.export_sessions(since, after, limit).await
    }
}

async fn full_queue_drops_and_counts_without_blocking(db: TestDb) {
    let gate = Arc::new(Semaphore::new(0));
    let store = Gated::new(db.store(), &gate);
    let fingerprint = fp::Fingerprint::builder(store)
        .with_queue_capacity(8)
        .with_batch_size(4)
        .with_batch_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&fingerprint)).await;
    // The database never answers while these run: every request must still complete.
    let all = async {
        for i in 0..60 {
            let response = client()
                .get(format!("http://{addr}/blocked/{i}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("requests completed while the store was blocked");
    let stats = fingerprint.stats();
    assert_eq!(stats.enqueued + stats.dropped, 60, "{stats:?}");
    assert!(
        stats.dropped >= 60 - 8 - 4,
        "queue of 8 plus one batch in hand: {stats:?}"
    );
    assert_eq!(stats.stored, 0);

    gate.add_permits(1_000);
    let stats = fingerprint.shutdown().await;
    assert_eq!(stats.stored, stats.enqueued, "{stats:?}");
    assert_eq!(
        db.count("fingerprint_request_fingerprints").await as u64,
        stats.enqueued
    );
}

async fn only_the_configured_client_ip_header_counts(db: TestDb) {
    // Behind Cloudflare (here: loopback trusted, CF-Connecting-IP configured), a client-sent
    // X-Forwarded-For or Forwarded header chooses nothing, and the handler sees what the layer
    // decided.
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_trusted_proxies(["127.0.0.0/8"])
        .with_client_ip_source(fp::ClientIpSource::CfConnectingIp)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/who",
            get(|visit: fp::CurrentVisit| async move {
                format!("{:?} {}", visit.client_ip, visit.secure)
            }),
        )
        .route_layer(fingerprint.layer());
    let addr = serve(app).await;
    let response = client()
        .get(format!("http://{addr}/who"))
        .header("x-forwarded-for", "198.51.100.66")
        .header("forwarded", "for=198.51.100.67;proto=https")
        .header("cf-connecting-ip", "198.51.100.1")
        .header("cf-connecting-ip", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let key = cookie_key(&response).unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "Some(203.0.113.9) true",
        "the last CF-Connecting-IP line (the proxy's), the X-Forwarded-Proto scheme"
    );
    fingerprint.flush().await.unwrap();
    let stored = &db.store().session_requests(&key, 1).await.unwrap()[0].fingerprint;
    assert_eq!(stored.ip, Some("203.0.113.9".parse().unwrap()));
    assert!(stored.url.starts_with("https://"), "{}", stored.url);
}

async fn forwarded_headers_only_from_trusted_proxies(db: TestDb) {
    // Nobody trusted: the socket peer, whatever the headers say.
    let untrusted = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(fingerprinted(&untrusted)).await;
    let response = client()
        .get(format!("http://{addr}/ip"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("forwarded", "for=198.51.100.1;proto=https")
        .header("x-forwarded-proto", "https")
        .header("x-real-ip", "192.0.2.1")
        .send()
        .await
        .unwrap();
    let key = cookie_key(&response).unwrap();
    untrusted.flush().await.unwrap();
    let stored = &db.store().session_requests(&key, 1).await.unwrap()[0].fingerprint;
    assert_eq!(stored.ip, Some("127.0.0.1".parse().unwrap()));
    assert!(stored.url.starts_with("http://"));

    // Loopback and 10/8 trusted: the rightmost untrusted address, and the forwarded scheme.
    let trusted = fp::Fingerprint::builder(db.store())
        .with_trusted_proxies(["127.0.0.0/8", "10.0.0.0/8"])
        .build()
        .unwrap();
    let addr = serve(fingerprinted(&trusted)).await;
    let response = client()
        .get(format!("http://{addr}/ip"))
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.7, 10.1.2.3")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let key = cookie_key(&response).unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("; Secure"),
        "https through a trusted proxy: {cookie}"
    );
    trusted.flush().await.unwrap();
    let stored = &db.store().session_requests(&key, 1).await.unwrap()[0].fingerprint;
    assert_eq!(stored.ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(stored.url, format!("https://{addr}/ip"));

    assert!(matches!(
        fp::Fingerprint::builder(db.store())
            .with_trusted_proxies(["not a network"])
            .build(),
        Err(fp::BuildError::InvalidProxy(_))
    ));
}

#[cfg(feature = "tower-sessions")]
async fn tower_sessions_carry_the_session(db: TestDb) {
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let app = Router::new()
        .route(
            "/login",
            get(|session: Session| async move {
                // What axum-login does at login: a new session id, same data.
                session.cycle_id().await.unwrap();
                "logged in"
            }),
        )
        .route("/{*rest}", get(|| async { "page" }))
        .route_layer(fingerprint.layer())
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_secure(false));
    let addr = serve(app).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();

    let first = browser
        .get(format!("http://{addr}/a"))
        .send()
        .await
        .unwrap();
    assert!(
        cookie_key(&first).is_none(),
        "no fingerprint cookie next to a session layer"
    );
    assert!(first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("id="));
    browser
        .get(format!("http://{addr}/b"))
        .send()
        .await
        .unwrap();
    browser
        .get(format!("http://{addr}/login"))
        .send()
        .await
        .unwrap();
    browser
        .get(format!("http://{addr}/c"))
        .send()
        .await
        .unwrap();
    fingerprint.flush().await.unwrap();
    assert_eq!(
        db.count("fingerprint_sessions").await,
        1,
        "one session across the id change"
    );
    assert_eq!(db.count("fingerprint_request_fingerprints").await, 4);

    // Another browser is another session.
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    other.get(format!("http://{addr}/a")).send().await.unwrap();
    fingerprint.flush().await.unwrap();
    assert_eq!(db.count("fingerprint_sessions").await, 2);
}

async fn migrate_is_idempotent_and_checked(db: TestDb) {
    let store = db.store();
    store.check_schema().await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.check_schema().await.unwrap();
    db.execute("DROP TABLE fingerprint_migrations").await;
    assert!(matches!(
        store.check_schema().await,
        Err(fp::StoreError::NotMigrated)
    ));
}

//! Users, sessions and devices, the same suite on SQLite and on PostgreSQL: sessions linked
//! through real axum-login logins and through `remember_user_session`, the device and user
//! queries, and the list filters on a seeded data set.

#[macro_use]
mod common;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use chrono::{DateTime, TimeDelta, Utc};
use common::{serve, TestDb};
use fingerprint::v1 as fp;

suite!(
    #[cfg(feature = "tower-sessions")]
    axum_login_links_the_session_with_its_history,
    #[cfg(feature = "tower-sessions")]
    another_login_on_the_same_session_starts_a_new_one,
    #[cfg(feature = "tower-sessions")]
    a_lost_link_is_queued_again,
    remember_user_session_links_only_known_users,
    user_ids_the_store_cannot_take_are_not_linked,
    a_browsers_next_user_gets_a_session_of_their_own,
    two_users_on_one_browser_share_its_visitor_id,
    explicit_link_and_relink,
    #[cfg(feature = "tower-sessions")]
    devices_and_places_of_a_user,
    filters_and_pages_on_a_seeded_data_set,
);

const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

/// Logins through axum-login, followed by the layer (feature `tower-sessions`).
#[cfg(feature = "tower-sessions")]
mod axum_login_following {
    use std::collections::HashMap;

    use axum::extract::Query;
    use axum::routing::get;
    use axum::Router;
    use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
    use tower_sessions::{MemoryStore, SessionManagerLayer};

    use super::*;

    const FIREFOX_WINDOWS: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0";

    fn urls(requests: &[fp::StoredRequest]) -> Vec<String> {
        let mut paths: Vec<String> = requests
            .iter()
            .map(|r| {
                let url = &r.fingerprint.url;
                url[url.find("/login").or_else(|| url.rfind('/')).unwrap()..].to_owned()
            })
            .collect();
        paths.sort();
        paths
    }

    // A minimal axum-login backend: users 1 and 2, any password.
    #[derive(Debug, Clone)]
    struct User {
        id: i64,
    }

    impl AuthUser for User {
        type Id = i64;
        fn id(&self) -> i64 {
            self.id
        }
        fn session_auth_hash(&self) -> &[u8] {
            b"fixed"
        }
    }

    #[derive(Debug, Clone)]
    struct Backend;

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl AuthnBackend for Backend {
        type User = User;
        type Credentials = i64;
        type Error = Never;

        async fn authenticate(&self, id: i64) -> Result<Option<User>, Never> {
            Ok((1..=2).contains(&id).then_some(User { id }))
        }

        async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Never> {
            Ok((1..=2).contains(id).then_some(User { id: *id }))
        }
    }

    /// An app with tower-sessions + axum-login around fingerprinted pages, `/login?user=N` and
    /// `/logout` (fingerprinted too, like any page).
    fn login_app(fingerprint: &fp::Fingerprint) -> Router {
        let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
        let auth = AuthManagerLayerBuilder::new(Backend, sessions).build();
        Router::new()
            .route(
                "/login",
                get(
                    |mut auth: AuthSession<Backend>, Query(q): Query<HashMap<String, i64>>| async move {
                        let user = auth.authenticate(q["user"]).await.unwrap().unwrap();
                        auth.login(&user).await.unwrap();
                        "logged in"
                    },
                ),
            )
            .route(
                "/logout",
                get(|mut auth: AuthSession<Backend>| async move {
                    auth.logout().await.unwrap();
                    "logged out"
                }),
            )
            .route("/{*rest}", get(|| async { "page" }))
            .route_layer(fingerprint.layer())
            .layer(auth)
    }

    pub(super) async fn axum_login_links_the_session_with_its_history(db: TestDb) {
        let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
        let addr = serve(login_app(&fingerprint)).await;
        let alice = browser(CHROME_MAC);

        // Anonymous reading, then a login (which changes the session id), then more reading.
        visit(&alice, addr, "/before-1").await;
        visit(&alice, addr, "/before-2").await;
        fingerprint.flush().await.unwrap();
        let store = db.store();
        let anonymous = store.users(&fp::UserQuery::new()).await.unwrap();
        assert!(anonymous.items.is_empty(), "nobody is linked yet");

        visit(&alice, addr, "/login?user=1").await;
        visit(&alice, addr, "/after").await;
        fingerprint.flush().await.unwrap();

        let users = fingerprint.users();
        let sessions = users.sessions("1", 10).await.unwrap();
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        let session = &sessions[0];
        assert_eq!(session.user_id.as_deref(), Some("1"));
        assert_eq!(session.request_fingerprints, 4);
        let history = store.session_requests(&session.key, 10).await.unwrap();
        assert_eq!(
            urls(&history),
            ["/after", "/before-1", "/before-2", "/login?user=1"],
            "the pages read before the login are the user's"
        );
        let summary = users.get("1").await.unwrap().unwrap();
        assert_eq!(summary.sessions, 1);
        assert_eq!(summary.request_fingerprints, 1, "one distinct user agent");
        assert_eq!(fingerprint.stats().links, 1, "linked once, not per request");

        // Logging out starts a new, anonymous session.
        visit(&alice, addr, "/logout").await;
        visit(&alice, addr, "/after-logout").await;
        fingerprint.flush().await.unwrap();
        assert_eq!(db.count("fingerprint_sessions").await, 2);
        assert_eq!(users.sessions("1", 10).await.unwrap().len(), 1);

        // Logging in again on that session links it too: two sessions for user 1.
        visit(&alice, addr, "/login?user=1").await;
        fingerprint.flush().await.unwrap();
        let summary = users.get("1").await.unwrap().unwrap();
        assert_eq!(summary.sessions, 2);
        let newest = &users.sessions("1", 10).await.unwrap()[0];
        assert_eq!(
            urls(&store.session_requests(&newest.key, 10).await.unwrap()),
            ["/after-logout", "/login?user=1"]
        );
    }

    /// A link the store lost (here: the session's user cleared behind the layer's back, as a
    /// failed batch or a purge of the session would leave it) is queued again an hour later,
    /// though the tower-sessions session is marked linked.
    pub(super) async fn a_lost_link_is_queued_again(db: TestDb) {
        let clock = fp::ManualClock::new();
        let fingerprint = fp::Fingerprint::builder(db.store())
            .with_clock(clock.clone())
            .build()
            .unwrap();
        let addr = serve(login_app(&fingerprint)).await;
        let alice = browser(CHROME_MAC);
        visit(&alice, addr, "/login?user=1").await;
        fingerprint.flush().await.unwrap();
        assert_eq!(
            fingerprint.users().sessions("1", 10).await.unwrap().len(),
            1
        );
        db.execute_all(&["UPDATE fingerprint_sessions SET user_id = NULL, linked_at = NULL"])
            .await;
        visit(&alice, addr, "/soon").await;
        fingerprint.flush().await.unwrap();
        assert!(fingerprint
            .users()
            .sessions("1", 10)
            .await
            .unwrap()
            .is_empty());
        clock.advance(Duration::from_secs(3_601));
        visit(&alice, addr, "/later").await;
        fingerprint.flush().await.unwrap();
        assert_eq!(
            fingerprint.users().sessions("1", 10).await.unwrap().len(),
            1
        );
        assert_eq!(fingerprint.stats().links, 2);
    }

    pub(super) async fn another_login_on_the_same_session_starts_a_new_one(db: TestDb) {
        let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
        let addr = serve(login_app(&fingerprint)).await;
        let shared_pc = browser(FIREFOX_WINDOWS);
        visit(&shared_pc, addr, "/login?user=1").await;
        visit(&shared_pc, addr, "/one").await;
        // User 2 logs in without user 1 logging out: axum-login keeps the session.
        visit(&shared_pc, addr, "/login?user=2").await;
        visit(&shared_pc, addr, "/two").await;
        fingerprint.flush().await.unwrap();

        let users = fingerprint.users();
        let store = db.store();
        let first = users.sessions("1", 10).await.unwrap();
        let second = users.sessions("2", 10).await.unwrap();
        assert_eq!((first.len(), second.len()), (1, 1));
        assert_ne!(first[0].key, second[0].key);
        let first_pages = urls(&store.session_requests(&first[0].key, 10).await.unwrap());
        let second_pages = urls(&store.session_requests(&second[0].key, 10).await.unwrap());
        // The second login's own request still belonged to user 1's session.
        assert_eq!(first_pages, ["/login?user=1", "/login?user=2", "/one"]);
        assert_eq!(second_pages, ["/two"]);
    }

    pub(super) async fn devices_and_places_of_a_user(db: TestDb) {
        let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
        let addr = serve(login_app(&fingerprint)).await;
        // A laptop in Poland (two sessions), a phone in Poland then Germany.
        for (agent, country, pages) in [
            (CHROME_MAC, "PL", 2),
            (CHROME_MAC, "pl", 1),
            (SAFARI_IPHONE, "PL", 1),
        ] {
            let client = browser(agent);
            for page in 0..pages {
                client
                    .get(format!("http://{addr}/page-{page}"))
                    .header("cf-ipcountry", country)
                    .send()
                    .await
                    .unwrap();
            }
            client
                .get(format!("http://{addr}/login?user=1"))
                .header("cf-ipcountry", country)
                .send()
                .await
                .unwrap();
            if agent == SAFARI_IPHONE {
                client
                    .get(format!("http://{addr}/roaming"))
                    .header("cf-ipcountry", "DE")
                    .send()
                    .await
                    .unwrap();
                client
                    .get(format!("http://{addr}/unknown-country"))
                    .header("cf-ipcountry", "XX")
                    .send()
                    .await
                    .unwrap();
            }
        }
        fingerprint.flush().await.unwrap();

        let devices = fingerprint.users().devices("1").await.unwrap();
        assert!(devices.browsers.is_empty(), "no collector ran");
        assert_eq!(devices.devices.len(), 2, "{:#?}", devices.devices);
        let phone = &devices.devices[0];
        assert_eq!(phone.device.browser, "Mobile Safari");
        assert_eq!(phone.device.browser_version, "17");
        assert_eq!(phone.device.os, "iOS");
        assert_eq!(phone.device.os_version, "17.4");
        assert_eq!(phone.device.device_type, fp::DeviceType::Mobile);
        assert_eq!(phone.countries, ["DE", "PL"]);
        assert_eq!((phone.sessions, phone.requests), (1, 4));
        let laptop = &devices.devices[1];
        assert_eq!(laptop.device.browser, "Chrome");
        assert_eq!(laptop.device.os, "Mac OS X");
        assert_eq!(laptop.device.device_type, fp::DeviceType::Desktop);
        assert_eq!(laptop.countries, ["PL"]);
        assert_eq!((laptop.sessions, laptop.requests), (2, 5));
        assert!(laptop.first_seen <= laptop.last_seen && laptop.last_seen <= phone.last_seen);

        // The stored fingerprint keeps the header as sent, and the derived code.
        let session = &fingerprint.users().sessions("1", 10).await.unwrap()[0];
        let requests = db.store().session_requests(&session.key, 10).await.unwrap();
        let unknown = requests
            .iter()
            .find(|r| r.fingerprint.url.ends_with("/unknown-country"))
            .unwrap();
        assert_eq!(unknown.fingerprint.country, "XX");
        assert_eq!(unknown.fingerprint.country_code, "");
        assert_eq!(unknown.fingerprint.device.browser, "Mobile Safari");
    }
}

#[cfg(feature = "tower-sessions")]
use axum_login_following::{
    a_lost_link_is_queued_again, another_login_on_the_same_session_starts_a_new_one,
    axum_login_links_the_session_with_its_history, devices_and_places_of_a_user,
};

/// A page visited as `user` (its `x-user` header; none: anonymous).
async fn visit_as(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
    path: &str,
    user: Option<&str>,
) {
    let mut request = client.get(format!("http://{addr}{path}"));
    if let Some(user) = user {
        request = request.header("x-user", user);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

/// The user an app's own auth finds in a request: here, its `x-user` header.
fn user_of_the_x_user_header(parts: &http::request::Parts) -> Option<String> {
    parts
        .headers
        .get("x-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn browser(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(user_agent)
        .build()
        .unwrap()
}

async fn visit(client: &reqwest::Client, addr: std::net::SocketAddr, path: &str) {
    let response = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

async fn remember_user_session_links_only_known_users(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let who = user_of_the_x_user_header;
    // Both orders of the two layers work.
    let app = Router::new()
        .route("/inner/{*rest}", get(|| async { "page" }))
        .route_layer(fingerprint.remember_user_session(who))
        .route_layer(fingerprint.layer())
        .merge(
            Router::new()
                .route("/outer/{*rest}", get(|| async { "page" }))
                .route_layer(fingerprint.layer())
                .route_layer(fingerprint.remember_user_session(who)),
        );
    let addr = serve(app).await;

    let anonymous = browser(CHROME_MAC);
    visit(&anonymous, addr, "/inner/a").await;
    visit(&anonymous, addr, "/outer/a").await;
    fingerprint.flush().await.unwrap();
    assert!(db
        .store()
        .users(&fp::UserQuery::new())
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(fingerprint.stats().links, 0);

    for (path, user) in [("/inner/x", "carol"), ("/outer/x", "dave")] {
        let client = browser(CHROME_MAC);
        visit(&client, addr, "/outer/first").await; // the session exists before the user
        for _ in 0..3 {
            visit_as(&client, addr, path, Some(user)).await;
        }
        fingerprint.flush().await.unwrap();
        let sessions = fingerprint.users().sessions(user, 10).await.unwrap();
        assert_eq!(sessions.len(), 1, "{user}");
        assert_eq!(
            sessions[0].request_fingerprints, 2,
            "{user}: first page + {path}"
        );
    }
    assert_eq!(
        fingerprint.stats().links,
        2,
        "one link per session and user"
    );
}

/// With the built-in cookie, a shared browser keeps one session per user: the anonymous
/// session goes on as the first user's, the next user and a logout start new sessions, so
/// neither the next user's visits nor anonymous ones after a logout go to the first user.
/// With the remember layer outside the fingerprint layer the change applies to the request
/// that shows it; inside, from the next request.
async fn a_browsers_next_user_gets_a_session_of_their_own(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_debounce(Duration::ZERO)
        .build()
        .unwrap();
    let who = user_of_the_x_user_header;
    let app = Router::new()
        .route("/outside/{*rest}", get(|| async { "page" }))
        .route_layer(fingerprint.layer())
        .route_layer(fingerprint.remember_user_session(who))
        .merge(
            Router::new()
                .route("/inside/{*rest}", get(|| async { "page" }))
                .route_layer(fingerprint.remember_user_session(who))
                .route_layer(fingerprint.layer()),
        );
    let addr = serve(app).await;
    for (order, late) in [("outside", 0), ("inside", 1)] {
        let client = browser(CHROME_MAC);
        let (first, second) = (format!("{order}-ann"), format!("{order}-ben"));
        let steps = [
            (None, "anonymous"),
            (Some(first.as_str()), "first"),
            (Some(second.as_str()), "second"),
            (Some(second.as_str()), "second-again"),
            (None, "logged-out"),
        ];
        for (user, page) in steps {
            visit_as(&client, addr, &format!("/{order}/{page}"), user).await;
        }
        fingerprint.flush().await.unwrap();
        let pages = |user: &str| {
            let fingerprint = fingerprint.clone();
            let user = user.to_owned();
            async move {
                let sessions = fingerprint.users().sessions(&user, 10).await.unwrap();
                assert_eq!(sessions.len(), 1, "{user}: one session");
                sessions[0].request_fingerprints
            }
        };
        // Outside: ann's session holds the anonymous page and hers, ben's his two. Inside,
        // each change shows from the next page: ben's first page is still in ann's session,
        // and the logout's page in his.
        assert_eq!(pages(&first).await, 2 + late, "{order}");
        assert_eq!(pages(&second).await, 2, "{order}");
    }
    // Each order: ann's session, ben's, and the anonymous one after the logout (inside,
    // the logout's own page is still ben's).
    let anonymous = "SELECT COUNT(*) FROM fingerprint_sessions WHERE user_id IS NULL";
    assert_eq!(db.scalar(anonymous).await, 1);
    assert_eq!(db.count("fingerprint_sessions").await, 5);
}

/// A user id the store cannot take as it is (too long for PostgreSQL's index) is not linked,
/// and the other logins of its batch of links are: before, the whole batch failed.
async fn user_ids_the_store_cannot_take_are_not_linked(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store())
        // Every link waits for the flush below: one batch.
        .with_batch_delay(Duration::from_secs(600))
        .build()
        .unwrap();
    let who = user_of_the_x_user_header;
    let app = Router::new()
        .route("/{*rest}", get(|| async { "page" }))
        .route_layer(fingerprint.remember_user_session(who))
        .route_layer(fingerprint.layer());
    let addr = serve(app).await;
    let long = "u".repeat(3_000);
    for user in ["erin", long.as_str()] {
        visit_as(&browser(CHROME_MAC), addr, "/page", Some(user)).await;
    }
    fingerprint.flush().await.unwrap();
    assert_eq!(
        fingerprint
            .users()
            .sessions("erin", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM fingerprint_sessions WHERE user_id IS NOT NULL")
            .await,
        1
    );
    assert_eq!(fingerprint.stats().links, 1);
}

fn browser_visit(session: &str, visitor: &str, at: DateTime<Utc>) -> fp::BrowserVisit {
    fp::BrowserVisit::new(session, visitor, "{}", at)
}

async fn two_users_on_one_browser_share_its_visitor_id(db: TestDb) {
    let store = db.store();
    let t0 = Utc::now() - TimeDelta::hours(1);
    let visitor = "0123456789abcdef0123456789abcdef";
    let (s1, s2, s3) = (
        "a0000000000000000000000000000001",
        "a0000000000000000000000000000002",
        "a0000000000000000000000000000003",
    );
    store
        .record_browser(&browser_visit(s1, visitor, t0))
        .await
        .unwrap();
    store
        .link_sessions(&[fp::SessionLink::new(s1, "alice", t0)])
        .await
        .unwrap();
    // Linked first, fingerprinted later.
    store
        .link_sessions(&[fp::SessionLink::new(s2, "bob", t0 + TimeDelta::minutes(5))])
        .await
        .unwrap();
    let later = t0 + TimeDelta::minutes(10);
    store
        .record_browser(&browser_visit(s2, visitor, later))
        .await
        .unwrap();
    // An anonymous session on the same browser.
    store
        .record_browser(&browser_visit(s3, visitor, t0 + TimeDelta::minutes(20)))
        .await
        .unwrap();

    let users = store.visitor_users(visitor).await.unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(ids, ["bob", "alice"], "most recently seen first");
    assert_eq!(users[0].last_seen.timestamp(), later.timestamp());
    assert_eq!(users[1].sessions, 1);
    let sessions = store.visitor_sessions(visitor, 10).await.unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions[0].key, s3);
    assert_eq!(sessions[0].user_id, None);
    assert_eq!(sessions[0].browser_fingerprints, 1);
    for user in ["alice", "bob"] {
        let summary = store.user(user).await.unwrap().unwrap();
        assert_eq!(summary.browser_fingerprints, 1, "{user}");
        let devices = store.user_devices(user).await.unwrap();
        assert_eq!(devices.browsers.len(), 1);
        assert_eq!(devices.browsers[0].visitor_id, visitor);
    }
    assert!(store
        .visitor_users("ffffffffffffffffffffffffffffffff")
        .await
        .unwrap()
        .is_empty());
}

async fn explicit_link_and_relink(db: TestDb) {
    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let addr = serve(
        Router::new()
            .route("/{*rest}", get(|| async { "page" }))
            .route_layer(fingerprint.layer()),
    )
    .await;
    let client = browser(SAFARI_IPHONE);
    visit(&client, addr, "/a").await;
    fingerprint.flush().await.unwrap();
    assert!(db
        .store()
        .users(&fp::UserQuery::new())
        .await
        .unwrap()
        .items
        .is_empty());
    let session = db.only_session_key().await;

    let users = fingerprint.users();
    assert_eq!(
        users.link_session(&session, "7").await.unwrap(),
        fp::LinkOutcome::Linked
    );
    assert_eq!(
        users.link_session(&session, "7").await.unwrap(),
        fp::LinkOutcome::AlreadyLinked
    );
    assert_eq!(
        users.link_session(&session, "8").await.unwrap(),
        fp::LinkOutcome::LinkedToOther("7".into())
    );
    let seven = users.get("7").await.unwrap().unwrap();
    assert_eq!((seven.sessions, seven.request_fingerprints), (1, 1));
    assert!(users.get("8").await.unwrap().is_none());

    // Relinking is explicit and moves the history.
    assert!(users.relink_session(&session, Some("8")).await.unwrap());
    assert!(
        users.get("7").await.unwrap().is_none(),
        "7 has no session left"
    );
    let eight = users.get("8").await.unwrap().unwrap();
    assert_eq!((eight.sessions, eight.request_fingerprints), (1, 1));
    assert_eq!(users.devices("8").await.unwrap().devices.len(), 1);
    assert!(users.relink_session(&session, None).await.unwrap());
    assert!(users.get("8").await.unwrap().is_none());
    assert!(!users
        .relink_session("ffffffffffffffffffffffffffffffff", Some("9"))
        .await
        .unwrap());

    // A link to a session never seen creates it; its fingerprints count once they come.
    let fresh = "b0000000000000000000000000000001";
    assert_eq!(
        users.link_session(fresh, "9").await.unwrap(),
        fp::LinkOutcome::Linked
    );
    assert_eq!(
        users.sessions("9", 10).await.unwrap()[0].request_fingerprints,
        0
    );
}

/// Users with known counts and last-seen times, written straight to the store.
async fn filters_and_pages_on_a_seeded_data_set(db: TestDb) {
    let store = db.store();
    let now = Utc::now();
    let day = TimeDelta::days(1);
    // (user, distinct user agents, distinct visitor ids, last seen days ago)
    let seeded: [(&str, usize, usize, i64); 8] = [
        ("u01", 1, 0, 0),
        ("u02", 2, 1, 3),
        ("u03", 3, 2, 20),
        ("u04", 4, 4, 60),
        ("u05", 6, 5, 200),
        ("u06", 11, 10, 400),
        ("u07", 21, 11, 2),
        ("u08", 25, 21, 100),
    ];
    let mut visits = Vec::new();
    for (n, &(user, agents, visitors, days_ago)) in seeded.iter().enumerate() {
        let session = format!("c{n:031x}");
        let seen = now - day * i32::try_from(days_ago).unwrap();
        let first = seen - TimeDelta::hours(1);
        store
            .link_sessions(&[fp::SessionLink::new(&session, user, first)])
            .await
            .unwrap();
        for agent in 0..agents {
            let mut fingerprint =
                fp::RequestFingerprint::new(format!("http://site/{agent}"), first);
            fingerprint.user_agent = format!("agent {agent}");
            visits.push(fp::Visit::new(session.clone(), fingerprint));
        }
        let mut last = fp::RequestFingerprint::new("http://site/last", seen);
        last.user_agent = "agent 0".into();
        visits.push(fp::Visit::new(session.clone(), last));
        for visitor in 0..visitors {
            store
                .record_browser(&browser_visit(&session, &format!("{visitor:032x}"), first))
                .await
                .unwrap();
        }
    }
    store.record(&visits, Duration::ZERO).await.unwrap();

    let fingerprint = fp::Fingerprint::builder(db.store()).build().unwrap();
    let users = fingerprint.users();
    let ids = |page: &fp::Page<fp::UserSummary>| -> Vec<String> {
        page.items.iter().map(|u| u.user_id.clone()).collect()
    };
    let all = users.list(&fp::UserQuery::new()).await.unwrap();
    assert_eq!(
        ids(&all),
        ["u01", "u07", "u02", "u03", "u04", "u08", "u05", "u06"],
        "most recently seen first"
    );
    assert_eq!(all.next, None);
    let u06 = &all.items[7];
    assert_eq!(
        (
            u06.sessions,
            u06.request_fingerprints,
            u06.browser_fingerprints
        ),
        (1, 11, 10)
    );

    let days = |d: u64| Duration::from_secs(d * 86_400);
    for (window, expected) in [
        (1, vec!["u01"]),
        (7, vec!["u01", "u07", "u02"]),
        (30, vec!["u01", "u07", "u02", "u03"]),
        (90, vec!["u01", "u07", "u02", "u03", "u04"]),
        (365, vec!["u01", "u07", "u02", "u03", "u04", "u08", "u05"]),
    ] {
        let page = users
            .list(&fp::UserQuery::new().with_seen_within(days(window)))
            .await
            .unwrap();
        assert_eq!(ids(&page), expected, "seen within {window} days");
    }

    use fp::CountBucket as B;
    for (bucket, agents, visitors) in [
        (B::One, vec!["u01"], vec!["u02"]),
        (B::TwoToThree, vec!["u02", "u03"], vec!["u03"]),
        (B::FourToFive, vec!["u04"], vec!["u04", "u05"]),
        (B::SixToTen, vec!["u05"], vec!["u06"]),
        (B::ElevenToTwenty, vec!["u06"], vec!["u07"]),
        (B::OverTwenty, vec!["u07", "u08"], vec!["u08"]),
    ] {
        let by_agents = users
            .list(&fp::UserQuery::new().with_request_fingerprints(bucket))
            .await
            .unwrap();
        let mut found = ids(&by_agents);
        found.sort();
        assert_eq!(found, agents, "request fingerprints {}", bucket.label());
        let by_visitors = users
            .list(&fp::UserQuery::new().with_browser_fingerprints(bucket))
            .await
            .unwrap();
        let mut found = ids(&by_visitors);
        found.sort();
        assert_eq!(found, visitors, "browser fingerprints {}", bucket.label());
    }
    let both = users
        .list(
            &fp::UserQuery::new()
                .with_seen_within(days(30))
                .with_request_fingerprints(B::TwoToThree),
        )
        .await
        .unwrap();
    assert_eq!(ids(&both), ["u02", "u03"]);
    let search = users
        .list(&fp::UserQuery::new().with_search("0"))
        .await
        .unwrap();
    assert_eq!(search.items.len(), 8);
    let search = users
        .list(&fp::UserQuery::new().with_search("u08"))
        .await
        .unwrap();
    assert_eq!(ids(&search), ["u08"]);

    // Keyset pages of 3 walk the whole list once.
    let mut walked = Vec::new();
    let mut query = fp::UserQuery::new().with_limit(3);
    loop {
        let page = users.list(&query).await.unwrap();
        assert!(page.items.len() <= 3);
        walked.extend(ids(&page));
        match page.next {
            Some(next) => query = query.with_after(next),
            None => break,
        }
    }
    assert_eq!(walked, ids(&all));
    assert!(matches!(
        users
            .list(&fp::UserQuery::new().with_after("garbage"))
            .await,
        Err(fp::StoreError::InvalidInput(_))
    ));
}

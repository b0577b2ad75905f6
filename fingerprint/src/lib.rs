//! Know the users of your axum app a bit better: which and how many devices they use, where
//! they come from, and which pages unique visitors read.
//!
//! The Rust successor of the Django package `django-fingerprint-rt`. A tower layer records a
//! fingerprint of every request to the routes it wraps (client IP behind trusted proxies, user
//! agent, accept headers, referer, country header, absolute URL, session) and keeps
//! unique-visitor hit counts per URL, in SQLite (embedded, the default) or PostgreSQL
//! (several app instances).
//!
//! The stable API is [`v1`]: `use fingerprint::v1 as fp;`.
//!
//! # Quickstart
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::{routing::get, Router};
//! use fingerprint::v1 as fp;
//! use fp::Store as _;
//!
//! async fn article(visit: fp::CurrentVisit, hits: axum::extract::State<fp::Hits>) -> String {
//!     let views = hits.for_url(&visit.url).await.unwrap_or(0);
//!     format!("{views} views")
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let store = fp::SqliteStore::connect("sqlite://fingerprint.db").await?;
//!     store.migrate().await?;
//!     let fingerprint = fp::Fingerprint::builder(store)
//!         .with_trusted_proxies(["10.0.0.0/8"]) // believe X-Forwarded-For from these only
//!         .build()?;
//!
//!     let app = Router::new()
//!         .route("/articles/{id}", get(article))
//!         .route_layer(fingerprint.layer()) // = Django's @fingerprint
//!         .with_state(fingerprint.hits());
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//!         .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
//!         .await?;
//!     fingerprint.shutdown().await; // writes what is still queued
//!     Ok(())
//! }
//! ```
//!
//! Serve with `into_make_service_with_connect_info::<SocketAddr>()` so the layer sees the
//! socket peer address (or insert a [`v1::PeerAddr`] extension yourself).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `sqlite` | yes | [`v1::SqliteStore`] |
//! | `postgres` | no | [`v1::PostgresStore`] |
//! | `axum` | yes | the socket peer from axum's `ConnectInfo`; [`v1::CurrentVisit`] as an extractor |
//! | `tower-sessions` | no | use the tower-sessions session as the visitor's session (and follow axum-login logins); without it, the built-in cookie |
//! | `askama` | no | [`v1::ScriptTag`] renders unescaped in askama templates |
//! | `minijinja` | no | [`v1::ScriptTag`] converts into a safe `minijinja::Value` |
//! | `dashboard` | no | `Fingerprint::dashboard`: pages and a JSON API for staff, behind the app's guard |
//! | `seed` | no | `fingerprint::seed`: a synthetic data set for demos and benchmarks (outside [`v1`]) |
//!
//! # How a request is recorded
//!
//! 1. **Capture** (no I/O): the client IP is the socket peer, unless the peer is a trusted
//!    proxy: then the one header the deployment names ([`v1::ClientIpSource`]: by default
//!    `X-Forwarded-For`, walked from the right past trusted hops) says who the client is, and
//!    no other header counts (a client could have sent it). Headers are
//!    stored as sent, truncated to the Django package's column sizes (user agent and accept
//!    headers 255 characters, referer 2047, country 16, URL 2048), never rejected.
//! 2. **Session**: with a tower-sessions layer outside this one (feature `tower-sessions`), a
//!    key stored in that session (it survives axum-login's session-id change at login; a
//!    logout starts a new session).
//!    Otherwise a cookie of our own (`fingerprint_session`: 128 random bits, `HttpOnly`,
//!    `SameSite=Lax`, `Secure` over https). The first record of a session keeps its referer
//!    and UTM parameters; later requests never overwrite them.
//! 3. **Debounce**: one record per (session, URL) per window (10 s by default), checked in
//!    memory on the request path and again by the store, so several instances agree.
//! 4. **Recorder**: the request only enqueues into a bounded queue; a background task writes
//!    batches (by size or time) in one transaction each, together with the unique (URL,
//!    session) pairs and the hit counters. When the queue is full or the database is down the
//!    request still succeeds: what could not be stored is counted ([`v1::RecorderStats`]) and
//!    logged, and failed writes are retried with backoff. [`v1::Fingerprint::shutdown`] drains
//!    the queue.
//!
//! # Browser fingerprinting
//!
//! [`v1::Fingerprint::routes`] serves the redirect page (`GET /fingerprint/?next=/x`), the
//! collector endpoint (`POST /fingerprint/`) and the collector script; merge it into the app.
//! [`v1::Fingerprint::script_tag`] renders the `<script>` element for any page. The collector
//! is our own JavaScript; it posts its components with a token signed by the app's secret and
//! bound to the session, and the server computes the visitor id from the stable components, so
//! a client can neither choose its id nor post into someone else's session.
//!
//! # Dashboard
//!
//! With the `dashboard` feature, `fingerprint.dashboard(guard)` is a router to nest where
//! staff find it (`.nest("/admin/fingerprint", ...)`): an overview (visits and unique
//! visitors per day, top pages, browsers, operating systems, device types, countries), users
//! with their devices, places, sessions and timeline, sessions, browser fingerprints (with a
//! side-by-side comparison of two visitor ids), request fingerprints and URLs; server-rendered
//! HTML without JavaScript and the same data as JSON. `guard` sees each request's parts and
//! returns a `DashboardAccess`: allow, deny (403) or redirect to a login page. The queries
//! behind it are [`v1::Reports`] methods any app can call ([`v1::Reports::daily_traffic`],
//! [`v1::Reports::request_fingerprints`], ...), and `fingerprint::seed` (feature `seed`) writes
//! a synthetic data set to try them on.
//!
//! # Stores
//!
//! A store implements three small traits: [`v1::Store`] (what the recorder and the layers
//! need: migrations, the write path, session links, hit counts), [`v1::Reports`] (every read)
//! and [`v1::Maintenance`] (rebuilding counters, retention, erasure). [`v1::SqliteStore`] and
//! [`v1::PostgresStore`] are one type, [`v1::SqlStore`], whose reads are written once for both
//! databases. An app that picks its database at run time keeps a `Box<dyn`
//! [`v1::FullStore`]`>`; a store written elsewhere implements `Store` and `Reports` (and
//! reports its own failures with [`v1::StoreError::backend`]).
//!
//! # Hit counts
//!
//! [`v1::Hits`] counts unique sessions per absolute URL (with its query string, as the Django
//! package does): one URL, many URLs in one query, or objects that implement
//! [`v1::AbsoluteUrl`]. Counters are exact under concurrent writers and can be rebuilt from the
//! raw fingerprints with [`v1::Maintenance::rebuild_hit_counts`].
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub, missing_debug_implementations)]

mod assess;
mod browser;
mod builder;
mod capture;
mod clock;
#[cfg(feature = "dashboard")]
mod dashboard;
mod device;
mod handle;
mod hex;
mod hits;
mod insight;
mod layer;
mod limits;
mod model;
mod net;
mod recorder;
mod session;
mod shared;
mod store;
mod users;
mod visit;

#[cfg(feature = "seed")]
#[cfg_attr(docsrs, doc(cfg(feature = "seed")))]
pub mod seed;
pub mod v1;

/// Internals for the benchmarks and the fuzz target of this repository (`fingerprint/benches`,
/// `bench/`, `fuzz/`). **Not part of the API**: hidden from the docs, outside [`v1`], and free
/// to change or disappear in any release. Applications must not use it.
#[doc(hidden)]
pub mod __bench {
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use http::{HeaderMap, Method, Uri};

    use crate::capture::{self, CaptureConfig, TrustedProxies};
    use crate::model::{RequestFingerprint, Visit};
    use crate::recorder::{self, RecorderConfig, RecorderStats};
    use crate::store::{Store, UrlCache};

    /// The layer's behaviour tracker, with the default limits.
    #[derive(Debug, Clone)]
    pub struct Behaviour(crate::assess::Behaviour);

    impl Default for Behaviour {
        fn default() -> Self {
            Self(crate::assess::Behaviour::new(
                crate::assess::BehaviourLimits::new(),
            ))
        }
    }

    impl Behaviour {
        /// Counts one request; the number of reasons over their limit.
        pub fn observe(
            &self,
            session: &str,
            url: &str,
            address: Option<IpAddr>,
            now: DateTime<Utc>,
        ) -> usize {
            self.0.observe(session, url, address, now).over.len()
        }
    }

    /// The layer's debounce of (session, URL) pairs, with the builder's defaults (window
    /// and capacity).
    #[derive(Debug)]
    pub struct Debounce(crate::recorder::Debounce);

    impl Default for Debounce {
        fn default() -> Self {
            Self(crate::recorder::Debounce::new(
                RecorderConfig::default().debounce,
                recorder::DEFAULT_DEBOUNCE_CAPACITY,
            ))
        }
    }

    impl Debounce {
        /// What a request does: claims the pair (marking it when it was not debounced).
        /// Whether it was debounced.
        pub fn visit(&self, session: &str, url: &str, now: DateTime<Utc>) -> bool {
            self.0.claim(session, url, now).is_none()
        }
    }

    /// Capture settings, as the builder makes them.
    #[derive(Debug, Clone)]
    pub struct Capture(CaptureConfig);

    impl Capture {
        /// The defaults, with `trusted` as the trusted proxies.
        pub fn new(trusted: TrustedProxies) -> Self {
            Self(CaptureConfig {
                trusted_proxies: trusted,
                ..CaptureConfig::default()
            })
        }

        /// What the layer computes for every request, debounced or not: the absolute URL.
        pub fn locate(&self, uri: &Uri, headers: &HeaderMap, peer: Option<IpAddr>) -> String {
            capture::locate(uri, headers, peer, &self.0).url
        }

        /// The full capture of a recorded request (headers -> fingerprint), as the layer
        /// does it: [`locate`](Self::locate), then every header, the client IP and the UTM
        /// parameters.
        pub fn capture(
            &self,
            method: &Method,
            uri: &Uri,
            headers: &HeaderMap,
            peer: Option<IpAddr>,
            now: DateTime<Utc>,
        ) -> RequestFingerprint {
            let location = capture::locate(uri, headers, peer, &self.0);
            let head = capture::Head::plain(method, uri, headers, peer);
            capture::capture_at(location, &head, &self.0, now).fingerprint
        }
    }

    /// The recorder's device derivation: user agent -> device, cached per user agent.
    #[derive(Debug)]
    pub struct DeviceCache(crate::recorder::Enricher);

    impl DeviceCache {
        /// An empty cache (as the recorder starts with), without GeoIP.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(crate::recorder::Enricher::new(
                false,
                #[cfg(feature = "geoip")]
                None,
            ))
        }

        /// The device of `user_agent`, parsed once per distinct user agent.
        pub fn device(&self, user_agent: &str) -> Arc<crate::device::Device> {
            self.0.device(user_agent)
        }
    }

    /// A cached URL id (the store's lookup before it asks the database).
    pub fn url_cache_get(cache: &UrlCache, url: &str) -> Option<i64> {
        cache.get(url)
    }

    /// Caches a URL id (the store's insert after a database lookup).
    pub fn url_cache_insert(cache: &UrlCache, url: &str, id: i64) {
        cache.insert(url, id);
    }

    /// The recorder on its own (queue and batch writer), without the layer in front of it.
    pub struct Recorder(recorder::Recorder);

    impl std::fmt::Debug for Recorder {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("Recorder").field(&self.0.stats()).finish()
        }
    }

    impl Recorder {
        /// Starts a recorder over `store` on the current tokio runtime; other settings are the
        /// builder's defaults (device enrichment from the user agent on, no GeoIP database).
        pub fn start(
            store: Arc<dyn Store>,
            queue_capacity: usize,
            batch_size: usize,
            batch_delay: Duration,
            debounce: Duration,
            writers: usize,
        ) -> Self {
            let config = RecorderConfig {
                queue_capacity,
                batch_size,
                batch_delay,
                debounce,
                writers,
                ..RecorderConfig::default()
            };
            let enricher = crate::recorder::Enricher::new(
                false,
                #[cfg(feature = "geoip")]
                None,
            );
            Self(recorder::Recorder::start(store, config, enricher))
        }

        /// Enqueues without waiting, as the layer does; false when the queue is full.
        pub fn offer(&self, visit: Visit) -> bool {
            self.0.offer(visit)
        }

        /// The counters.
        pub fn stats(&self) -> RecorderStats {
            self.0.stats()
        }

        /// Waits until everything enqueued so far is written.
        pub async fn flush(&self) {
            let _ = self.0.flush().await;
        }

        /// Writes what is queued and stops.
        pub async fn shutdown(&self) -> RecorderStats {
            self.0.shutdown().await
        }
    }

    /// A collector payload the endpoint accepted: what [`collector_payload`] returns.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CollectorPayload {
        /// The token, as sent.
        pub token: String,
        /// The checked components, as a canonical JSON object (keys sorted).
        pub components: String,
        /// The visitor id the server computes from the stable components.
        pub visitor_id: String,
        /// The reported duration in milliseconds.
        pub duration_ms: Option<u64>,
    }

    /// The collector endpoint's payload parser and visitor id on `body`; `Err` holds the 400
    /// response's reason.
    pub fn collector_payload(body: &[u8]) -> Result<CollectorPayload, String> {
        let payload = crate::browser::components::parse(body).map_err(|e| e.to_string())?;
        Ok(CollectorPayload {
            visitor_id: crate::browser::components::visitor_id(&payload.components),
            components: serde_json::to_string(&payload.components).unwrap_or_default(),
            token: payload.token,
            duration_ms: payload.duration_ms,
        })
    }

    /// The component names the collector may send.
    pub fn collector_component_names() -> impl Iterator<Item = &'static str> {
        crate::browser::components::COMPONENTS
            .iter()
            .map(|(name, _)| *name)
    }
}

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
//! | `tower-sessions` | yes | use the tower-sessions session as the visitor's session |
//! | `askama` | no | [`v1::ScriptTag`] renders unescaped in askama templates |
//! | `minijinja` | no | [`v1::ScriptTag`] converts into a safe `minijinja::Value` |
//! | `dashboard` | no | `Fingerprint::dashboard`: pages and a JSON API for staff, behind the app's guard |
//!
//! # How a request is recorded
//!
//! 1. **Capture** (no I/O): the client IP is the socket peer, unless the peer is a trusted
//!    proxy: then `Forwarded` / `X-Forwarded-For` is walked from the right, skipping trusted
//!    hops (`X-Real-IP` and `CF-Connecting-IP` are used when there is no chain). Headers are
//!    stored as sent, truncated to the Django package's column sizes (user agent and accept
//!    headers 255 characters, referer 2047, country 16, URL 2048), never rejected.
//! 2. **Session**: with a tower-sessions layer outside this one, a key stored in that session
//!    (it survives axum-login's session-id change at login; a logout starts a new session).
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
//! behind it are [`v1::Store`] methods any app can call ([`v1::Store::daily_traffic`],
//! [`v1::Store::request_fingerprints`], ...), and [`v1::seed`] writes a synthetic data set
//! to try them on.
//!
//! # Hit counts
//!
//! [`v1::Hits`] counts unique sessions per absolute URL (with its query string, as the Django
//! package does): one URL, many URLs in one query, or objects that implement
//! [`v1::AbsoluteUrl`]. Counters are exact under concurrent writers and can be rebuilt from the
//! raw fingerprints with [`v1::Hits::rebuild`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub, missing_debug_implementations)]

mod browser;
mod capture;
mod clock;
#[cfg(feature = "dashboard")]
mod dashboard;
mod device;
mod fingerprint;
mod hits;
mod insight;
mod layer;
mod model;
mod recorder;
mod seed;
mod session;
mod store;
mod users;

pub mod v1;

pub use fingerprint::{CurrentVisit, Fingerprint};

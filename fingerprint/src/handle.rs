//! The [`Fingerprint`] handle an app keeps (built by [`Fingerprint::builder`]).

use std::sync::Arc;

use crate::browser::{self, ScriptTag};
use crate::hits::Hits;
use crate::layer::{FingerprintLayer, RememberUserSessionLayer};
use crate::recorder::{RecorderClosed, RecorderStats};
use crate::shared::Shared;
use crate::store::Reports;
use crate::users::Users;
use crate::visit::CurrentVisit;

/// The handle an app keeps: makes layers, reads hit counts, flushes and shuts down the
/// recorder. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{routing::get, Router};
/// use fingerprint::v1 as fp;
/// use fp::Store as _;
///
/// let store = fp::SqliteStore::connect("sqlite://fingerprint.db").await?;
/// store.migrate().await?;
/// let fingerprint = fp::Fingerprint::builder(store).build()?;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .route_layer(fingerprint.layer());
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
///     .await?;
/// fingerprint.shutdown().await; // writes what is still queued
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Fingerprint {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fingerprint")
            .field("store", self.shared.store())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Fingerprint {
    /// The layer to put on routes: `.route_layer(fingerprint.layer())`.
    #[must_use]
    pub fn layer(&self) -> FingerprintLayer {
        FingerprintLayer::new(Arc::clone(&self.shared))
    }

    /// A layer that links the session of each request to the user `user` finds in it (for
    /// apps whose auth is not axum-login; Django's `@remember_user_session`). `user` returns
    /// the user id, or `None` for anonymous requests, which are left alone. Put it on the
    /// same routes as [`layer`](Self::layer), in either order.
    ///
    /// ```no_run
    /// # async fn run(fingerprint: fingerprint::v1::Fingerprint) {
    /// use axum::{routing::get, Router};
    ///
    /// #[derive(Clone)]
    /// struct CurrentUser(u64); // inserted by the app's own auth middleware
    ///
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .route_layer(fingerprint.remember_user_session(|parts: &http::request::Parts| {
    ///         parts.extensions.get::<CurrentUser>().map(|user| user.0.to_string())
    ///     }))
    ///     .route_layer(fingerprint.layer());
    /// # }
    /// ```
    #[must_use]
    pub fn remember_user_session<F>(&self, user: F) -> RememberUserSessionLayer<F>
    where
        F: Fn(&http::request::Parts) -> Option<String> + Clone + Send + Sync + 'static,
    {
        RememberUserSessionLayer::new(Arc::clone(&self.shared), user)
    }

    /// The `<script>` element that runs the browser collector on the current page, for any
    /// template engine: write it unescaped, e.g. before `</body>`.
    ///
    /// ```
    /// # async fn page(fingerprint: fingerprint::v1::Fingerprint, visit: fingerprint::v1::CurrentVisit) {
    /// let html = format!("<body>...{}</body>", fingerprint.script_tag(&visit));
    /// # }
    /// ```
    ///
    /// Empty when browser fingerprinting is not allowed for the request
    /// ([`CurrentVisit::browser_fingerprinting`]).
    #[must_use]
    pub fn script_tag(&self, visit: &CurrentVisit) -> ScriptTag {
        if !visit.browser_fingerprinting {
            return ScriptTag::empty();
        }
        browser::script_element(
            &self.shared.browser,
            &self.shared.token_for(visit),
            None,
            None,
        )
    }

    /// [`script_tag`](Self::script_tag) with a CSP nonce attribute.
    #[must_use]
    pub fn script_tag_with_nonce(&self, visit: &CurrentVisit, nonce: &str) -> ScriptTag {
        if !visit.browser_fingerprinting {
            return ScriptTag::empty();
        }
        browser::script_element(
            &self.shared.browser,
            &self.shared.token_for(visit),
            Some(nonce),
            None,
        )
    }

    /// Users, their sessions and devices.
    #[must_use]
    pub fn users(&self) -> Users {
        Users {
            store: Arc::clone(self.shared.store()),
            clock: Arc::clone(&self.shared.clock),
        }
    }

    /// Hit counts.
    #[must_use]
    pub fn hits(&self) -> Hits {
        Hits {
            store: Arc::clone(self.shared.store()),
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Reports> {
        self.shared.store()
    }

    /// The recorder's counters.
    #[must_use]
    pub fn stats(&self) -> RecorderStats {
        self.shared.recorder.stats()
    }

    /// Waits until every fingerprint enqueued before this call is written.
    pub async fn flush(&self) -> Result<(), RecorderClosed> {
        self.shared.recorder.flush().await
    }

    /// Stops recording, writes everything still queued (retrying failed writes until the
    /// shutdown timeout) and returns the final counters. Call it after the server has stopped
    /// (`axum::serve(..).with_graceful_shutdown(..).await`); requests arriving later are not
    /// recorded.
    pub async fn shutdown(&self) -> RecorderStats {
        self.shared.recorder.shutdown().await
    }

    /// The library's routes, to `merge` into the app: under the prefix (default
    /// `/fingerprint`, see [`with_route_prefix`](crate::v1::FingerprintBuilder::with_route_prefix)):
    ///
    /// - `GET /fingerprint/?next=/x`: the redirect page (request-fingerprinted; runs the
    ///   collector, then goes to `next`; a meta refresh goes there anyway after the redirect
    ///   delay). `next` must be a path on this site or an allowed host, else 400.
    /// - `POST /fingerprint/`: the collector endpoint (JSON, at most 16 KiB, signed token).
    /// - `GET /fingerprint/collector-<hash>.js`: the collector, cacheable forever.
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        crate::browser::routes::router(&self.shared)
    }

    /// The dashboard: nest it where staff will find it, behind `guard` (feature
    /// `dashboard`).
    ///
    /// `guard` sees each request's parts (headers, extensions: with axum-login, the
    /// `AuthSession` and its user are there) and allows it, denies it (403) or sends the
    /// browser to a login page. It guards every page and API route.
    ///
    /// Nest it under a path: `Router::new().nest("/admin/fingerprint", fingerprint.dashboard(guard))`
    /// (axum does not nest at `/`; `merge` it to serve it at the root). Its links work
    /// wherever it is nested. axum answers the path with a trailing slash
    /// (`/admin/fingerprint/`, Django's habit) with the app's 404; add a redirect to the path
    /// without it where people will type it, as the demo does. Pages, all `GET`, relative to
    /// that path:
    ///
    /// | page | path | query |
    /// | --- | --- | --- |
    /// | overview | `/` | `days` (1 to 366, default 30) |
    /// | users | `/users` | `seen` (`1d`, `1w`, `1m`, `3m`, `12m`), `browsers` and `requests` (count buckets `1`, `2-3`, `4-5`, `6-10`, `11-20`, `over 20`), `q` (user id contains), `after` |
    /// | one user | `/users/{user_id}` | `after` (timeline page) |
    /// | sessions | `/sessions` | `key` (prefix), `user`, `linked` (`yes`, `no`), `after` |
    /// | one session | `/sessions/{key}` | `after` (requests page) |
    /// | browser fingerprints | `/browsers` | `visitor` (visitor-id prefix), `after` |
    /// | one visitor id | `/browsers/{visitor_id}` | |
    /// | two visitor ids side by side | `/browsers/diff` | `a`, `b` |
    /// | request fingerprints | `/requests` | `ip` (address or network), `ua` (contains), `url` (prefix), `session`, `after` |
    /// | URLs and hit counts | `/urls` | `prefix`, `after` |
    ///
    /// The same data as JSON under `/api`: `/api/overview`, `/api/users`,
    /// `/api/users/{user_id}`, ... with the same query parameters. Lists come in pages:
    /// `{"items": [...], "next": "<cursor>"}`; pass `after=<cursor>` for the next one. A bad
    /// parameter is a 400 with a short reason.
    #[cfg(feature = "dashboard")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
    pub fn dashboard<S, G>(&self, guard: G) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
        G: Fn(&http::request::Parts) -> crate::dashboard::DashboardAccess + Send + Sync + 'static,
    {
        crate::dashboard::router(Arc::clone(&self.shared), self.users(), guard)
    }
}

//! The dashboard (feature `dashboard`): server-rendered pages and a JSON API about users,
//! sessions, browser and request fingerprints and URLs, in a router the app nests behind its
//! own guard.
//!
//! ```no_run
//! # async fn run(fingerprint: fingerprint::v1::Fingerprint) {
//! use axum::Router;
//! use fingerprint::v1::DashboardAccess;
//!
//! #[derive(Clone)]
//! struct Staff; // put into the extensions by the app's auth for staff members
//!
//! let app: Router = Router::new().nest(
//!     "/admin/fingerprint",
//!     fingerprint.dashboard(|parts: &http::request::Parts| {
//!         if parts.extensions.get::<Staff>().is_some() {
//!             DashboardAccess::Allow
//!         } else {
//!             DashboardAccess::RedirectToLogin("/login".into())
//!         }
//!     }),
//! );
//! # }
//! ```
//!
//! The pages work without JavaScript and load nothing from other hosts: the charts are SVG
//! drawn on the server, the stylesheet is served by the router under a versioned URL. Every
//! response forbids scripts and framing (`Content-Security-Policy`), is never cached
//! (except the stylesheet) and sends no referer; every stored value is escaped.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};

use crate::shared::Shared;
use crate::users::Users;

mod chart;
mod data;
mod format;
mod pages;
mod params;

/// What the dashboard's guard decides about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub enum DashboardAccess {
    /// Serve the page.
    Allow,
    /// Answer 403 Forbidden.
    Deny,
    /// Send the browser to this login URL (`303 See Other`), with `next=` set to the page it
    /// asked for (`/login` becomes `/login?next=%2Fadmin%2Ffingerprint%2Fusers`).
    RedirectToLogin(String),
}

/// The guard an app gives [`Fingerprint::dashboard`](crate::v1::Fingerprint::dashboard).
type Guard = Arc<dyn Fn(&http::request::Parts) -> DashboardAccess + Send + Sync>;

/// What the dashboard's handlers share.
#[derive(Clone)]
pub(crate) struct DashState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) users: Users,
    guard: Guard,
}

/// The dashboard's stylesheet.
const STYLESHEET: &str = include_str!("dashboard.css");

/// A short content hash of the stylesheet: its URL changes whenever it does.
static STYLESHEET_VERSION: LazyLock<String> =
    LazyLock::new(|| crate::hex::sha256_prefix(STYLESHEET.as_bytes(), 6));

/// The stylesheet's path inside the dashboard.
pub(crate) fn stylesheet_path() -> String {
    format!("/dashboard-{}.css", *STYLESHEET_VERSION)
}

/// The router of [`Fingerprint::dashboard`](crate::v1::Fingerprint::dashboard).
pub(crate) fn router<S, G>(shared: Arc<Shared>, users: Users, guard: G) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    G: Fn(&http::request::Parts) -> DashboardAccess + Send + Sync + 'static,
{
    let state = DashState {
        shared,
        users,
        guard: Arc::new(guard),
    };
    let pages = pages::routes()
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guarded))
        .with_state(state);
    Router::new()
        .route(&stylesheet_path(), get(stylesheet))
        .merge(pages)
        .layer(axum::middleware::map_response(secure_headers))
}

/// Runs the app's guard before every page and API route.
async fn guarded(State(state): State<DashState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match (state.guard)(&parts) {
        DashboardAccess::Allow => next.run(Request::from_parts(parts, body)).await,
        DashboardAccess::Deny => {
            let base = base_path(&parts);
            pages::error_page(&base, StatusCode::FORBIDDEN, "You may not see this page.")
        }
        DashboardAccess::RedirectToLogin(login) => {
            let wanted = parts
                .extensions
                .get::<OriginalUri>()
                .map_or(&parts.uri, |original| &original.0)
                .path_and_query()
                .map_or("/", |p| p.as_str());
            let next: String = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
            let separator = if login.contains('?') { '&' } else { '?' };
            match HeaderValue::from_str(&format!("{login}{separator}next={next}")) {
                Ok(location) => {
                    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
                }
                Err(_) => {
                    tracing::error!(
                        login,
                        "the dashboard's login URL is not a valid header value"
                    );
                    pages::error_page("", StatusCode::FORBIDDEN, "You may not see this page.")
                }
            }
        }
    }
}

/// Headers of every dashboard response: no scripts, no framing, no referer, no caching of
/// pages (they show personal data).
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        Body::from(STYLESHEET),
    )
        .into_response()
}

/// Where the dashboard is nested (`/admin/fingerprint`, or empty at the root): the original
/// path without the part the dashboard's router saw.
pub(crate) fn base_path(parts: &http::request::Parts) -> String {
    let inner = parts.uri.path();
    let Some(original) = parts.extensions.get::<OriginalUri>() else {
        return String::new();
    };
    let original = original.0.path();
    let base = original.strip_suffix(inner).unwrap_or_else(|| {
        // Nested at `/x`, a request for `/x` reaches the dashboard as `/`.
        if inner == "/" {
            original
        } else {
            ""
        }
    });
    base.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(original: &str, inner: &str) -> http::request::Parts {
        let (mut parts, ()) = http::Request::builder()
            .uri(inner)
            .body(())
            .unwrap()
            .into_parts();
        parts
            .extensions
            .insert(OriginalUri(original.parse().unwrap()));
        parts
    }

    #[test]
    fn the_base_path_is_where_the_dashboard_is_nested() {
        assert_eq!(base_path(&parts("/admin/fp/users", "/users")), "/admin/fp");
        assert_eq!(base_path(&parts("/admin/fp", "/")), "/admin/fp");
        assert_eq!(base_path(&parts("/admin/fp/", "/")), "/admin/fp");
        assert_eq!(base_path(&parts("/users?x=1", "/users?x=1")), "");
        assert_eq!(base_path(&parts("/", "/")), "");
        assert_eq!(base_path(&parts("/a/users/u%2F1", "/users/u%2F1")), "/a");
    }
}

//! The demo site: a list of articles with their unique views, and article pages, all
//! fingerprinted; accounts (axum-login) and a "my devices" page. `main.rs` parses the
//! command line; tests build the app from here.

pub mod accounts;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use axum_login::AuthManagerLayerBuilder;
use fingerprint::v1 as fp;
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_moka_store::MokaStore;

use accounts::{AuthSession, Credentials, User};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://file.db` or `postgres://...`.
    pub database_url: String,
    /// Put the fingerprint layer on the pages (off only to measure its cost).
    pub fingerprint: bool,
    /// Accounts: tower-sessions and axum-login around the pages, the login page and "my
    /// devices". Off, the fingerprint layer's own cookie carries the session.
    pub accounts: bool,
    /// The recorder's queue capacity (`None`: the library's default).
    pub queue_capacity: Option<usize>,
    /// The recorder's batches written at the same time (`None`: the library's default, 1).
    pub writers: Option<usize>,
}

/// An article of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct Article {
    /// Its id in the URL.
    pub id: u32,
    /// Title.
    pub title: &'static str,
    /// Text.
    pub body: &'static str,
}

impl fp::AbsoluteUrl for Article {
    fn absolute_url(&self) -> Cow<'_, str> {
        format!("/articles/{}", self.id).into()
    }
}

/// The articles of the demo.
pub fn articles() -> Vec<Article> {
    const TEXT: [(&str, &str); 10] = [
        ("Why unique visitors, not page views", "A page view counts every reload. A unique visitor counts a session once per URL, which is what a reader of your statistics usually means."),
        ("Trusting X-Forwarded-For", "Any client can send X-Forwarded-For. Only the part added by your own proxies is true, so the chain is read from the right and stops at the first address you do not trust."),
        ("Debouncing requests", "A user who reloads a page ten times in a second makes one record, not ten: one per session and URL per window."),
        ("Writing in batches", "Inserting one row per request costs a transaction per request. Queuing them and writing a few thousand at once costs one."),
        ("SQLite is enough", "One file next to the app, write-ahead logging, and a single writer: SQLite keeps up with far more traffic than most sites get."),
        ("When to use PostgreSQL", "When the app runs on several machines, they need one store. Hit counters stay exact because a unique visit is counted by the transaction that inserted it."),
        ("Sessions and logins", "A login changes the session id to prevent fixation. The fingerprint session survives it, so what a visitor read before logging in stays with them."),
        ("Counting many URLs at once", "A list page asks for the counts of all its items in one query, not one query per item."),
        ("Shutting down cleanly", "On SIGTERM the server stops accepting connections, finishes its requests, and the recorder writes what is still queued."),
        ("What is stored, and privacy", "IP addresses and headers are personal data in many places. Keep them only as long as you need them, and tell your users."),
    ];
    (1..)
        .zip(TEXT)
        .map(|(id, (title, body))| Article { id, title, body })
        .collect()
}

struct AppState {
    fingerprint: fp::Fingerprint,
    articles: Vec<Article>,
    templates: Environment<'static>,
    fingerprinted: bool,
    accounts: bool,
    database: String,
}

type Shared = Arc<AppState>;

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("index.html", include_str!("../templates/index.html")),
        ("article.html", include_str!("../templates/article.html")),
        ("about.html", include_str!("../templates/about.html")),
        ("stats.html", include_str!("../templates/stats.html")),
        ("login.html", include_str!("../templates/login.html")),
        ("devices.html", include_str!("../templates/devices.html")),
        (
            "not_found.html",
            include_str!("../templates/not_found.html"),
        ),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

/// The database of `database_url` as pages and logs may show it: the SQLite file, or the
/// PostgreSQL database and its host; never a user name or a password.
#[must_use]
pub fn database_name(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(url) if url.scheme() == "sqlite" => {
            let file = database_url
                .trim_start_matches("sqlite:")
                .trim_start_matches("//");
            format!("SQLite {}", file.split('?').next().unwrap_or_default())
        }
        Ok(url) => format!(
            "PostgreSQL {} on {}",
            url.path().trim_start_matches('/'),
            url.host_str().unwrap_or("localhost")
        ),
        Err(_) => "a database".to_owned(),
    }
}

/// Connects the store named by `database_url` (sqlite:// or postgres://) and migrates it.
pub async fn connect_store(database_url: &str) -> anyhow::Result<Box<dyn fp::FullStore>> {
    let store: Box<dyn fp::FullStore> = if database_url.starts_with("sqlite:") {
        Box::new(fp::SqliteStore::connect(database_url).await?)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Box::new(fp::PostgresStore::connect(database_url).await?)
    } else {
        anyhow::bail!(
            "unsupported database URL {database_url:?}: use sqlite://FILE or postgres://..."
        );
    };
    store.migrate().await?;
    Ok(store)
}

/// The demo's router and its fingerprint handle (for `flush`/`shutdown`).
pub async fn build(config: &Config) -> anyhow::Result<(Router, fp::Fingerprint)> {
    let store = connect_store(&config.database_url).await?;
    let mut builder = fp::Fingerprint::builder(store);
    if let Some(capacity) = config.queue_capacity {
        builder = builder.with_queue_capacity(capacity);
    }
    if let Some(writers) = config.writers {
        builder = builder.with_writers(writers);
    }
    let fingerprint = builder.build()?;
    let state = Arc::new(AppState {
        fingerprint: fingerprint.clone(),
        articles: articles(),
        templates: templates(),
        fingerprinted: config.fingerprint,
        accounts: config.accounts,
        database: database_name(&config.database_url),
    });
    let mut pages = Router::new()
        .route("/", get(index))
        .route("/articles/{id}", get(article));
    if config.fingerprint {
        pages = pages.route_layer(fingerprint.layer());
    }
    if config.fingerprint {
        pages = pages.merge(fingerprint.routes());
    }
    if config.accounts {
        let account_pages = Router::new()
            .route("/login", get(login_form).post(login))
            .route("/logout", post(logout))
            .route("/devices", get(devices));
        pages = pages.merge(if config.fingerprint {
            account_pages.route_layer(fingerprint.layer())
        } else {
            account_pages
        });
    }
    if config.accounts {
        // The fingerprint dashboard, for staff: others get a 403, visitors the login page.
        // Its address with a trailing slash (as Django's admin has it) leads there too.
        pages = pages.route(
            "/admin/fingerprint/",
            get(|| async { Redirect::permanent("/admin/fingerprint") }),
        );
        pages = pages.nest(
            "/admin/fingerprint",
            fingerprint.dashboard(|parts: &Parts| {
                match parts
                    .extensions
                    .get::<AuthSession>()
                    .and_then(|auth| auth.user.as_ref())
                {
                    Some(user) if user.is_staff() => fp::DashboardAccess::Allow,
                    Some(_) => fp::DashboardAccess::Deny,
                    None => fp::DashboardAccess::RedirectToLogin("/login".into()),
                }
            }),
        );
    }
    let app = pages
        .route("/about", get(about))
        .route("/stats", get(stats))
        .route("/stats.json", get(stats_json))
        .fallback(not_found)
        .with_state(state);
    if !config.accounts {
        return Ok((app, fingerprint));
    }
    // Sessions in memory, at most 100,000 of them, forgotten after a day of inactivity.
    let sessions = SessionManagerLayer::new(MokaStore::new(Some(100_000)))
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::days(1),
        ));
    let backend = accounts::Backend::connect(&config.database_url).await?;
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    Ok((app.layer(auth), fingerprint))
}

/// The page's absolute URL: as the fingerprint layer recorded it, or (without the layer)
/// built the same way from the Host header; and the visit, when fingerprinted.
struct PageUrl(String, Option<fp::CurrentVisit>);

impl PageUrl {
    fn origin(&self) -> &str {
        let after_scheme = self.0.find("://").map_or(0, |i| i + 3);
        self.0[after_scheme..]
            .find('/')
            .map_or(&self.0[..], |i| &self.0[..after_scheme + i])
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(visit) = parts.extensions.get::<fp::CurrentVisit>() {
            return Ok(Self(visit.url.clone(), Some(visit.clone())));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(Self(format!("http://{host}{path}"), None))
    }
}

/// The logged-in user, when the demo runs with accounts.
struct Viewer(Option<User>);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<AuthSession>()
                .and_then(|auth| auth.user.clone()),
        ))
    }
}

/// A page, or an error page (logged) when something failed. Fingerprinted pages include the
/// browser collector and link through the redirect page.
fn render(
    state: &AppState,
    page: Option<&PageUrl>,
    template: &str,
    ctx: minijinja::Value,
) -> Response {
    render_for(state, page, None, template, ctx)
}

/// [`render`] with the logged-in user in the header.
fn render_for(
    state: &AppState,
    page: Option<&PageUrl>,
    viewer: Option<&User>,
    template: &str,
    ctx: minijinja::Value,
) -> Response {
    let script = page
        .and_then(|page| page.1.as_ref())
        .map(|visit| minijinja::Value::from(state.fingerprint.script_tag(visit)));
    let ctx = context! {
        fingerprinted => state.fingerprinted,
        accounts => state.accounts,
        viewer => viewer.map(|user| context! { name => user.username.clone(), id => user.id, staff => user.is_staff() }),
        collector => script,
        ..ctx
    };
    match state
        .templates
        .get_template(template)
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => Html(html).into_response(),
        Err(error) => server_error(&error),
    }
}

fn server_error(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong; the error was logged.",
    )
        .into_response()
}

async fn index(State(state): State<Shared>, page: PageUrl, viewer: Viewer) -> Response {
    // The counts are a nicety: without the database the page is shown without them.
    let counts: Vec<Option<u64>> = match state
        .fingerprint
        .hits()
        .for_objects(page.origin(), &state.articles)
        .await
    {
        Ok(counts) => counts.into_iter().map(Some).collect(),
        Err(error) => {
            tracing::warn!(%error, "hit counts unavailable; showing the page without them");
            vec![None; state.articles.len()]
        }
    };
    let items: Vec<_> = state
        .articles
        .iter()
        .zip(counts)
        .map(|(article, views)| {
            let path = format!("/articles/{}", article.id);
            // Through the redirect page when fingerprinting (Django's `?next={{ url|urlencode }}`).
            let href = if state.fingerprinted {
                format!("/fingerprint/?next={}", path.replace('/', "%2F"))
            } else {
                path
            };
            context! { href, title => article.title, views }
        })
        .collect();
    render_for(
        &state,
        Some(&page),
        viewer.0.as_ref(),
        "index.html",
        context! { articles => items },
    )
}

async fn article(
    State(state): State<Shared>,
    Path(id): Path<String>,
    page: PageUrl,
    viewer: Viewer,
) -> Response {
    let Some(article) = id
        .parse::<u32>()
        .ok()
        .and_then(|id| state.articles.iter().find(|a| a.id == id))
    else {
        return not_found_page(&state, &format!("There is no article {id:?}."));
    };
    // The count is a nicety: without the database the article is shown without it.
    let views = match state.fingerprint.hits().for_url(&page.0).await {
        Ok(views) => Some(views),
        Err(error) => {
            tracing::warn!(%error, "hit count unavailable; showing the page without it");
            None
        }
    };
    render_for(
        &state,
        Some(&page),
        viewer.0.as_ref(),
        "article.html",
        context! { article, views },
    )
}

async fn about(State(state): State<Shared>) -> Response {
    render(
        &state,
        None,
        "about.html",
        context! { database => state.database },
    )
}

fn stats_rows(stats: &fp::RecorderStats) -> Vec<(&'static str, u64)> {
    vec![
        ("enqueued", stats.enqueued),
        ("stored", stats.stored),
        ("skipped (debounced)", stats.skipped),
        ("debounced by the store", stats.debounced),
        ("dropped", stats.dropped),
        ("failed", stats.failed),
        ("retries", stats.retries),
        ("pending", stats.pending()),
    ]
}

async fn stats(State(state): State<Shared>) -> Response {
    let rows = stats_rows(&state.fingerprint.stats());
    render(&state, None, "stats.html", context! { rows })
}

async fn stats_json(State(state): State<Shared>) -> Json<BTreeMap<&'static str, u64>> {
    Json(stats_rows(&state.fingerprint.stats()).into_iter().collect())
}

fn not_found_page(state: &AppState, message: &str) -> Response {
    let mut response = render(state, None, "not_found.html", context! { message });
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

async fn not_found(State(state): State<Shared>) -> Response {
    not_found_page(&state, "This page does not exist.")
}

/// Where to go after logging in: a local path, checked as the redirect page checks `next`
/// (no other site, no characters a browser would drop or turn around), else the devices page.
fn local_next(next: Option<&str>) -> String {
    next.and_then(|next| fp::check_redirect(Some(next), &fp::RedirectPolicy::new(), None).ok())
        .unwrap_or_else(|| "/devices".to_owned())
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<Shared>,
    page: PageUrl,
    viewer: Viewer,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = local_next(query.next.as_deref());
    render_for(
        &state,
        Some(&page),
        viewer.0.as_ref(),
        "login.html",
        context! { next, users => accounts::DEMO_USERS.map(|(_, name, password, staff)| context! { name, password, staff }) },
    )
}

async fn login(
    State(state): State<Shared>,
    mut auth: AuthSession,
    Form(credentials): Form<Credentials>,
) -> Response {
    let next = local_next(credentials.next.as_deref());
    match auth.authenticate(credentials.clone()).await {
        Ok(Some(user)) => match auth.login(&user).await {
            Ok(()) => Redirect::to(&next).into_response(),
            Err(error) => server_error(&error),
        },
        Ok(None) => {
            let mut response = render(
                &state,
                None,
                "login.html",
                context! {
                    next,
                    error => "Unknown user or wrong password.",
                    username => credentials.username,
                    users => accounts::DEMO_USERS.map(|(_, name, password, staff)| context! { name, password, staff }),
                },
            );
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
        Err(error) => server_error(&error),
    }
}

async fn logout(mut auth: AuthSession) -> Response {
    match auth.logout().await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(error) => server_error(&error),
    }
}

/// "My devices": what the fingerprint tables know about the logged-in user, and the network
/// fingerprints of this very request.
async fn devices(
    State(state): State<Shared>,
    page: PageUrl,
    viewer: Viewer,
    method: axum::http::Method,
    version: axum::http::Version,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(user) = viewer.0 else {
        return Redirect::to("/login?next=/devices").into_response();
    };
    let users = state.fingerprint.users();
    let user_id = user.id.to_string();
    let (devices, sessions) =
        match tokio::try_join!(users.devices(&user_id), users.sessions(&user_id, 20)) {
            Ok(found) => found,
            Err(error) => return server_error(&error),
        };
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let current = page.1.as_ref().map(|visit| visit.session_key.clone());
    let devices_ctx: Vec<_> = devices
        .devices
        .iter()
        .map(|d| {
            context! {
                browser => join_version(&d.device.browser, &d.device.browser_version),
                os => join_version(&d.device.os, &d.device.os_version),
                kind => d.device.device_type.as_str(),
                countries => d.countries.join(", "),
                sessions => d.sessions,
                requests => d.requests,
                first => day(d.first_seen),
                last => day(d.last_seen),
            }
        })
        .collect();
    let browsers_ctx: Vec<_> = devices
        .browsers
        .iter()
        .map(|b| {
            context! {
                visitor => b.visitor_id.chars().take(12).collect::<String>(),
                countries => b.countries.join(", "),
                sessions => b.sessions,
                first => day(b.first_seen),
                last => day(b.last_seen),
            }
        })
        .collect();
    let sessions_ctx: Vec<_> = sessions
        .iter()
        .map(|s| {
            context! {
                key => s.key.chars().take(8).collect::<String>(),
                current => current.as_deref() == Some(s.key.as_str()),
                created => day(s.created_at),
                last => s.last_seen.map(day).unwrap_or_default(),
                requests => s.request_fingerprints,
                browsers => s.browser_fingerprints,
                verdict => s.assessment.as_ref().map(|a| a.verdict.as_str()),
                findings => s.assessment.as_ref().map(|a| {
                    let lines: Vec<String> = a
                        .findings
                        .iter()
                        .map(|f| format!("{}: {}", f.reason.as_str(), f.evidence))
                        .collect();
                    lines.join("\n")
                }),
                referer => s.referer.clone(),
            }
        })
        .collect();
    let connection = page.1.as_ref().and_then(|visit| visit.connection.as_ref());
    let ja4 = connection.and_then(|c| c.ja4());
    let http2 = connection.and_then(|c| c.http2());
    let header = fp::header_fingerprint(&method, version, &headers);
    let network = context! {
        version => format!("{version:?}"),
        ja4 => ja4.map(|j| context! { ja4 => j.ja4, ja4_r => j.ja4_r, ja4_o => j.ja4_o, ja4_ro => j.ja4_ro }),
        http2 => http2.map(|h| context! { text => h.text(), hash => h.hash() }),
        headers => header.text,
        header_names => header.names.join(", "),
        verdict => page.1.as_ref().map(|visit| visit.assessment.verdict.as_str()),
        reasons => page.1.as_ref().map(|visit| visit.assessment.reason_codes()),
    };
    render_for(
        &state,
        Some(&page),
        Some(&user),
        "devices.html",
        context! {
            devices => devices_ctx,
            browsers => browsers_ctx,
            sessions => sessions_ctx,
            network => network,
        },
    )
}

fn join_version(name: &str, version: &str) -> String {
    match (name.is_empty(), version.is_empty()) {
        (true, _) => "unknown".to_owned(),
        (false, true) => name.to_owned(),
        (false, false) => format!("{name} {version}"),
    }
}

/// A rustls server configuration with a self-signed certificate for `localhost`, `host` and
/// the loopback addresses, made now (rcgen), offering HTTP/2 and HTTP/1.1.
///
/// # Errors
/// When the certificate cannot be made.
pub fn self_signed_tls(host: std::net::IpAddr) -> anyhow::Result<rustls::ServerConfig> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".into(), "::1".into()];
    names.push(host.to_string());
    names.dedup();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    // The provider named: a build with several in rustls has no default.
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_go_back_only_to_local_pages() {
        assert_eq!(local_next(Some("/articles/1?x=2")), "/articles/1?x=2");
        for outside in [
            "//evil.example",
            "/\t/evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "/\n",
        ] {
            assert_eq!(local_next(Some(outside)), "/devices", "{outside:?}");
        }
        assert_eq!(local_next(None), "/devices");
    }

    #[test]
    fn database_names_hold_no_password() {
        assert_eq!(
            database_name("postgres://app:secret@db:5432/shop?sslmode=require"),
            "PostgreSQL shop on db"
        );
        assert_eq!(
            database_name("sqlite://fingerprint-demo.db?mode=rwc"),
            "SQLite fingerprint-demo.db"
        );
        assert_eq!(database_name("sqlite:data/x.db"), "SQLite data/x.db");
    }
}

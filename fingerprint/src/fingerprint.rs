//! The [`Fingerprint`] handle and its builder.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderName, HeaderValue};

use crate::browser::{self, BrowserSettings, RedirectPolicy, ScriptTag, Signer};
use crate::capture::{self, CaptureConfig, InvalidProxy, TrustedProxies};
use crate::clock::{Clock, SystemClock};
use crate::device::Enricher;
#[cfg(feature = "geoip")]
use crate::device::GeoIp;
use crate::hits::Hits;
use crate::layer::{FingerprintLayer, RememberUserSessionLayer};
use crate::model::Visit;
use crate::recorder::{Recorder, RecorderClosed, RecorderConfig, RecorderStats};
use crate::session::{self, CookieConfig, SessionSource};
use crate::store::{Reports, SharedStore, Store};
use crate::users::{SessionLink, Users};

/// An invalid configuration, reported by [`FingerprintBuilder::build`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A trusted proxy network could not be parsed.
    #[error(transparent)]
    InvalidProxy(#[from] InvalidProxy),
    /// The country header name is not a valid header name.
    #[error("invalid country header name {0:?}")]
    InvalidHeaderName(String),
    /// The cookie name is not a valid cookie name.
    #[error("invalid cookie name {0:?}: use letters, digits and -_.")]
    InvalidCookieName(String),
    /// A size that must be positive was zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// The route prefix must start with `/` and must not end with one.
    #[error("invalid route prefix {0:?}: use a path such as /fingerprint")]
    InvalidPrefix(String),
    /// The secret for collector tokens is shorter than 32 bytes.
    #[error("the token secret must be at least 32 bytes")]
    ShortSecret,
    /// `build` was called outside a tokio runtime (the recorder runs as a tokio task).
    #[error("Fingerprint::build must be called from within a tokio runtime")]
    NoRuntime,
}

/// The peer address of a connection, for servers that do not provide axum's `ConnectInfo`:
/// insert it into the request extensions before the fingerprint layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// What the layer learnt about the current request, available to handlers as a request
/// extension (and, with the `axum` feature, as an extractor).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CurrentVisit {
    /// The session key the request was recorded under.
    pub session_key: String,
    /// The absolute URL as recorded (scheme, host, path and query).
    pub url: String,
    /// Whether this request was enqueued (false when debounced or dropped).
    pub recorded: bool,
    /// Whether the browser collector may run for this request: false when the request sent
    /// a privacy signal (`Sec-GPC: 1` or `DNT: 1`, see
    /// [`FingerprintBuilder::with_privacy_signals`]) or the app's consent hook said no
    /// ([`FingerprintBuilder::with_consent`]). [`Fingerprint::script_tag`] renders nothing
    /// then.
    pub browser_fingerprinting: bool,
}

impl CurrentVisit {
    /// The scheme and host of the URL, e.g. `https://example.com`.
    #[must_use]
    pub fn origin(&self) -> &str {
        let after_scheme = self.url.find("://").map_or(0, |i| i + 3);
        let end = self.url[after_scheme..]
            .find('/')
            .map_or(self.url.len(), |i| after_scheme + i);
        &self.url[..end]
    }
}

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
            .field("store", &self.shared.store)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Fingerprint {
    /// Starts a builder over `store`.
    pub fn builder(store: impl SharedStore) -> FingerprintBuilder {
        let store = store.into_shared();
        FingerprintBuilder::new(Arc::clone(&store) as Arc<dyn Store>, store)
    }

    /// The layer to put on routes: `.route_layer(fingerprint.layer())`.
    #[must_use]
    pub fn layer(&self) -> FingerprintLayer {
        FingerprintLayer {
            shared: Arc::clone(&self.shared),
        }
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
        RememberUserSessionLayer {
            shared: Arc::clone(&self.shared),
            user,
        }
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
            store: Arc::clone(&self.shared.store),
            clock: Arc::clone(&self.shared.clock),
        }
    }

    /// Hit counts.
    #[must_use]
    pub fn hits(&self) -> Hits {
        Hits {
            store: Arc::clone(&self.shared.store),
        }
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Reports> {
        &self.shared.store
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
}

/// Builds a [`Fingerprint`]. Every setting has a documented default.
#[must_use]
pub struct FingerprintBuilder {
    store: Arc<dyn Reports>,
    writer: Arc<dyn Store>,
    recorder: RecorderConfig,
    trusted_proxies: Vec<String>,
    country_header: String,
    https: bool,
    cookie: CookieConfig,
    session_source: SessionSource,
    clock: Arc<dyn Clock>,
    debounce_capacity: u64,
    secret: Option<Vec<u8>>,
    token_ttl: Duration,
    redirect_delay: Duration,
    redirect_policy: RedirectPolicy,
    prefix: String,
    login_data_key: Option<String>,
    #[cfg(feature = "geoip")]
    geoip: Option<Arc<GeoIp>>,
    anonymize_ips: bool,
    privacy_signals: bool,
    consent: Option<ConsentHook>,
}

/// The app's decision, per request, whether the browser collector may run.
pub(crate) type ConsentHook = Arc<dyn Fn(&http::request::Parts) -> bool + Send + Sync>;

impl std::fmt::Debug for FingerprintBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintBuilder")
            .field("recorder", &self.recorder)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl FingerprintBuilder {
    fn new(writer: Arc<dyn Store>, store: Arc<dyn Reports>) -> Self {
        Self {
            store,
            writer,
            recorder: RecorderConfig::default(),
            trusted_proxies: Vec::new(),
            country_header: "cf-ipcountry".into(),
            https: false,
            cookie: CookieConfig::default(),
            session_source: SessionSource::Auto,
            clock: Arc::new(SystemClock),
            debounce_capacity: 100_000,
            secret: None,
            token_ttl: Duration::from_secs(3600),
            redirect_delay: Duration::from_secs(3),
            redirect_policy: RedirectPolicy::default(),
            prefix: "/fingerprint".into(),
            login_data_key: Some(AXUM_LOGIN_DATA_KEY.into()),
            #[cfg(feature = "geoip")]
            geoip: None,
            anonymize_ips: false,
            privacy_signals: true,
            consent: None,
        }
    }

    /// Stores client IPs with their host part zeroed: the last octet of an IPv4 address,
    /// the last 80 bits of an IPv6 one. The full address never leaves the request (the
    /// GeoIP lookup, when configured, sees the anonymised one). Default false.
    pub fn with_anonymized_ips(mut self, anonymize: bool) -> Self {
        self.anonymize_ips = anonymize;
        self
    }

    /// Honours the privacy signals `Sec-GPC: 1` (Global Privacy Control) and `DNT: 1`: such
    /// requests are still request-fingerprinted (and counted), but the browser collector does
    /// not run for them. Default true.
    pub fn with_privacy_signals(mut self, honour: bool) -> Self {
        self.privacy_signals = honour;
        self
    }

    /// Decides per request whether browser fingerprinting runs (a consent-management hook:
    /// typically "has this visitor accepted the analytics cookie?"). Asked for every
    /// fingerprinted page and again by the collector endpoint; `false` means no collector on
    /// the page and a 403 from the endpoint. Default: always allowed (subject to
    /// [`with_privacy_signals`](Self::with_privacy_signals)).
    ///
    /// ```
    /// # async fn run(store: fingerprint::v1::SqliteStore) -> Result<(), fingerprint::v1::BuildError> {
    /// let fingerprint = fingerprint::v1::Fingerprint::builder(store)
    ///     .with_consent(|parts: &http::request::Parts| {
    ///         parts.headers.get_all(http::header::COOKIE).iter().any(|cookie| {
    ///             cookie.to_str().is_ok_and(|c| c.contains("consent=analytics"))
    ///         })
    ///     })
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn with_consent<F>(mut self, consent: F) -> Self
    where
        F: Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    {
        self.consent = Some(Arc::new(consent));
        self
    }

    /// Where axum-login keeps its data in the tower-sessions session (its
    /// `with_data_key`), or `None` to never link sessions to axum-login users. Default
    /// `axum-login.data`, axum-login's default.
    ///
    /// With a tower-sessions layer outside the fingerprint layer, a session is linked to the
    /// user who logged in through axum-login with no code in the app: the layer reads the
    /// user id from that data (before and after the handler, so the login request itself
    /// links), and queues the link for the recorder. The session's history from before the
    /// login is the user's too. When another user logs in on the same session, a new
    /// fingerprint session starts, so each session belongs to one user.
    pub fn with_login_session_key(mut self, key: Option<&str>) -> Self {
        self.login_data_key = key.map(str::to_owned);
        self
    }

    /// A GeoIP country database, used for request fingerprints whose country header is
    /// missing or not a country code (feature `geoip`). Default: none.
    #[cfg(feature = "geoip")]
    pub fn with_geoip(mut self, geoip: GeoIp) -> Self {
        self.geoip = Some(Arc::new(geoip));
        self
    }

    /// The secret that signs collector tokens (HMAC-SHA256), at least 32 bytes. Default: 32
    /// random bytes per process, so tokens die with a restart and one instance refuses
    /// another's: set the same secret on every instance of the app.
    pub fn with_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// How long a collector token stays valid. Default 1 hour.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// How long the redirect page waits before its meta refresh (when the collector has not
    /// finished, or JavaScript is off). Default 3 s, whole seconds.
    pub fn with_redirect_delay(mut self, delay: Duration) -> Self {
        self.redirect_delay = delay;
        self
    }

    /// Hosts (e.g. `shop.example`, `app.example:8443`) that the redirect page may send
    /// visitors to besides this site's own paths. Default: none.
    pub fn with_allowed_redirect_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redirect_policy.allowed_hosts = hosts
            .into_iter()
            .map(|host| host.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// Absolute redirect targets must be https. Default false.
    pub fn with_https_redirects_only(mut self, https_only: bool) -> Self {
        self.redirect_policy.https_only = https_only;
        self
    }

    /// Where [`Fingerprint::routes`] mounts the redirect page, the collector endpoint and the
    /// script. Default `/fingerprint`.
    pub fn with_route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// One record per (session, URL) per `window`; requests inside it are not recorded again.
    /// Default 10 seconds; zero records every request.
    pub fn with_debounce(mut self, window: Duration) -> Self {
        self.recorder.debounce = window;
        self
    }

    /// Proxy networks (CIDRs such as `10.0.0.0/8`, or single addresses) whose forwarding
    /// headers (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`, `CF-Connecting-IP`,
    /// `X-Forwarded-Proto`) are believed. Default: none, so the client IP is the socket peer.
    pub fn with_trusted_proxies<I, S>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxies = networks.into_iter().map(Into::into).collect();
        self
    }

    /// The header that carries the visitor's country. Default `CF-IPCountry`.
    pub fn with_country_header(mut self, name: impl Into<String>) -> Self {
        self.country_header = name.into();
        self
    }

    /// Treats requests as https when neither the request line nor a trusted proxy says
    /// otherwise (for servers that terminate TLS themselves). Default false.
    pub fn with_https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// Capacity of the queue between requests and the writer. Default 16,384 visits (about
    /// 1 KiB each: this bounds the memory an overload or a database outage can take); when it
    /// is full, fingerprints are dropped (and counted), requests are never slowed.
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.recorder.queue_capacity = capacity;
        self
    }

    /// Most visits written in one transaction. Default 2,048.
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.recorder.batch_size = size;
        self
    }

    /// Longest wait for a batch to fill once its first visit arrived. Default 50 ms.
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.recorder.batch_delay = delay;
        self
    }

    /// How long [`Fingerprint::shutdown`] keeps retrying failed writes. Default 10 s.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.recorder.shutdown_timeout = timeout;
        self
    }

    /// First and longest pause between retries of a failed write (exponential backoff).
    /// Default 50 ms and 5 s.
    pub fn with_retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.recorder.retry_initial = initial;
        self.recorder.retry_max = max.max(initial);
        self
    }

    /// Name of the built-in session cookie. Default `fingerprint_session`.
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie.name = name.into();
        self
    }

    /// `Max-Age` of the built-in session cookie; `None` for a browser-session cookie.
    /// Default two weeks (Django's session age).
    pub fn with_cookie_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.cookie.max_age = max_age;
        self
    }

    /// Which session identity to use. Default [`SessionSource::Auto`].
    pub fn with_session_source(mut self, source: SessionSource) -> Self {
        self.session_source = source;
        self
    }

    /// Most (session, URL) pairs remembered in memory for the debounce. Default 100,000;
    /// beyond it the store's own check still debounces.
    pub fn with_debounce_capacity(mut self, capacity: u64) -> Self {
        self.debounce_capacity = capacity;
        self
    }

    /// The clock (for tests of the debounce window). Default: the system clock.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the configuration and starts the recorder on the current tokio runtime.
    pub fn build(self) -> Result<Fingerprint, BuildError> {
        let trusted_proxies = TrustedProxies::new(&self.trusted_proxies)?;
        let country_header = HeaderName::from_bytes(self.country_header.as_bytes())
            .map_err(|_| BuildError::InvalidHeaderName(self.country_header.clone()))?;
        if !CookieConfig::is_valid_name(&self.cookie.name) {
            return Err(BuildError::InvalidCookieName(self.cookie.name));
        }
        if self.recorder.queue_capacity == 0 {
            return Err(BuildError::Zero("queue capacity"));
        }
        if self.recorder.batch_size == 0 {
            return Err(BuildError::Zero("batch size"));
        }
        let prefix_ok = self.prefix.starts_with('/')
            && !self.prefix.ends_with('/')
            && self.prefix.len() > 1
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
        if !prefix_ok {
            return Err(BuildError::InvalidPrefix(self.prefix));
        }
        let secret = match self.secret {
            Some(secret) if secret.len() < 32 => return Err(BuildError::ShortSecret),
            Some(secret) => secret,
            None => {
                let mut secret = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
                secret
            }
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let debounce = (!self.recorder.debounce.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(self.debounce_capacity)
                .time_to_live(self.recorder.debounce)
                .build()
        });
        let enricher = Enricher::new(
            #[cfg(feature = "geoip")]
            self.geoip,
        );
        let shared = Shared {
            recorder: Recorder::start(Arc::clone(&self.writer), self.recorder.clone(), enricher),
            login_data_key: self.login_data_key,
            links: moka::sync::Cache::builder()
                .max_capacity(self.debounce_capacity)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            store: self.store,
            capture: CaptureConfig {
                trusted_proxies,
                country_header,
                default_scheme: if self.https { "https" } else { "http" },
                anonymize_ips: self.anonymize_ips,
            },
            privacy_signals: self.privacy_signals,
            consent: self.consent,
            cookie: self.cookie,
            session_source: self.session_source,
            clock: self.clock,
            window: TimeDelta::from_std(self.recorder.debounce).unwrap_or(TimeDelta::MAX),
            debounce,
            hasher: std::collections::hash_map::RandomState::new(),
            browser: BrowserSettings {
                signer: Signer::new(secret),
                token_ttl: self.token_ttl,
                redirect_delay: self.redirect_delay,
                policy: self.redirect_policy,
                prefix: self.prefix,
            },
        };
        Ok(Fingerprint {
            shared: Arc::new(shared),
        })
    }
}

/// State shared by the handle and every layer.
pub(crate) struct Shared {
    store: Arc<dyn Reports>,
    recorder: Recorder,
    capture: CaptureConfig,
    cookie: CookieConfig,
    #[cfg_attr(not(feature = "tower-sessions"), allow(dead_code))]
    session_source: SessionSource,
    clock: Arc<dyn Clock>,
    window: TimeDelta,
    /// (session, URL) hash -> time of the last enqueued visit.
    debounce: Option<moka::sync::Cache<u64, DateTime<Utc>>>,
    hasher: std::collections::hash_map::RandomState,
    pub(crate) browser: BrowserSettings,
    #[cfg_attr(not(feature = "tower-sessions"), allow(dead_code))]
    login_data_key: Option<String>,
    /// Session hash -> the user it was last linked to by this process (so the remember layer
    /// queues a link once, not on every request).
    links: moka::sync::Cache<u64, Arc<str>>,
    privacy_signals: bool,
    consent: Option<ConsentHook>,
}

impl Shared {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn store(&self) -> &Arc<dyn Reports> {
        &self.store
    }

    /// A collector token for the visit's session and page.
    pub(crate) fn token_for(&self, visit: &CurrentVisit) -> String {
        let ttl = TimeDelta::from_std(self.browser.token_ttl).unwrap_or(TimeDelta::MAX);
        let expires = self
            .now()
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.browser
            .signer
            .sign(&visit.session_key, &visit.url, expires)
    }

    /// The session a request already has (none is created).
    pub(crate) async fn existing_session_key(
        &self,
        parts: &http::request::Parts,
    ) -> Option<String> {
        #[cfg(feature = "tower-sessions")]
        if self.session_source == SessionSource::Auto {
            if let Some(session) = parts.extensions.get::<tower_sessions::Session>().cloned() {
                match session.get::<String>(session::SESSION_DATA_KEY).await {
                    Ok(Some(key)) if session::is_valid_key(&key) => return Some(key),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "tower-sessions failed"),
                }
            }
        }
        self.cookie.read(&parts.headers)
    }

    /// Whether the browser collector may run for this request: no privacy signal (when
    /// honoured) and the consent hook, if any, agrees.
    pub(crate) fn browser_allowed(&self, parts: &http::request::Parts) -> bool {
        let signal = |name: &str| {
            parts
                .headers
                .get(name)
                .is_some_and(|value| value.as_bytes().trim_ascii() == b"1")
        };
        if self.privacy_signals && (signal("sec-gpc") || signal("dnt")) {
            return false;
        }
        self.consent.as_ref().is_none_or(|consent| consent(parts))
    }

    /// Captures, debounces and enqueues one request; puts a [`CurrentVisit`] into its
    /// extensions. Returns the `Set-Cookie` value when a new built-in cookie was issued.
    pub(crate) async fn fingerprint_request(
        &self,
        parts: &mut http::request::Parts,
    ) -> Option<HeaderValue> {
        let now = self.clock.now();
        let peer = peer_ip(&parts.extensions);
        let location = capture::locate(&parts.uri, &parts.headers, peer, &self.capture);
        #[cfg(feature = "tower-sessions")]
        let session = parts.extensions.get::<tower_sessions::Session>().cloned();
        #[cfg(not(feature = "tower-sessions"))]
        let session = None::<std::convert::Infallible>;
        let (session_key, set_cookie) = self
            .session_key(&parts.headers, session, location.secure)
            .await;

        let url = location.url.clone();
        let recorded = if self.is_debounced(&session_key, &url, now) {
            self.recorder.count_skipped();
            false
        } else {
            // Only recorded requests pay for the full capture.
            let captured = capture::capture_at(
                location,
                &parts.method,
                &parts.uri,
                &parts.headers,
                peer,
                &self.capture,
                now,
            );
            let visit = Visit {
                session_key: session_key.clone(),
                fingerprint: captured.fingerprint,
                utm: captured.utm,
            };
            let accepted = self.recorder.offer(visit);
            if accepted {
                self.remember(&session_key, &url, now);
            }
            accepted
        };
        let browser_fingerprinting = self.browser_allowed(parts);
        parts.extensions.insert(CurrentVisit {
            session_key,
            url,
            recorded,
            browser_fingerprinting,
        });
        set_cookie
    }

    /// Queues a link of `session_key` to `user_id` unless this process already queued the
    /// same one. False when the queue refused it.
    pub(crate) fn link(&self, session_key: &str, user_id: &str) -> bool {
        let hash = self.pair_hash(session_key, "");
        if self
            .links
            .get(&hash)
            .is_some_and(|linked| &*linked == user_id)
        {
            return true;
        }
        let link = SessionLink::new(session_key, user_id, self.clock.now());
        let accepted = self.recorder.offer_link(link);
        if accepted {
            self.links.insert(hash, Arc::from(user_id));
        }
        accepted
    }

    /// Follows axum-login: when the tower session has a logged-in user the fingerprint
    /// session is not linked to yet, queues the link; when another user logged in on it,
    /// starts a new fingerprint session for them. Returns the key to record under.
    #[cfg(feature = "tower-sessions")]
    pub(crate) async fn follow_login(
        &self,
        session: &tower_sessions::Session,
        key: String,
    ) -> Result<String, tower_sessions::session::Error> {
        let Some(data_key) = &self.login_data_key else {
            return Ok(key);
        };
        let Some(user) = login_user(session, data_key).await? else {
            return Ok(key);
        };
        let linked: Option<String> = session.get(session::SESSION_USER_KEY).await?;
        if linked.as_deref() == Some(user.as_str()) {
            return Ok(key);
        }
        let key = if linked.is_some() {
            // Another user logged in on this session: their visits start a session of
            // their own (not linked until the link below is queued).
            let key = session::new_key();
            session.insert(session::SESSION_DATA_KEY, &key).await?;
            session.remove_value(session::SESSION_USER_KEY).await?;
            key
        } else {
            key
        };
        if self.link(&key, &user) {
            session.insert(session::SESSION_USER_KEY, &user).await?;
        }
        Ok(key)
    }

    /// After the handler ran: links the session when the handler logged a user in.
    #[cfg(feature = "tower-sessions")]
    pub(crate) async fn after_handler(&self, session: &tower_sessions::Session) {
        if self.session_source != SessionSource::Auto || self.login_data_key.is_none() {
            return;
        }
        let followed = async {
            match session.get::<String>(session::SESSION_DATA_KEY).await? {
                Some(key) if session::is_valid_key(&key) => {
                    self.follow_login(session, key).await.map(|_| ())
                }
                _ => Ok(()),
            }
        };
        if let Err(error) = followed.await {
            tracing::warn!(%error, "tower-sessions failed while linking the session");
        }
    }

    fn pair_hash(&self, session_key: &str, url: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        session_key.hash(&mut hasher);
        url.hash(&mut hasher);
        hasher.finish()
    }

    fn is_debounced(&self, session_key: &str, url: &str, now: DateTime<Utc>) -> bool {
        let Some(cache) = &self.debounce else {
            return false;
        };
        cache
            .get(&self.pair_hash(session_key, url))
            .is_some_and(|last| now.signed_duration_since(last) < self.window)
    }

    fn remember(&self, session_key: &str, url: &str, now: DateTime<Utc>) {
        if let Some(cache) = &self.debounce {
            cache.insert(self.pair_hash(session_key, url), now);
        }
    }

    /// The request's session key, and a `Set-Cookie` value when one was issued.
    /// Takes no reference to the request itself, so its body type need not be `Sync`.
    async fn session_key(
        &self,
        headers: &http::HeaderMap,
        #[cfg_attr(not(feature = "tower-sessions"), allow(unused_variables))] session: Option<
            SessionHandle,
        >,
        secure: bool,
    ) -> (String, Option<HeaderValue>) {
        let from_cookie = self.cookie.read(headers);
        #[cfg(feature = "tower-sessions")]
        if self.session_source == SessionSource::Auto {
            if let Some(session) = session {
                let identity = async {
                    let key = tower_sessions_key(&session).await?;
                    self.follow_login(&session, key).await
                };
                match identity.await {
                    Ok(key) => return (key, None),
                    Err(error) => {
                        tracing::warn!(%error, "tower-sessions failed; using the fingerprint cookie");
                    }
                }
            }
        }
        if let Some(key) = from_cookie {
            return (key, None);
        }
        let key = session::new_key();
        let cookie = self.cookie.set_cookie(&key, secure);
        (key, cookie)
    }
}

/// axum-login's default session-data key.
const AXUM_LOGIN_DATA_KEY: &str = "axum-login.data";

#[cfg(feature = "tower-sessions")]
type SessionHandle = tower_sessions::Session;
#[cfg(not(feature = "tower-sessions"))]
type SessionHandle = std::convert::Infallible;

/// Our key inside the tower-sessions session, created (which makes tower-sessions save the
/// session and set its cookie) when missing.
#[cfg(feature = "tower-sessions")]
async fn tower_sessions_key(
    session: &tower_sessions::Session,
) -> Result<String, tower_sessions::session::Error> {
    if let Some(key) = session.get::<String>(session::SESSION_DATA_KEY).await? {
        if session::is_valid_key(&key) {
            return Ok(key);
        }
    }
    let key = session::new_key();
    session.insert(session::SESSION_DATA_KEY, &key).await?;
    Ok(key)
}

/// The id of the user logged in through axum-login, from its session data (`{"user_id":
/// ..., "auth_hash": ...}`): a string as is, anything else (numbers, ...) as its JSON text.
#[cfg(feature = "tower-sessions")]
async fn login_user(
    session: &tower_sessions::Session,
    data_key: &str,
) -> Result<Option<String>, tower_sessions::session::Error> {
    let data: Option<serde_json::Value> = session.get(data_key).await?;
    Ok(data
        .as_ref()
        .and_then(|data| data.get("user_id"))
        .and_then(|id| match id {
            serde_json::Value::Null => None,
            serde_json::Value::String(id) => Some(id.clone()),
            other => Some(other.to_string()),
        })
        .filter(|id| !id.is_empty()))
}

fn peer_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    extensions.get::<PeerAddr>().map(|peer| peer.0.ip())
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CurrentVisit {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Self>().cloned().ok_or((
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "CurrentVisit needs the fingerprint layer on this route",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::CurrentVisit;

    #[test]
    fn origin_of_the_visit() {
        let visit = |url: &str| CurrentVisit {
            session_key: String::new(),
            url: url.into(),
            recorded: true,
            browser_fingerprinting: true,
        };
        assert_eq!(visit("http://a:3000/x?y").origin(), "http://a:3000");
        assert_eq!(visit("https://a").origin(), "https://a");
    }
}

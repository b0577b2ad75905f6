//! The way in: [`Fingerprint::builder`], the [`FingerprintBuilder`] with every setting of a
//! [`Fingerprint`], checked by [`build`](FingerprintBuilder::build), and its [`BuildError`].

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::assess::{Behaviour, BehaviourLimits, CrawlerResolver, CrawlerVerifier};
use crate::browser::{BrowserSettings, RedirectPolicy, Signer};
use crate::capture::{CaptureConfig, ClientIpSource, InvalidProxy, TrustedProxies};
use crate::clock::{Clock, SystemClock};
#[cfg(feature = "geoip")]
use crate::device::GeoIp;
use crate::handle::Fingerprint;
use crate::recorder::{Debounce, Enricher, Recorder, RecorderConfig};
use crate::session::{CookieConfig, SessionSource, Sessions};
use crate::shared::{ConsentHook, Shared};
use crate::store::{Reports, SharedStore, Store};

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

impl Fingerprint {
    /// Starts a builder over `store`: a [`SqliteStore`](crate::v1::SqliteStore) or
    /// [`PostgresStore`](crate::v1::PostgresStore), any other [`Reports`] store, or one
    /// already boxed or shared (see [`SharedStore`]).
    pub fn builder(store: impl SharedStore) -> FingerprintBuilder {
        FingerprintBuilder::new(store.into_shared())
    }
}

/// Builds a [`Fingerprint`]. Every setting has a documented default.
#[must_use]
pub struct FingerprintBuilder {
    store: Arc<dyn Reports>,
    recorder: RecorderConfig,
    trusted_proxies: Vec<String>,
    client_ip_source: ClientIpSource,
    country_header: String,
    ja4_header: Option<String>,
    http2_header: Option<String>,
    https: bool,
    sessions: Sessions,
    clock: Arc<dyn Clock>,
    debounce_capacity: u64,
    secret: Option<Vec<u8>>,
    token_ttl: Duration,
    redirect_delay: Duration,
    redirect_policy: RedirectPolicy,
    prefix: String,
    #[cfg(feature = "geoip")]
    geoip: Option<Arc<GeoIp>>,
    anonymize_ips: bool,
    privacy_signals: bool,
    consent: Option<ConsentHook>,
    count_automated: bool,
    crawler_resolver: Option<Arc<dyn CrawlerResolver>>,
    behaviour_limits: BehaviourLimits,
}

impl std::fmt::Debug for FingerprintBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintBuilder")
            .field("recorder", &self.recorder)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl FingerprintBuilder {
    fn new(store: Arc<dyn Reports>) -> Self {
        Self {
            store,
            recorder: RecorderConfig::default(),
            trusted_proxies: Vec::new(),
            client_ip_source: ClientIpSource::default(),
            country_header: "cf-ipcountry".into(),
            ja4_header: None,
            http2_header: None,
            https: false,
            sessions: Sessions::default(),
            clock: Arc::new(SystemClock),
            debounce_capacity: crate::recorder::DEFAULT_DEBOUNCE_CAPACITY,
            secret: None,
            token_ttl: Duration::from_secs(3600),
            redirect_delay: Duration::from_secs(3),
            redirect_policy: RedirectPolicy::default(),
            prefix: "/fingerprint".into(),
            #[cfg(feature = "geoip")]
            geoip: None,
            anonymize_ips: false,
            privacy_signals: true,
            consent: None,
            count_automated: false,
            crawler_resolver: None,
            behaviour_limits: BehaviourLimits::new(),
        }
    }

    /// The per-minute limits of behaviour a person does not show (requests and distinct
    /// URLs per session, sessions per client address); see [`BehaviourLimits`]. Default:
    /// 120, 60 and 30.
    pub fn with_behaviour_limits(mut self, limits: BehaviourLimits) -> Self {
        self.behaviour_limits = limits;
        self
    }

    /// Verifies crawlers that name themselves (Googlebot, Bingbot, Applebot, ...) by reverse
    /// and forward DNS through `resolver`, in the background (see
    /// [`verify_crawler`](crate::v1::verify_crawler)): an address that is not the crawler's
    /// makes its requests and session `automated` with `crawler_not_verified`. Default: no
    /// resolver, nothing is looked up.
    pub fn with_crawler_resolver(mut self, resolver: impl CrawlerResolver) -> Self {
        self.crawler_resolver = Some(Arc::new(resolver));
        self
    }

    /// Whether requests assessed `automated` or `declared_bot` (see
    /// [`assess_request`](crate::v1::assess_request)) count as unique visitors in the hit
    /// counts. They are stored either way, with their verdict. Default false: hit counts
    /// mean people. An install upgraded from a version without the assessment keeps its
    /// earlier counts until `fingerprint rebuild-hit-counts` (which, by default, also leaves
    /// out the sessions the collector assessed as automated).
    pub fn with_count_automated(mut self, count: bool) -> Self {
        self.count_automated = count;
        self
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
        self.sessions.login_data_key = key.map(str::to_owned);
        self
    }

    /// A GeoIP country database, used for request fingerprints whose country header is
    /// missing or not a country code (feature `geoip`). Default: none.
    #[cfg(feature = "geoip")]
    #[cfg_attr(docsrs, doc(cfg(feature = "geoip")))]
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

    /// One record per (session, URL) per `window`: a request less than `window` before or
    /// after a recorded one is not recorded. Default 10 seconds; zero records every request
    /// (once: a batch written again after a lost answer finds its rows).
    pub fn with_debounce(mut self, window: Duration) -> Self {
        self.recorder.debounce = window;
        self
    }

    /// Proxy networks (CIDRs such as `10.0.0.0/8`, or single addresses) whose forwarding
    /// header ([`with_client_ip_source`](Self::with_client_ip_source), and its scheme header)
    /// is believed. Default: none, so the client IP is the socket peer.
    pub fn with_trusted_proxies<I, S>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_proxies = networks.into_iter().map(Into::into).collect();
        self
    }

    /// The one header your trusted proxies set for the client address, and with it the scheme
    /// header (`X-Forwarded-Proto`, or `Forwarded: proto=` for [`ClientIpSource::Forwarded`]).
    /// Only that header is read, and only from a trusted peer
    /// ([`with_trusted_proxies`](Self::with_trusted_proxies)): a proxy sets its own header and
    /// passes the others through, so any other one may come from the client. Default
    /// [`ClientIpSource::XForwardedFor`]; behind Cloudflare, [`ClientIpSource::CfConnectingIp`].
    pub fn with_client_ip_source(mut self, source: ClientIpSource) -> Self {
        self.client_ip_source = source;
        self
    }

    /// The header that carries the visitor's country. Default `CF-IPCountry`.
    pub fn with_country_header(mut self, name: impl Into<String>) -> Self {
        self.country_header = name.into();
        self
    }

    /// The header in which your trusted proxies ([`with_trusted_proxies`](Self::with_trusted_proxies))
    /// pass the JA4 of the client's TLS ClientHello, for apps behind a proxy that terminates
    /// TLS and computes it (such as `X-JA4`). Read only from a trusted peer; when it is absent
    /// the connection's own JA4 is kept. Default: none.
    pub fn with_ja4_header(mut self, name: impl Into<String>) -> Self {
        self.ja4_header = Some(name.into());
        self
    }

    /// The header in which your trusted proxies pass the client's HTTP/2 fingerprint, in the
    /// `settings|window|priority|pseudo-header order` form of
    /// [`Http2Fingerprint::text`](crate::v1::Http2Fingerprint::text). Read only from a trusted
    /// peer. Default: none.
    pub fn with_http2_header(mut self, name: impl Into<String>) -> Self {
        self.http2_header = Some(name.into());
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

    /// Batches written at the same time, each in its own transaction. Default 1.
    ///
    /// On PostgreSQL, 2-4 let the database use more of its cores for a heavy stream of new
    /// visitors (counts stay exact: concurrent batches are written like those of several
    /// instances of the app). On SQLite keep 1: it has one writer at a time, so more batches
    /// only wait for its lock.
    pub fn with_writers(mut self, writers: usize) -> Self {
        self.recorder.writers = writers;
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
        self.sessions.cookie.name = name.into();
        self
    }

    /// `Max-Age` of the built-in session cookie; `None` for a browser-session cookie.
    /// Default two weeks (Django's session age).
    pub fn with_cookie_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.sessions.cookie.max_age = max_age;
        self
    }

    /// Which session identity to use. Default [`SessionSource::Auto`].
    pub fn with_session_source(mut self, source: SessionSource) -> Self {
        self.sessions.source = source;
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
        let country_header = header_name(&self.country_header)?;
        let ja4_header = self.ja4_header.as_deref().map(header_name).transpose()?;
        let http2_header = self.http2_header.as_deref().map(header_name).transpose()?;
        if !CookieConfig::is_valid_name(&self.sessions.cookie.name) {
            return Err(BuildError::InvalidCookieName(self.sessions.cookie.name));
        }
        if self.recorder.queue_capacity == 0 {
            return Err(BuildError::Zero("queue capacity"));
        }
        if self.recorder.batch_size == 0 {
            return Err(BuildError::Zero("batch size"));
        }
        if self.recorder.writers == 0 {
            return Err(BuildError::Zero("writers"));
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
        let enricher = Enricher::new(
            self.count_automated,
            #[cfg(feature = "geoip")]
            self.geoip,
        );
        let shared = Shared {
            recorder: Recorder::start(
                Arc::clone(&self.store) as Arc<dyn Store>,
                self.recorder.clone(),
                enricher,
            ),
            store: self.store,
            capture: CaptureConfig {
                trusted_proxies,
                client_ip_source: self.client_ip_source,
                country_header,
                default_scheme: if self.https { "https" } else { "http" },
                anonymize_ips: self.anonymize_ips,
                ja4_header,
                http2_header,
            },
            sessions: self.sessions,
            clock: self.clock,
            debounce: Debounce::new(self.recorder.debounce, self.debounce_capacity),
            browser: BrowserSettings {
                signer: Signer::new(secret),
                token_ttl: self.token_ttl,
                redirect_delay: self.redirect_delay,
                policy: self.redirect_policy,
                prefix: self.prefix,
            },
            privacy_signals: self.privacy_signals,
            consent: self.consent,
            count_automated: self.count_automated,
            crawlers: self.crawler_resolver.map(CrawlerVerifier::new),
            behaviour: Behaviour::new(self.behaviour_limits),
        };
        Ok(Fingerprint {
            shared: Arc::new(shared),
        })
    }
}

/// `name` as a header name.
fn header_name(name: &str) -> Result<HeaderName, BuildError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| BuildError::InvalidHeaderName(name.into()))
}

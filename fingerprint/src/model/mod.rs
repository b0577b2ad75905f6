//! Plain data that travels from the capture layer through the recorder into a store.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::assess::SessionAssessment;
use crate::device::Device;

mod users;

pub use users::{
    BrowserDevice, CountBucket, LinkOutcome, Page, RequestDevice, SessionLink, SessionSummary,
    UserDevices, UserQuery, UserSummary, VisitorUser,
};

/// What is captured from one request: everything except the session it belongs to.
///
/// Values are stored as sent, truncated to the column limits (user agent, accept and the
/// other negotiation headers 255 characters, referer 2047, country 16, URL 2048). A header that
/// was not sent is stored as an empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestFingerprint {
    /// The client address: the socket peer, or the rightmost untrusted address of the
    /// forwarding headers when the peer is a trusted proxy. `None` when the server gave no peer
    /// address (for example a test calling the service directly).
    pub ip: Option<IpAddr>,
    /// The request method (`GET`, `POST`, ...).
    pub method: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// `Accept`.
    pub accept: String,
    /// `Accept-Language`.
    pub accept_language: String,
    /// `Accept-Encoding`.
    pub accept_encoding: String,
    /// `Content-Encoding`.
    pub content_encoding: String,
    /// `Content-Language`.
    pub content_language: String,
    /// `Referer`.
    pub referer: String,
    /// The country header (`CF-IPCountry` unless configured otherwise).
    pub country: String,
    /// The absolute URL with its query string, e.g. `https://example.com/a?b=1`.
    pub url: String,
    /// When the request was captured.
    pub created_at: DateTime<Utc>,
    /// Browser, OS and device type parsed from the user agent. Filled by the recorder before
    /// it stores the fingerprint (empty until then).
    pub device: Device,
    /// ISO 3166-1 alpha-2 country: the country header when it holds a valid code, else the
    /// configured GeoIP database's answer for the IP, else empty. Filled by the recorder.
    pub country_code: String,
    /// The JA4 of the connection's TLS ClientHello (see [`Ja4`](crate::v1::Ja4)): read by
    /// [`FingerprintListener`](crate::v1::FingerprintListener), or from the configured header
    /// of a trusted proxy ([`with_ja4_header`](crate::v1::FingerprintBuilder::with_ja4_header)).
    /// Empty when unknown.
    pub ja4: String,
    /// The connection's HTTP/2 fingerprint, `settings|window|priority|pseudo-header order`
    /// (see [`Http2Fingerprint::text`](crate::v1::Http2Fingerprint::text)). Empty for HTTP/1
    /// and when unknown.
    pub http2: String,
    /// The request's header fingerprint: method, version and header-name order (see
    /// [`HeaderFingerprint`](crate::v1::HeaderFingerprint)).
    pub headers: String,
    /// The request's assessment when it was recorded (`human`, `automated`, `declared_bot`
    /// or `unknown`, see [`Verdict`](crate::v1::Verdict)); empty for requests recorded
    /// outside the layer or before migration 7.
    pub verdict: String,
    /// The assessment's reason codes joined by `,` (see [`Reason`](crate::v1::Reason)).
    pub reasons: String,
}

impl RequestFingerprint {
    /// A fingerprint of `url` at `created_at` with every header empty and no IP: set the
    /// public fields you have (for visits recorded outside the layer, tests and benchmarks).
    ///
    /// ```
    /// use fingerprint::v1::RequestFingerprint;
    ///
    /// let mut fingerprint = RequestFingerprint::new("https://example.com/a", chrono::Utc::now());
    /// fingerprint.user_agent = "curl/8.5.0".into();
    /// ```
    #[must_use]
    pub fn new(url: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self {
            ip: None,
            method: "GET".into(),
            user_agent: String::new(),
            accept: String::new(),
            accept_language: String::new(),
            accept_encoding: String::new(),
            content_encoding: String::new(),
            content_language: String::new(),
            referer: String::new(),
            country: String::new(),
            url: url.into(),
            created_at,
            device: Device::default(),
            country_code: String::new(),
            ja4: String::new(),
            http2: String::new(),
            headers: String::new(),
            verdict: String::new(),
            reasons: String::new(),
        }
    }
}

/// The five UTM parameters of a URL's query string, each `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Utm {
    /// `utm_source`.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
    /// `utm_content`.
    pub content: Option<String>,
    /// `utm_term`.
    pub term: Option<String>,
}

/// One fingerprinted request on its way to the store: the fingerprint, the session it belongs
/// to, and the UTM parameters of its URL (kept on the session by its first record).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Visit {
    /// The session key: 32 hex characters, stable for the life of the session.
    pub session_key: String,
    /// The captured request.
    pub fingerprint: RequestFingerprint,
    /// UTM parameters of the request URL.
    pub utm: Utm,
    /// Whether it counts as a unique visit of its URL: false for automated clients and
    /// declared bots unless the app counts them (see
    /// [`with_count_automated`](crate::v1::FingerprintBuilder::with_count_automated)). It is
    /// stored either way.
    pub counted: bool,
    /// A session assessment the request makes (a verified or refuted crawler), stored on its
    /// session with the batch.
    pub assessment: Option<SessionAssessment>,
}

impl Visit {
    /// A counted visit of `session_key` (32 lowercase hex characters) with no UTM parameters.
    #[must_use]
    pub fn new(session_key: impl Into<String>, fingerprint: RequestFingerprint) -> Self {
        Self {
            session_key: session_key.into(),
            fingerprint,
            utm: Utm::default(),
            counted: true,
            assessment: None,
        }
    }

    /// Whether it counts as a unique visit of its URL.
    #[must_use]
    pub fn with_counted(mut self, counted: bool) -> Self {
        self.counted = counted;
        self
    }
}

/// A session as stored: its key, the user it is linked to and what its first record brought.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session key.
    pub key: String,
    /// The user this session is linked to, if any.
    pub user_id: Option<String>,
    /// When the first record of this session was written.
    pub created_at: DateTime<Utc>,
    /// The referer of the session's first recorded request (empty when none was sent).
    pub referer: String,
    /// The UTM parameters of the session's first recorded request.
    pub utm: Utm,
    /// Its assessment, once its browser ran the collector.
    pub assessment: Option<SessionAssessment>,
}

/// A session read back from a store, for exports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSession {
    /// Row id.
    pub id: i64,
    /// The session key.
    pub key: String,
    /// The user it is linked to, if any.
    pub user_id: Option<String>,
    /// When its first record was written.
    pub created_at: DateTime<Utc>,
    /// When it was linked to its user.
    pub linked_at: Option<DateTime<Utc>>,
    /// The referer of its first request.
    pub referer: String,
    /// The UTM parameters of its first request.
    pub utm: Utm,
    /// Its assessment, once its browser ran the collector.
    pub assessment: Option<SessionAssessment>,
}

/// A request fingerprint read back from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredRequest {
    /// Row id.
    pub id: i64,
    /// The session key.
    pub session_key: String,
    /// The captured values.
    pub fingerprint: RequestFingerprint,
}

/// A browser fingerprint on its way to the store: what the collector measured, and the visitor
/// id the server computed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowserVisit {
    /// The session the collector's page belonged to.
    pub session_key: String,
    /// The page that ran the collector (from the signed token).
    pub url: Option<String>,
    /// The visitor id (32 hex characters), computed by the server.
    pub visitor_id: String,
    /// The components as a JSON object (name -> value, or `{"error": ...}`).
    pub components: String,
    /// Milliseconds from the collector's start to its POST, as it reported.
    pub duration_ms: Option<u64>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
    /// The session assessment it makes, stored on its session (none: the session's stays).
    pub assessment: Option<SessionAssessment>,
}

impl BrowserVisit {
    /// A browser fingerprint of `session_key` with `visitor_id` and `components` (a JSON
    /// object), received at `created_at`, with no page URL or duration.
    #[must_use]
    pub fn new(
        session_key: impl Into<String>,
        visitor_id: impl Into<String>,
        components: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            session_key: session_key.into(),
            url: None,
            visitor_id: visitor_id.into(),
            components: components.into(),
            duration_ms: None,
            created_at,
            assessment: None,
        }
    }

    /// With the session assessment it makes.
    #[must_use]
    pub fn with_assessment(mut self, assessment: SessionAssessment) -> Self {
        self.assessment = Some(assessment);
        self
    }
}

/// A browser fingerprint read back from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredBrowser {
    /// Row id.
    pub id: i64,
    /// The session key.
    pub session_key: String,
    /// The page that ran the collector.
    pub url: Option<String>,
    /// The visitor id.
    pub visitor_id: String,
    /// The components as a JSON object.
    pub components: String,
    /// Milliseconds from the collector's start to its POST.
    pub duration_ms: Option<u64>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
}

//! The stable API, version 1. Import it as `use fingerprint::v1 as fp;`.
//!
//! Everything here follows semver; items outside `v1` may change in any release.

pub use crate::assess::{
    assess_request, verify_crawler, Assessment, BehaviourLimits, CrawlerCheck, CrawlerResolver,
    Finding, Reason, ResolveError, SessionAssessment, Verdict,
};
pub use crate::browser::{check_redirect, RedirectPolicy, RefusedRedirect, ScriptTag};
pub use crate::builder::{BuildError, FingerprintBuilder};
pub use crate::capture::{client_ip, client_scheme, ClientIpSource, InvalidProxy, TrustedProxies};
pub use crate::clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub use crate::dashboard::DashboardAccess;
pub use crate::device::{Device, DeviceType};
#[cfg(feature = "geoip")]
#[cfg_attr(docsrs, doc(cfg(feature = "geoip")))]
pub use crate::device::{GeoIp, GeoIpError};
pub use crate::handle::Fingerprint;
pub use crate::hits::{AbsoluteUrl, Hits};
pub use crate::insight::{
    BreakdownRow, BrowserQuery, BrowserSummary, DailyTraffic, Dimension, InvalidIpFilter, IpFilter,
    RequestQuery, SessionQuery, TimelineEvent, TimelineKind, UrlHits, UrlQuery, UserPlace,
};
pub use crate::layer::{
    FingerprintLayer, FingerprintService, RememberUserSession, RememberUserSessionLayer,
    ResponseFuture,
};
pub use crate::model::{
    BrowserDevice, CountBucket, LinkOutcome, Page, RequestDevice, SessionLink, SessionSummary,
    UserDevices, UserQuery, UserSummary, VisitorUser,
};
pub use crate::model::{
    BrowserVisit, RequestFingerprint, SessionRecord, StoredBrowser, StoredRequest, StoredSession,
    Utm, Visit,
};
pub use crate::net::{
    header_fingerprint, ja4_of_records, parse_client_hello, read_client_hello, ClientHello,
    ConnectionInfo, HeaderFingerprint, HelloError, Http2Fingerprint, Http2Tap, Http2TapStream, Ja4,
    Priority, PseudoHeader, Replay, TapState, MAX_CLIENT_HELLO, MAX_PREFACE,
};
#[cfg(feature = "listener")]
#[cfg_attr(docsrs, doc(cfg(feature = "listener")))]
pub use crate::net::{
    FingerprintListener, FingerprintStream, Transport, HANDSHAKE_TIMEOUT, MAX_PENDING_HANDSHAKES,
};
pub use crate::recorder::{RecorderClosed, RecorderStats};
pub use crate::session::SessionSource;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use crate::store::PostgresStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use crate::store::SqlStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use crate::store::SqliteStore;
pub use crate::store::{
    ForgetReport, FullStore, Maintenance, Progress, ProgressFn, PurgeReport, RebuildReport,
    RecordOutcome, Reports, SharedStore, Store, StoreError, Totals, UrlCache,
};
pub use crate::users::Users;
pub use crate::visit::{CurrentVisit, PeerAddr};

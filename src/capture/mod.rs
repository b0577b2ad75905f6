#![allow(unused, unreachable_pub, missing_docs)]
use crate::model::{RequestFingerprint, Utm};
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies;
#[derive(Debug, thiserror::Error)] #[error("x")]
pub struct InvalidProxy;
impl TrustedProxies { pub fn new<I, S>(n: I) -> Result<Self, InvalidProxy> where I: IntoIterator<Item = S>, S: AsRef<str> { Ok(Self) } }
#[derive(Debug, Clone)]
pub(crate) struct CaptureConfig { pub(crate) trusted_proxies: TrustedProxies, pub(crate) country_header: http::HeaderName, pub(crate) default_scheme: &'static str }
pub(crate) struct Captured { pub(crate) fingerprint: RequestFingerprint, pub(crate) utm: Utm, pub(crate) secure: bool }
pub(crate) fn capture(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap, peer: Option<std::net::IpAddr>, config: &CaptureConfig, now: chrono::DateTime<chrono::Utc>) -> Captured { todo!() }

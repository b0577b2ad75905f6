//! The values a request sees: [`CurrentVisit`], put into its extensions by the layer, and
//! [`PeerAddr`], which a server without axum's `ConnectInfo` puts there for the layer.

use std::net::{IpAddr, SocketAddr};

use crate::assess::Assessment;
use crate::net::ConnectionInfo;

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
    ///
    /// [`FingerprintBuilder::with_privacy_signals`]: crate::v1::FingerprintBuilder::with_privacy_signals
    /// [`FingerprintBuilder::with_consent`]: crate::v1::FingerprintBuilder::with_consent
    /// [`Fingerprint::script_tag`]: crate::v1::Fingerprint::script_tag
    pub browser_fingerprinting: bool,
    /// The client address the layer decided on: the socket peer, or what the one header of
    /// [`ClientIpSource`](crate::v1::ClientIpSource) says when the peer is a trusted proxy
    /// (see [`client_ip`](crate::v1::client_ip)). Before anonymisation: what is stored may be
    /// anonymised ([`FingerprintBuilder::with_anonymized_ips`](crate::v1::FingerprintBuilder::with_anonymized_ips)).
    pub client_ip: Option<IpAddr>,
    /// Whether the client used https: the request's own scheme, or what a trusted proxy says
    /// ([`client_scheme`](crate::v1::client_scheme)). It decides the scheme of [`url`](Self::url).
    pub secure: bool,
    /// What the request's connection told (its JA4 and HTTP/2 fingerprint), when the server
    /// read it: see [`FingerprintListener`](crate::v1::FingerprintListener).
    pub connection: Option<ConnectionInfo>,
    /// What the request's own signals say it is: a browser, an automated client or a
    /// declared crawler, with reasons (see [`assess_request`](crate::v1::assess_request)).
    /// An app can block, challenge or rate-limit on it.
    pub assessment: Assessment,
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

/// The client's socket address: axum's `ConnectInfo` (feature `axum`) of a `SocketAddr` or a
/// [`ConnectionInfo`], else a [`ConnectionInfo`] or [`PeerAddr`] extension.
pub(crate) fn peer_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    if let Some(connection) = connection(extensions) {
        return Some(connection.remote_addr().ip());
    }
    extensions.get::<PeerAddr>().map(|peer| peer.0.ip())
}

/// What the connection told ([`ConnectionInfo`]), as axum's `ConnectInfo` or an extension.
pub(crate) fn connection(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<ConnectionInfo>>() {
        return Some(&info.0);
    }
    extensions.get::<ConnectionInfo>()
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
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
            client_ip: None,
            secure: false,
            connection: None,
            assessment: crate::assess::assess_request(
                &http::HeaderMap::new(),
                http::Version::HTTP_11,
                false,
                None,
            ),
        };
        assert_eq!(visit("http://a:3000/x?y").origin(), "http://a:3000");
        assert_eq!(visit("https://a").origin(), "https://a");
    }
}

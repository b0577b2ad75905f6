//! Capture: a request's headers, URI and peer address -> a [`RequestFingerprint`].
//! Pure (no I/O) and total: any input gives a value within the column limits.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{HeaderMap, HeaderName, Method, Uri, Version};

use crate::device::Device;
use crate::limits::{self, truncate_bytes, truncate_chars};
use crate::model::{RequestFingerprint, Utm};
use crate::net::{header_fingerprint, ConnectionInfo};

mod client_ip;

pub use client_ip::{client_ip, client_scheme, ClientIpSource, InvalidProxy, TrustedProxies};

/// Capture settings (filled by the builder).
#[derive(Debug, Clone)]
pub(crate) struct CaptureConfig {
    pub(crate) trusted_proxies: TrustedProxies,
    /// The one header the trusted proxies set for the client (and its scheme).
    pub(crate) client_ip_source: ClientIpSource,
    pub(crate) country_header: HeaderName,
    /// `"http"` or `"https"`: the scheme when neither the request nor a trusted proxy says.
    pub(crate) default_scheme: &'static str,
    /// Zero the host part of client addresses before they are stored.
    pub(crate) anonymize_ips: bool,
    /// The header in which the trusted proxies pass the client's JA4.
    pub(crate) ja4_header: Option<HeaderName>,
    /// The header in which the trusted proxies pass the client's HTTP/2 fingerprint.
    pub(crate) http2_header: Option<HeaderName>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: TrustedProxies::none(),
            client_ip_source: ClientIpSource::default(),
            country_header: HeaderName::from_static("cf-ipcountry"),
            default_scheme: "http",
            anonymize_ips: false,
            ja4_header: None,
            http2_header: None,
        }
    }
}

/// What the capture reads of a request: its head, and what its connection told.
pub(crate) struct Head<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
    /// The socket peer.
    pub(crate) peer: Option<IpAddr>,
    /// The network fingerprints of the connection, when the server read them.
    pub(crate) connection: Option<&'a ConnectionInfo>,
}

impl<'a> Head<'a> {
    /// The head of a request from `peer` over `connection`, as the layer sees it.
    pub(crate) fn of(
        parts: &'a Parts,
        peer: Option<IpAddr>,
        connection: Option<&'a ConnectionInfo>,
    ) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            headers: &parts.headers,
            peer,
            connection,
        }
    }

    /// An HTTP/1.1 request without connection fingerprints (tests and benchmarks).
    pub(crate) fn plain(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        peer: Option<IpAddr>,
    ) -> Self {
        Self {
            method,
            uri,
            version: Version::HTTP_11,
            headers,
            peer,
            connection: None,
        }
    }
}

pub(crate) struct Captured {
    pub(crate) fingerprint: RequestFingerprint,
    pub(crate) utm: Utm,
}

/// Where a request went and who sent it: its absolute URL, whether it came over https, and
/// the client address. Cheap: the layer computes it for every request and captures the rest
/// only for requests it records.
pub(crate) struct Location {
    pub(crate) url: String,
    pub(crate) secure: bool,
    /// The client address, as found (before any anonymisation).
    pub(crate) client_ip: Option<IpAddr>,
}

pub(crate) fn locate(
    uri: &Uri,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    config: &CaptureConfig,
) -> Location {
    let scheme = uri
        .scheme_str()
        .and_then(client_ip::scheme)
        .or_else(|| {
            client_scheme(
                headers,
                peer,
                &config.trusted_proxies,
                &config.client_ip_source,
            )
        })
        .unwrap_or(config.default_scheme);
    Location {
        url: truncate_bytes(absolute_url(scheme, uri, headers), limits::URL),
        secure: scheme == "https",
        client_ip: client_ip(
            headers,
            peer,
            &config.trusted_proxies,
            &config.client_ip_source,
        ),
    }
}

/// Everything about a request at `location`.
pub(crate) fn capture_at(
    location: Location,
    head: &Head<'_>,
    config: &CaptureConfig,
    now: DateTime<Utc>,
) -> Captured {
    let (method, uri, headers) = (head.method, head.uri, head.headers);
    let list = |name: &str| truncate_chars(joined(headers, name), limits::HEADER);
    let fingerprint = RequestFingerprint {
        ip: location.client_ip.map(|ip| {
            if config.anonymize_ips {
                anonymize(ip)
            } else {
                ip
            }
        }),
        method: truncate_chars(method.as_str().to_owned(), limits::METHOD),
        user_agent: truncate_chars(first(headers, "user-agent"), limits::HEADER),
        accept: list("accept"),
        accept_language: list("accept-language"),
        accept_encoding: list("accept-encoding"),
        content_encoding: list("content-encoding"),
        content_language: list("content-language"),
        referer: truncate_chars(first(headers, "referer"), limits::REFERER),
        country: truncate_chars(
            first(headers, config.country_header.as_str()),
            limits::COUNTRY,
        ),
        url: location.url,
        created_at: now,
        device: Device::default(),
        country_code: String::new(),
        ja4: network(head, &config.ja4_header, config, |c| {
            c.ja4().map(|ja4| ja4.ja4.clone())
        }),
        http2: network(head, &config.http2_header, config, |c| {
            c.http2().map(|http2| http2.text())
        }),
        headers: truncate_chars(
            header_fingerprint(method, head.version, headers).text,
            limits::NETWORK,
        ),
        verdict: String::new(),
        reasons: String::new(),
    };
    Captured {
        fingerprint,
        utm: utm(uri.query().unwrap_or_default()),
    }
}

/// [`locate`] and [`capture_at`] in one, for an HTTP/1.1 request without connection
/// fingerprints.
#[cfg(test)]
pub(crate) fn capture(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    config: &CaptureConfig,
    now: DateTime<Utc>,
) -> Captured {
    let location = locate(uri, headers, peer, config);
    capture_at(
        location,
        &Head::plain(method, uri, headers, peer),
        config,
        now,
    )
}

/// A network fingerprint: from the configured `header` when a trusted proxy sent it (the
/// proxy terminated the client's connection, so its own is not the client's), else from the
/// connection. Empty when neither says.
fn network(
    head: &Head<'_>,
    header: &Option<HeaderName>,
    config: &CaptureConfig,
    of_connection: impl FnOnce(&ConnectionInfo) -> Option<String>,
) -> String {
    let from_proxy = header
        .as_ref()
        .filter(|_| {
            head.peer
                .is_some_and(|peer| config.trusted_proxies.contains(peer))
        })
        .map(|name| first(head.headers, name.as_str()))
        .filter(|value| !value.is_empty());
    let value = from_proxy
        .or_else(|| head.connection.and_then(of_connection))
        .unwrap_or_default();
    truncate_chars(value, limits::NETWORK)
}

/// The first line of a header, as text (bytes that are not UTF-8 become U+FFFD).
fn first(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// Every line of a list header, joined with ", " as HTTP allows.
fn joined(headers: &HeaderMap, name: &str) -> String {
    let mut out = String::new();
    for (i, value) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&String::from_utf8_lossy(value.as_bytes()));
        if out.len() > 4 * limits::HEADER {
            break; // already longer than will be kept
        }
    }
    out
}

/// `scheme://host/path?query`, ASCII only (the host is percent-encoded where needed).
fn absolute_url(scheme: &str, uri: &Uri, headers: &HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .map(|value| value.as_bytes())
        .filter(|host| !host.is_empty())
        .or_else(|| {
            uri.authority()
                .map(|authority| authority.as_str().as_bytes())
        })
        .unwrap_or(b"localhost");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.starts_with('/') { path } else { "/" };
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
    url.push_str(scheme);
    url.push_str("://");
    for &byte in host.iter().take(limits::URL) {
        if byte.is_ascii_alphanumeric() || b".-:[]_".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str(path);
    url
}

/// The five UTM parameters: first occurrence wins, empty counts as absent.
fn utm(query: &str) -> Utm {
    let mut utm = Utm::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match &*name {
            "utm_source" => &mut utm.source,
            "utm_medium" => &mut utm.medium,
            "utm_campaign" => &mut utm.campaign,
            "utm_content" => &mut utm.content,
            "utm_term" => &mut utm.term,
            _ => continue,
        };
        // Control characters (a `%00` decoded to NUL, which PostgreSQL cannot store) go.
        let value: String = value.chars().filter(|c| !c.is_control()).collect();
        if slot.is_none() && !value.is_empty() {
            *slot = Some(truncate_chars(value, limits::UTM));
        }
    }
    utm
}

/// The address with its host part zeroed: the last octet of an IPv4 address, the last 80
/// bits of an IPv6 one (keeping its /48), as Google Analytics and Matomo do.
pub(crate) fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => anonymize(IpAddr::V4(v4)),
            None => {
                let mut segments = v6.segments();
                segments[3..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

/// A header value of any bytes a client sends: those a `HeaderValue` refuses (controls other
/// than tab, DEL) become `x`. For property tests of what reads headers.
#[cfg(test)]
pub(crate) fn header_value_of_any(bytes: &[u8]) -> http::HeaderValue {
    let bytes: Vec<u8> = bytes
        .iter()
        .map(|&b| {
            if (b < 0x20 && b != b'\t') || b == 0x7f {
                b'x'
            } else {
                b
            }
        })
        .collect();
    http::HeaderValue::from_bytes(&bytes).expect("every byte left is allowed")
}

#[cfg(test)]
mod tests;

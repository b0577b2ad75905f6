//! The client address behind trusted proxies.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// Proxy networks whose forwarding headers are believed. Empty by default: the client
/// address is then always the socket peer.
///
/// ```
/// use fingerprint::v1::TrustedProxies;
///
/// let proxies = TrustedProxies::new(["10.0.0.0/8", "::1"]).unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// assert!(TrustedProxies::new(["10.0.0.0/33"]).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// A trusted proxy network that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid trusted proxy network {value:?}: expected a CIDR such as 10.0.0.0/8 or an IP address"
)]
#[non_exhaustive]
pub struct InvalidProxy {
    value: String,
}

impl InvalidProxy {
    /// The value that could not be parsed.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl TrustedProxies {
    /// Trusts nobody.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses CIDRs (`10.0.0.0/8`, `fd00::/8`) and single addresses (`127.0.0.1`, `::1`).
    pub fn new<I, S>(networks: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = networks
            .into_iter()
            .map(|value| {
                let value = value.as_ref().trim();
                value
                    .parse::<IpNet>()
                    .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| InvalidProxy {
                        value: value.to_owned(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { networks })
    }

    /// Whether `ip` is in a trusted network (IPv4-mapped IPv6 addresses count as IPv4).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether no network is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

/// One entry of a forwarding chain: an address, or something we cannot use.
fn parse_node(value: &str) -> Option<IpAddr> {
    let value = value.trim().trim_matches('"').trim();
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    // "[2001:db8::1]" without a port.
    let inner = value.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// All lines of a header, in order. Bytes that are not text (obs-text a client put in front of
/// what its proxies appended) become U+FFFD: such an entry is unusable where the walk reaches
/// it, and does not hide the entries after it.
fn lines<'a>(headers: &'a HeaderMap, name: &str) -> Vec<Cow<'a, str>> {
    headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
        .collect()
}

/// The `for=` values of RFC 7239 `Forwarded`, left to right. Elements without `for=` yield
/// `""` (unusable).
fn forwarded_for(headers: &HeaderMap) -> Vec<String> {
    let mut chain = Vec::new();
    for line in lines(headers, "forwarded") {
        for element in split_outside_quotes(&line, ',') {
            let value = forwarded_param(&element, "for").unwrap_or_default();
            chain.push(value);
        }
    }
    chain
}

/// A parameter of one `Forwarded` element (`for=...;proto=...`), unquoted.
fn forwarded_param(element: &str, name: &str) -> Option<String> {
    split_outside_quotes(element, ';')
        .into_iter()
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().trim_matches('"').to_owned())
        })
}

/// `value` split at `separator` outside quoted strings (RFC 7230: `\` escapes the next
/// character inside one). A quoted string still open at the end makes the last part `""`
/// (unusable), so what a client opened cannot swallow what its proxies appended.
fn split_outside_quotes(value: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' if quoted => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c == separator && !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        current.clear();
    }
    parts.push(current);
    parts
}

/// Walks a chain from the right, skipping trusted hops: the first untrusted address is the
/// client; all trusted: the leftmost; anything unusable on the way: `None`.
fn walk<S: AsRef<str>>(chain: &[S], trusted: &TrustedProxies) -> Option<IpAddr> {
    let mut leftmost = None;
    for node in chain.iter().rev() {
        let ip = parse_node(node.as_ref())?;
        if !trusted.contains(ip) {
            return Some(ip);
        }
        leftmost = Some(ip);
    }
    leftmost
}

/// The header a deployment's proxies set to name the client, and the one that names the scheme
/// it used. Only this header is ever read, and only from a trusted peer: a proxy sets its own
/// header and passes the others through untouched, so any other one may come from the client.
///
/// - Chains (`X-Forwarded-For`, `Forwarded`) are walked from the right past trusted hops: the
///   first untrusted address is the client. All lines of the header count, in order (a proxy
///   that appends adds a line or a value at the end). An empty, malformed or obfuscated entry
///   (`for=unknown`, `for=_hidden`) met before an untrusted address stops the walk: the client
///   is then the peer, never a guess past garbage. When every hop is trusted, the leftmost.
/// - Single-address headers (`X-Real-IP`, `CF-Connecting-IP`, `True-Client-IP`, a custom
///   header): the last line, the one the nearest proxy wrote; a client's own earlier line is
///   ignored. A value that is not one address (a list, garbage) is ignored: the peer.
/// - Addresses may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`) or brackets.
/// - The scheme: `Forwarded`'s `proto=` of the rightmost element that has one for
///   [`ClientIpSource::Forwarded`], the rightmost `X-Forwarded-Proto` value for the others;
///   anything but `http` or `https` is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientIpSource {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers). The default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=...;proto=...`.
    Forwarded,
    /// `X-Real-IP` (nginx's `real_ip` setups).
    XRealIp,
    /// `CF-Connecting-IP` (Cloudflare).
    CfConnectingIp,
    /// `True-Client-IP` (Akamai, Cloudflare Enterprise).
    TrueClientIp,
    /// Another single-address header, by name.
    Header(http::HeaderName),
}

impl ClientIpSource {
    /// The single-address header of this source, if it is one.
    fn single_header(&self) -> Option<&str> {
        match self {
            Self::XForwardedFor | Self::Forwarded => None,
            Self::XRealIp => Some("x-real-ip"),
            Self::CfConnectingIp => Some("cf-connecting-ip"),
            Self::TrueClientIp => Some("true-client-ip"),
            Self::Header(name) => Some(name.as_str()),
        }
    }
}

/// The address in the last line of a single-address header; `None` when absent or unusable.
fn single(headers: &HeaderMap, name: &str) -> Option<IpAddr> {
    let last = headers.get_all(name).iter().next_back()?;
    parse_node(last.to_str().ok()?)
}

/// The client address of a request from `peer`: the peer itself, unless it is a trusted proxy
/// and the header of `source` names someone usable (see [`ClientIpSource`] for the rules).
/// What the layer records and [`CurrentVisit::client_ip`](crate::v1::CurrentVisit::client_ip)
/// shows; apps and their tests can ask the same question.
///
/// ```
/// use fingerprint::v1::{client_ip, ClientIpSource, TrustedProxies};
/// use http::HeaderMap;
///
/// let trusted = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
/// headers.insert("forwarded", "for=198.51.100.1".parse().unwrap()); // not our proxy's header
/// let peer = Some("10.0.0.1".parse().unwrap());
/// let ip = client_ip(&headers, peer, &trusted, &ClientIpSource::XForwardedFor);
/// assert_eq!(ip, Some("203.0.113.7".parse().unwrap()));
/// ```
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
    source: &ClientIpSource,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let from_headers = match source {
        ClientIpSource::Forwarded => walk(&forwarded_for(headers), trusted),
        ClientIpSource::XForwardedFor => {
            let lines = lines(headers, "x-forwarded-for");
            let chain: Vec<&str> = lines.iter().flat_map(|line| line.split(',')).collect();
            walk(&chain, trusted)
        }
        other => other.single_header().and_then(|name| single(headers, name)),
    };
    Some(from_headers.unwrap_or(peer))
}

/// The scheme a trusted proxy says the client used (see [`ClientIpSource`]): `None` when the
/// peer is not trusted or the header says nothing usable.
pub fn client_scheme(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
    source: &ClientIpSource,
) -> Option<&'static str> {
    if !peer.is_some_and(|peer| trusted.contains(peer.to_canonical())) {
        return None;
    }
    let value = if *source == ClientIpSource::Forwarded {
        lines(headers, "forwarded")
            .iter()
            .flat_map(|line| split_outside_quotes(line, ','))
            .filter_map(|element| forwarded_param(&element, "proto"))
            .next_back()?
    } else {
        lines(headers, "x-forwarded-proto")
            .iter()
            .flat_map(|line| line.split(','))
            .next_back()?
            .to_owned()
    };
    scheme(&value)
}

/// `http` or `https`, case-insensitively; anything else is ignored.
pub(crate) fn scheme(value: &str) -> Option<&'static str> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(value: &str) -> IpAddr {
        value.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap()
    }

    const PEER: &str = "10.0.0.1";

    fn client(source: &ClientIpSource, pairs: &[(&str, &str)]) -> IpAddr {
        client_ip(&headers(pairs), Some(ip(PEER)), &trusted(), source).unwrap()
    }

    #[test]
    fn parses_networks_and_addresses() {
        let proxies =
            TrustedProxies::new(["10.0.0.0/8", " 192.0.2.7 ", "::1", "2001:db8::/32"]).unwrap();
        assert!(proxies.contains(ip("10.255.0.1")));
        assert!(proxies.contains(ip("192.0.2.7")));
        assert!(!proxies.contains(ip("192.0.2.8")));
        assert!(proxies.contains(ip("::1")));
        assert!(proxies.contains(ip("2001:db8:1::5")));
        assert!(
            proxies.contains(ip("::ffff:10.1.1.1")),
            "mapped IPv4 counts as IPv4"
        );
        assert!(!proxies.is_empty());
        assert!(TrustedProxies::none().is_empty());
        for bad in ["", "10.0.0.0/33", "localhost", "10.0.0", "1.2.3.4/8/8"] {
            let error = TrustedProxies::new([bad]).unwrap_err();
            assert_eq!(error.value(), bad.trim());
            assert!(error.to_string().contains("CIDR"));
        }
    }

    /// Every header a client could add, each naming an address of its own.
    const SPOOFED: [(&str, &str); 6] = [
        ("x-forwarded-for", "203.0.113.1"),
        ("forwarded", "for=203.0.113.2"),
        ("x-real-ip", "203.0.113.3"),
        ("cf-connecting-ip", "203.0.113.4"),
        ("true-client-ip", "203.0.113.5"),
        ("x-client-ip", "203.0.113.6"),
    ];

    fn sources() -> Vec<ClientIpSource> {
        vec![
            ClientIpSource::XForwardedFor,
            ClientIpSource::Forwarded,
            ClientIpSource::XRealIp,
            ClientIpSource::CfConnectingIp,
            ClientIpSource::TrueClientIp,
            ClientIpSource::Header(http::HeaderName::from_static("x-client-ip")),
        ]
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_headers() {
        let peer = ip("198.51.100.10");
        for source in sources() {
            assert_eq!(
                client_ip(&headers(&SPOOFED), Some(peer), &trusted(), &source),
                Some(peer),
                "{source:?}"
            );
            assert_eq!(
                client_ip(
                    &headers(&SPOOFED),
                    Some(peer),
                    &TrustedProxies::none(),
                    &source
                ),
                Some(peer)
            );
        }
        assert_eq!(
            client_ip(
                &HeaderMap::new(),
                None,
                &trusted(),
                &ClientIpSource::default()
            ),
            None
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // Each source reads its own header; the client's headers of every other kind are
        // ignored, and without its own header the client is the (trusted) peer.
        for (n, source) in sources().into_iter().enumerate() {
            assert_eq!(
                client(&source, &SPOOFED),
                ip(SPOOFED[n].1.trim_start_matches("for=")),
                "{source:?}"
            );
            let others: Vec<(&str, &str)> = SPOOFED
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != n)
                .map(|(_, pair)| *pair)
                .collect();
            assert_eq!(
                client(&source, &others),
                ip(PEER),
                "{source:?} without its header"
            );
        }
    }

    #[test]
    fn chains_are_walked_from_the_right_past_trusted_hops() {
        let xff = ClientIpSource::XForwardedFor;
        for (chain, expected) in [
            ("203.0.113.7", "203.0.113.7"),
            ("198.51.100.1, 203.0.113.7", "203.0.113.7"),
            ("198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
            ("203.0.113.7,10.0.0.2,127.0.0.1", "203.0.113.7"),
            ("10.0.0.3, 10.0.0.2", "10.0.0.3"),
            ("203.0.113.7:4711", "203.0.113.7"),
            ("[2001:db8::7]:4711", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("2001:db8::7, fd00::1", "2001:db8::7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            // Garbage, empty or unknown entries before an untrusted address: the peer.
            ("garbage", PEER),
            ("203.0.113.7, garbage", PEER),
            ("203.0.113.7, , 10.0.0.2", PEER),
            ("unknown", PEER),
            ("", PEER),
            // Garbage to the left of the client does not matter.
            ("garbage, 203.0.113.7", "203.0.113.7"),
        ] {
            assert_eq!(
                client(&xff, &[("x-forwarded-for", chain)]),
                ip(expected),
                "{chain:?}"
            );
        }
        // Several lines are one chain, in order: the proxy's appended line is on the right.
        assert_eq!(
            client(
                &xff,
                &[
                    ("x-forwarded-for", "198.51.100.66"),
                    ("x-forwarded-for", "203.0.113.7, 10.0.0.2")
                ]
            ),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn rfc_7239_forwarded() {
        let fwd = ClientIpSource::Forwarded;
        for (value, expected) in [
            ("for=203.0.113.7", "203.0.113.7"),
            ("for=\"203.0.113.7\";proto=https", "203.0.113.7"),
            ("For=203.0.113.7;by=10.0.0.1", "203.0.113.7"),
            (
                "for=198.51.100.1, for=203.0.113.7, for=10.0.0.2",
                "203.0.113.7",
            ),
            ("for=\"[2001:db8::7]:4711\"", "2001:db8::7"),
            ("for=\"[2001:db8::7]\"", "2001:db8::7"),
            ("for=\"203.0.113.7:4711\"", "203.0.113.7"),
            // Obfuscated identifiers and elements without for=: unusable, so the peer.
            ("for=_hidden", PEER),
            ("for=unknown", PEER),
            ("for=203.0.113.7, for=_proxy2", PEER),
            ("proto=https", PEER),
            ("for=\"unterminated", PEER),
            ("for=10.0.0.3", "10.0.0.3"),
            // A client's escaped quote does not open a string that swallows what its proxy
            // appended (RFC 7230 quoted-pair), nor does a string left open.
            (r#"for=1.1.1.1;x="\"", for=203.0.113.7"#, "203.0.113.7"),
            (r#"for=1.1.1.1;x="a\\", for=203.0.113.7"#, "203.0.113.7"),
            (r#"for=1.1.1.1;x="open, for=203.0.113.7"#, PEER),
        ] {
            assert_eq!(
                client(&fwd, &[("forwarded", value)]),
                ip(expected),
                "{value:?}"
            );
        }
    }

    #[test]
    fn bytes_that_are_not_text_left_of_the_client_do_not_matter() {
        for (source, name, value) in [
            (
                ClientIpSource::XForwardedFor,
                "x-forwarded-for",
                &b"\xff, 203.0.113.7"[..],
            ),
            (
                ClientIpSource::Forwarded,
                "forwarded",
                b"for=\xff, for=203.0.113.7",
            ),
        ] {
            let mut map = HeaderMap::new();
            map.append(name, HeaderValue::from_bytes(value).unwrap());
            let found = client_ip(&map, Some(ip(PEER)), &trusted(), &source);
            assert_eq!(found, Some(ip("203.0.113.7")), "{source:?}");
            // On the client's side of the walk, they are unusable: the peer.
            let mut map = HeaderMap::new();
            map.append(name, HeaderValue::from_bytes(b"203.0.113.7, \xff").unwrap());
            if source == ClientIpSource::XForwardedFor {
                let found = client_ip(&map, Some(ip(PEER)), &trusted(), &source);
                assert_eq!(found, Some(ip(PEER)));
            }
        }
    }

    #[test]
    fn single_address_headers_take_the_last_line() {
        for source in [
            ClientIpSource::XRealIp,
            ClientIpSource::CfConnectingIp,
            ClientIpSource::TrueClientIp,
            ClientIpSource::Header(http::HeaderName::from_static("x-client-ip")),
        ] {
            let name = source.single_header().unwrap();
            for (lines, expected) in [
                (&["203.0.113.7"][..], "203.0.113.7"),
                (&[" 203.0.113.7 "][..], "203.0.113.7"),
                (&["2001:db8::7"][..], "2001:db8::7"),
                (&["[2001:db8::7]:443"][..], "2001:db8::7"),
                // The client's own line first, the proxy's appended after it.
                (&["198.51.100.66", "203.0.113.7"][..], "203.0.113.7"),
                (&["203.0.113.7", "garbage"][..], PEER),
                (&["203.0.113.7, 198.51.100.1"][..], PEER),
                (&[""][..], PEER),
            ] {
                let pairs: Vec<(&str, &str)> = lines.iter().map(|line| (name, *line)).collect();
                assert_eq!(
                    client(&source, &pairs),
                    ip(expected),
                    "{source:?} {lines:?}"
                );
            }
        }
    }

    #[test]
    fn mapped_peer_is_normalised() {
        let peer = ip("::ffff:10.0.0.1");
        let found = client_ip(
            &headers(&[("x-forwarded-for", "203.0.113.7")]),
            Some(peer),
            &trusted(),
            &ClientIpSource::XForwardedFor,
        );
        assert_eq!(found, Some(ip("203.0.113.7")));
        assert_eq!(
            client_ip(
                &HeaderMap::new(),
                Some(ip("::ffff:198.51.100.1")),
                &trusted(),
                &ClientIpSource::XForwardedFor
            ),
            Some(ip("198.51.100.1"))
        );
    }

    #[test]
    fn scheme_only_from_the_configured_source_and_trusted_peers() {
        let proxy = Some(ip(PEER));
        let stranger = Some(ip("198.51.100.10"));
        let both = headers(&[("x-forwarded-proto", "https"), ("forwarded", "proto=http")]);
        let xff = ClientIpSource::XForwardedFor;
        let fwd = ClientIpSource::Forwarded;
        assert_eq!(client_scheme(&both, proxy, &trusted(), &xff), Some("https"));
        assert_eq!(client_scheme(&both, proxy, &trusted(), &fwd), Some("http"));
        assert_eq!(client_scheme(&both, stranger, &trusted(), &xff), None);
        assert_eq!(client_scheme(&both, None, &trusted(), &xff), None);
        // The rightmost value or element wins (the nearest proxy's).
        let appended = headers(&[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-proto", "HTTPS"),
        ]);
        assert_eq!(
            client_scheme(&appended, proxy, &trusted(), &xff),
            Some("https")
        );
        let chain = headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=http, for=10.0.0.2;proto=https",
        )]);
        assert_eq!(
            client_scheme(&chain, proxy, &trusted(), &fwd),
            Some("https")
        );
        let garbage = headers(&[("x-forwarded-proto", "gopher")]);
        assert_eq!(client_scheme(&garbage, proxy, &trusted(), &xff), None);
        // A client's Forwarded header means nothing behind an X-Forwarded-Proto proxy, and
        // the other way round.
        let only_fwd = headers(&[("forwarded", "proto=https")]);
        assert_eq!(client_scheme(&only_fwd, proxy, &trusted(), &xff), None);
        let only_xfp = headers(&[("x-forwarded-proto", "https")]);
        assert_eq!(client_scheme(&only_xfp, proxy, &trusted(), &fwd), None);
    }
}

//! The client address behind trusted proxies.

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

/// All lines of a header, in order, or `None` when one is not valid text.
fn lines<'a>(headers: &'a HeaderMap, name: &str) -> Option<Vec<&'a str>> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().ok())
        .collect()
}

/// The `for=` values of RFC 7239 `Forwarded`, left to right; `None` when a header line is not
/// text. Elements without `for=` yield `""` (unusable).
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut chain = Vec::new();
    for line in lines(headers, "forwarded")? {
        for element in split_outside_quotes(line, ',') {
            let value = forwarded_param(&element, "for").unwrap_or_default();
            chain.push(value);
        }
    }
    Some(chain)
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

fn split_outside_quotes(value: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c == separator && !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
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

fn single(headers: &HeaderMap, name: &str) -> Option<Option<IpAddr>> {
    let value = headers.get(name)?;
    Some(value.to_str().ok().and_then(parse_node))
}

/// The client address: the peer, unless the peer is a trusted proxy and the forwarding
/// headers name someone usable (`Forwarded`, else `X-Forwarded-For`, else `X-Real-IP`, else
/// `CF-Connecting-IP`). Garbage falls back to the peer.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let from_headers = if headers.contains_key("forwarded") {
        forwarded_for(headers).and_then(|chain| walk(&chain, trusted))
    } else if headers.contains_key("x-forwarded-for") {
        lines(headers, "x-forwarded-for").and_then(|lines| {
            let chain: Vec<&str> = lines.iter().flat_map(|line| line.split(',')).collect();
            walk(&chain, trusted)
        })
    } else if let Some(ip) = single(headers, "x-real-ip") {
        ip
    } else {
        single(headers, "cf-connecting-ip").flatten()
    };
    Some(from_headers.unwrap_or(peer))
}

/// The scheme a trusted proxy says the client used: the rightmost `X-Forwarded-Proto` value,
/// or the `proto=` of the rightmost `Forwarded` element that has one.
pub(crate) fn forwarded_proto(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
) -> Option<&'static str> {
    if !peer.is_some_and(|peer| trusted.contains(peer)) {
        return None;
    }
    let value = if headers.contains_key("forwarded") {
        lines(headers, "forwarded")?
            .iter()
            .flat_map(|line| split_outside_quotes(line, ','))
            .filter_map(|element| forwarded_param(&element, "proto"))
            .next_back()?
    } else {
        lines(headers, "x-forwarded-proto")?
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

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]).unwrap()
    }

    const PEER: &str = "10.0.0.1";

    fn client(pairs: &[(&'static str, &str)]) -> Option<IpAddr> {
        client_ip(&headers(pairs), Some(ip(PEER)), &trusted())
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

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_headers() {
        let spoofed = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("forwarded", "for=203.0.113.2"),
            ("x-real-ip", "203.0.113.3"),
            ("cf-connecting-ip", "203.0.113.4"),
        ]);
        let peer = ip("198.51.100.10");
        assert_eq!(client_ip(&spoofed, Some(peer), &trusted()), Some(peer));
        assert_eq!(
            client_ip(&spoofed, Some(peer), &TrustedProxies::none()),
            Some(peer)
        );
        assert_eq!(client_ip(&spoofed, None, &trusted()), None);
    }

    #[test]
    fn trusted_peer_without_headers_is_the_client() {
        assert_eq!(client(&[]), Some(ip(PEER)));
    }

    #[test]
    fn rightmost_untrusted_address_of_x_forwarded_for() {
        assert_eq!(
            client(&[("x-forwarded-for", "203.0.113.9")]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client(&[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.7")]),
            Some(ip("203.0.113.9")),
            "a spoofed left part is ignored"
        );
        assert_eq!(
            client(&[("x-forwarded-for", "10.0.0.3,10.0.0.2")]),
            Some(ip("10.0.0.3")),
            "all trusted: the leftmost"
        );
        assert_eq!(
            client(&[
                ("x-forwarded-for", "198.51.100.1"),
                ("x-forwarded-for", "203.0.113.9, 10.9.9.9")
            ]),
            Some(ip("203.0.113.9")),
            "every header line, in order"
        );
        assert_eq!(
            client(&[("x-forwarded-for", " 203.0.113.9:4711 , [2001:db8::1]:80 ")]),
            Some(ip("2001:db8::1")),
            "ports and brackets"
        );
        assert_eq!(
            client(&[("x-forwarded-for", "[2001:db8::2]")]),
            Some(ip("2001:db8::2"))
        );
        assert_eq!(
            client(&[("x-forwarded-for", "::ffff:203.0.113.5")]),
            Some(ip("203.0.113.5")),
            "mapped IPv4 is normalised"
        );
    }

    #[test]
    fn garbage_falls_back_to_the_peer() {
        for garbage in [
            "",
            "unknown",
            "not-an-ip",
            "203.0.113.9, garbage",
            "1.2.3.4.5",
            ",",
            "300.1.1.1",
        ] {
            assert_eq!(
                client(&[("x-forwarded-for", garbage)]),
                Some(ip(PEER)),
                "{garbage:?}"
            );
        }
        // Garbage left of the client is never reached.
        assert_eq!(
            client(&[("x-forwarded-for", "garbage, 203.0.113.9")]),
            Some(ip("203.0.113.9"))
        );
        let mut map = HeaderMap::new();
        map.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.9\xff").unwrap(),
        );
        assert_eq!(client_ip(&map, Some(ip(PEER)), &trusted()), Some(ip(PEER)));
    }

    #[test]
    fn rfc_7239_forwarded() {
        assert_eq!(
            client(&[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")]),
            Some(ip("192.0.2.60"))
        );
        assert_eq!(
            client(&[(
                "forwarded",
                r#"For="[2001:db8:cafe::17]:4711", for=10.0.0.5"#
            )]),
            Some(ip("2001:db8:cafe::17")),
            "quoted IPv6 with port, case-insensitive name, trusted hop skipped"
        );
        assert_eq!(
            client(&[
                ("forwarded", "for=198.51.100.1"),
                ("forwarded", "for=203.0.113.4")
            ]),
            Some(ip("203.0.113.4"))
        );
        assert_eq!(client(&[("forwarded", "for=unknown")]), Some(ip(PEER)));
        assert_eq!(client(&[("forwarded", "for=_hidden")]), Some(ip(PEER)));
        assert_eq!(
            client(&[("forwarded", "proto=https")]),
            Some(ip(PEER)),
            "no for="
        );
        assert_eq!(
            client(&[
                ("forwarded", "for=203.0.113.4"),
                ("x-forwarded-for", "198.51.100.1")
            ]),
            Some(ip("203.0.113.4")),
            "Forwarded takes precedence"
        );
    }

    #[test]
    fn single_address_headers() {
        assert_eq!(
            client(&[("x-real-ip", "203.0.113.20")]),
            Some(ip("203.0.113.20"))
        );
        assert_eq!(
            client(&[("cf-connecting-ip", "2001:db8::20")]),
            Some(ip("2001:db8::20"))
        );
        assert_eq!(
            client(&[
                ("x-real-ip", "203.0.113.20"),
                ("cf-connecting-ip", "203.0.113.21")
            ]),
            Some(ip("203.0.113.20"))
        );
        assert_eq!(
            client(&[
                ("x-forwarded-for", "203.0.113.22"),
                ("x-real-ip", "203.0.113.20")
            ]),
            Some(ip("203.0.113.22")),
            "a chain takes precedence"
        );
        assert_eq!(client(&[("x-real-ip", "garbage")]), Some(ip(PEER)));
    }

    #[test]
    fn mapped_peer_is_normalised() {
        let map = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_ip(&map, Some(ip("::ffff:10.0.0.1")), &trusted()),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(&HeaderMap::new(), Some(ip("::ffff:192.0.2.1")), &trusted()),
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn forwarded_proto_only_from_trusted_peers() {
        let map = headers(&[("x-forwarded-proto", "https")]);
        assert_eq!(
            forwarded_proto(&map, Some(ip(PEER)), &trusted()),
            Some("https")
        );
        assert_eq!(
            forwarded_proto(&map, Some(ip("192.0.2.1")), &trusted()),
            None
        );
        assert_eq!(forwarded_proto(&map, None, &trusted()), None);
        let chain = headers(&[("x-forwarded-proto", "http, HTTPS")]);
        assert_eq!(
            forwarded_proto(&chain, Some(ip(PEER)), &trusted()),
            Some("https")
        );
        let odd = headers(&[("x-forwarded-proto", "gopher")]);
        assert_eq!(forwarded_proto(&odd, Some(ip(PEER)), &trusted()), None);
        let rfc = headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=http, for=10.0.0.2;proto=https",
        )]);
        assert_eq!(
            forwarded_proto(&rfc, Some(ip(PEER)), &trusted()),
            Some("https")
        );
    }
}

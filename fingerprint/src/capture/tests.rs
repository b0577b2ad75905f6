use http::HeaderValue;
use proptest::prelude::*;

use super::*;

fn run(uri: &str, pairs: &[(&str, &[u8])]) -> Captured {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    capture(
        &Method::GET,
        &uri.parse().unwrap(),
        &headers,
        Some("127.0.0.1".parse().unwrap()),
        &CaptureConfig::default(),
        Utc::now(),
    )
}

#[test]
fn every_header_as_sent() {
    let c = run(
        "/a/b?x=1&y=%20",
        &[
            ("host", b"example.com:8080"),
            ("user-agent", b"curl/8.5.0"),
            ("accept", b"*/*"),
            ("accept-language", b"en-GB,en;q=0.9"),
            ("accept-encoding", b"gzip, br"),
            ("content-encoding", b"deflate"),
            ("content-language", b"fr"),
            ("referer", b"https://ref.example/x"),
            ("cf-ipcountry", b"NL"),
        ],
    );
    let f = &c.fingerprint;
    assert_eq!(f.ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(f.method, "GET");
    assert_eq!(f.user_agent, "curl/8.5.0");
    assert_eq!(f.accept, "*/*");
    assert_eq!(f.accept_language, "en-GB,en;q=0.9");
    assert_eq!(f.accept_encoding, "gzip, br");
    assert_eq!(f.content_encoding, "deflate");
    assert_eq!(f.content_language, "fr");
    assert_eq!(f.referer, "https://ref.example/x");
    assert_eq!(f.country, "NL");
    assert_eq!(f.url, "http://example.com:8080/a/b?x=1&y=%20");
}

#[test]
fn missing_headers_are_empty() {
    let f = run("/", &[]).fingerprint;
    for value in [
        &f.user_agent,
        &f.accept,
        &f.accept_language,
        &f.accept_encoding,
        &f.content_encoding,
        &f.content_language,
        &f.referer,
        &f.country,
    ] {
        assert_eq!(value, "");
    }
    assert_eq!(f.url, "http://localhost/");
}

#[test]
fn limits_are_exact_in_characters() {
    for (name, limit) in [
        ("user-agent", 255),
        ("accept", 255),
        ("accept-language", 255),
        ("accept-encoding", 255),
        ("content-encoding", 255),
        ("content-language", 255),
        ("referer", 2047),
        ("cf-ipcountry", 16),
    ] {
        let field = |c: &Captured| match name {
            "user-agent" => c.fingerprint.user_agent.clone(),
            "accept" => c.fingerprint.accept.clone(),
            "accept-language" => c.fingerprint.accept_language.clone(),
            "accept-encoding" => c.fingerprint.accept_encoding.clone(),
            "content-encoding" => c.fingerprint.content_encoding.clone(),
            "content-language" => c.fingerprint.content_language.clone(),
            "referer" => c.fingerprint.referer.clone(),
            _ => c.fingerprint.country.clone(),
        };
        let exact = "a".repeat(limit);
        assert_eq!(
            field(&run("/", &[(name, exact.as_bytes())])),
            exact,
            "{name}"
        );
        let over = "a".repeat(limit + 1);
        assert_eq!(
            field(&run("/", &[(name, over.as_bytes())])),
            exact,
            "{name}"
        );
        // Multi-byte characters count as one.
        let wide = "é".repeat(limit + 5);
        let kept = field(&run("/", &[(name, wide.as_bytes())]));
        assert_eq!(kept.chars().count(), limit, "{name}");
        assert!(kept.chars().all(|c| c == 'é'));
    }
    let long_path = format!("/{}", "p".repeat(3000));
    let url = run(&long_path, &[("host", b"h")]).fingerprint.url;
    assert_eq!(url.len(), 2048);
    assert!(url.starts_with("http://h/ppp"));
}

#[test]
fn bytes_that_are_not_utf8_are_replaced() {
    let f = run(
        "/",
        &[("user-agent", b"Agent \xff\xfe/1"), ("referer", b"\x80")],
    )
    .fingerprint;
    assert_eq!(f.user_agent, "Agent \u{fffd}\u{fffd}/1");
    assert_eq!(f.referer, "\u{fffd}");
}

#[test]
fn repeated_list_headers_are_joined_and_single_ones_take_the_first() {
    let f = run(
        "/",
        &[
            ("accept", b"text/html"),
            ("accept", b"application/json"),
            ("user-agent", b"first"),
            ("user-agent", b"second"),
        ],
    )
    .fingerprint;
    assert_eq!(f.accept, "text/html, application/json");
    assert_eq!(f.user_agent, "first");
}

#[test]
fn absolute_urls() {
    assert_eq!(
        run("/x?q=1", &[("host", b"a.example")]).fingerprint.url,
        "http://a.example/x?q=1"
    );
    // HTTP/2 or absolute-form request line: scheme and authority from the URI.
    let h2 = run("https://b.example/y?z", &[]);
    assert_eq!(h2.fingerprint.url, "https://b.example/y?z");
    let location = locate(
        &"https://b.example/".parse().unwrap(),
        &HeaderMap::new(),
        None,
        &CaptureConfig::default(),
    );
    assert!(location.secure);
    // Host header wins over the authority.
    assert_eq!(
        run("http://b.example/y", &[("host", b"c.example")])
            .fingerprint
            .url,
        "http://c.example/y"
    );
    // A hostile or non-ASCII host is percent-encoded: the URL stays ASCII and one line.
    let odd = run("/p", &[("host", "bü/x?#@\\ \"y".as_bytes())])
        .fingerprint
        .url;
    assert_eq!(odd, "http://b%C3%BC%2Fx%3F%23%40%5C%20%22y/p");
    assert!(odd.is_ascii());
    assert_eq!(
        run("/p", &[("host", b"[::1]:3000")]).fingerprint.url,
        "http://[::1]:3000/p"
    );
    let config = CaptureConfig {
        default_scheme: "https",
        ..CaptureConfig::default()
    };
    let c = capture(
        &Method::GET,
        &"/".parse().unwrap(),
        &HeaderMap::new(),
        None,
        &config,
        Utc::now(),
    );
    assert_eq!(c.fingerprint.url, "https://localhost/");
    assert_eq!(c.fingerprint.ip, None);
}

#[test]
fn scheme_from_a_trusted_proxy_only() {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    headers.insert("host", HeaderValue::from_static("site.example"));
    let trusted = CaptureConfig {
        trusted_proxies: TrustedProxies::new(["127.0.0.0/8"]).unwrap(),
        ..CaptureConfig::default()
    };
    let peer = Some("127.0.0.1".parse().unwrap());
    let uri: Uri = "/".parse().unwrap();
    let via_proxy = capture(&Method::GET, &uri, &headers, peer, &trusted, Utc::now());
    assert_eq!(via_proxy.fingerprint.url, "https://site.example/");
    let direct = capture(
        &Method::GET,
        &uri,
        &headers,
        peer,
        &CaptureConfig::default(),
        Utc::now(),
    );
    assert_eq!(direct.fingerprint.url, "http://site.example/");
}

#[test]
fn configured_country_header() {
    let config = CaptureConfig {
        country_header: HeaderName::from_static("x-country"),
        ..CaptureConfig::default()
    };
    let mut headers = HeaderMap::new();
    headers.insert("x-country", HeaderValue::from_static("JP"));
    headers.insert("cf-ipcountry", HeaderValue::from_static("US"));
    let c = capture(
        &Method::POST,
        &"/".parse().unwrap(),
        &headers,
        None,
        &config,
        Utc::now(),
    );
    assert_eq!(c.fingerprint.country, "JP");
    assert_eq!(c.fingerprint.method, "POST");
}

#[test]
fn urls_are_kept_to_2048_bytes_on_a_character_boundary() {
    let path = format!("/{}", "日".repeat(1_000));
    let url = run(&path, &[]).fingerprint.url;
    assert!(url.len() <= 2048 && url.len() > 2040, "{}", url.len());
    assert!(url.starts_with("http://localhost/日日"));
}

#[test]
fn utm_parameters() {
    let u = utm(
        "utm_source=news+letter&utm_medium=e%2Fmail&utm_campaign=&utm_content=a&utm_content=b&x=1",
    );
    assert_eq!(u.source.as_deref(), Some("news letter"));
    assert_eq!(u.medium.as_deref(), Some("e/mail"));
    assert_eq!(u.campaign, None, "empty counts as absent");
    assert_eq!(u.content.as_deref(), Some("a"), "first occurrence wins");
    assert_eq!(u.term, None);
    assert_eq!(utm(""), Utm::default());
    assert_eq!(
        utm("utm_term=%ff%fe").term.as_deref(),
        Some("\u{fffd}\u{fffd}")
    );
    let long = format!("utm_term={}", "t".repeat(300));
    assert_eq!(utm(&long).term.map(|t| t.len()), Some(255));
    assert_eq!(run("/?utm_source=x", &[]).utm.source.as_deref(), Some("x"));
}

#[test]
fn anonymized_addresses() {
    use super::anonymize;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(anonymize(ip("203.0.113.77")), ip("203.0.113.0"));
    assert_eq!(anonymize(ip("10.0.0.0")), ip("10.0.0.0"));
    assert_eq!(
        anonymize(ip("2001:db8:1234:5678:9abc:def0:1:2")),
        ip("2001:db8:1234::")
    );
    assert_eq!(anonymize(ip("::ffff:198.51.100.9")), ip("198.51.100.0"));
    assert_eq!(anonymize(ip("::1")), ip("::"));
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    // Any bytes a HeaderValue accepts: visible ASCII, space, tab and obs-text.
    proptest::collection::vec(
        prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff],
        0..5000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_headers_stay_within_limits(
        values in proptest::collection::vec(header_value(), 1..12),
        names in proptest::collection::vec(0usize..15, 1..12),
        path in "(/[a-zA-Z0-9%._~-]{0,300}){0,12}(\\?[a-zA-Z0-9=&%+]{0,500})?",
        source in 0usize..5,
    ) {
        const NAMES: [&str; 15] = [
            "user-agent", "accept", "accept-language", "accept-encoding", "content-encoding",
            "content-language", "referer", "cf-ipcountry", "host", "x-forwarded-for", "forwarded",
            "x-real-ip", "cf-connecting-ip", "true-client-ip", "x-forwarded-proto",
        ];
        let source = [
            ClientIpSource::XForwardedFor,
            ClientIpSource::Forwarded,
            ClientIpSource::XRealIp,
            ClientIpSource::CfConnectingIp,
            ClientIpSource::TrueClientIp,
        ][source].clone();
        let mut headers = HeaderMap::new();
        for (value, name) in values.iter().zip(names.iter()) {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(NAMES[*name], value);
            }
        }
        let uri: Uri = format!("/{}", path.trim_start_matches('/')).parse().unwrap();
        let config = CaptureConfig {
            trusted_proxies: TrustedProxies::new(["127.0.0.0/8"]).unwrap(),
            client_ip_source: source,
            ..CaptureConfig::default()
        };
        let c = capture(&Method::GET, &uri, &headers, Some("127.0.0.1".parse().unwrap()), &config, Utc::now());
        let f = &c.fingerprint;
        for value in [&f.user_agent, &f.accept, &f.accept_language, &f.accept_encoding, &f.content_encoding, &f.content_language] {
            prop_assert!(value.chars().count() <= 255);
        }
        prop_assert!(f.referer.chars().count() <= 2047);
        prop_assert!(f.country.chars().count() <= 16);
        prop_assert!(f.url.chars().count() <= 2048);
        prop_assert!(f.url.is_ascii());
        prop_assert!(f.ip.is_some());
    }

    #[test]
    fn client_ip_is_the_peer_or_named_in_the_header(chain in "[0-9a-f:., \\[\\]]{0,200}") {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&chain) {
            headers.insert("x-forwarded-for", value);
        }
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
        let ip = client_ip::client_ip(&headers, Some(peer), &trusted, &client_ip::ClientIpSource::XForwardedFor).unwrap();
        let named = chain.split(',').any(|entry| {
            let entry = entry.trim();
            entry.parse::<IpAddr>().map(|e| e.to_canonical()) == Ok(ip)
                || entry.parse::<std::net::SocketAddr>().map(|e| e.ip().to_canonical()) == Ok(ip)
                || entry.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().map(|e| e.to_canonical()) == Ok(ip)
        });
        prop_assert!(ip == peer || named, "{} from {:?}", ip, chain);
    }
}

/// `value` cut to `max` characters (what the column limits keep).
fn cut(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any method, UTM parameters with any values, up to 64 header lines (repeated names
    /// included), origin- or absolute-form request targets: no panic, every limit respected,
    /// and what is kept is exactly the start of what was sent.
    #[test]
    fn any_method_query_and_header_lines(
        method in "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}",
        utm in proptest::collection::vec(
            ("utm_(source|medium|campaign|content|term)|other", ".{0,300}"),
            0..10,
        ),
        lines in proptest::collection::vec(
            (0usize..8, proptest::collection::vec(any::<u8>(), 0..600)),
            0..64,
        ),
        authority in proptest::option::of("[a-z0-9.-]{1,40}(:[0-9]{1,4})?"),
    ) {
        const NAMES: [&str; 8] = [
            "user-agent", "accept", "accept-language", "accept-encoding", "content-encoding",
            "content-language", "referer", "cf-ipcountry",
        ];
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&utm)
            .finish();
        let target = match &authority {
            Some(authority) => format!("http://{authority}/p?{query}"),
            None => format!("/p?{query}"),
        };
        let uri: Uri = target.parse().unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in &lines {
            headers.append(NAMES[*name], super::header_value_of_any(value));
        }
        let c = capture(&method, &uri, &headers, None, &CaptureConfig::default(), Utc::now());
        let f = &c.fingerprint;

        prop_assert_eq!(&f.method, &cut(method.as_str(), 16));
        let sent = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect()
        };
        let first = |name: &str| sent(name).into_iter().next().unwrap_or_default();
        prop_assert_eq!(&f.user_agent, &cut(&first("user-agent"), 255));
        prop_assert_eq!(&f.referer, &cut(&first("referer"), 2047));
        prop_assert_eq!(&f.country, &cut(&first("cf-ipcountry"), 16));
        for (kept, name) in [
            (&f.accept, "accept"),
            (&f.accept_language, "accept-language"),
            (&f.accept_encoding, "accept-encoding"),
            (&f.content_encoding, "content-encoding"),
            (&f.content_language, "content-language"),
        ] {
            prop_assert_eq!(kept, &cut(&sent(name).join(", "), 255), "{}", name);
        }
        prop_assert!(f.url.is_ascii() && f.url.len() <= 2048);
        if let Some(authority) = &authority {
            let expected = format!("http://{authority}/p");
            prop_assert!(f.url.starts_with(&expected), "{}", f.url);
        }
        for (kept, name) in [
            (&c.utm.source, "utm_source"),
            (&c.utm.medium, "utm_medium"),
            (&c.utm.campaign, "utm_campaign"),
            (&c.utm.content, "utm_content"),
            (&c.utm.term, "utm_term"),
        ] {
            // Control characters dropped; what is left empty counts as absent.
            let expected = utm
                .iter()
                .map(|(n, v)| (n, v.chars().filter(|c| !c.is_control()).collect::<String>()))
                .find(|(n, v)| *n == name && !v.is_empty())
                .map(|(_, v)| cut(&v, 255));
            prop_assert_eq!(kept, &expected, "{}", name);
        }
    }
}

//! HTTP header fingerprint: which headers a client sends, in which order, from the request
//! as hyper hands it to the app.
//!
//! Browsers and HTTP libraries each send their own set of headers in their own order, so the
//! ordered list of header names tells client implementations apart, whatever their
//! User-Agent claims. This is our own format (not JA4H, whose license we cannot take): a
//! short line of space-separated fields, readable in a dashboard, and the list of names
//! itself for display.
//!
//! # Text form
//!
//! `METHOD VERSION cCrR nN LANG NAMES COOKIES`, for example
//! `GET h2 c1r0 n13 en 0c2c1d640f3e afb804d43c66` for a Chrome-like navigation over HTTP/2
//! (the 13 names `sec-ch-ua,sec-ch-ua-mobile,sec-ch-ua-platform,upgrade-insecure-requests,`
//! `user-agent,accept,sec-fetch-site,sec-fetch-mode,sec-fetch-user,sec-fetch-dest,`
//! `accept-encoding,accept-language,priority`, `accept-language: en-US,en;q=0.9` and the
//! cookies `session` and `_ga`):
//!
//! | field | what it holds |
//! | --- | --- |
//! | `METHOD` | the method as sent (`GET`, `POST`, ...), cut to 24 bytes |
//! | `VERSION` | `h0.9`, `h1.0`, `h1.1`, `h2` or `h3` (`h?` for any other) |
//! | `cCrR` | `c1` when a `cookie` header is present (else `c0`), `r1` when a `referer` is |
//! | `nN` | how many distinct header names are listed (cookie and referer left out) |
//! | `LANG` | the primary language of `accept-language`, see below; `-` when there is none |
//! | `NAMES` | the first 12 hex digits of the SHA-256 of the listed names joined by `,` |
//! | `COOKIES` | the same of the cookie names, sorted, duplicates removed, joined by `;`; `-` without any |
//!
//! * **Names**: [`HeaderFingerprint::names`] is every header name in the order of
//!   [`HeaderMap::keys`] (lowercase, as `http` stores them) except `cookie` and `referer`,
//!   whose presence the `cCrR` field flags instead: they vary with the visit, not with the
//!   client. A name sent several times is listed once, at its first position.
//! * **Language**: the first non-empty entry of the first `accept-language` header, without
//!   its parameters (`;q=...`), cut at the first `-` or `_`, lowercased: `en-US,en;q=0.9`
//!   gives `en`, `zh-Hant-TW` gives `zh`. It is `-` when the header is missing or that
//!   subtag is not 1 to 8 ASCII letters (`*`, non-UTF-8 bytes, an empty header). The first
//!   entry is taken whatever its `q`: browsers list their preferred language first.
//! * **Cookie names**: every `cookie` header's value (HTTP/2 clients may split one cookie
//!   header into several, one per pair) split on `;`, each part's name up to its first `=`
//!   with surrounding whitespace trimmed, empty names skipped. Names are sorted and
//!   deduplicated so that the hash stands for the set of cookies, not the order the browser
//!   chose; cookie values never enter the fingerprint. Names are hashed as raw bytes, so
//!   non-UTF-8 names are fine.
//!
//! The hashes are short ids for grouping; the full name list is kept next to them for
//! display.
//!
//! # What hyper hands over (verified)
//!
//! These facts were checked with a hyper 1 server and clients over loopback, for HTTP/1.1 and
//! for HTTP/2 with prior knowledge (h2c), looking at what the handler sees:
//!
//! * [`HeaderMap::keys`] and [`HeaderMap::iter`] follow the order in which each name first
//!   arrived. A name sent again later is not a new position: its values are grouped under its
//!   first occurrence (`a`, `b`, `a` on the wire iterates as `a`, `a`, `b`), so the
//!   interleaving of repeated headers is lost, and the fingerprint lists each name once.
//! * On HTTP/1 names arrive lowercased (`User-Agent` becomes `user-agent`); the client's
//!   spelling is not available (unless the server enables hyper's header case preservation,
//!   which keeps it in an extension, not in the map).
//! * On HTTP/2 the pseudo-headers (`:method`, `:authority`, `:scheme`, `:path`) are not in the
//!   map (they become the method and URI), and hyper adds no `host` header: an HTTP/2
//!   request usually has no `host` in its list where the same client's HTTP/1.1 request
//!   does. Their order is in the HTTP/2 fingerprint ([`super::h2`]) instead.
//! * On HTTP/2 a `cookie` sent as several header fields ("crumbs", RFC 9113, section 8.2.3)
//!   reaches the handler as several values of `cookie`, not joined into one.

use std::fmt::Write as _;

use http::header::{ACCEPT_LANGUAGE, COOKIE, REFERER};
use http::{HeaderMap, HeaderValue, Method, Version};

/// The most bytes of the method kept in the text.
const MAX_METHOD: usize = 24;

/// The most bytes of a primary language subtag (BCP 47 allows up to 8 letters).
const MAX_LANGUAGE: usize = 8;

/// A request's header fingerprint (see the module docs for the format).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct HeaderFingerprint {
    /// The one-line form, e.g. `GET h2 c1r0 n13 en 0c2c1d640f3e afb804d43c66`.
    pub text: String,
    /// The header names in the order received, each once, without `cookie` and `referer`.
    pub names: Vec<String>,
}

/// The header fingerprint of a request, from its method, version and headers as hyper hands
/// them to the app.
pub fn header_fingerprint(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> HeaderFingerprint {
    let names: Vec<String> = headers
        .keys()
        .filter(|name| *name != COOKIE && *name != REFERER)
        .map(|name| name.as_str().to_owned())
        .collect();
    let mut text = String::new();
    let _ = write!(
        text,
        "{} {} c{}r{} n{} {} {} {}",
        method_field(method),
        version_field(version),
        u8::from(headers.contains_key(COOKIE)),
        u8::from(headers.contains_key(REFERER)),
        names.len(),
        primary_language(headers.get(ACCEPT_LANGUAGE)),
        short_hash(names.join(",").as_bytes()),
        cookie_names_hash(headers),
    );
    HeaderFingerprint { text, names }
}

/// The method, cut to [`MAX_METHOD`] bytes (methods are ASCII tokens).
fn method_field(method: &Method) -> &str {
    let method = method.as_str();
    method.get(..MAX_METHOD).unwrap_or(method)
}

/// `h0.9`, `h1.0`, `h1.1`, `h2`, `h3`, or `h?`.
fn version_field(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "h0.9",
        Version::HTTP_10 => "h1.0",
        Version::HTTP_11 => "h1.1",
        Version::HTTP_2 => "h2",
        Version::HTTP_3 => "h3",
        _ => "h?",
    }
}

/// The lowercase primary subtag of the first entry of `accept-language`, or `-`.
fn primary_language(value: Option<&HeaderValue>) -> String {
    let Some(value) = value else {
        return "-".to_owned();
    };
    let first = value
        .as_bytes()
        .split(|&byte| byte == b',')
        .map(|entry| {
            entry
                .split(|&byte| byte == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii()
        })
        .find(|entry| !entry.is_empty())
        .unwrap_or_default();
    let primary = first
        .split(|&byte| byte == b'-' || byte == b'_')
        .next()
        .unwrap_or_default();
    let valid =
        (1..=MAX_LANGUAGE).contains(&primary.len()) && primary.iter().all(u8::is_ascii_alphabetic);
    if !valid {
        return "-".to_owned();
    }
    primary
        .iter()
        .map(|byte| char::from(byte.to_ascii_lowercase()))
        .collect()
}

/// The short hash of the sorted, deduplicated cookie names of every `cookie` header, or `-`
/// when there are none.
fn cookie_names_hash(headers: &HeaderMap) -> String {
    let mut names: Vec<&[u8]> = headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&byte| byte == b';'))
        .map(|pair| {
            pair.split(|&byte| byte == b'=')
                .next()
                .unwrap_or_default()
                .trim_ascii()
        })
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return "-".to_owned();
    }
    names.sort_unstable();
    names.dedup();
    short_hash(&names.join(&b';'))
}

/// The first 12 hex digits (48 bits) of the SHA-256 of `bytes`, lowercase.
fn short_hash(bytes: &[u8]) -> String {
    crate::hex::sha256_prefix(bytes, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    fn fingerprint(pairs: &[(&'static str, &[u8])]) -> HeaderFingerprint {
        header_fingerprint(&Method::GET, Version::HTTP_2, &map(pairs))
    }

    /// The whitespace-separated fields of the text.
    fn fields(fingerprint: &HeaderFingerprint) -> Vec<String> {
        fingerprint.text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn text_format() {
        let fp = header_fingerprint(
            &Method::GET,
            Version::HTTP_11,
            &map(&[
                ("host", b"example.com"),
                ("user-agent", b"test"),
                ("accept", b"*/*"),
                ("accept-language", b"en-US,en;q=0.9"),
                ("cookie", b"b=2; a=1"),
                ("referer", b"https://example.com/"),
            ]),
        );
        assert_eq!(
            fp.names,
            ["host", "user-agent", "accept", "accept-language"]
        );
        // printf '%s' 'host,user-agent,accept,accept-language' | sha256sum | cut -c1-12
        // printf '%s' 'a;b' | sha256sum | cut -c1-12
        assert_eq!(fp.text, "GET h1.1 c1r1 n4 en 171d872ea17d 5719af188235");
    }

    #[test]
    fn documented_example() {
        let names = [
            "sec-ch-ua",
            "sec-ch-ua-mobile",
            "sec-ch-ua-platform",
            "upgrade-insecure-requests",
            "user-agent",
            "accept",
            "sec-fetch-site",
            "sec-fetch-mode",
            "sec-fetch-user",
            "sec-fetch-dest",
            "accept-encoding",
            "accept-language",
            "cookie",
            "priority",
        ];
        let mut headers = HeaderMap::new();
        for name in names {
            let value = match name {
                "accept-language" => "en-US,en;q=0.9",
                "cookie" => "session=1; _ga=2",
                _ => "x",
            };
            headers.append(name, HeaderValue::from_static(value));
        }
        let fp = header_fingerprint(&Method::GET, Version::HTTP_2, &headers);
        assert_eq!(fp.text, "GET h2 c1r0 n13 en 0c2c1d640f3e afb804d43c66");
    }

    #[test]
    fn order_matters() {
        let a = fingerprint(&[("accept", b"*/*"), ("user-agent", b"x")]);
        let b = fingerprint(&[("user-agent", b"x"), ("accept", b"*/*")]);
        assert_ne!(a.text, b.text);
        assert_eq!(a.names, ["accept", "user-agent"]);
        assert_eq!(b.names, ["user-agent", "accept"]);
        // Values do not matter.
        let c = fingerprint(&[("accept", b"text/html"), ("user-agent", b"y")]);
        assert_eq!(a.text, c.text);
    }

    #[test]
    fn cookie_and_referer_are_flagged_not_listed() {
        let plain = fingerprint(&[("accept", b"*/*")]);
        assert_eq!(fields(&plain)[2], "c0r0");
        assert_eq!(fields(&plain)[6], "-");
        let cookie = fingerprint(&[("cookie", b"a=1"), ("accept", b"*/*")]);
        let referer = fingerprint(&[("accept", b"*/*"), ("referer", b"https://x/")]);
        let both = fingerprint(&[
            ("referer", b"https://x/"),
            ("accept", b"*/*"),
            ("cookie", b"a=1"),
        ]);
        assert_eq!(fields(&cookie)[2], "c1r0");
        assert_eq!(fields(&referer)[2], "c0r1");
        assert_eq!(fields(&both)[2], "c1r1");
        for fp in [&cookie, &referer, &both] {
            assert_eq!(fp.names, ["accept"]);
            assert_eq!(fields(fp)[3], "n1");
            // Same list, same names hash.
            assert_eq!(fields(fp)[5], fields(&plain)[5]);
        }
    }

    #[test]
    fn cookie_names_not_values() {
        let a = fingerprint(&[("cookie", b"session=abc; theme=dark")]);
        let b = fingerprint(&[("cookie", b"theme=light; session=xyz")]);
        // HTTP/2 crumbs: one value per pair, and a duplicate name.
        let c = fingerprint(&[
            ("cookie", b"theme=1"),
            ("cookie", b" session=2 "),
            ("cookie", b"theme=3"),
        ]);
        assert_eq!(fields(&a)[6], fields(&b)[6]);
        assert_eq!(fields(&a)[6], fields(&c)[6]);
        // printf '%s' 'session;theme' | sha256sum | cut -c1-12
        assert_eq!(fields(&a)[6], short_hash(b"session;theme"));
        let other = fingerprint(&[("cookie", b"session=abc")]);
        assert_ne!(fields(&a)[6], fields(&other)[6]);
        assert!(!a.text.contains("abc") && !a.text.contains("dark"));
        // A cookie header without any name: flagged, no names hash.
        let empty = fingerprint(&[("cookie", b" ; =1;")]);
        assert_eq!(fields(&empty)[2], "c1r0");
        assert_eq!(fields(&empty)[6], "-");
        // A name without `=`.
        let bare = fingerprint(&[("cookie", b"flag; a=1")]);
        assert_eq!(fields(&bare)[6], short_hash(b"a;flag"));
    }

    #[test]
    fn repeated_headers_are_listed_once() {
        let fp = fingerprint(&[
            ("accept", b"1"),
            ("x-a", b"1"),
            ("accept", b"2"),
            ("x-b", b"1"),
        ]);
        assert_eq!(fp.names, ["accept", "x-a", "x-b"]);
        assert_eq!(fields(&fp)[3], "n3");
    }

    #[test]
    fn empty_map() {
        let fp = header_fingerprint(&Method::POST, Version::HTTP_10, &HeaderMap::new());
        assert!(fp.names.is_empty());
        // printf '' | sha256sum | cut -c1-12
        assert_eq!(fp.text, "POST h1.0 c0r0 n0 - e3b0c44298fc -");
    }

    #[test]
    fn non_utf8_values() {
        let fp = fingerprint(&[
            ("accept-language", b"\xffen-US"),
            ("cookie", b"n\xe9=1; ok=\xff"),
            ("x-bin", b"\x80\x81"),
        ]);
        assert_eq!(fp.names, ["accept-language", "x-bin"]);
        assert_eq!(fields(&fp)[4], "-");
        assert_eq!(fields(&fp)[6], short_hash(b"n\xe9;ok"));
        // Non-UTF-8 bytes after the primary subtag do not matter.
        let fp = fingerprint(&[("accept-language", b"de-\xff")]);
        assert_eq!(fields(&fp)[4], "de");
    }

    #[test]
    fn languages() {
        let cases: &[(&[u8], &str)] = &[
            (b"en-US,en;q=0.9", "en"),
            (b"EN", "en"),
            (b"fr-CH, fr;q=0.9, en;q=0.8", "fr"),
            (b"zh-Hant-TW", "zh"),
            (b"pt_BR", "pt"),
            (b"  de ; q=1.0", "de"),
            (b", ,es-419", "es"),
            (b"*", "-"),
            (b"*;q=0.5, en", "-"),
            (b"", "-"),
            (b" ", "-"),
            (b";q=0.9", "-"),
            (b"-US", "-"),
            (b"en1", "-"),
            (b"abcdefghi", "-"),
            (b"abcdefgh-x", "abcdefgh"),
            (b"x-pig-latin", "x"),
        ];
        for (value, expected) in cases {
            let fp = fingerprint(&[("accept-language", value)]);
            assert_eq!(
                fields(&fp)[4],
                *expected,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
        assert_eq!(fields(&fingerprint(&[]))[4], "-");
        // Only the first accept-language header counts.
        let fp = fingerprint(&[("accept-language", b"it"), ("accept-language", b"en")]);
        assert_eq!(fields(&fp)[4], "it");
    }

    #[test]
    fn methods_and_versions() {
        let headers = HeaderMap::new();
        let long = Method::from_bytes(b"VERY-LONG-EXTENSION-METHOD-NAME").unwrap();
        let fp = header_fingerprint(&long, Version::HTTP_3, &headers);
        assert!(
            fp.text.starts_with("VERY-LONG-EXTENSION-METH h3 "),
            "{}",
            fp.text
        );
        for (version, field) in [
            (Version::HTTP_09, "h0.9"),
            (Version::HTTP_10, "h1.0"),
            (Version::HTTP_11, "h1.1"),
            (Version::HTTP_2, "h2"),
            (Version::HTTP_3, "h3"),
        ] {
            let fp = header_fingerprint(&Method::OPTIONS, version, &headers);
            assert_eq!(fields(&fp)[1], field);
            assert_eq!(fields(&fp)[0], "OPTIONS");
        }
    }

    #[test]
    fn has_seven_fields_and_is_not_ja4h_shaped() {
        let fp = fingerprint(&[("accept", b"*/*"), ("cookie", b"a=1")]);
        assert_eq!(fields(&fp).len(), 7);
        assert!(!fp.text.contains('_'));
    }

    #[test]
    fn serializes() {
        let fp = fingerprint(&[("accept", b"*/*")]);
        let value = serde_json::to_value(&fp).unwrap();
        assert_eq!(value["names"], serde_json::json!(["accept"]));
        assert_eq!(value["text"], fp.text);
    }
}

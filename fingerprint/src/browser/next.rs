//! Where the redirect page may send a visitor: the `next` parameter, checked like an attacker
//! would try it, and escaped for each place it is written.

use std::fmt::Write as _;

/// Which `next` values a redirect follows: the rules of the redirect page, for the app's own
/// redirects too (after a login, say) through [`check_redirect`].
///
/// A path on this site is always allowed. An absolute http(s) URL is allowed when it names the
/// request's own host, or one of the allowed hosts, as Django's
/// `url_has_allowed_host_and_scheme` decides: `example.com` allows that host on its scheme's
/// default port only, `example.com:8443` that port exactly.
///
/// ```
/// use fingerprint::v1::{check_redirect, RedirectPolicy, RefusedRedirect};
///
/// let policy = RedirectPolicy::new().with_allowed_hosts(["shop.example"]);
/// assert_eq!(check_redirect(Some("/cart"), &policy, None).as_deref(), Ok("/cart"));
/// assert!(check_redirect(Some("https://shop.example/"), &policy, None).is_ok());
/// assert_eq!(
///     check_redirect(Some("https://shop.example:8443/"), &policy, None),
///     Err(RefusedRedirect::HostNotAllowed)
/// );
/// // The request's own origin (what `CurrentVisit::origin` says) is allowed too.
/// let own = Some("https://www.example");
/// assert!(check_redirect(Some("https://www.example/account"), &policy, own).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RedirectPolicy {
    /// Hosts (lowercase, optionally with `:port`) that absolute `next` URLs may name.
    pub(crate) allowed_hosts: Vec<String>,
    /// Absolute `next` URLs must be https.
    pub(crate) https_only: bool,
}

impl RedirectPolicy {
    /// Paths on this site and the request's own host only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Other hosts absolute URLs may name (`shop.example`, `app.example:8443`). Default: none.
    #[must_use]
    pub fn with_allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_hosts = hosts
            .into_iter()
            .map(|host| host.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// Absolute URLs must be https. Default false.
    #[must_use]
    pub fn with_https_only(mut self, https_only: bool) -> Self {
        self.https_only = https_only;
        self
    }
}

/// Checks a redirect target as the redirect page does: `next` (missing or empty means `/`)
/// under `policy`, with `request_origin` (`scheme://host[:port]` of the request, as
/// [`CurrentVisit::origin`](crate::v1::CurrentVisit::origin) gives it) allowed as well.
/// Returns the target in a canonical form, every character that is not plainly safe in a
/// URL percent-encoded, ready for a `Location` header or an HTML attribute.
pub fn check_redirect(
    next: Option<&str>,
    policy: &RedirectPolicy,
    request_origin: Option<&str>,
) -> Result<String, RefusedRedirect> {
    check(next, policy, request_origin)
}

/// Why a `next` value was refused (the short reason of the 400 page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusedRedirect {
    /// Longer than 2048 characters.
    #[error("next is too long")]
    TooLong,
    /// Control characters, whitespace or backslashes.
    #[error("next contains characters that are not allowed")]
    BadCharacters,
    /// `//host`, `/\host` or their percent-encoded forms.
    #[error("next must be a path on this site, not another site")]
    OtherSite,
    /// Not a path, and not an http(s) URL.
    #[error("next must be a path on this site")]
    NotAPath,
    /// An absolute URL whose host is not allowed.
    #[error("next names a host that is not allowed")]
    HostNotAllowed,
    /// An http URL where only https is allowed.
    #[error("next must use https")]
    NotHttps,
    /// An absolute URL with a user name or password.
    #[error("next must not contain credentials")]
    Credentials,
}

const MAX_LEN: usize = 2048;

/// Checks `next` and returns it in a canonical form in which every character that is not
/// plainly safe in a URL is percent-encoded. Missing or empty means `/`.
pub(crate) fn check(
    next: Option<&str>,
    policy: &RedirectPolicy,
    request_origin: Option<&str>,
) -> Result<String, RefusedRedirect> {
    let next = next.unwrap_or_default();
    if next.is_empty() {
        return Ok("/".into());
    }
    if next.chars().count() > MAX_LEN {
        return Err(RefusedRedirect::TooLong);
    }
    if next
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\' || is_invisible(c))
    {
        return Err(RefusedRedirect::BadCharacters);
    }
    // Percent-decoded once: what a lenient server or browser might see.
    let decoded = percent_encoding::percent_decode_str(next).decode_utf8_lossy();
    if decoded
        .chars()
        .any(|c| c.is_control() || c == '\\' || is_invisible(c))
    {
        return Err(RefusedRedirect::BadCharacters);
    }
    if next.starts_with('/') {
        if next.starts_with("//") || decoded.starts_with("//") || decoded.starts_with("/\\") {
            return Err(RefusedRedirect::OtherSite);
        }
        return Ok(canonical(next));
    }
    let url = url::Url::parse(next).map_err(|_| RefusedRedirect::NotAPath)?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.https_only => {}
        "http" => return Err(RefusedRedirect::NotHttps),
        _ => return Err(RefusedRedirect::NotAPath),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RefusedRedirect::Credentials);
    }
    let host = url.host_str().ok_or(RefusedRedirect::NotAPath)?;
    let own = request_origin
        .and_then(|origin| url::Url::parse(origin).ok())
        .is_some_and(|origin| {
            // The request's own host and port, whatever the scheme (as Django compares the
            // host header): `http://site` allows `https://site`, not `https://site:8443`.
            origin
                .host_str()
                .is_some_and(|own| own.eq_ignore_ascii_case(host))
                && origin.port() == url.port()
        });
    let allowed = own
        || policy
            .allowed_hosts
            .iter()
            .any(|allowed| host_matches(allowed, host, &url));
    if !allowed {
        return Err(RefusedRedirect::HostNotAllowed);
    }
    Ok(canonical(url.as_str()))
}

/// Whether `allowed` (`host` or `host:port`, IPv6 in brackets) names the host and port of
/// `url`: without a port, only the scheme's default port (the URL names none); with one,
/// exactly that port.
fn host_matches(allowed: &str, host: &str, url: &url::Url) -> bool {
    let (name, port) = match allowed.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty()
                && (!name.contains(':') || (name.starts_with('[') && name.ends_with(']'))) =>
        {
            match port.parse::<u16>() {
                Ok(port) => (name, Some(port)),
                Err(_) => return false,
            }
        }
        _ => (allowed, None),
    };
    if !name.eq_ignore_ascii_case(host) {
        return false;
    }
    match port {
        None => url.port().is_none(),
        Some(port) => url.port_or_known_default() == Some(port),
    }
}

/// Zero-width and bidirectional-control characters that make a URL look like another.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Percent-encodes everything but unreserved characters and the URL delimiters that are
/// harmless in a path and query. Quotes, `<`, `>`, backticks and non-ASCII never survive, so the
/// result is safe inside a quoted HTML attribute once `&` is escaped.
fn canonical(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/?#[]@!$&()*+,;=:%".contains(&byte);
        if keep {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Escapes text for an HTML attribute value in double quotes (or element content).
/// Text without any of the five characters (most of it: URLs, tokens) is borrowed as it is.
pub(crate) fn html_escape(value: &str) -> std::borrow::Cow<'_, str> {
    let special = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    let Some(first) = value.bytes().position(special) else {
        return std::borrow::Cow::Borrowed(value);
    };
    let mut out = String::with_capacity(value.len() + 16);
    out.push_str(&value[..first]);
    for c in value[first..].chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy {
            allowed_hosts: vec!["shop.example".into(), "app.example:8443".into()],
            https_only: false,
        }
    }

    #[test]
    fn allowed_values() {
        for (next, expected) in [
            (None, "/"),
            (Some(""), "/"),
            (Some("/"), "/"),
            (Some("/articles"), "/articles"),
            (Some("/a/b?x=1&y=2#top"), "/a/b?x=1&y=2#top"),
            (
                Some("/search?q=%2F%2Fnot-a-host"),
                "/search?q=%2F%2Fnot-a-host",
            ),
            (Some("/caf%C3%A9"), "/caf%C3%A9"),
            (Some("/café"), "/caf%C3%A9"),
            (
                Some("/x\"onmouseover=alert(1)"),
                "/x%22onmouseover=alert(1)",
            ),
            (Some("/<script>"), "/%3Cscript%3E"),
            (Some("/it's"), "/it%27s"),
            (Some("/a`b"), "/a%60b"),
            (
                Some("https://shop.example/cart"),
                "https://shop.example/cart",
            ),
            (Some("HTTPS://SHOP.EXAMPLE/"), "https://shop.example/"),
            (
                Some("https://app.example:8443/x"),
                "https://app.example:8443/x",
            ),
            (Some("http://shop.example/"), "http://shop.example/"),
        ] {
            assert_eq!(
                check(next, &policy(), None).as_deref(),
                Ok(expected),
                "{next:?}"
            );
        }
    }

    #[test]
    fn refused_values() {
        use RefusedRedirect::*;
        for (next, reason) in [
            ("//evil.example", OtherSite),
            ("//evil.example/path", OtherSite),
            ("///evil.example", OtherSite),
            ("/%2Fevil.example", OtherSite),
            ("/%2fevil.example", OtherSite),
            ("/%5Cevil.example", BadCharacters),
            ("/\\evil.example", BadCharacters),
            ("\\\\evil.example", BadCharacters),
            ("/\tevil", BadCharacters),
            ("/a\r\nSet-Cookie:x=1", BadCharacters),
            ("/a%0d%0aSet-Cookie:x=1", BadCharacters),
            ("/a%00", BadCharacters),
            (" /leading-space", BadCharacters),
            ("/\u{202E}gnp.exe", BadCharacters),
            ("/a%E2%80%AEb", BadCharacters),
            ("javascript:alert(1)", NotAPath),
            ("JavaScript:alert(1)", NotAPath),
            ("java\tscript:alert(1)", BadCharacters),
            ("data:text/html,<script>alert(1)</script>", NotAPath),
            ("vbscript:msgbox", NotAPath),
            ("evil.example", NotAPath),
            ("articles", NotAPath),
            ("?next=/x", NotAPath),
            ("https://evil.example/", HostNotAllowed),
            ("https://shop.example.evil.example/", HostNotAllowed),
            ("https://evil.example\\@shop.example/", BadCharacters),
            ("https://shop.example@evil.example/", Credentials),
            ("https://user:pass@shop.example/", Credentials),
            ("https://user@shop.example/", Credentials),
            ("https://app.example/x", HostNotAllowed),
            ("ftp://shop.example/", NotAPath),
        ] {
            assert_eq!(check(Some(next), &policy(), None), Err(reason), "{next:?}");
        }
        assert_eq!(
            check(Some(&format!("/{}", "a".repeat(2048))), &policy(), None),
            Err(TooLong)
        );
        let strict = RedirectPolicy {
            https_only: true,
            ..policy()
        };
        assert_eq!(
            check(Some("http://shop.example/"), &strict, None),
            Err(NotHttps)
        );
        assert_eq!(
            check(Some("/local"), &strict, None).as_deref(),
            Ok("/local")
        );
        assert_eq!(
            check(
                Some("https://shop.example/"),
                &RedirectPolicy::default(),
                None
            ),
            Err(HostNotAllowed)
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape(r#"/a?b=1&c="<'>"#),
            "/a?b=1&amp;c=&quot;&lt;&#x27;&gt;"
        );
    }

    #[test]
    fn ports_match_as_django_does() {
        use RefusedRedirect::HostNotAllowed;
        let policy = RedirectPolicy::new().with_allowed_hosts([
            "shop.example",
            "app.example:8443",
            "[::1]:8080",
            "Mixed.Example",
        ]);
        for (next, allowed) in [
            // A host without a port: its scheme's default port only.
            ("https://shop.example/", true),
            ("https://shop.example:443/", true),
            ("http://shop.example:80/", true),
            ("https://shop.example:8443/", false),
            ("http://shop.example:8080/", false),
            ("https://shop.example:444/", false),
            // A host with a port: that port exactly.
            ("https://app.example:8443/x", true),
            ("https://app.example/x", false),
            ("https://app.example:8444/x", false),
            ("http://[::1]:8080/x", true),
            ("http://[::1]/x", false),
            ("http://[::1]:8081/x", false),
            ("https://mixed.example/", true),
            ("https://shop.example.evil/", false),
            ("https://evil.example/?shop.example", false),
        ] {
            let result = check(Some(next), &policy, None);
            if allowed {
                assert!(result.is_ok(), "{next}: {result:?}");
            } else {
                assert_eq!(result, Err(HostNotAllowed), "{next}");
            }
        }
    }

    #[test]
    fn the_requests_own_host_is_allowed() {
        use RefusedRedirect::{HostNotAllowed, NotHttps};
        let none = RedirectPolicy::new();
        let own = Some("http://127.0.0.1:3000");
        assert!(check(Some("http://127.0.0.1:3000/account"), &none, own).is_ok());
        assert_eq!(
            check(Some("http://127.0.0.1:3001/"), &none, own),
            Err(HostNotAllowed),
            "another port is another origin"
        );
        assert_eq!(
            check(Some("http://127.0.0.1:3000/"), &none, None),
            Err(HostNotAllowed)
        );
        let site = Some("https://www.example");
        assert!(check(Some("https://WWW.example/x"), &none, site).is_ok());
        assert!(check(Some("http://www.example/x"), &none, site).is_ok());
        assert_eq!(
            check(Some("https://www.example.evil/"), &none, site),
            Err(HostNotAllowed)
        );
        let strict = RedirectPolicy::new().with_https_only(true);
        assert_eq!(
            check(Some("http://www.example/x"), &strict, site),
            Err(NotHttps),
            "https only holds for the own host too"
        );
        // A malformed origin allows nothing more.
        assert_eq!(
            check(Some("https://www.example/"), &none, Some("not a url")),
            Err(HostNotAllowed)
        );
    }
}

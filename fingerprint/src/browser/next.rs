//! Where the redirect page may send a visitor: the `next` parameter, checked like an attacker
//! would try it, and escaped for each place it is written.

use std::fmt::Write as _;

/// Which `next` values the redirect page follows.
#[derive(Debug, Clone, Default)]
pub(crate) struct RedirectPolicy {
    /// Hosts (lowercase, optionally with `:port`) that absolute `next` URLs may name.
    pub(crate) allowed_hosts: Vec<String>,
    /// Absolute `next` URLs must be https.
    pub(crate) https_only: bool,
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
    let host = url
        .host_str()
        .ok_or(RefusedRedirect::NotAPath)?
        .to_ascii_lowercase();
    let with_port = url.port().map(|port| format!("{host}:{port}"));
    let allowed = policy.allowed_hosts.iter().any(|allowed| {
        allowed.eq_ignore_ascii_case(&host)
            || with_port
                .as_deref()
                .is_some_and(|hp| allowed.eq_ignore_ascii_case(hp))
    });
    if !allowed {
        return Err(RefusedRedirect::HostNotAllowed);
    }
    Ok(canonical(url.as_str()))
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
pub(crate) fn html_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
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
            assert_eq!(check(next, &policy()).as_deref(), Ok(expected), "{next:?}");
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
            assert_eq!(check(Some(next), &policy()), Err(reason), "{next:?}");
        }
        assert_eq!(
            check(Some(&format!("/{}", "a".repeat(2048))), &policy()),
            Err(TooLong)
        );
        let strict = RedirectPolicy {
            https_only: true,
            ..policy()
        };
        assert_eq!(check(Some("http://shop.example/"), &strict), Err(NotHttps));
        assert_eq!(check(Some("/local"), &strict).as_deref(), Ok("/local"));
        assert_eq!(
            check(Some("https://shop.example/"), &RedirectPolicy::default()),
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
}

//! The built-in session cookie: the identity when the app has no session layer (or
//! [`SessionSource::Cookie`](super::SessionSource::Cookie) is chosen).

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

use super::{is_valid_key, new_key, IssuedKey, LinkFn, SessionIdentity};

/// The built-in session cookie: a session key (the time in milliseconds, then 80 random bits), `HttpOnly`, `SameSite=Lax`, `Path=/`,
/// `Secure` when the request came over https.
#[derive(Debug, Clone)]
pub(crate) struct CookieConfig {
    pub(crate) name: String,
    pub(crate) max_age: Option<Duration>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: "fingerprint_session".into(),
            // Django's SESSION_COOKIE_AGE: two weeks.
            max_age: Some(Duration::from_secs(14 * 24 * 3600)),
        }
    }
}

impl CookieConfig {
    /// Whether `name` is a valid cookie name (an RFC 6265 token).
    pub(crate) fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }

    /// The session key carried by the request's cookies, when valid. Another cookie's
    /// bytes that are not ASCII (a UTF-8 value, which browsers send as it is) do not hide
    /// ours: each header line is read lossily, and only our cookie's value is checked.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .find_map(|value| {
                String::from_utf8_lossy(value.as_bytes())
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| *name == self.name)
                    .map(|(_, value)| value.trim_matches('"').to_owned())
            })
            .filter(|value| is_valid_key(value))
    }

    /// The `Set-Cookie` value for a new key.
    pub(crate) fn set_cookie(&self, key: &str, secure: bool) -> Option<HeaderValue> {
        let mut cookie = format!("{}={key}; Path=/; HttpOnly; SameSite=Lax", self.name);
        if let Some(age) = self.max_age {
            cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).ok()
    }
}

/// The cookie of one request as a [`SessionIdentity`].
pub(crate) struct CookieSession<'a> {
    config: &'a CookieConfig,
    /// The valid key the request's cookies carry.
    key: Option<String>,
}

impl<'a> CookieSession<'a> {
    pub(crate) fn read(config: &'a CookieConfig, headers: &HeaderMap) -> Self {
        Self {
            config,
            key: config.read(headers),
        }
    }

    /// The request's key, or a new one with its `Set-Cookie` value: never fails.
    pub(crate) fn issue(&self, secure: bool) -> IssuedKey {
        if let Some(key) = &self.key {
            return IssuedKey {
                key: key.clone(),
                set_cookie: None,
            };
        }
        let key = new_key();
        let set_cookie = self.config.set_cookie(&key, secure);
        IssuedKey { key, set_cookie }
    }
}

impl SessionIdentity for CookieSession<'_> {
    async fn existing_key(&self) -> Option<String> {
        self.key.clone()
    }

    async fn key(&self, secure: bool, _link: LinkFn<'_>) -> Option<IssuedKey> {
        Some(self.issue(secure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let config = CookieConfig::default();
        let key = new_key();
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=y; fingerprint_session={key}")).unwrap(),
        );
        assert_eq!(config.read(&headers), Some(key.clone()));

        // Another cookie with a UTF-8 value on the same line.
        let mut utf8 = HeaderMap::new();
        utf8.insert(
            header::COOKIE,
            HeaderValue::from_bytes(format!("name=José; fingerprint_session={key}").as_bytes())
                .unwrap(),
        );
        assert_eq!(config.read(&utf8), Some(key.clone()));

        let mut forged = HeaderMap::new();
        forged.insert(
            header::COOKIE,
            HeaderValue::from_static("fingerprint_session=../../etc"),
        );
        assert_eq!(config.read(&forged), None);
        assert_eq!(config.read(&HeaderMap::new()), None);
    }

    #[test]
    fn cookie_attributes() {
        let config = CookieConfig::default();
        let plain = config.set_cookie("k", false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("fingerprint_session=k; Path=/; HttpOnly; SameSite=Lax"));
        assert!(plain.contains("Max-Age=1209600"));
        assert!(!plain.contains("Secure"));
        let secure = config.set_cookie("k", true).unwrap();
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
        assert!(CookieConfig::is_valid_name("fp_sid"));
        assert!(!CookieConfig::is_valid_name("bad name;"));
        assert!(!CookieConfig::is_valid_name(""));
    }
}

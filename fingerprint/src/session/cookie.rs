//! The built-in session cookie: the identity when the app has no session layer (or
//! [`SessionSource::Cookie`](super::SessionSource::Cookie) is chosen).

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

use super::{is_valid_key, new_key, IssuedKey, LinkFn, SessionIdentity};

/// A valid value of the built-in cookie: `KEY`, or `KEY.TAG` once the remember layer saw a
/// user with it ([`user_tag`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieValue {
    pub(crate) key: String,
    pub(crate) tag: Option<String>,
}

impl CookieValue {
    fn parse(value: &str) -> Option<Self> {
        let (key, tag) = match value.split_once('.') {
            Some((key, tag)) => (key, Some(tag)),
            None => (value, None),
        };
        let valid_tag = tag.is_none_or(|tag| crate::hex::is_lower(tag, 16));
        (is_valid_key(key) && valid_tag).then(|| Self {
            key: key.to_owned(),
            tag: tag.map(str::to_owned),
        })
    }
}

/// The tag of a user in the cookie: 64 bits of the SHA-256 of the user id, enough to tell
/// the next user of a browser from the last one (the id itself stays out of the cookie).
pub(crate) fn user_tag(user: &str) -> String {
    crate::hex::sha256_prefix(user.as_bytes(), 8)
}

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

    /// The session cookie the request carries, when valid. Another cookie's bytes that are
    /// not ASCII (a UTF-8 value, which browsers send as it is) do not hide ours: each header
    /// line is read lossily, and only our cookie's value is checked.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<CookieValue> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .find_map(|value| {
                String::from_utf8_lossy(value.as_bytes())
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(name, _)| *name == self.name)
                    .map(|(_, value)| CookieValue::parse(value.trim_matches('"')))
            })
            .flatten()
    }

    /// The `Set-Cookie` value for `key`, with the tag of its user if any.
    pub(crate) fn set_cookie(
        &self,
        key: &str,
        tag: Option<&str>,
        secure: bool,
    ) -> Option<HeaderValue> {
        let value = match tag {
            Some(tag) => format!("{key}.{tag}"),
            None => key.to_owned(),
        };
        let mut cookie = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax", self.name);
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
    /// The valid cookie the request carries.
    cookie: Option<CookieValue>,
    /// The user the remember layer found in the request, when it ran before this layer:
    /// `Some(None)` for an anonymous request.
    remembered: Option<Option<String>>,
}

impl<'a> CookieSession<'a> {
    pub(crate) fn read(
        config: &'a CookieConfig,
        headers: &HeaderMap,
        remembered: Option<Option<String>>,
    ) -> Self {
        Self {
            config,
            cookie: config.read(headers),
            remembered,
        }
    }

    /// The request's key, or a new one with its `Set-Cookie` value: never fails. When the
    /// remember layer told the request's user, as [`Self::for_user`].
    pub(crate) fn issue(&self, secure: bool, link: LinkFn<'_>) -> IssuedKey {
        if let Some(user) = &self.remembered {
            return self.for_user(self.cookie.as_ref(), user.as_deref(), secure, link);
        }
        if let Some(cookie) = &self.cookie {
            return IssuedKey {
                key: cookie.key.clone(),
                set_cookie: None,
                cookie: true,
            };
        }
        let key = new_key();
        let set_cookie = self.config.set_cookie(&key, None, secure);
        IssuedKey {
            key,
            set_cookie,
            cookie: true,
        }
    }

    /// The valid cookie the request carries.
    pub(crate) fn value(&self) -> Option<&CookieValue> {
        self.cookie.as_ref()
    }

    /// The key for a request of `user` (`None`: anonymous) with `cookie`, linked to the user.
    /// The session goes on while the user does, and an anonymous one goes on as the user's
    /// (as Django's session data does through a login); a browser's next user, or a logout,
    /// starts a new session, so nobody's visits go to the user before them.
    pub(crate) fn for_user(
        &self,
        cookie: Option<&CookieValue>,
        user: Option<&str>,
        secure: bool,
        link: LinkFn<'_>,
    ) -> IssuedKey {
        let tag = user.map(user_tag);
        let (key, changed) = match cookie {
            Some(cookie) if cookie.tag == tag => (cookie.key.clone(), false),
            Some(cookie) if cookie.tag.is_none() => (cookie.key.clone(), true),
            _ => (new_key(), true),
        };
        if let Some(user) = user {
            link(&key, user);
        }
        let set_cookie = changed
            .then(|| self.config.set_cookie(&key, tag.as_deref(), secure))
            .flatten();
        IssuedKey {
            key,
            set_cookie,
            cookie: true,
        }
    }
}

impl SessionIdentity for CookieSession<'_> {
    async fn existing_key(&self) -> Option<String> {
        self.cookie.as_ref().map(|cookie| cookie.key.clone())
    }

    async fn key(&self, secure: bool, link: LinkFn<'_>) -> Option<IssuedKey> {
        Some(self.issue(secure, link))
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
        let plain = |key: &str| {
            Some(CookieValue {
                key: key.to_owned(),
                tag: None,
            })
        };
        assert_eq!(config.read(&headers), plain(&key));

        // Another cookie with a UTF-8 value on the same line.
        let mut utf8 = HeaderMap::new();
        utf8.insert(
            header::COOKIE,
            HeaderValue::from_bytes(format!("name=José; fingerprint_session={key}").as_bytes())
                .unwrap(),
        );
        assert_eq!(config.read(&utf8), plain(&key));

        let tag = user_tag("alice");
        let mut tagged = HeaderMap::new();
        tagged.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("fingerprint_session={key}.{tag}")).unwrap(),
        );
        assert_eq!(config.read(&tagged).unwrap().tag, Some(tag.clone()));
        for bad in [
            format!("{key}."),
            format!("{key}.{}", &tag[1..]),
            format!("{key}.{tag}.x"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("fingerprint_session={bad}")).unwrap(),
            );
            assert_eq!(config.read(&headers), None, "{bad}");
        }

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
        let plain = config.set_cookie("k", None, false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("fingerprint_session=k; Path=/; HttpOnly; SameSite=Lax"));
        assert!(plain.contains("Max-Age=1209600"));
        assert!(!plain.contains("Secure"));
        let secure = config.set_cookie("k", None, true).unwrap();
        let tagged = config.set_cookie("k", Some("00ff"), false).unwrap();
        assert!(tagged
            .to_str()
            .unwrap()
            .starts_with("fingerprint_session=k.00ff; "));
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
        assert!(CookieConfig::is_valid_name("fp_sid"));
        assert!(!CookieConfig::is_valid_name("bad name;"));
        assert!(!CookieConfig::is_valid_name(""));
    }
}

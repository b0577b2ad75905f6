//! Session identity: which session a request belongs to.
//!
//! With a tower-sessions layer outside the fingerprint layer, the key lives inside the
//! tower-sessions session (so it survives `cycle_id()` at login, and a logout's `flush()`
//! starts a new one). Without one, a built-in cookie carries it.

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};
use rand::RngCore;

/// The session-data key under which the fingerprint session key is kept in a tower-sessions
/// session.
#[cfg(feature = "tower-sessions")]
pub(crate) const SESSION_DATA_KEY: &str = "fingerprint.key";

/// The session-data key under which the user the fingerprint session was linked to is kept.
#[cfg(feature = "tower-sessions")]
pub(crate) const SESSION_USER_KEY: &str = "fingerprint.user";

/// A session key: 32 lowercase hex characters, the milliseconds since 1970 (48 bits) then 80
/// random bits. Keys made close in time sort together, so inserting sessions touches few index
/// pages (SQLite ingest measured 1.6x of fully random keys); 80 random bits stay far beyond
/// guessing.
pub(crate) fn new_key() -> String {
    let mut bytes = [0u8; 16];
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX);
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    rand::rng().fill_bytes(&mut bytes[6..]);
    let mut key = String::with_capacity(32);
    for byte in bytes {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    key
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `key` looks like a key we issued (anything else is replaced by a new one).
pub(crate) fn is_valid_key(key: &str) -> bool {
    key.len() == 32
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Which session identity the layer uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionSource {
    /// The tower-sessions `Session` when a session layer runs outside the fingerprint layer,
    /// else the built-in cookie (the default).
    #[default]
    Auto,
    /// Always the built-in cookie, even when a tower-sessions layer is present.
    Cookie,
}

/// The built-in session cookie: random 128-bit value, `HttpOnly`, `SameSite=Lax`, `Path=/`,
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

    /// The session key carried by the request's cookies, when valid.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name)
            .map(|(_, value)| value.trim_matches('"'))
            .filter(|value| is_valid_key(value))
            .map(str::to_owned)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_hex() {
        let a = new_key();
        let b = new_key();
        assert!(is_valid_key(&a) && is_valid_key(&b));
        assert_ne!(a, b);
        assert!(!is_valid_key("ABCDEF0123456789abcdef0123456789"));
        assert!(!is_valid_key("short"));
        assert!(!is_valid_key(&"g".repeat(32)));
    }

    #[test]
    fn keys_start_with_the_time_and_end_random() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let keys: Vec<String> = (0..100).map(|_| new_key()).collect();
        let millis = u128::from_str_radix(&keys[0][..12], 16).unwrap();
        assert!(
            millis >= before && millis < before + 60_000,
            "{millis} vs {before}"
        );
        let mut sorted = keys.clone();
        sorted.sort();
        assert!(sorted[0][..12] <= keys[99][..12], "time first");
        let tails: std::collections::HashSet<&str> = keys.iter().map(|k| &k[12..]).collect();
        assert_eq!(tails.len(), 100, "80 random bits each");
    }

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
        assert_eq!(config.read(&headers), Some(key));

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

//! Session identity: which session a request belongs to.
//!
//! One small trait, [`SessionIdentity`], with two implementations: the tower-sessions
//! session (feature `tower-sessions`, in `tower.rs`: the key lives inside the tower-sessions
//! session, so it survives `cycle_id()` at login, a logout's `flush()` starts a new one, and
//! axum-login logins are followed), and the built-in cookie (`cookie.rs`) when there is no
//! session layer. [`Sessions::of`] picks them for a request.

use http::request::Parts;
use http::HeaderValue;
use rand::RngCore;

mod cookie;
// The only switch on the `tower-sessions` feature: without it, `TowerSession` is a type with
// no values, so a request never has one.
#[cfg(feature = "tower-sessions")]
mod tower;
#[cfg(not(feature = "tower-sessions"))]
#[path = "no_tower.rs"]
mod tower;

pub(crate) use cookie::CookieConfig;
use cookie::{CookieSession, CookieValue};
use tower::TowerSession;

/// axum-login's default session-data key.
pub(crate) const AXUM_LOGIN_DATA_KEY: &str = "axum-login.data";

/// Queues a link of a session key (first argument) to a user id (second); false when the
/// recorder's queue refused it.
pub(crate) type LinkFn<'a> = &'a (dyn Fn(&str, &str) -> bool + Sync);

/// A session key to record a request under.
#[derive(Debug)]
pub(crate) struct IssuedKey {
    pub(crate) key: String,
    /// The `Set-Cookie` value, when a new built-in cookie was issued.
    pub(crate) set_cookie: Option<HeaderValue>,
    /// The key is the built-in cookie's (not the tower-sessions session's).
    pub(crate) cookie: bool,
}

/// The user the remember layer found in a request (`None`: anonymous), handed to the
/// fingerprint layer in the request's extensions when the remember layer runs first, or in
/// the response's when it runs inside. With the built-in cookie, the fingerprint layer keeps
/// one session per user of a browser ([`CookieSession::for_user`]); a tower-sessions
/// session does that itself.
#[derive(Debug, Clone)]
pub(crate) struct RememberedUser(pub(crate) Option<String>);

/// Put into a response by the fingerprint layer when it took the request's
/// [`RememberedUser`], so the remember layer outside knows it need not link.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RememberedUserTaken;

/// Where a request's session key lives.
pub(crate) trait SessionIdentity {
    /// The key the request already has (none is created).
    async fn existing_key(&self) -> Option<String>;

    /// The key to record the request under, created when missing (`secure`: the request
    /// came over https, for a new cookie's attributes). Logins are followed through `link`.
    /// `None` when this identity failed and the next one should be used.
    async fn key(&self, secure: bool, link: LinkFn<'_>) -> Option<IssuedKey>;

    /// After the handler ran: follows what it changed (an axum-login login).
    async fn after_handler(&self, link: LinkFn<'_>) {
        let _ = link;
    }
}

/// Session settings (filled by the builder).
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    pub(crate) cookie: CookieConfig,
    pub(crate) source: SessionSource,
    /// Where axum-login keeps its data in the tower-sessions session; `None` to never link
    /// sessions to axum-login users.
    pub(crate) login_data_key: Option<String>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            cookie: CookieConfig::default(),
            source: SessionSource::Auto,
            login_data_key: Some(AXUM_LOGIN_DATA_KEY.into()),
        }
    }
}

impl Sessions {
    /// The identity of one request: the tower-sessions session when a session layer put
    /// one into the request (and the source is [`SessionSource::Auto`]), then the built-in
    /// cookie. Reads what it needs from `parts` now, so it outlives them.
    pub(crate) fn of(&self, parts: &Parts) -> RequestSession<'_> {
        let tower = (self.source == SessionSource::Auto)
            .then(|| TowerSession::from_parts(parts, self.login_data_key.as_deref()))
            .flatten();
        let remembered = parts
            .extensions
            .get::<RememberedUser>()
            .map(|user| user.0.clone());
        RequestSession {
            tower,
            cookie: CookieSession::read(&self.cookie, &parts.headers, remembered),
        }
    }
}

/// The identities of one request, tried in order (made by [`Sessions::of`]).
pub(crate) struct RequestSession<'a> {
    tower: Option<TowerSession<'a>>,
    cookie: CookieSession<'a>,
}

impl RequestSession<'_> {
    /// The key to record the request under: the tower-sessions session's, else (none, or it
    /// failed) the built-in cookie's, issued when missing.
    pub(crate) async fn issue(&self, secure: bool, link: LinkFn<'_>) -> IssuedKey {
        if let Some(tower) = &self.tower {
            if let Some(issued) = tower.key(secure, link).await {
                return issued;
            }
        }
        self.cookie.issue(secure, link)
    }

    /// Whether the request has a tower-sessions session (which keeps one session per user
    /// itself).
    pub(crate) fn has_tower_session(&self) -> bool {
        self.tower.is_some()
    }

    /// After the handler, when the remember layer inside found the request's `user`: the
    /// built-in cookie's key `issued` goes on, or a new one starts for the next requests
    /// (this one is recorded already), as [`CookieSession::for_user`] decides. The new
    /// `Set-Cookie` value, if any.
    pub(crate) fn after_remembered(
        &self,
        issued: &IssuedKey,
        user: Option<&str>,
        secure: bool,
        link: LinkFn<'_>,
    ) -> Option<HeaderValue> {
        if !issued.cookie {
            return None;
        }
        let cookie = CookieValue {
            key: issued.key.clone(),
            tag: None,
        };
        // A key issued for this request has no user yet; a key it came with has its own.
        let current = match issued.set_cookie {
            Some(_) => Some(&cookie),
            None => self.cookie.value(),
        };
        self.cookie.for_user(current, user, secure, link).set_cookie
    }
}

impl SessionIdentity for RequestSession<'_> {
    async fn existing_key(&self) -> Option<String> {
        if let Some(tower) = &self.tower {
            if let Some(key) = tower.existing_key().await {
                return Some(key);
            }
        }
        self.cookie.existing_key().await
    }

    async fn key(&self, secure: bool, link: LinkFn<'_>) -> Option<IssuedKey> {
        Some(self.issue(secure, link).await)
    }

    async fn after_handler(&self, link: LinkFn<'_>) {
        if let Some(tower) = &self.tower {
            tower.after_handler(link).await;
        }
    }
}

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
    crate::hex::lower(&bytes)
}

/// Whether `key` looks like a key we issued (anything else is replaced by a new one).
pub(crate) fn is_valid_key(key: &str) -> bool {
    crate::hex::is_lower(key, 32)
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
}

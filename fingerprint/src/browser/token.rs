//! The collector token: which session and page may post a browser fingerprint, until when.
//!
//! `v1.<expires unix seconds>.<session key>.<base64url(page URL)>.<base64url(HMAC-SHA256)>`,
//! the MAC over everything before its dot, keyed with the app's secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("invalid token signature")]
    Forged,
    #[error("token expired")]
    Expired,
    #[error("token belongs to another session")]
    OtherSession,
}

#[derive(Clone)]
pub(crate) struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub(crate) fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(payload.as_bytes());
        mac
    }

    pub(crate) fn sign(&self, session_key: &str, page_url: &str, expires: DateTime<Utc>) -> String {
        let payload = format!(
            "v1.{}.{session_key}.{}",
            expires.timestamp(),
            URL_SAFE_NO_PAD.encode(page_url)
        );
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The page URL of a valid token for `session_key` at `now`.
    pub(crate) fn verify(
        &self,
        token: &str,
        session_key: &str,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let (payload, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        self.mac(payload)
            .verify_slice(&tag)
            .map_err(|_| TokenError::Forged)?;
        let mut parts = payload.split('.');
        let (Some("v1"), Some(expires), Some(session), Some(url), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        if now.timestamp() >= expires {
            return Err(TokenError::Expired);
        }
        if session != session_key {
            return Err(TokenError::OtherSession);
        }
        let url = URL_SAFE_NO_PAD
            .decode(url)
            .map_err(|_| TokenError::Malformed)?;
        String::from_utf8(url).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let signer = Signer::new(b"secret".to_vec());
        let now = Utc::now();
        let later = now + TimeDelta::hours(1);
        let token = signer.sign("abc", "http://h/p?q=1.2", later);
        assert_eq!(
            signer.verify(&token, "abc", now).as_deref(),
            Ok("http://h/p?q=1.2")
        );
        assert_eq!(
            signer.verify(&token, "abd", now),
            Err(TokenError::OtherSession)
        );
        assert_eq!(
            signer.verify(&token, "abc", later),
            Err(TokenError::Expired)
        );
        assert_eq!(
            Signer::new(b"other".to_vec()).verify(&token, "abc", now),
            Err(TokenError::Forged)
        );
        // Any changed byte breaks the signature.
        let tampered = token.replacen("abc", "abd", 1);
        assert_eq!(
            signer.verify(&tampered, "abd", now),
            Err(TokenError::Forged)
        );
        let extended = token.replacen(
            &later.timestamp().to_string(),
            &(later.timestamp() + 99_999).to_string(),
            1,
        );
        assert_eq!(
            signer.verify(&extended, "abc", later),
            Err(TokenError::Forged)
        );
        for garbage in ["", ".", "a.b", "v1.x.y.z.!!!", "no-dot-at-all"] {
            assert!(signer.verify(garbage, "abc", now).is_err(), "{garbage:?}");
        }
    }
}

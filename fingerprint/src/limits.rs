//! How long stored text may be, and truncation to it.

// Column limits (in characters), as in the Django package's models.

/// User agent, accept, accept-* and content-* headers.
pub(crate) const HEADER: usize = 255;
/// Referer header.
pub(crate) const REFERER: usize = 2047;
/// Country header.
pub(crate) const COUNTRY: usize = 16;
/// Absolute URL, in bytes (a raw UTF-8 path may have more bytes than characters; PostgreSQL's
/// unique index on URLs holds entries of at most about 2,700 bytes).
pub(crate) const URL: usize = 2048;
/// HTTP method.
pub(crate) const METHOD: usize = 16;
/// JA4, HTTP/2 and header fingerprints.
pub(crate) const NETWORK: usize = 255;
/// Each UTM parameter.
pub(crate) const UTM: usize = 255;
/// A user id the layer links a session to, in bytes (an e-mail address fits; an id is never
/// truncated: a longer one is not linked).
pub(crate) const USER_ID: usize = 255;

/// Whether `user_id` can be stored as it is: not empty, at most [`USER_ID`] bytes, without
/// control characters (PostgreSQL refuses a NUL, and the link's whole batch with it).
pub(crate) fn is_storable_user_id(user_id: &str) -> bool {
    !user_id.is_empty() && user_id.len() <= USER_ID && !user_id.chars().any(char::is_control)
}

/// Truncates `value` to at most `max` bytes, on a character boundary.
pub(crate) fn truncate_bytes(mut value: String, max: usize) -> String {
    if value.len() > max {
        let mut end = max;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

/// Truncates `value` to at most `max` characters, on a character boundary.
pub(crate) fn truncate_chars(mut value: String, max: usize) -> String {
    if let Some((index, _)) = value.char_indices().nth(max) {
        value.truncate(index);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_chars("abc".into(), 5), "abc");
        assert_eq!(truncate_chars("abcdef".into(), 3), "abc");
        assert_eq!(truncate_chars("ééé".into(), 2), "éé");
        assert_eq!(truncate_chars(String::new(), 0), "");
        assert_eq!(truncate_chars("x".into(), 0), "");
        assert_eq!(truncate_bytes("abc".into(), 5), "abc");
        assert_eq!(truncate_bytes("aéé".into(), 4), "aé");
        assert_eq!(truncate_bytes("aéé".into(), 5), "aéé");
        assert_eq!(truncate_bytes("日本".into(), 2), "");
    }
}

//! Lowercase hex: the text form of session keys, visitor ids, cookie tags and the short
//! SHA-256 hashes of the network fingerprints and of served files.

use sha2::{Digest, Sha256};

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lowercase hex, two digits a byte.
pub(crate) fn lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The first `bytes` bytes of the SHA-256 of `data`, as lowercase hex (`2 * bytes` digits).
pub(crate) fn sha256_prefix(data: &[u8], bytes: usize) -> String {
    lower(&Sha256::digest(data)[..bytes])
}

/// Whether `text` is exactly `len` lowercase hex digits.
pub(crate) fn is_lower(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_hex() {
        assert_eq!(lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(lower(&[]), "");
        // SHA-256("abc") starts ba7816bf 8f01cfea.
        assert_eq!(sha256_prefix(b"abc", 6), "ba7816bf8f01");
        assert!(is_lower("0a9f", 4));
        assert!(!is_lower("0A9F", 4) && !is_lower("0a9", 4) && !is_lower("0a9g", 4));
    }
}

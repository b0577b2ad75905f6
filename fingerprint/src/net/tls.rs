//! A TLS ClientHello parser over the raw bytes a client sends.
//!
//! The input starts at the content-type byte (`0x16`) of the client's first TLS record, as
//! received on the TCP connection. The ClientHello handshake message may be split over
//! several records (and each record over several TCP segments): [`parse_client_hello`]
//! reassembles it and answers `Ok(None)` while the bytes so far are a prefix of a
//! ClientHello, so a caller can feed the bytes it has each time a segment arrives.
//!
//! The parser is total: no input panics it, no arithmetic can overflow, and nothing is
//! allocated in proportion to a declared length before the bytes are there. It takes the
//! outer structure strictly (records, the handshake header, the ClientHello fields and the
//! extensions block, RFC 8446 §4.1.2 and RFC 5246 §7.4.1.2) and decodes the bodies of the
//! four extensions it reports (server_name, ALPN, supported_versions,
//! signature_algorithms) strictly too; other extensions are recorded by id only.
//!
//! Record layer rules, checked in stream order (so a prefix of an input either needs more
//! bytes or fails with the same error as the whole input, but for the SSL 2.0 case below):
//!
//! - every record until the end of the ClientHello has content type `0x16` (handshake);
//!   the first byte being anything else is [`HelloError::NotTls`], or [`HelloError::SslV2`]
//!   for an SSL 2.0 format ClientHello; a later record of another type is
//!   [`HelloError::Malformed`] (RFC 8446 §5.1 forbids interleaving);
//! - the record version is `0x03 0x00` to `0x03 0x0f` (its value is otherwise ignored, as
//!   RFC 8446 §5.1 asks);
//! - the record length is 1 to 2^14 bytes: the TLSPlaintext limit of
//!   RFC 5246 §6.2.1 and RFC 8446 §5.1, which also forbid empty handshake records;
//! - the first handshake message is a ClientHello (type 1) with a 24-bit length;
//! - all records spanning the message, headers included, fit in the caller's limit.
//!
//! The message ends inside some record; the rest of that record (for example a further
//! handshake message) is skipped, but must have arrived, and bytes after that record are
//! not looked at. The parser keeps no state: each call parses the whole input again, which
//! is cheap for the few segments a ClientHello takes.

use std::borrow::Cow;

/// Bytes a ClientHello may take at most by default (records included).
pub const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// The largest record body accepted: 2^14 bytes, the TLSPlaintext limit.
const MAX_RECORD_LEN: usize = 1 << 14;

/// Length of a TLS record header: content type, version, length.
const RECORD_HEADER_LEN: usize = 5;
/// Length of a handshake message header: type and 24-bit length.
const HANDSHAKE_HEADER_LEN: usize = 4;
/// The record content type of handshake messages.
const CONTENT_HANDSHAKE: u8 = 0x16;
/// The handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// The length of the ClientHello `random` field.
const RANDOM_LEN: usize = 32;
/// The longest legal `legacy_session_id`.
const MAX_SESSION_ID_LEN: usize = 32;

/// Extension id of server_name (SNI), RFC 6066.
pub(crate) const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension id of signature_algorithms, RFC 8446.
pub(crate) const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
/// Extension id of application_layer_protocol_negotiation (ALPN), RFC 7301.
pub(crate) const EXT_ALPN: u16 = 0x0010;
/// Extension id of supported_versions, RFC 8446.
pub(crate) const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// The fields of a ClientHello that fingerprints use.
///
/// Lists keep the order and the duplicates the client sent, GREASE values included. When
/// an extension occurs more than once, its id is listed each time and the decoded fields
/// come from its first occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientHello {
    /// `legacy_version` (the `client_version` of TLS 1.2 and older).
    pub legacy_version: u16,
    /// Cipher suites, in received order.
    pub cipher_suites: Vec<u16>,
    /// Extension ids, in received order; empty when the extensions block is absent.
    pub extensions: Vec<u16>,
    /// The first `host_name` of the server_name extension, decoded as UTF-8 with invalid
    /// sequences replaced; `None` when the extension is absent or names no host.
    pub server_name: Option<String>,
    /// Protocol names of the ALPN extension, in received order; empty when it is absent.
    pub alpn: Vec<Vec<u8>>,
    /// Versions of the supported_versions extension, in received order; empty when it is
    /// absent.
    pub supported_versions: Vec<u16>,
    /// Schemes of the signature_algorithms extension, in received order; empty when it is
    /// absent.
    pub signature_algorithms: Vec<u16>,
}

/// Why bytes are not a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    /// The bytes do not start with a TLS handshake record header.
    #[error("not a TLS handshake record")]
    NotTls,
    /// An SSL 2.0 format ClientHello (high bit of the first byte set, message type 1),
    /// which has no extensions and is not fingerprinted. The message type is the third
    /// byte: a shorter prefix of such a hello is [`HelloError::NotTls`].
    #[error("SSL 2.0 format ClientHello")]
    SslV2,
    /// The first handshake message is not a ClientHello.
    #[error("first handshake message is not a ClientHello")]
    NotClientHello,
    /// The records or the message break the TLS encoding rules; the text says which.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    /// The records spanning the ClientHello would take more than `limit` bytes.
    #[error("ClientHello larger than {limit} bytes")]
    TooLarge {
        /// The limit the caller gave.
        limit: usize,
    },
    /// The bytes end before the ClientHello does (only from whole-input functions such as
    /// `ja4_of_records`; [`parse_client_hello`] answers `Ok(None)` instead).
    #[error("incomplete ClientHello")]
    Incomplete,
}

/// Parses the ClientHello at the start of `bytes`, the client's first bytes on the
/// connection (from the first record's `0x16` content-type byte on).
///
/// `Ok(None)`: the bytes may be the start of a ClientHello, more bytes are needed.
/// `Ok(Some((hello, consumed_len)))`: `consumed_len` is the length of the whole records
/// that hold the message; bytes after them are not looked at. Errors say why the bytes are
/// not a ClientHello, or that its records would exceed `limit` bytes
/// (see [`MAX_CLIENT_HELLO`]); the module documentation lists the rules.
pub fn parse_client_hello(
    bytes: &[u8],
    limit: usize,
) -> Result<Option<(ClientHello, usize)>, HelloError> {
    match reassemble(bytes, limit)? {
        Some(Assembled { body, consumed }) => Ok(Some((parse_body(&body)?, consumed))),
        None => Ok(None),
    }
}

/// A ClientHello body put together from its records.
struct Assembled<'a> {
    /// The message after its handshake header; borrowed when one record holds it all.
    body: Cow<'a, [u8]>,
    /// The length of the records holding the message.
    consumed: usize,
}

/// Collects the ClientHello body from the records at the start of `bytes`, or `None`
/// while bytes are missing.
fn reassemble(bytes: &[u8], limit: usize) -> Result<Option<Assembled<'_>>, HelloError> {
    let mut message: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    let mut consumed = 0usize;
    loop {
        let rest = bytes.get(consumed..).unwrap_or_default();
        check_record_header(rest, consumed == 0)?;
        let Some((header, after)) = rest.split_at_checked(RECORD_HEADER_LEN) else {
            return Ok(None);
        };
        let record_len = record_length(header)?;
        let record_end = consumed
            .checked_add(RECORD_HEADER_LEN + record_len)
            .ok_or(HelloError::TooLarge { limit })?;
        if record_end > limit {
            return Err(HelloError::TooLarge { limit });
        }
        let fragment = after.get(..record_len);
        append(&mut message, fragment.unwrap_or(after));
        let body_len = check_handshake_header(&message, limit)?;
        if fragment.is_none() {
            return Ok(None);
        }
        consumed = record_end;
        if let Some(end) = body_len.map(|len| HANDSHAKE_HEADER_LEN + len) {
            if message.len() >= end {
                let body = body_of(message, end);
                return Ok(Some(Assembled { body, consumed }));
            }
        }
    }
}

/// Checks the part of a record header that has arrived (`rest` may be shorter than a
/// header). The first record tells TLS from other protocols; later ones must continue
/// the handshake.
fn check_record_header(rest: &[u8], first: bool) -> Result<(), HelloError> {
    if let Some(&content_type) = rest.first() {
        if content_type != CONTENT_HANDSHAKE {
            return Err(if !first {
                HelloError::Malformed("record of another type inside the ClientHello")
            } else if is_ssl2_client_hello(rest) {
                HelloError::SslV2
            } else {
                HelloError::NotTls
            });
        }
    }
    let major_ok = rest.get(1).is_none_or(|&major| major == 0x03);
    let minor_ok = rest.get(2).is_none_or(|&minor| minor <= 0x0f);
    match (major_ok && minor_ok, first) {
        (true, _) => Ok(()),
        (false, true) => Err(HelloError::NotTls),
        (false, false) => Err(HelloError::Malformed("bad record version")),
    }
}

/// Whether the bytes start like an SSL 2.0 ClientHello: a two-byte record header with the
/// high bit set, then message type 1.
fn is_ssl2_client_hello(rest: &[u8]) -> bool {
    matches!(rest, [first, _, 0x01, ..] if first & 0x80 != 0)
}

/// The length field of a full record header, checked against the TLSPlaintext limits.
fn record_length(header: &[u8]) -> Result<usize, HelloError> {
    let len = match header {
        [_, _, _, hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return Err(HelloError::Malformed("short record header")),
    };
    if len == 0 {
        return Err(HelloError::Malformed("empty handshake record"));
    }
    if len > MAX_RECORD_LEN {
        return Err(HelloError::Malformed("record longer than 2^14 bytes"));
    }
    Ok(len)
}

/// Appends a record fragment to the message so far, copying only once a second fragment
/// arrives.
fn append<'a>(message: &mut Cow<'a, [u8]>, fragment: &'a [u8]) {
    if message.is_empty() {
        *message = Cow::Borrowed(fragment);
    } else if !fragment.is_empty() {
        message.to_mut().extend_from_slice(fragment);
    }
}

/// Checks the part of the handshake header that has arrived: the message type, then the
/// length against the limit. Returns the body length once the header is complete.
fn check_handshake_header(message: &[u8], limit: usize) -> Result<Option<usize>, HelloError> {
    if let Some(&msg_type) = message.first() {
        if msg_type != HANDSHAKE_CLIENT_HELLO {
            return Err(HelloError::NotClientHello);
        }
    }
    let Some(&[_, a, b, c]) = message.get(..HANDSHAKE_HEADER_LEN) else {
        return Ok(None);
    };
    let body_len = u32::from_be_bytes([0, a, b, c]) as usize;
    // Even in a single record the message needs a record header besides itself.
    let least = body_len + HANDSHAKE_HEADER_LEN + RECORD_HEADER_LEN;
    if least > limit {
        return Err(HelloError::TooLarge { limit });
    }
    Ok(Some(body_len))
}

/// The message's bytes after the handshake header, up to `end` (which the caller checked
/// is within the message).
fn body_of(message: Cow<'_, [u8]>, end: usize) -> Cow<'_, [u8]> {
    match message {
        Cow::Borrowed(slice) => {
            Cow::Borrowed(slice.get(HANDSHAKE_HEADER_LEN..end).unwrap_or_default())
        }
        Cow::Owned(mut vec) => {
            vec.truncate(end);
            vec.drain(..HANDSHAKE_HEADER_LEN.min(vec.len()));
            Cow::Owned(vec)
        }
    }
}

/// A cursor over a complete structure: running out of bytes is malformed.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        let (head, tail) = self
            .rest
            .split_at_checked(len)
            .ok_or(HelloError::Malformed(what))?;
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        match self.take(1, what)? {
            [byte] => Ok(*byte),
            _ => Err(HelloError::Malformed(what)),
        }
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        match self.take(2, what)? {
            [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
            _ => Err(HelloError::Malformed(what)),
        }
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], HelloError> {
        let len = self.u8(what)?;
        self.take(usize::from(len), what)
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], HelloError> {
        let len = self.u16(what)?;
        self.take(usize::from(len), what)
    }

    /// Fails unless every byte was read.
    fn finish(&self, what: &'static str) -> Result<(), HelloError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(HelloError::Malformed(what))
        }
    }
}

/// Reads a list of big-endian `u16` values filling `bytes` exactly.
fn u16_list(bytes: &[u8], what: &'static str) -> Result<Vec<u16>, HelloError> {
    let pairs = bytes.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(HelloError::Malformed(what));
    }
    Ok(pairs
        .filter_map(|pair| <[u8; 2]>::try_from(pair).ok())
        .map(u16::from_be_bytes)
        .collect())
}

/// Parses a complete ClientHello body (after the handshake header).
fn parse_body(body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut reader = Reader::new(body);
    let legacy_version = reader.u16("short legacy_version")?;
    reader.take(RANDOM_LEN, "short random")?;
    let session_id = reader.vec8("short legacy_session_id")?;
    if session_id.len() > MAX_SESSION_ID_LEN {
        return Err(HelloError::Malformed(
            "legacy_session_id longer than 32 bytes",
        ));
    }
    let cipher_suites = u16_list(
        reader.vec16("short cipher_suites")?,
        "odd cipher_suites length",
    )?;
    reader.vec8("short legacy_compression_methods")?;
    let mut hello = ClientHello {
        legacy_version,
        cipher_suites,
        extensions: Vec::new(),
        server_name: None,
        alpn: Vec::new(),
        supported_versions: Vec::new(),
        signature_algorithms: Vec::new(),
    };
    // TLS 1.2 and older allow the extensions block to be absent.
    if !reader.is_empty() {
        let block = reader.vec16("short extensions block")?;
        reader.finish("bytes after the extensions block")?;
        parse_extensions(block, &mut hello)?;
    }
    Ok(hello)
}

/// Reads the extensions block into `hello`: every id, and the decoded fields of the
/// first occurrence of each extension it reports.
fn parse_extensions(block: &[u8], hello: &mut ClientHello) -> Result<(), HelloError> {
    let mut reader = Reader::new(block);
    let mut seen = Seen::default();
    while !reader.is_empty() {
        let id = reader.u16("short extension header")?;
        let data = reader.vec16("short extension data")?;
        hello.extensions.push(id);
        decode_extension(id, data, hello, &mut seen)?;
    }
    Ok(())
}

/// Which decoded extensions have already occurred.
#[derive(Default)]
struct Seen {
    server_name: bool,
    alpn: bool,
    supported_versions: bool,
    signature_algorithms: bool,
}

/// Decodes one extension's data if `hello` reports it. Every occurrence must be well
/// formed; only the first fills `hello`.
fn decode_extension(
    id: u16,
    data: &[u8],
    hello: &mut ClientHello,
    seen: &mut Seen,
) -> Result<(), HelloError> {
    match id {
        EXT_SERVER_NAME => {
            let name = server_name(data)?;
            if !std::mem::replace(&mut seen.server_name, true) {
                hello.server_name = name;
            }
        }
        EXT_ALPN => {
            let names = alpn(data)?;
            if !std::mem::replace(&mut seen.alpn, true) {
                hello.alpn = names;
            }
        }
        EXT_SUPPORTED_VERSIONS => {
            let versions = supported_versions(data)?;
            if !std::mem::replace(&mut seen.supported_versions, true) {
                hello.supported_versions = versions;
            }
        }
        EXT_SIGNATURE_ALGORITHMS => {
            let schemes = signature_algorithms(data)?;
            if !std::mem::replace(&mut seen.signature_algorithms, true) {
                hello.signature_algorithms = schemes;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The first `host_name` of a server_name extension (RFC 6066 §3). Empty extension data
/// (which only servers should send) names no host.
fn server_name(data: &[u8]) -> Result<Option<String>, HelloError> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut outer = Reader::new(data);
    let mut list = Reader::new(outer.vec16("short server_name list")?);
    outer.finish("bytes after the server_name list")?;
    let mut host = None;
    while !list.is_empty() {
        let name_type = list.u8("short server_name entry")?;
        let name = list.vec16("short server_name entry")?;
        if name_type == 0 && host.is_none() {
            host = Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    Ok(host)
}

/// The protocol names of an ALPN extension (RFC 7301 §3.1). Empty lists and names, which
/// the RFC forbids, are kept: JA4 gives them a meaning.
fn alpn(data: &[u8]) -> Result<Vec<Vec<u8>>, HelloError> {
    let mut outer = Reader::new(data);
    let mut list = Reader::new(outer.vec16("short ALPN list")?);
    outer.finish("bytes after the ALPN list")?;
    let mut names = Vec::new();
    while !list.is_empty() {
        names.push(list.vec8("short ALPN protocol name")?.to_vec());
    }
    Ok(names)
}

/// The versions of a ClientHello's supported_versions extension (RFC 8446 §4.2.1).
fn supported_versions(data: &[u8]) -> Result<Vec<u16>, HelloError> {
    let mut reader = Reader::new(data);
    let list = reader.vec8("short supported_versions list")?;
    reader.finish("bytes after the supported_versions list")?;
    u16_list(list, "odd supported_versions length")
}

/// The schemes of a signature_algorithms extension (RFC 8446 §4.2.3).
fn signature_algorithms(data: &[u8]) -> Result<Vec<u16>, HelloError> {
    let mut reader = Reader::new(data);
    let list = reader.vec16("short signature_algorithms list")?;
    reader.finish("bytes after the signature_algorithms list")?;
    u16_list(list, "odd signature_algorithms length")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello body: version, ciphers, then the extensions block when `extensions` is
    /// `Some`.
    fn body(ciphers: &[u16], extensions: Option<&[(u16, Vec<u8>)]>) -> Vec<u8> {
        let mut out = vec![0x03, 0x03];
        out.extend([0x11; RANDOM_LEN]);
        out.extend([1, 0xee]);
        out.extend(u16_prefixed(
            &ciphers
                .iter()
                .flat_map(|c| c.to_be_bytes())
                .collect::<Vec<_>>(),
        ));
        out.extend([1, 0]);
        if let Some(extensions) = extensions {
            let mut block = Vec::new();
            for (id, data) in extensions {
                block.extend(id.to_be_bytes());
                block.extend(u16_prefixed(data));
            }
            out.extend(u16_prefixed(&block));
        }
        out
    }

    fn u16_prefixed(data: &[u8]) -> Vec<u8> {
        let mut out = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        out.extend(data);
        out
    }

    /// A handshake message of type 1 around `body`.
    fn message(body: &[u8]) -> Vec<u8> {
        let mut out = vec![HANDSHAKE_CLIENT_HELLO];
        out.extend(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
        out.extend(body);
        out
    }

    /// `message` in handshake records of at most `size` bytes.
    fn records(message: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in message.chunks(size) {
            out.extend([CONTENT_HANDSHAKE, 0x03, 0x01]);
            out.extend(u16_prefixed(chunk));
        }
        out
    }

    fn sample_extensions() -> Vec<(u16, Vec<u8>)> {
        let sni = [&[0x00, 0x0e, 0x00, 0x00, 0x0b][..], b"example.com"].concat();
        let alpn = [&[0x00, 0x0c, 0x02][..], b"h2", &[0x08], b"http/1.1"].concat();
        vec![
            (0x0a0a, vec![]),
            (EXT_SERVER_NAME, sni),
            (EXT_ALPN, alpn),
            (
                EXT_SUPPORTED_VERSIONS,
                vec![6, 0x0a, 0x0a, 0x03, 0x04, 0x03, 0x03],
            ),
            (EXT_SIGNATURE_ALGORITHMS, vec![0, 4, 0x04, 0x03, 0x08, 0x04]),
            (0xff01, vec![0]),
        ]
    }

    /// The reader walks each record header once as bytes arrive: a hello in one-byte
    /// records, sent three bytes at a time, is read whole.
    #[tokio::test]
    async fn a_hello_in_tiny_records_arriving_a_few_bytes_at_a_time_is_read() {
        use tokio::io::AsyncWriteExt;
        let message = message(&body(&[0x1a1a, 0x1301, 0xc02b], Some(&sample_extensions())));
        let bytes = records(&message, 1);
        let expected = parse_client_hello(&sample(), MAX_CLIENT_HELLO)
            .unwrap()
            .map(|(hello, _)| hello);
        assert!(expected.is_some());
        let (mut client, server) = tokio::io::duplex(8);
        let writer = tokio::spawn(async move {
            for chunk in bytes.chunks(3) {
                client.write_all(chunk).await.unwrap();
            }
            client
        });
        let timeout = std::time::Duration::from_secs(10);
        let (_, hello) = crate::net::read_client_hello(server, MAX_CLIENT_HELLO, timeout)
            .await
            .unwrap();
        assert_eq!(hello, expected);
        drop(writer.await.unwrap());
    }

    fn sample() -> Vec<u8> {
        records(
            &message(&body(&[0x1a1a, 0x1301, 0xc02b], Some(&sample_extensions()))),
            1 << 14,
        )
    }

    fn parse(bytes: &[u8]) -> Result<Option<(ClientHello, usize)>, HelloError> {
        parse_client_hello(bytes, MAX_CLIENT_HELLO)
    }

    fn parsed(bytes: &[u8]) -> ClientHello {
        parse(bytes).unwrap().unwrap().0
    }

    #[test]
    fn decodes_the_fields() {
        let bytes = sample();
        let (hello, consumed) = parse(&bytes).unwrap().unwrap();
        assert_eq!(consumed, bytes.len());
        assert_eq!(hello.legacy_version, 0x0303);
        assert_eq!(hello.cipher_suites, [0x1a1a, 0x1301, 0xc02b]);
        assert_eq!(
            hello.extensions,
            [0x0a0a, 0x0000, 0x0010, 0x002b, 0x000d, 0xff01]
        );
        assert_eq!(hello.server_name.as_deref(), Some("example.com"));
        assert_eq!(hello.alpn, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(hello.supported_versions, [0x0a0a, 0x0304, 0x0303]);
        assert_eq!(hello.signature_algorithms, [0x0403, 0x0804]);
    }

    #[test]
    fn extensions_block_may_be_absent() {
        let hello = parsed(&records(&message(&body(&[0x002f], None)), 1 << 14));
        assert!(hello.extensions.is_empty());
        assert_eq!(hello.server_name, None);
        // An empty block is not the same bytes but gives the same fields.
        let empty = parsed(&records(&message(&body(&[0x002f], Some(&[]))), 1 << 14));
        assert_eq!(empty, hello);
    }

    #[test]
    fn duplicate_extensions_are_kept_and_the_first_decoded() {
        let sni = |name: &[u8]| [&[0x00, 0x06, 0x00, 0x00, 0x03][..], name].concat();
        let extensions = [
            (0, sni(b"one")),
            (0x0017, vec![]),
            (0, sni(b"two")),
            (0x0017, vec![]),
        ];
        let hello = parsed(&records(
            &message(&body(&[0x002f], Some(&extensions))),
            1 << 14,
        ));
        assert_eq!(hello.extensions, [0x0000, 0x0017, 0x0000, 0x0017]);
        assert_eq!(hello.server_name.as_deref(), Some("one"));
    }

    #[test]
    fn bytes_after_the_message_are_not_consumed() {
        let hello = sample();
        let mut bytes = hello.clone();
        bytes.extend([0x17, 0x03, 0x03, 0x00, 0x01, 0xff, 0xde, 0xad]);
        let (_, consumed) = parse(&bytes).unwrap().unwrap();
        assert_eq!(consumed, hello.len());
    }

    #[test]
    fn rest_of_the_last_record_is_skipped_but_awaited() {
        let mut msg = message(&body(&[0x002f], Some(&sample_extensions())));
        let message_len = msg.len();
        msg.extend([0x0b, 0x00, 0x00, 0x00]); // A further (empty) handshake message.
        let bytes = records(&msg, 1 << 14);
        assert_eq!(parse(&bytes).unwrap().unwrap().1, bytes.len());
        let short = &bytes[..RECORD_HEADER_LEN + message_len];
        assert_eq!(parse(short), Ok(None));
    }

    #[test]
    fn reassembles_records_of_every_size() {
        let expected = parsed(&sample());
        let msg = message(&body(&[0x1a1a, 0x1301, 0xc02b], Some(&sample_extensions())));
        for size in [1, 2, 3, 4, 5, 17, 100, msg.len() - 1] {
            let bytes = records(&msg, size);
            for end in 0..bytes.len() {
                assert_eq!(
                    parse(&bytes[..end]),
                    Ok(None),
                    "records of {size}, prefix {end}"
                );
            }
            assert_eq!(parse(&bytes), Ok(Some((expected.clone(), bytes.len()))));
        }
    }

    #[test]
    fn tells_other_protocols_apart() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls));
        assert_eq!(parse(b"G"), Err(HelloError::NotTls));
        assert_eq!(parse(&[0x16, 0x04]), Err(HelloError::NotTls));
        assert_eq!(parse(&[0x16, 0x03, 0x10]), Err(HelloError::NotTls));
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&[0x16, 0x03]), Ok(None));
        // SSL 2.0 record header (length 0x2e), CLIENT-HELLO, version 3.1.
        assert_eq!(
            parse(&[0x80, 0x2e, 0x01, 0x03, 0x01]),
            Err(HelloError::SslV2)
        );
        let mut server_hello = message(&body(&[0x1301], None));
        server_hello[0] = 2;
        assert_eq!(
            parse(&records(&server_hello, 1 << 14)),
            Err(HelloError::NotClientHello)
        );
        assert_eq!(
            parse(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x02]),
            Err(HelloError::NotClientHello)
        );
    }

    #[test]
    fn rejects_bad_records() {
        let bytes = records(&message(&body(&[0x1301], None)), 20);
        let mut other_type = bytes.clone();
        other_type[25] = 0x17;
        assert!(matches!(parse(&other_type), Err(HelloError::Malformed(_))));
        let mut other_version = bytes.clone();
        other_version[26] = 0x02;
        assert!(matches!(
            parse(&other_version),
            Err(HelloError::Malformed(_))
        ));
        let empty = [0x16, 0x03, 0x01, 0x00, 0x00];
        assert_eq!(
            parse(&empty),
            Err(HelloError::Malformed("empty handshake record"))
        );
        let long = [0x16, 0x03, 0x01, 0x40, 0x01];
        assert_eq!(
            parse(&long),
            Err(HelloError::Malformed("record longer than 2^14 bytes"))
        );
        assert_eq!(parse(&[0x16, 0x03, 0x01, 0x40, 0x00]), Ok(None));
    }

    #[test]
    fn rejects_malformed_bodies() {
        let check = |body: Vec<u8>, what: &'static str| {
            let got = parse(&records(&message(&body), 1 << 14));
            assert_eq!(got, Err(HelloError::Malformed(what)));
        };
        check(vec![0x03], "short legacy_version");
        let good = body(&[0x1301], Some(&sample_extensions()));
        check(good[..20].to_vec(), "short random");
        let mut long_session = good.clone();
        long_session[34] = 33;
        long_session.splice(35..36, [0; 33]);
        check(long_session, "legacy_session_id longer than 32 bytes");
        let mut odd = body(&[], None);
        odd.splice(36..38, [0, 1, 0xff]);
        check(odd, "odd cipher_suites length");
        let mut after = good.clone();
        after.push(0);
        check(after, "bytes after the extensions block");
        let bad_alpn = [(EXT_ALPN, vec![0, 3, 5, b'h', b'2'])];
        check(body(&[0x1301], Some(&bad_alpn)), "short ALPN protocol name");
        let bad_versions = [(EXT_SUPPORTED_VERSIONS, vec![3, 3, 4, 3])];
        check(
            body(&[0x1301], Some(&bad_versions)),
            "odd supported_versions length",
        );
        let bad_sni = [(EXT_SERVER_NAME, vec![0, 4, 0, 0, 9, b'a'])];
        check(body(&[0x1301], Some(&bad_sni)), "short server_name entry");
        let mut cut = body(&[0x1301], Some(&[(0x0017, vec![])]));
        let len = cut.len();
        cut[len - 5] = 1;
        cut.truncate(len - 3);
        check(cut, "short extension header");
    }

    #[test]
    fn lenient_where_ja4_gives_a_meaning() {
        let extensions = [(EXT_ALPN, vec![0, 0]), (EXT_SERVER_NAME, vec![])];
        let hello = parsed(&records(&message(&body(&[], Some(&extensions))), 1 << 14));
        assert!(hello.cipher_suites.is_empty());
        assert!(hello.alpn.is_empty());
        assert_eq!(hello.server_name, None);
        let empty_name = [(EXT_ALPN, vec![0, 1, 0])];
        let hello = parsed(&records(&message(&body(&[1], Some(&empty_name))), 1 << 14));
        assert_eq!(hello.alpn, [Vec::<u8>::new()]);
    }

    #[test]
    fn enforces_the_limit() {
        let bytes = sample();
        let fits = bytes.len();
        assert!(parse_client_hello(&bytes, fits).unwrap().is_some());
        let too_large = Err(HelloError::TooLarge { limit: fits - 1 });
        assert_eq!(parse_client_hello(&bytes, fits - 1), too_large);
        // Known from the record header alone.
        assert_eq!(parse_client_hello(&bytes[..5], fits - 1), too_large);
        // Known from the handshake header: a 2^24 - 1 byte message, nothing allocated.
        let huge = [0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff];
        let limit = MAX_CLIENT_HELLO;
        assert_eq!(
            parse_client_hello(&huge, limit),
            Err(HelloError::TooLarge { limit })
        );
        assert_eq!(parse_client_hello(&huge, usize::MAX), Ok(None));
        // Split into small records, the headers count too.
        let split = records(&message(&body(&[0x1301], Some(&sample_extensions()))), 10);
        let limit = split.len() - 1;
        assert_eq!(
            parse_client_hello(&split, limit),
            Err(HelloError::TooLarge { limit })
        );
    }

    #[test]
    fn prefixes_need_more_or_fail_alike() {
        let mut cases = vec![sample()];
        let mut bad = records(&message(&body(&[0x1301], None)), 7);
        bad[12 * 3] = 0x15;
        cases.push(bad);
        cases.push(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00".to_vec());
        for bytes in cases {
            let whole = parse(&bytes);
            for end in 0..bytes.len() {
                let part = parse(&bytes[..end]);
                assert!(
                    part == Ok(None) || part == whole,
                    "prefix {end}: {part:?} vs {whole:?}"
                );
            }
        }
    }
}

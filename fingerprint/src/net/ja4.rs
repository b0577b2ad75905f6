//! JA4, the TLS client fingerprint of FoxIO's JA4 specification, from a ClientHello.
//!
//! A fingerprint reads `t13d1516h2_8daaf6152771_e5627efa2ab1`:
//!
//! - `t`: TLS over TCP (this module only sees TCP: QUIC's `q` and DTLS's `d` are not made);
//! - `13`: the TLS version, the highest non-GREASE value of supported_versions when that
//!   extension is present, else `legacy_version` (`13`, `12`, `11`, `10`, `s3`, `s2`, the
//!   DTLS `d1`, `d2`, `d3`, and `00` for anything else);
//! - `d`: a server_name extension is present (a domain), `i` when it is absent (an IP);
//! - `15`, `16`: the numbers of cipher suites and of extensions (SNI and ALPN included),
//!   GREASE excluded, two digits capped at 99;
//! - `h2`: the first and last characters of the first ALPN protocol name (`00` when there
//!   is none or it is empty); when the first or last byte is not an ASCII letter or digit,
//!   the first and last digits of the name in hex instead;
//! - `8daaf6152771`: the first 12 hex digits of the SHA-256 of the sorted cipher suites
//!   (4-digit lowercase hex, comma-separated), `000000000000` when there are none;
//! - `e5627efa2ab1`: the same of the sorted extensions without SNI (`0000`) and ALPN
//!   (`0010`), then `_` and the signature algorithms in received order (no `_` when there
//!   are none), `000000000000` when the extension list is empty.
//!
//! GREASE values (`0x0a0a`, `0x1a1a`, ... `0xfafa`) are left out everywhere. `ja4_r` shows
//! the lists instead of their hashes; `ja4_o` and `ja4_ro` keep the received order, with
//! SNI and ALPN in the extension list.
//!
//! # Where FoxIO's reference code and the specification differ
//!
//! This module follows the specification text (technical_details/JA4.md of FoxIO's `ja4`
//! repository). Its reference implementations (the Rust `ja4` crate and `python/ja4.py` of
//! the same repository) differ on these points:
//!
//! - First or last ALPN byte not an ASCII letter or digit: the specification prints hex
//!   digits (`0xba 0xad` gives `bd`); the Rust code replaces a non-ASCII character by `9`
//!   and keeps ASCII punctuation, the Python code prints `99` (FoxIO's
//!   `tls-non-ascii-alpn.pcapng` gives `t13d151699_...` there, `t13d1516bd_...` here).
//! - One-byte ALPN name: the specification repeats the character (`a` gives `aa`); the Rust
//!   code prints `a0`, the Python code a single character.
//! - GREASE in signature_algorithms: the specification ignores GREASE anywhere, and so do
//!   this module and the Python code; the Rust code keeps such values.
//! - supported_versions holding only GREASE values (or none): no highest value, so `00`
//!   here; both reference implementations fail on such a hello.
//! - `ja4_o` when the only extensions are SNI and ALPN: the Python code prints
//!   `000000000000` because the sorted list (without them) is empty; the zero rule is about
//!   the list being hashed, so the original-order list (`0000` for SNI alone) is hashed
//!   here, as the Rust code does.
//! - The protocol letter: the Rust code writes `q` whenever the quic_transport_parameters
//!   extension is present; the specification takes it from the transport, `t` here.
//! - The SNI letter: the Python code looks for a host name, the specification (and this
//!   module) for the extension.
//! - DTLS versions (`d1`, `d2`, `d3`) are in the specification's table, not in the
//!   reference implementations' (which print `00`).
//!
//! # License
//!
//! JA4: TLS Client Fingerprinting is licensed under BSD 3-Clause by FoxIO (the rest of
//! JA4+ is under another license and is not implemented here). Its notice:
//!
//! Copyright (c) 2026 FoxIO
//! All rights reserved.
//! Software: JA4 (TLS client fingerprinting)
//!
//! Redistribution and use in source and binary forms, with or without modification, are
//! permitted provided that the following conditions are met:
//!
//! * Redistributions of source code must retain the above copyright notice, this list of
//!   conditions and the following disclaimer.
//!
//! * Redistributions in binary form must reproduce the above copyright notice, this list of
//!   conditions and the following disclaimer in the documentation and/or other materials
//!   provided with the distribution.
//!
//! * Neither the name of FoxIO nor the names of its contributors may be used to endorse or
//!   promote products derived from this software without specific prior written
//!   permission.
//!
//! THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND ANY
//! EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED WARRANTIES OF
//! MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL
//! THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
//! SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT
//! OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
//! INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT
//! LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
//! OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.

use std::fmt::Write as _;

use serde::Serialize;

use super::tls::{
    parse_client_hello, ClientHello, HelloError, EXT_ALPN, EXT_SERVER_NAME, EXT_SUPPORTED_VERSIONS,
    MAX_CLIENT_HELLO,
};

/// The hash printed for an empty list.
const EMPTY_HASH: &str = "000000000000";
/// The largest count printed.
const MAX_COUNT: usize = 99;

/// The four JA4 renderings of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct Ja4 {
    /// The fingerprint: sorted lists, hashed (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
    pub ja4: String,
    /// The sorted lists themselves instead of their hashes.
    pub ja4_r: String,
    /// Lists in received order (SNI and ALPN included), hashed.
    pub ja4_o: String,
    /// Lists in received order (SNI and ALPN included), not hashed.
    pub ja4_ro: String,
}

impl Ja4 {
    /// The JA4 of a ClientHello received over TCP (protocol letter `t`).
    pub fn from_hello(hello: &ClientHello) -> Ja4 {
        Parts::new(hello, 't').render()
    }
}

/// The JA4 of the ClientHello in `bytes`: one or more whole TLS records from the client's
/// first byte on, at most [`MAX_CLIENT_HELLO`] bytes of them. Bytes after the records
/// holding the ClientHello are ignored. Fails with [`HelloError::Incomplete`] when the
/// bytes end before the ClientHello does, or with the parser's error.
pub fn ja4_of_records(bytes: &[u8]) -> Result<Ja4, HelloError> {
    match parse_client_hello(bytes, MAX_CLIENT_HELLO)? {
        Some((hello, _consumed)) => Ok(Ja4::from_hello(&hello)),
        None => Err(HelloError::Incomplete),
    }
}

/// Whether a cipher suite, extension, version or signature algorithm value is GREASE
/// (RFC 8701): both bytes equal and of the form `0x?a`.
pub(crate) fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

/// The values that are not GREASE, in order.
fn without_grease(values: &[u16]) -> Vec<u16> {
    values.iter().copied().filter(|&v| !is_grease(v)).collect()
}

/// What the four renderings are made of.
struct Parts {
    /// The first section, such as `t13d1516h2`.
    prefix: String,
    /// Cipher suites in received order.
    ciphers: Vec<u16>,
    /// Extension ids in received order.
    extensions: Vec<u16>,
    /// Signature algorithms in received order.
    signature_algorithms: Vec<u16>,
}

impl Parts {
    fn new(hello: &ClientHello, transport: char) -> Parts {
        let ciphers = without_grease(&hello.cipher_suites);
        let extensions = without_grease(&hello.extensions);
        let prefix = format!(
            "{transport}{version}{sni}{ciphers:02}{extensions:02}{alpn}",
            version = version_code(hello),
            sni = sni_letter(hello),
            ciphers = ciphers.len().min(MAX_COUNT),
            extensions = extensions.len().min(MAX_COUNT),
            alpn = alpn_code(hello.alpn.first()),
        );
        Parts {
            prefix,
            ciphers,
            extensions,
            signature_algorithms: without_grease(&hello.signature_algorithms),
        }
    }

    fn render(&self) -> Ja4 {
        let mut sorted_ciphers = self.ciphers.clone();
        sorted_ciphers.sort_unstable();
        let mut sorted_extensions: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|&id| id != EXT_SERVER_NAME && id != EXT_ALPN)
            .collect();
        sorted_extensions.sort_unstable();
        let (ja4, ja4_r) = self.pair(&sorted_ciphers, &sorted_extensions);
        let (ja4_o, ja4_ro) = self.pair(&self.ciphers, &self.extensions);
        Ja4 {
            ja4,
            ja4_r,
            ja4_o,
            ja4_ro,
        }
    }

    /// The hashed and the raw rendering of the given cipher and extension lists.
    fn pair(&self, ciphers: &[u16], extensions: &[u16]) -> (String, String) {
        let cipher_text = hex_list(ciphers);
        let extension_text = extension_text(extensions, &self.signature_algorithms);
        let hashed = format!(
            "{}_{}_{}",
            self.prefix,
            list_hash(ciphers, &cipher_text),
            list_hash(extensions, &extension_text),
        );
        let raw = format!("{}_{cipher_text}_{extension_text}", self.prefix);
        (hashed, raw)
    }
}

/// The two-character TLS version.
fn version_code(hello: &ClientHello) -> &'static str {
    let version = if hello.extensions.contains(&EXT_SUPPORTED_VERSIONS) {
        without_grease(&hello.supported_versions).into_iter().max()
    } else {
        Some(hello.legacy_version)
    };
    match version {
        Some(0x0304) => "13",
        Some(0x0303) => "12",
        Some(0x0302) => "11",
        Some(0x0301) => "10",
        Some(0x0300) => "s3",
        Some(0x0002) => "s2",
        Some(0xfeff) => "d1",
        Some(0xfefd) => "d2",
        Some(0xfefc) => "d3",
        _ => "00",
    }
}

/// `d` when the server_name extension is present, `i` when it is not.
fn sni_letter(hello: &ClientHello) -> char {
    if hello.extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    }
}

/// The two ALPN characters of the first protocol name.
fn alpn_code(first: Option<&Vec<u8>>) -> String {
    let Some((&head, &tail)) = first.and_then(|name| name.first().zip(name.last())) else {
        return "00".to_owned();
    };
    if head.is_ascii_alphanumeric() && tail.is_ascii_alphanumeric() {
        [char::from(head), char::from(tail)].iter().collect()
    } else {
        [hex_digit(head >> 4), hex_digit(tail & 0x0f)]
            .iter()
            .collect()
    }
}

/// The lowercase hex digit of the low four bits.
fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble & 0x0f), 16).unwrap_or('0')
}

/// Values as 4-digit lowercase hex, comma-separated.
fn hex_list(values: &[u16]) -> String {
    let mut text = String::with_capacity(values.len().saturating_mul(5));
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{value:04x}");
    }
    text
}

/// The extension list, then `_` and the signature algorithms when there are any.
fn extension_text(extensions: &[u16], signature_algorithms: &[u16]) -> String {
    let mut text = hex_list(extensions);
    if !signature_algorithms.is_empty() {
        text.push('_');
        text.push_str(&hex_list(signature_algorithms));
    }
    text
}

/// The truncated hash of `text`, or [`EMPTY_HASH`] when `list` (what `text` shows) is
/// empty.
fn list_hash(list: &[u16], text: &str) -> String {
    if list.is_empty() {
        EMPTY_HASH.to_owned()
    } else {
        hash12(text)
    }
}

/// The first 12 lowercase hex digits of the SHA-256 of `text`.
fn hash12(text: &str) -> String {
    crate::hex::sha256_prefix(text.as_bytes(), 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ClientHellos from the pcaps of FoxIO's `ja4` repository (the TCP payload of the named
    // frame: the whole records), with the values its implementations print for them.

    // pcap/tls-handshake.pcapng, frame 1 (Chrome, TLS 1.3, GREASE ciphers, extensions and
    // versions). python/test/testdata/tls-handshake.pcapng.json, stream 0: "JA4.1",
    // "JA4_r.1", "JA4_o.1", "JA4_ro.1"; rust/ja4/src/snapshots/
    // ja4__insta@tls-handshake.pcapng.snap, stream 0:
    // `ja4: t13d1516h2_8daaf6152771_e5627efa2ab1`.
    const CHROME: &str = concat!(
        "1603010200010001fc03030f9e38acb9a54a7c6e00e29a70ac2feee180ff76d7f25dca84932a66a42d1e5a20",
        "bc58b92f865e6b9aa4a6371cadcb0afe1da1c0f705209a11d52357f56d5dd9620020aaaa130113021303c02b",
        "c02fc02cc030cca9cca8c013c014009c009d002f0035010001939a9a0000ff010001000033002b00290a0a00",
        "0100001d0020cf55af2603e92f59eb321779706a18fa6b96b16c16404c2264ed687a59401878002d00020101",
        "000500050100000000446900050003026832000d00120010040308040401050308050501080606010010000e",
        "000c02683208687474702f312e3100230000001b0003020002002b0007060a0a030403030000002200200000",
        "1d636c69656e7473657276696365732e676f6f676c65617069732e636f6d00120000000a000a00080a0a001d",
        "0017001800170000000b000201006a6a000100001500ba000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000",
    );

    // pcap/https-connect.pcap, frame 8 (behind an HTTP CONNECT: no SNI, no ALPN, TLS 1.2).
    // rust/ja4/src/snapshots/ja4__insta@https-connect.pcap.snap, stream 0:
    // `ja4: t12i860500_e18388e7f3a3_a1e935682795` (the Python test data has no JA4 for it).
    const NO_SNI: &str = concat!(
        "160301011c010001180303a3073873f429ef8ad6c13fa035798a93be55208aec5ffe09c5736f4f32c15e4b00",
        "00acc030c02cc028c024c014c00a00a500a300a1009f006b006a006900680039003800370036008800870086",
        "0085c032c02ec02ac026c00fc005009d003d00350084c02fc02bc027c023c013c00900a400a200a0009e0067",
        "0040003f003e0033003200310030009a0099009800970045004400430042c031c02dc029c025c00ec004009c",
        "003c002f00960041c012c008001600130010000dc00dc003000a0007c011c007c00cc0020005000400ff0100",
        "0043000b000403000102000a000a0008001700190018001600230000000d0020001e06010602060305010502",
        "0503040104020403030103020303020102020203000f000101",
    );

    // pcap/https3-301-get.pcap, frame 4 (TLS 1.0, SNI the only extension, no ALPN).
    // python/test/testdata/https3-301-get.pcap.json, stream 0: "JA4.1", "JA4_r.1",
    // "JA4_ro.1"; its "JA4_o.1" is `t10d230100_ce175d585f73_000000000000`, see the module
    // documentation for why the extension hash differs here.
    const SNI_ONLY_TLS10: &str = concat!(
        "16030100720100006e030152937a55b696cc98ae7b08ec10e765c98aefa82db3081771f8627617b967980800",
        "002e00390038003500160013000a00330032002f009a00990096000500040015001200090014001100080006",
        "000300ff0100001700000013001100000e7777772e6769746875622e636f6d",
    );

    // pcap/tls-handshake.pcapng, frame 24 (Chrome to mtalk.google.com: no ALPN).
    // python/test/testdata/tls-handshake.pcapng.json, stream 6: "JA4.1", "JA4_o.1";
    // rust/ja4/src/snapshots/ja4__insta@tls-handshake.pcapng.snap, stream 6.
    const NO_ALPN: &str = concat!(
        "1603010200010001fc0303554ec83cae046898f73292a02c9850a0189083f0ae3f068ff48f1199cae4733920",
        "0d8a5d83e0bf08a2b208de442a12235d924174c1669294c652a881d885248f920020aaaa130113021303c02b",
        "c02fc02cc030cca9cca8c013c014009c009d002f0035010001931a1a00000033002b00291a1a000100001d00",
        "20ee3adc5abf132c803e2a783d35ad5438cdeacb660293f6079b3f68eb6f9cff73002b0007069a9a03040303",
        "001b00030200020000001500130000106d74616c6b2e676f6f676c652e636f6d00120000002d00020101000d",
        "0012001004030804040105030805050108060601000a000a00081a1a001d0017001800050005010000000000",
        "23000000170000ff01000100000b00020100caca000100001500e20000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000",
    );

    // pcap/tls-non-ascii-alpn.pcapng, frame 1 (first ALPN name 0xba 0xad).
    // python/test/testdata/tls-non-ascii-alpn.pcapng.json, stream 0: "JA4.1" is
    // `t13d151699_8daaf6152771_e5627efa2ab1`; the specification's rule gives `bd` instead of
    // `99` (module documentation); the hashes are the reference's.
    const NON_ASCII_ALPN: &str = concat!(
        "1603010200010001fc03030f9e38acb9a54a7c6e00e29a70ac2feee180ff76d7f25dca84932a66a42d1e5a20",
        "bc58b92f865e6b9aa4a6371cadcb0afe1da1c0f705209a11d52357f56d5dd9620020aaaa130113021303c02b",
        "c02fc02cc030cca9cca8c013c014009c009d002f0035010001939a9a0000ff010001000033002b00290a0a00",
        "0100001d0020cf55af2603e92f59eb321779706a18fa6b96b16c16404c2264ed687a59401878002d00020101",
        "000500050100000000446900050003026832000d00120010040308040401050308050501080606010010000e",
        "000c02baad08687474702f312e3100230000001b0003020002002b0007060a0a030403030000002200200000",
        "1d636c69656e7473657276696365732e676f6f676c65617069732e636f6d00120000000a000a00080a0a001d",
        "0017001800170000000b000201006a6a000100001500ba000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000",
    );

    // pcap/tls12.pcap, frame 1 (Firefox). python/test/testdata/tls12.pcap.json, stream 0:
    // "JA4.1", "JA4_o.1"; rust/ja4/src/snapshots/ja4__insta@tls12.pcap.snap, stream 0.
    const FIREFOX: &str = concat!(
        "1603010200010001fc0303ecb2691addb2bf6c599c7aaae23de5f42561cc04eb41029acc6fc050a16ac1d220",
        "46f8617b580ac9358e2aa44e306d52466bcc989c87c8ca64309f5faf50ba7b4d0022130113031302c02bc02f",
        "cca9cca8c02cc030c00ac009c013c014009c009d002f00350100019100000021001f00001c636f6e74696c65",
        "2e73657276696365732e6d6f7a696c6c612e636f6d00170000ff01000100000a000e000c001d001700180019",
        "01000101000b00020100002300000010000e000c02683208687474702f312e31000500050100000000002200",
        "0a000804030503060302030033006b0069001d00208909858fbeb6ed2f1248ba5b9e2978bead0e840110192c",
        "61daed0096798b184400170041044d183d91f5eed35791fa982464e3b0214aaa5f5d1b78616d9b9fbebc22d1",
        "1f535b2f94c686143136aa795e6e5a875d6c08064ad5b76d44caad766e2483012748002b0005040304030300",
        "0d0018001604030503060308040805080604010501060102030201002d00020101001c000240010015007a00",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000",
    );

    // pcap/macos_tcp_flags.pcap, frame 4 (26 ciphers, a repeated signature algorithm).
    // python/test/testdata/macos_tcp_flags.pcap.json, stream 0: "JA4.1", "JA4_r.1",
    // "JA4_o.1"; rust/ja4/src/snapshots/ja4__insta@macos_tcp_flags.pcap.snap, stream 0.
    const MACOS: &str = concat!(
        "1603010200010001fc0303be5f9052a6e5dad136a18f9eb8fae35ce0531d86fb97f34226164a93e9ab9fa620",
        "bd61910adcce0b8d48d6424d7bb5dc597ddee64fe024e0320e9055d67c965b910034130113021303c02cc02b",
        "c024c023c00ac009cca9c030c02fc028c027c014c013cca8009d009c003d003c0035002fc008c012000a0100",
        "017fff0100010000000017001500001276656e61726973656375726974792e636f6d00170000000d00180016",
        "04030804040105030203080508050501080606010201000500050100000000001200000010000e000c026832",
        "08687474702f312e31000b00020100003300260024001d00204a82dd7715d78f694d725f68bce0362b3bcfb9",
        "0bd51c907008c7d29a2b6b5c58002d00020101002b0009080304030303020301000a000a0008001d00170018",
        "0019001500cb0000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000",
    );

    // pcap/tls-alpn-h2.pcap, frame 4 (TLS 1.2 without supported_versions, 46 ciphers).
    // python/test/testdata/tls-alpn-h2.pcap.json, stream 0: "JA4.1", "JA4_o.1";
    // rust/ja4/src/snapshots/ja4__insta@tls-alpn-h2.pcap.snap, stream 0.
    const MANY_CIPHERS: &str = concat!(
        "16030100e8010000e40303858226c04fbaeddef4246093b4cfdab38f9dcfef145360e417686575cac49c7000",
        "005cc030c02cc028c024c014c00a009f006b0039cca9cca8ccaaff8500c400880081009d003d003500c00084",
        "c02fc02bc027c023c013c009009e0067003300be0045009c003c002f00ba0041c011c00700050004c012c008",
        "0016000a00ff0100005f0000001700150000127777772e636c6f7564666c6172652e636f6d000b0002010000",
        "0a00080006001d00170018000d001c001a06010603efef0501050304010403eeeeeded030103030201020300",
        "10000e000c02683208687474702f312e31",
    );

    /// Bytes from hex text.
    fn unhex(text: &str) -> Vec<u8> {
        let digit = |c: u8| char::from(c).to_digit(16).unwrap() as u8;
        text.as_bytes()
            .chunks(2)
            .map(|p| digit(p[0]) << 4 | digit(p[1]))
            .collect()
    }

    fn hello_of(hex: &str) -> ClientHello {
        parse_client_hello(&unhex(hex), MAX_CLIENT_HELLO)
            .unwrap()
            .unwrap()
            .0
    }

    fn ja4_of(hex: &str) -> Ja4 {
        ja4_of_records(&unhex(hex)).unwrap()
    }

    /// The same handshake message in records of at most `size` bytes.
    fn refragment(bytes: &[u8], size: usize) -> Vec<u8> {
        let (hello, consumed) = parse_client_hello(bytes, MAX_CLIENT_HELLO)
            .unwrap()
            .unwrap();
        assert_eq!(consumed, bytes.len(), "one record of exactly one message");
        let _ = hello;
        let mut out = Vec::new();
        for chunk in bytes[5..].chunks(size) {
            out.extend([0x16, 0x03, 0x01]);
            out.extend(u16::try_from(chunk.len()).unwrap().to_be_bytes());
            out.extend(chunk);
        }
        out
    }

    const REFERENCES: [&str; 8] = [
        CHROME,
        NO_SNI,
        SNI_ONLY_TLS10,
        NO_ALPN,
        NON_ASCII_ALPN,
        FIREFOX,
        MACOS,
        MANY_CIPHERS,
    ];

    #[test]
    fn chrome_with_grease() {
        let ja4 = ja4_of(CHROME);
        assert_eq!(ja4.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(
            ja4.ja4_r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,\
             cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,\
             0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(ja4.ja4_o, "t13d1516h2_acb858a92679_8fc3c02244b2");
        assert_eq!(
            ja4.ja4_ro,
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,\
             0035_ff01,0033,002d,0005,4469,000d,0010,0023,001b,002b,0000,0012,000a,0017,000b,\
             0015_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        let hello = hello_of(CHROME);
        assert_eq!(
            hello.server_name.as_deref(),
            Some("clientservices.googleapis.com")
        );
        assert_eq!(hello.cipher_suites.first(), Some(&0xaaaa));
    }

    #[test]
    fn without_sni_and_alpn() {
        assert_eq!(ja4_of(NO_SNI).ja4, "t12i860500_e18388e7f3a3_a1e935682795");
        assert_eq!(hello_of(NO_SNI).server_name, None);
    }

    #[test]
    fn sni_the_only_extension() {
        let ja4 = ja4_of(SNI_ONLY_TLS10);
        assert_eq!(ja4.ja4, "t10d230100_6a57a6f57151_000000000000");
        assert_eq!(
            ja4.ja4_r,
            "t10d230100_0003,0004,0005,0006,0008,0009,000a,0011,0012,0013,0014,0015,0016,002f,\
             0032,0033,0035,0038,0039,0096,0099,009a,00ff_"
        );
        assert_eq!(
            ja4.ja4_o,
            format!("t10d230100_ce175d585f73_{}", hash12("0000"))
        );
        assert_eq!(
            ja4.ja4_ro,
            "t10d230100_0039,0038,0035,0016,0013,000a,0033,0032,002f,009a,0099,0096,0005,0004,\
             0015,0012,0009,0014,0011,0008,0006,0003,00ff_0000"
        );
    }

    #[test]
    fn other_references() {
        let cases = [
            (
                NO_ALPN,
                "t13d151400_8daaf6152771_de4a06bb82e3",
                "acb858a92679_2f4561be1d1f",
            ),
            (
                NON_ASCII_ALPN,
                "t13d1516bd_8daaf6152771_e5627efa2ab1",
                "acb858a92679_8fc3c02244b2",
            ),
            (
                FIREFOX,
                "t13d1715h2_5b57614c22b0_3d5424432f57",
                "5b234860e130_014157ec0da2",
            ),
            (
                MACOS,
                "t13d2613h2_2802a3db6c62_845d286b0d67",
                "78a7dc604b78_93870a65b655",
            ),
            (
                MANY_CIPHERS,
                "t12d4605h2_85626a9a5f7f_aaf95bb78ec9",
                "644f5d117d98_094daec7ec8d",
            ),
        ];
        for (hex, ja4, ja4_o_hashes) in cases {
            let got = ja4_of(hex);
            assert_eq!(got.ja4, ja4);
            assert_eq!(got.ja4_o, format!("{}_{ja4_o_hashes}", &ja4[..10]));
        }
        assert!(ja4_of(MACOS)
            .ja4_r
            .ends_with("_0403,0804,0401,0503,0203,0805,0805,0501,0806,0601,0201"));
    }

    /// The specification's example (technical_details/JA4.md, "Example" and "Raw Output").
    fn spec_example() -> ClientHello {
        ClientHello {
            legacy_version: 0x0303,
            cipher_suites: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
                0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            server_name: Some("example.com".to_owned()),
            alpn: vec![b"h2".to_vec()],
            supported_versions: vec![0x0304, 0x0303],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
        }
    }

    #[test]
    fn specification_example() {
        let ja4 = Ja4::from_hello(&spec_example());
        assert_eq!(ja4.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(ja4.ja4_o, "t13d1516h2_acb858a92679_18f69afefd3d");
        assert_eq!(
            ja4.ja4_ro,
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,\
             0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,\
             0015_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        // "If there are no signature algorithms ... = 6d807ffa2a79".
        let hello = ClientHello {
            signature_algorithms: vec![],
            ..spec_example()
        };
        assert!(Ja4::from_hello(&hello).ja4.ends_with("_6d807ffa2a79"));
    }

    #[test]
    fn grease_is_ignored_everywhere() {
        let plain = ClientHello {
            cipher_suites: without_grease(&hello_of(CHROME).cipher_suites),
            extensions: without_grease(&hello_of(CHROME).extensions),
            supported_versions: without_grease(&hello_of(CHROME).supported_versions),
            ..hello_of(CHROME)
        };
        let expected = Ja4::from_hello(&plain);
        assert_eq!(expected, ja4_of(CHROME));
        let mut greased = plain.clone();
        for (i, grease) in (0..16u16).map(|n| n << 12 | n << 4 | 0x0a0a).enumerate() {
            assert!(is_grease(grease));
            greased.cipher_suites.insert(i % 3, grease);
            greased.extensions.insert(i * 2 % 7, grease);
            greased.supported_versions.insert(i % 2, grease);
            greased.signature_algorithms.insert(i % 5, grease);
        }
        assert_eq!(Ja4::from_hello(&greased), expected);
        assert!(!is_grease(0x0a1a) && !is_grease(0x0b0b) && !is_grease(0xaaab));
    }

    #[test]
    fn counts_are_capped_at_99() {
        let hello = ClientHello {
            cipher_suites: (0..150).collect(),
            extensions: (0x100..0x100 + 120).collect(),
            ..spec_example()
        };
        assert!(Ja4::from_hello(&hello).ja4.starts_with("t12i9999h2_"));
        let hello = ClientHello {
            cipher_suites: (0..99).collect(),
            ..hello
        };
        assert!(Ja4::from_hello(&hello).ja4.starts_with("t12i9999h2_"));
        let hello = ClientHello {
            cipher_suites: (0..9).collect(),
            ..hello
        };
        assert!(Ja4::from_hello(&hello).ja4.starts_with("t12i0999h2_"));
    }

    #[test]
    fn alpn_characters() {
        let code = |alpn: Vec<Vec<u8>>| {
            let hello = ClientHello {
                alpn,
                ..spec_example()
            };
            Ja4::from_hello(&hello).ja4[8..10].to_owned()
        };
        assert_eq!(code(vec![]), "00");
        assert_eq!(code(vec![vec![], b"h2".to_vec()]), "00");
        assert_eq!(code(vec![b"http/1.1".to_vec(), b"h2".to_vec()]), "h1");
        assert_eq!(code(vec![b"a".to_vec()]), "aa");
        assert_eq!(code(vec![b"h3-29".to_vec()]), "h9");
        // The specification's list of non-alphanumeric examples.
        let examples: [(&[u8], &str); 8] = [
            (&[0xab], "ab"),
            (&[0x20], "20"),
            (&[0xab, 0xcd], "ad"),
            (&[0x20, 0x61], "21"),
            (&[0x30, 0xab], "3b"),
            (&[0x61, 0x20], "60"),
            (&[0x30, 0x31, 0xab, 0xcd], "3d"),
            (&[0x30, 0xab, 0xcd, 0x31], "01"),
        ];
        for (name, expected) in examples {
            assert_eq!(code(vec![name.to_vec()]), expected, "{name:x?}");
        }
    }

    #[test]
    fn sni_letter_follows_the_extension() {
        let without = ClientHello {
            extensions: spec_example()
                .extensions
                .into_iter()
                .filter(|&e| e != 0)
                .collect(),
            server_name: None,
            ..spec_example()
        };
        let ja4 = Ja4::from_hello(&without);
        assert_eq!(ja4.ja4, "t13i1515h2_8daaf6152771_e5627efa2ab1");
        // An extension naming no host still means a domain.
        let empty = ClientHello {
            server_name: None,
            ..spec_example()
        };
        assert_eq!(&Ja4::from_hello(&empty).ja4[3..4], "d");
    }

    #[test]
    fn version_rules() {
        let version = |legacy: u16, extensions: Vec<u16>, supported: Vec<u16>| {
            let hello = ClientHello {
                legacy_version: legacy,
                extensions,
                supported_versions: supported,
                ..spec_example()
            };
            Ja4::from_hello(&hello).ja4[1..3].to_owned()
        };
        assert_eq!(
            version(0x0303, vec![0x002b], vec![0x0a0a, 0x0303, 0x0304]),
            "13"
        );
        assert_eq!(version(0x0303, vec![0x002b], vec![0x0302, 0x0301]), "11");
        assert_eq!(version(0x0303, vec![0x002b], vec![0x1a1a]), "00");
        assert_eq!(version(0x0303, vec![0x002b], vec![]), "00");
        assert_eq!(version(0x0303, vec![], vec![0x0304]), "12");
        assert_eq!(version(0x0301, vec![0x000a], vec![]), "10");
        assert_eq!(version(0x0300, vec![], vec![]), "s3");
        assert_eq!(version(0x0002, vec![], vec![]), "s2");
        assert_eq!(version(0xfefd, vec![], vec![]), "d2");
        assert_eq!(version(0x0305, vec![], vec![]), "00");
        assert_eq!(version(0x0303, vec![0x002b], vec![0x7f1c, 0x0304]), "00");
    }

    #[test]
    fn sorted_forms_ignore_order() {
        let mut reversed = spec_example();
        reversed.cipher_suites.reverse();
        reversed.extensions.reverse();
        let (a, b) = (Ja4::from_hello(&spec_example()), Ja4::from_hello(&reversed));
        assert_eq!((a.ja4, a.ja4_r), (b.ja4, b.ja4_r));
        assert_ne!(a.ja4_o, b.ja4_o);
        // The signature algorithms keep their order even in the sorted forms.
        let mut sigs = spec_example();
        sigs.signature_algorithms.reverse();
        assert_ne!(
            Ja4::from_hello(&sigs).ja4,
            Ja4::from_hello(&spec_example()).ja4
        );
    }

    #[test]
    fn empty_lists_hash_to_zeros() {
        let hello = ClientHello {
            legacy_version: 0x0303,
            cipher_suites: vec![0x0a0a],
            extensions: vec![],
            server_name: None,
            alpn: vec![],
            supported_versions: vec![],
            signature_algorithms: vec![],
        };
        let ja4 = Ja4::from_hello(&hello);
        assert_eq!(ja4.ja4, "t12i000000_000000000000_000000000000");
        assert_eq!(ja4.ja4_r, "t12i000000__");
        assert_eq!(ja4.ja4_o, ja4.ja4);
        assert_eq!(ja4.ja4_ro, ja4.ja4_r);
        let only_sni_alpn = ClientHello {
            extensions: vec![0x0010, 0x0000],
            ..hello
        };
        let ja4 = Ja4::from_hello(&only_sni_alpn);
        assert_eq!(ja4.ja4, "t12d000200_000000000000_000000000000");
        assert_eq!(ja4.ja4_ro, "t12d000200__0010,0000");
    }

    #[test]
    fn split_records_and_segments() {
        for hex in REFERENCES {
            let bytes = unhex(hex);
            let expected = ja4_of_records(&bytes).unwrap();
            for size in [1, 2, 3, 5, 100, 300] {
                let split = refragment(&bytes, size);
                assert_eq!(
                    ja4_of_records(&split).unwrap(),
                    expected,
                    "records of {size}"
                );
            }
            // As TCP segments arrive: every prefix needs more.
            let split = refragment(&bytes, 200);
            for end in 0..split.len() {
                assert_eq!(
                    parse_client_hello(&split[..end], MAX_CLIENT_HELLO),
                    Ok(None)
                );
                assert_eq!(ja4_of_records(&split[..end]), Err(HelloError::Incomplete));
            }
            let whole = parse_client_hello(&split, MAX_CLIENT_HELLO)
                .unwrap()
                .unwrap();
            assert_eq!(whole.1, split.len());
        }
    }

    #[test]
    fn over_the_limit() {
        let bytes = unhex(CHROME);
        let limit = bytes.len() - 1;
        let result = parse_client_hello(&bytes, limit);
        assert_eq!(result, Err(HelloError::TooLarge { limit }));
        let mut huge = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00];
        huge.resize(5 + (1 << 14), 0);
        let result = ja4_of_records(&huge);
        assert_eq!(
            result,
            Err(HelloError::TooLarge {
                limit: MAX_CLIENT_HELLO
            })
        );
    }

    use crate::net::test_rng::XorShift;

    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let references: Vec<Vec<u8>> = REFERENCES.iter().map(|hex| unhex(hex)).collect();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut parsed = 0;
        for round in 0..100_000 {
            let input = match round % 4 {
                // Random bytes behind a plausible record header.
                0 => {
                    let len = rng.below(600);
                    let mut bytes = vec![0x16, 0x03, 0x01];
                    bytes.extend((0..len).map(|_| rng.next() as u8));
                    bytes
                }
                // Plain random bytes.
                1 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
                // A reference with a few bytes changed, or cut short.
                _ => {
                    let mut bytes = references[rng.below(references.len())].clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.next() as u8;
                    }
                    if rng.below(4) == 0 {
                        bytes.truncate(rng.below(bytes.len()));
                    }
                    bytes
                }
            };
            if ja4_of_records(&input).is_ok() {
                parsed += 1;
            }
            for end in [input.len() / 2, input.len().saturating_sub(1)] {
                let _ = parse_client_hello(&input[..end], 300);
            }
        }
        assert!(
            parsed > 1000,
            "mutations should often still parse: {parsed}"
        );
    }

    #[test]
    fn truncated_references_never_panic() {
        for hex in REFERENCES {
            let bytes = unhex(hex);
            for end in 0..bytes.len() {
                assert_eq!(ja4_of_records(&bytes[..end]), Err(HelloError::Incomplete));
                let mut cut = bytes[..end].to_vec();
                // A record header claiming only what is left.
                if let Ok(len) = u16::try_from(end.saturating_sub(5)) {
                    if end >= 5 {
                        cut[3..5].copy_from_slice(&len.to_be_bytes());
                    }
                }
                let _ = ja4_of_records(&cut);
            }
        }
    }
}

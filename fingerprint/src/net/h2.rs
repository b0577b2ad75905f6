//! HTTP/2 client fingerprint from the first bytes a client sends on a connection.
//!
//! An HTTP/2 client opens a connection with the preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
//! then a SETTINGS frame, usually a connection-level WINDOW_UPDATE, sometimes PRIORITY
//! frames, and then the HEADERS of its first request. Which settings it sends and in which
//! order, how much it opens the connection window, which priority tree it builds and in which
//! order it writes the pseudo-headers are defaults of its HTTP/2 implementation, not choices of
//! its user: together they tell one client implementation from another.
//!
//! [`Http2Tap`] is fed the bytes the client sends (after TLS, or on a cleartext prior-knowledge
//! connection), in order and in chunks of any size. It only observes: the server reads the
//! same bytes separately. It stops with [`TapState::Done`] as soon as the header block of the
//! first HEADERS frame (with its CONTINUATION frames) is complete, with
//! [`TapState::NotHttp2`] as soon as a byte differs from the preface (an HTTP/1.1 request, a
//! TLS record), and with [`TapState::Failed`] on input that is not a well-formed start of an
//! HTTP/2 connection, on an HPACK error or when `limit` bytes were not enough.
//!
//! # What is recorded
//!
//! * **Settings**: the `(id, value)` pairs of the first SETTINGS frame without the ACK flag,
//!   in the order sent, duplicates and unknown ids kept. The first frame after the preface
//!   must be that SETTINGS frame (RFC 9113, section 3.4); anything else fails.
//! * **Window update**: the increment of the first WINDOW_UPDATE on stream 0 before the first
//!   HEADERS; 0 when there is none (an increment of 0 is a protocol error, so 0 cannot be a
//!   real value). Stream-level window updates are ignored.
//! * **Priorities**: every PRIORITY frame (type 2) before the end of the first header block,
//!   in order, as [`Priority`].
//! * **Headers priority**: the priority fields of the first HEADERS frame when it has the
//!   PRIORITY flag (Chrome sets it). Kept apart, in
//!   [`Http2Fingerprint::headers_priority`], and left out of [`Http2Fingerprint::text`]: the
//!   common text form fills its priority field from PRIORITY frames only (a current Chrome
//!   is reported with `|0|` although its HEADERS frame carries a priority).
//! * **Pseudo-headers**: the order of `:method`, `:authority`, `:scheme`, `:path` and
//!   `:protocol` in the HPACK-decoded first header block. Other names starting with `:` are
//!   ignored. Pseudo-headers come before the regular fields (RFC 9113, section 8.3), so
//!   decoding stops at the first regular field: what follows it is neither decoded nor
//!   checked (the server rejects a malformed block anyway).
//!
//! Other frames before the first HEADERS (PING, SETTINGS ACK, later SETTINGS, RST_STREAM,
//! GOAWAY, DATA, unknown extension frames) are skipped without being buffered.
//!
//! # Text form
//!
//! [`Http2Fingerprint::text`] follows the format of Akamai's *Passive Fingerprinting of HTTP/2
//! Clients* (Black Hat EU 2017), the form most tools print:
//! `settings|window_update|priorities|pseudo_headers`, for example a current Chrome:
//! `1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p`.
//!
//! * settings as `id:value` joined by `;` (empty when the SETTINGS frame was empty);
//! * the window update increment, or `00` when the client sent none (the paper's marker);
//! * PRIORITY frames as `stream:exclusive:dependency:weight` joined by `,` (`exclusive` is 0
//!   or 1, `weight` is the weight 1..=256, that is the byte on the wire plus one, so Firefox's
//!   first placeholder stream reads `3:0:0:201`), or `0` when there were none;
//! * pseudo-headers by letter (`m`ethod, `a`uthority, `s`cheme, `p`ath, and `t` for
//!   `:protocol`, an extension of ours for extended CONNECT) joined by `,`.
//!
//! [`Http2Fingerprint::hash`] is the first 12 hex digits of the SHA-256 of that text. It is
//! ours: other tools often publish an MD5 of the same text instead, so compare texts, not
//! hashes, with them.
//!
//! # Bounds
//!
//! The tap buffers the current frame's payload only when it needs it (SETTINGS,
//! WINDOW_UPDATE, PRIORITY, HEADERS, CONTINUATION) and the header block until it completes,
//! and it grows those buffers only with bytes that arrived, never from a declared length. It
//! fails as soon as a declared frame length cannot fit in the `limit` bytes it may read, and
//! when more than `limit` bytes were fed without finishing (a frame length has 24 bits, so no
//! frame can declare more than 16 MiB). It keeps at most 64 settings and 64 PRIORITY frames
//! and fails past that: no real client comes close, and it keeps the text short. It never
//! panics.
//!
//! HPACK decoding uses the `loona-hpack` crate with a fresh decoder (a new connection's empty
//! dynamic table of 4096 bytes; dynamic table size updates in the block are accepted up to
//! [`MAX_PREFACE`] bytes). Its Huffman decoder is slow (about 16 µs per string and 0.2 µs per
//! byte), so the tap cuts the block into fields itself and decodes only the leading ones: at
//! most 16 fields and the first 16 KiB of the block, or it fails. That keeps the worst case
//! near 3 ms of CPU per connection, where decoding a hostile 64 KiB block whole would take
//! half a second.

use std::fmt::Write as _;

/// A good `limit` for [`Http2Tap::new`]: 64 KiB, room for a first request with large cookies.
pub const MAX_PREFACE: usize = 64 * 1024;

/// The most settings one SETTINGS frame may carry before the tap fails (real clients send 2
/// to 8).
const MAX_SETTINGS: usize = 64;

/// The most PRIORITY frames the tap records before it fails (old Firefox sent 6).
const MAX_PRIORITIES: usize = 64;

/// The client connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The length of a frame header.
const FRAME_HEAD_LEN: usize = 9;

const TYPE_HEADERS: u8 = 0x1;
const TYPE_PRIORITY: u8 = 0x2;
const TYPE_SETTINGS: u8 = 0x4;
const TYPE_WINDOW_UPDATE: u8 = 0x8;
const TYPE_CONTINUATION: u8 = 0x9;

const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// A stream's priority, from a PRIORITY frame or a HEADERS frame with the PRIORITY flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Priority {
    /// The stream the priority is for.
    pub stream_id: u32,
    /// The exclusive flag.
    pub exclusive: bool,
    /// The stream it depends on (0 is the root).
    pub dependency: u32,
    /// The weight, 1..=256: the byte on the wire plus one.
    pub weight: u16,
}

impl Priority {
    /// Reads the 5 priority bytes (exclusive bit and dependency, weight) of `stream_id`.
    fn parse(stream_id: u32, bytes: [u8; 5]) -> Self {
        let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Self {
            stream_id,
            exclusive: word & 0x8000_0000 != 0,
            dependency: word & 0x7fff_ffff,
            weight: u16::from(bytes[4]) + 1,
        }
    }

    /// `stream:exclusive:dependency:weight`, as in the text form.
    fn write_text(&self, out: &mut String) {
        let _ = write!(
            out,
            "{}:{}:{}:{}",
            self.stream_id,
            u8::from(self.exclusive),
            self.dependency,
            self.weight
        );
    }
}

/// A request pseudo-header whose position the fingerprint records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PseudoHeader {
    /// `:method`, letter `m`.
    Method,
    /// `:authority`, letter `a`.
    Authority,
    /// `:scheme`, letter `s`.
    Scheme,
    /// `:path`, letter `p`.
    Path,
    /// `:protocol` (extended CONNECT, RFC 8441), letter `t`.
    Protocol,
}

impl PseudoHeader {
    /// The pseudo-header named `name` (with its colon), if it is one of the five.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b":method" => Some(Self::Method),
            b":authority" => Some(Self::Authority),
            b":scheme" => Some(Self::Scheme),
            b":path" => Some(Self::Path),
            b":protocol" => Some(Self::Protocol),
            _ => None,
        }
    }

    /// The name, with its colon.
    pub fn name(self) -> &'static str {
        match self {
            Self::Method => ":method",
            Self::Authority => ":authority",
            Self::Scheme => ":scheme",
            Self::Path => ":path",
            Self::Protocol => ":protocol",
        }
    }

    /// The letter of the text form: `m`, `a`, `s`, `p` or `t`.
    pub fn letter(self) -> char {
        match self {
            Self::Method => 'm',
            Self::Authority => 'a',
            Self::Scheme => 's',
            Self::Path => 'p',
            Self::Protocol => 't',
        }
    }
}

/// What an HTTP/2 client sent before and in its first request's headers (see the module
/// docs for what each field holds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Http2Fingerprint {
    /// The first SETTINGS frame's `(id, value)` pairs, in the order sent.
    pub settings: Vec<(u16, u32)>,
    /// The first connection-level WINDOW_UPDATE increment; 0 when there was none.
    pub window_update: u32,
    /// The PRIORITY frames, in the order sent.
    pub priorities: Vec<Priority>,
    /// The pseudo-headers of the first header block, in the order sent.
    pub pseudo_headers: Vec<PseudoHeader>,
    /// The first HEADERS frame's own priority (PRIORITY flag); not part of [`Self::text`].
    pub headers_priority: Option<Priority>,
}

impl Http2Fingerprint {
    /// The widely used text form `settings|window_update|priorities|pseudo_headers`, e.g.
    /// `1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p` (see the module docs).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, (id, value)) in self.settings.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            let _ = write!(out, "{id}:{value}");
        }
        out.push('|');
        if self.window_update == 0 {
            out.push_str("00");
        } else {
            let _ = write!(out, "{}", self.window_update);
        }
        out.push('|');
        if self.priorities.is_empty() {
            out.push('0');
        }
        for (i, priority) in self.priorities.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            priority.write_text(&mut out);
        }
        out.push('|');
        for (i, pseudo) in self.pseudo_headers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push(pseudo.letter());
        }
        out
    }

    /// The first 12 hex digits (48 bits) of the SHA-256 of [`Self::text`], lowercase. Our
    /// own short id: tools that publish a hash of the same text often use MD5 instead.
    pub fn hash(&self) -> String {
        crate::hex::sha256_prefix(self.text().as_bytes(), 6)
    }
}

/// Where an [`Http2Tap`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapState {
    /// Everything fed so far is a valid start: feed more.
    NeedMore,
    /// The first header block is complete: the fingerprint. Further input is ignored.
    Done(Http2Fingerprint),
    /// The bytes are not the HTTP/2 client preface (an HTTP/1 request, for example).
    NotHttp2,
    /// The preface was there but what followed is not a usable start of an HTTP/2
    /// connection, could not be decoded, or did not complete within the limit; the reason.
    Failed(&'static str),
}

/// A frame header.
#[derive(Debug, Clone, Copy)]
struct FrameHead {
    length: usize,
    kind: u8,
    flags: u8,
    stream_id: u32,
}

impl FrameHead {
    /// Reads the 9 bytes of a frame header.
    fn parse(bytes: &[u8; FRAME_HEAD_LEN]) -> Self {
        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        Self {
            length: length as usize,
            kind: bytes[3],
            flags: bytes[4],
            stream_id: stream & 0x7fff_ffff,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The frame being read.
#[derive(Debug, Clone, Copy)]
struct CurrentFrame {
    head: FrameHead,
    /// Payload bytes still to come.
    remaining: usize,
    /// Whether the payload is buffered (false: skipped).
    keep: bool,
}

/// An incremental parser of the start of an HTTP/2 connection, fed the client's bytes as
/// they arrive (see the module docs).
#[derive(Debug)]
pub struct Http2Tap {
    limit: usize,
    /// Bytes read so far (never more than `limit`).
    consumed: usize,
    state: TapState,
    /// Preface bytes matched so far.
    preface_matched: usize,
    /// The frame header being read.
    head: [u8; FRAME_HEAD_LEN],
    head_len: usize,
    /// The frame whose payload is being read, after its header.
    frame: Option<CurrentFrame>,
    /// The current frame's payload, when it is kept.
    payload: Vec<u8>,
    frames_seen: usize,
    settings: Option<Vec<(u16, u32)>>,
    window_update: Option<u32>,
    priorities: Vec<Priority>,
    headers_priority: Option<Priority>,
    /// The first header block's fragments so far.
    block: Vec<u8>,
    /// The stream of the HEADERS frame whose CONTINUATION frames are expected.
    continuation_of: Option<u32>,
}

impl Http2Tap {
    /// A tap that reads at most `limit` bytes ([`MAX_PREFACE`] is a good value).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            consumed: 0,
            state: TapState::NeedMore,
            preface_matched: 0,
            head: [0; FRAME_HEAD_LEN],
            head_len: 0,
            frame: None,
            payload: Vec::new(),
            frames_seen: 0,
            settings: None,
            window_update: None,
            priorities: Vec::new(),
            headers_priority: None,
            block: Vec::new(),
            continuation_of: None,
        }
    }

    /// Reads the next bytes the client sent; returns the state after them. Once the state is
    /// not [`TapState::NeedMore`] it stays as it is and further input is ignored (bytes after
    /// the first header block in the same chunk included).
    pub fn feed(&mut self, bytes: &[u8]) -> &TapState {
        let mut input = bytes;
        while !input.is_empty() && self.state == TapState::NeedMore {
            let budget = self.limit.saturating_sub(self.consumed);
            if budget == 0 {
                self.fail("no fingerprint within the byte limit");
                break;
            }
            let chunk = &input[..input.len().min(budget)];
            let used = self.step(chunk);
            input = &input[used..];
        }
        &self.state
    }

    /// The current state.
    pub fn state(&self) -> &TapState {
        &self.state
    }

    /// How many bytes were read so far (those after a final state are not counted).
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    fn fail(&mut self, reason: &'static str) {
        self.state = TapState::Failed(reason);
        self.payload = Vec::new();
        self.block = Vec::new();
    }

    /// Reads from `input` (not empty, within the limit); returns how many bytes it used.
    /// Uses at least one byte unless the state changed.
    fn step(&mut self, input: &[u8]) -> usize {
        if self.preface_matched < PREFACE.len() {
            return self.step_preface(input);
        }
        match self.frame {
            None => self.step_head(input),
            Some(frame) => self.step_payload(frame, input),
        }
    }

    fn step_preface(&mut self, input: &[u8]) -> usize {
        let expected = &PREFACE[self.preface_matched..];
        let n = input.len().min(expected.len());
        if input[..n] != expected[..n] {
            self.state = TapState::NotHttp2;
            return 0;
        }
        self.preface_matched += n;
        self.consumed += n;
        n
    }

    fn step_head(&mut self, input: &[u8]) -> usize {
        let n = input.len().min(FRAME_HEAD_LEN - self.head_len);
        self.head[self.head_len..self.head_len + n].copy_from_slice(&input[..n]);
        self.head_len += n;
        self.consumed += n;
        if self.head_len == FRAME_HEAD_LEN {
            self.head_len = 0;
            let head = FrameHead::parse(&self.head);
            self.start_frame(head);
        }
        n
    }

    fn step_payload(&mut self, mut frame: CurrentFrame, input: &[u8]) -> usize {
        let n = input.len().min(frame.remaining);
        if frame.keep {
            self.payload.extend_from_slice(&input[..n]);
        }
        frame.remaining -= n;
        self.consumed += n;
        self.frame = Some(frame);
        if frame.remaining == 0 {
            self.finish_frame(frame.head);
        }
        n
    }

    /// A frame header is complete: checks it and decides whether to keep its payload.
    fn start_frame(&mut self, head: FrameHead) {
        if let Err(reason) = self.check_head(&head) {
            self.fail(reason);
            return;
        }
        self.frames_seen += 1;
        let keep = match head.kind {
            TYPE_SETTINGS => !head.has(FLAG_ACK) && self.settings.is_none(),
            TYPE_WINDOW_UPDATE => head.stream_id == 0 && self.window_update.is_none(),
            TYPE_PRIORITY | TYPE_HEADERS | TYPE_CONTINUATION => true,
            _ => false,
        };
        self.payload.clear();
        let frame = CurrentFrame {
            head,
            remaining: head.length,
            keep,
        };
        self.frame = Some(frame);
        if head.length == 0 {
            self.finish_frame(head);
        }
    }

    /// The checks a frame header must pass before its payload is read.
    fn check_head(&self, head: &FrameHead) -> Result<(), &'static str> {
        if self.frames_seen == 0 && (head.kind != TYPE_SETTINGS || head.has(FLAG_ACK)) {
            return Err("first frame is not SETTINGS");
        }
        if head.length > self.limit.saturating_sub(self.consumed) {
            return Err("frame longer than the byte limit allows");
        }
        match (self.continuation_of, head.kind) {
            (Some(stream), TYPE_CONTINUATION) if stream == head.stream_id => {}
            (Some(_), _) => return Err("header block interrupted"),
            (None, TYPE_CONTINUATION) => return Err("CONTINUATION without HEADERS"),
            (None, _) => {}
        }
        match head.kind {
            TYPE_SETTINGS if head.stream_id != 0 => Err("SETTINGS on a stream"),
            TYPE_SETTINGS if head.length % 6 != 0 => Err("SETTINGS length not a multiple of 6"),
            TYPE_SETTINGS if head.has(FLAG_ACK) && head.length != 0 => {
                Err("SETTINGS ACK with payload")
            }
            TYPE_WINDOW_UPDATE if head.length != 4 => Err("WINDOW_UPDATE length is not 4"),
            TYPE_PRIORITY if head.length != 5 => Err("PRIORITY length is not 5"),
            TYPE_PRIORITY | TYPE_HEADERS if head.stream_id == 0 => Err("stream frame on stream 0"),
            _ => Ok(()),
        }
    }

    /// A frame's payload is complete (buffered in `payload` when kept).
    fn finish_frame(&mut self, head: FrameHead) {
        let keep = self.frame.take().is_some_and(|frame| frame.keep);
        if !keep {
            return;
        }
        let payload = std::mem::take(&mut self.payload);
        let result = match head.kind {
            TYPE_SETTINGS => self.read_settings(&payload),
            TYPE_WINDOW_UPDATE => self.read_window_update(&payload),
            TYPE_PRIORITY => self.read_priority(&head, &payload),
            TYPE_HEADERS => self.read_headers(&head, &payload),
            TYPE_CONTINUATION => self.read_continuation(&head, &payload),
            _ => Ok(()),
        };
        self.payload = payload;
        self.payload.clear();
        if let Err(reason) = result {
            self.fail(reason);
        }
    }

    fn read_settings(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        if payload.len() / 6 > MAX_SETTINGS {
            return Err("too many settings");
        }
        let settings = payload
            .chunks_exact(6)
            .map(|entry| {
                let id = u16::from_be_bytes([entry[0], entry[1]]);
                let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                (id, value)
            })
            .collect();
        self.settings = Some(settings);
        Ok(())
    }

    fn read_window_update(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        let bytes: [u8; 4] = payload
            .try_into()
            .map_err(|_| "WINDOW_UPDATE length is not 4")?;
        self.window_update = Some(u32::from_be_bytes(bytes) & 0x7fff_ffff);
        Ok(())
    }

    fn read_priority(&mut self, head: &FrameHead, payload: &[u8]) -> Result<(), &'static str> {
        let bytes: [u8; 5] = payload.try_into().map_err(|_| "PRIORITY length is not 5")?;
        if self.priorities.len() >= MAX_PRIORITIES {
            return Err("too many PRIORITY frames");
        }
        self.priorities.push(Priority::parse(head.stream_id, bytes));
        Ok(())
    }

    fn read_headers(&mut self, head: &FrameHead, payload: &[u8]) -> Result<(), &'static str> {
        let (priority, fragment) = split_headers_payload(head, payload)?;
        self.headers_priority = priority;
        self.block.extend_from_slice(fragment);
        self.end_of_fragment(head)
    }

    fn read_continuation(&mut self, head: &FrameHead, payload: &[u8]) -> Result<(), &'static str> {
        self.block.extend_from_slice(payload);
        self.end_of_fragment(head)
    }

    /// After a HEADERS or CONTINUATION fragment: waits for the next one, or decodes.
    fn end_of_fragment(&mut self, head: &FrameHead) -> Result<(), &'static str> {
        if !head.has(FLAG_END_HEADERS) {
            self.continuation_of = Some(head.stream_id);
            return Ok(());
        }
        self.continuation_of = None;
        let pseudo_headers = pseudo_header_order(&self.block)?;
        self.block = Vec::new();
        self.state = TapState::Done(Http2Fingerprint {
            settings: self.settings.take().unwrap_or_default(),
            window_update: self.window_update.unwrap_or(0),
            priorities: std::mem::take(&mut self.priorities),
            pseudo_headers,
            headers_priority: self.headers_priority,
        });
        Ok(())
    }
}

/// Splits a HEADERS payload into its priority (PRIORITY flag) and header block fragment,
/// without its padding (PADDED flag).
fn split_headers_payload<'a>(
    head: &FrameHead,
    payload: &'a [u8],
) -> Result<(Option<Priority>, &'a [u8]), &'static str> {
    let mut rest = payload;
    let mut padding = 0;
    if head.has(FLAG_PADDED) {
        let (&length, after) = rest
            .split_first()
            .ok_or("HEADERS too short for its padding")?;
        padding = usize::from(length);
        rest = after;
    }
    let mut priority = None;
    if head.has(FLAG_PRIORITY) {
        let bytes: [u8; 5] = rest
            .get(..5)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("HEADERS too short for its priority")?;
        priority = Some(Priority::parse(head.stream_id, bytes));
        rest = &rest[5..];
    }
    let end = rest
        .len()
        .checked_sub(padding)
        .ok_or("HEADERS padding longer than the frame")?;
    Ok((priority, &rest[..end]))
}

/// Decodes the leading fields of a complete header block (with a new connection's HPACK
/// decoder) up to and including the first regular field, and returns the order of the
/// recorded pseudo-headers.
///
/// Fields are handed to the decoder one at a time, cut by [`field_end`], so that the fields
/// after the pseudo-headers are never decoded: the decoder's Huffman code costs about 16 µs
/// per string plus 0.2 µs per byte, which a hostile 64 KiB block would turn into half a
/// second. At most [`MAX_PSEUDO_FIELDS`] fields and [`MAX_DECODED`] bytes are decoded.
fn pseudo_header_order(block: &[u8]) -> Result<Vec<PseudoHeader>, &'static str> {
    let mut decoder = loona_hpack::Decoder::new();
    decoder.set_max_allowed_table_size(MAX_PREFACE);
    let mut order = Vec::new();
    let mut start = 0;
    let mut fields = 0;
    while start < block.len() {
        let end = field_end(block, start)?;
        if end > MAX_DECODED {
            return Err("pseudo-headers too large");
        }
        fields += 1;
        if fields > MAX_PSEUDO_FIELDS {
            return Err("too many pseudo-headers");
        }
        let mut regular = false;
        decoder
            .decode_with_cb(
                &block[start..end],
                |name, _value| match PseudoHeader::from_name(&name) {
                    Some(pseudo) => order.push(pseudo),
                    None => regular = !name.starts_with(b":"),
                },
            )
            .map_err(|_| HPACK_FAILED)?;
        if regular {
            break;
        }
        start = end;
    }
    Ok(order)
}

/// The reason for every HPACK error.
const HPACK_FAILED: &str = "HPACK decoding failed";

/// The most fields decoded before the first regular one (a request has four or five
/// pseudo-headers).
const MAX_PSEUDO_FIELDS: usize = 16;

/// The most header block bytes decoded: the pseudo-headers and the first regular field must
/// end within them (a server's default header list limit is about this size).
const MAX_DECODED: usize = 16 * 1024;

/// The end of the HPACK field representation that starts at `start` (RFC 7541, section 6),
/// with the dynamic table size updates before it; checks only that its integers and string
/// lengths fit in `block`.
fn field_end(block: &[u8], start: usize) -> Result<usize, &'static str> {
    let mut at = start;
    loop {
        let first = *block.get(at).ok_or(HPACK_FAILED)?;
        if first & 0x80 != 0 {
            return read_integer(block, at, 7).map(|(_, next)| next);
        }
        if first & 0xc0 == 0x40 {
            return literal_end(block, at, 6);
        }
        if first & 0xe0 != 0x20 {
            return literal_end(block, at, 4);
        }
        // A dynamic table size update: it belongs with the field after it.
        at = read_integer(block, at, 5)?.1;
    }
}

/// The end of a literal field: an index with a `prefix`-bit prefix, a name string when the
/// index is 0, and a value string.
fn literal_end(block: &[u8], at: usize, prefix: u8) -> Result<usize, &'static str> {
    let (index, mut next) = read_integer(block, at, prefix)?;
    if index == 0 {
        next = string_end(block, next)?;
    }
    string_end(block, next)
}

/// The end of the string literal at `at`.
fn string_end(block: &[u8], at: usize) -> Result<usize, &'static str> {
    let (length, next) = read_integer(block, at, 7)?;
    match next.checked_add(length) {
        Some(end) if end <= block.len() => Ok(end),
        _ => Err(HPACK_FAILED),
    }
}

/// Reads the HPACK integer with a `prefix`-bit prefix at `at` (at most 4 continuation
/// bytes, as the decoder allows); returns it and the position after it.
fn read_integer(block: &[u8], at: usize, prefix: u8) -> Result<(usize, usize), &'static str> {
    let mask = u8::MAX >> (8 - prefix);
    let mut value = usize::from(*block.get(at).ok_or(HPACK_FAILED)? & mask);
    let mut next = at + 1;
    if value < usize::from(mask) {
        return Ok((value, next));
    }
    for shift in [0, 7, 14, 21] {
        let byte = *block.get(next).ok_or(HPACK_FAILED)?;
        next += 1;
        value += usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value, next));
        }
    }
    Err(HPACK_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::net::test_rng::XorShift;

    fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut out = vec![length[1], length[2], length[3], kind, flags];
        out.extend_from_slice(&stream_id.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
        let mut payload = Vec::new();
        for (id, value) in pairs {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&value.to_be_bytes());
        }
        frame(TYPE_SETTINGS, 0, 0, &payload)
    }

    fn window_update(stream_id: u32, increment: u32) -> Vec<u8> {
        frame(TYPE_WINDOW_UPDATE, 0, stream_id, &increment.to_be_bytes())
    }

    /// Priority bytes with the weight as on the wire (weight - 1).
    fn priority_bytes(exclusive: bool, dependency: u32, wire_weight: u8) -> Vec<u8> {
        let word = dependency | if exclusive { 0x8000_0000 } else { 0 };
        let mut out = word.to_be_bytes().to_vec();
        out.push(wire_weight);
        out
    }

    fn priority(stream_id: u32, exclusive: bool, dependency: u32, wire_weight: u8) -> Vec<u8> {
        let payload = priority_bytes(exclusive, dependency, wire_weight);
        frame(TYPE_PRIORITY, 0, stream_id, &payload)
    }

    fn with_preface(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        for frame in frames {
            out.extend_from_slice(frame);
        }
        out
    }

    /// Chrome's first header block, hand-encoded: `:method GET` (static 2), `:authority`
    /// literal with indexing, `:scheme https` (static 7), `:path /` (static 4), then
    /// user-agent and accept-language literals.
    fn chrome_block() -> Vec<u8> {
        let mut block = vec![0x82, 0x41, 11];
        block.extend_from_slice(b"example.com");
        block.extend_from_slice(&[0x87, 0x84, 0x7a, 4]);
        block.extend_from_slice(b"test");
        block.extend_from_slice(&[0x51, 5]);
        block.extend_from_slice(b"en-US");
        block
    }

    /// A Chrome-like preface. Values of a current Chrome as published in public write-ups of
    /// the Akamai HTTP/2 fingerprint (e.g. "HTTP/2 Fingerprinting: The Akamai Format",
    /// krowdev.com, 2026: `1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p`). Its HEADERS
    /// frame carries the PRIORITY flag (exclusive, on stream 0, weight 256).
    fn chrome() -> Vec<u8> {
        let mut headers = priority_bytes(true, 0, 255);
        headers.extend_from_slice(&chrome_block());
        with_preface(&[
            settings(&[(1, 65536), (2, 0), (4, 6_291_456), (6, 262_144)]),
            window_update(0, 15_663_105),
            frame(
                TYPE_HEADERS,
                0x1 | FLAG_END_HEADERS | FLAG_PRIORITY,
                1,
                &headers,
            ),
        ])
    }

    const CHROME_TEXT: &str = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p";

    /// A Firefox-like preface with PRIORITY frames: Example 5 (Firefox 53 on macOS) of
    /// Akamai's white paper "Passive Fingerprinting of HTTP/2 Clients" (Black Hat EU 2017):
    /// `1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1|m,p,a,s`.
    /// The header block is made by the HPACK crate's encoder.
    fn firefox() -> Vec<u8> {
        let block = loona_hpack::Encoder::new().encode([
            (&b":method"[..], &b"GET"[..]),
            (b":path", b"/"),
            (b":authority", b"example.com"),
            (b":scheme", b"https"),
            (
                b"user-agent",
                b"Mozilla/5.0 (Macintosh; rv:53.0) Gecko/20100101 Firefox/53.0",
            ),
            (b"accept", b"text/html"),
        ]);
        with_preface(&[
            settings(&[(1, 65536), (4, 131_072), (5, 16384)]),
            window_update(0, 12_517_377),
            priority(3, false, 0, 200),
            priority(5, false, 0, 100),
            priority(7, false, 0, 0),
            priority(9, false, 7, 0),
            priority(11, false, 3, 0),
            frame(TYPE_HEADERS, 0x1 | FLAG_END_HEADERS, 13, &block),
        ])
    }

    const FIREFOX_TEXT: &str =
        "1:65536;4:131072;5:16384|12517377|3:0:0:201,5:0:0:101,7:0:0:1,9:0:7:1,11:0:3:1|m,p,a,s";

    fn feed_all(bytes: &[u8], limit: usize) -> TapState {
        let mut tap = Http2Tap::new(limit);
        tap.feed(bytes).clone()
    }

    fn feed_chunks(bytes: &[u8], sizes: &mut dyn FnMut() -> usize) -> TapState {
        let mut tap = Http2Tap::new(MAX_PREFACE);
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            tap.feed(&rest[..n]);
            rest = &rest[n..];
        }
        tap.state().clone()
    }

    fn done(state: TapState) -> Http2Fingerprint {
        match state {
            TapState::Done(fingerprint) => fingerprint,
            other => panic!("not done: {other:?}"),
        }
    }

    fn fingerprint_of(bytes: &[u8]) -> Http2Fingerprint {
        done(feed_all(bytes, MAX_PREFACE))
    }

    /// Every way of cutting `bytes` in two, one byte at a time, and random chunkings give the
    /// same state as one feed.
    fn assert_chunking_invariant(bytes: &[u8]) {
        let whole = feed_all(bytes, MAX_PREFACE);
        assert_eq!(feed_chunks(bytes, &mut || 1), whole, "one byte at a time");
        for cut in 0..=bytes.len() {
            let mut tap = Http2Tap::new(MAX_PREFACE);
            tap.feed(&bytes[..cut]);
            tap.feed(&bytes[cut..]);
            assert_eq!(tap.state(), &whole, "cut at {cut}");
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200 {
            let max = 1 + rng.below(40);
            let mut sizes = || 1 + rng.below(max);
            assert_eq!(feed_chunks(bytes, &mut sizes), whole, "random chunks");
        }
    }

    #[test]
    fn chrome_like_preface() {
        let fingerprint = fingerprint_of(&chrome());
        assert_eq!(
            fingerprint.settings,
            vec![(1, 65536), (2, 0), (4, 6_291_456), (6, 262_144)]
        );
        assert_eq!(fingerprint.window_update, 15_663_105);
        assert!(fingerprint.priorities.is_empty());
        assert_eq!(
            fingerprint.pseudo_headers,
            vec![
                PseudoHeader::Method,
                PseudoHeader::Authority,
                PseudoHeader::Scheme,
                PseudoHeader::Path
            ]
        );
        let headers_priority = Priority {
            stream_id: 1,
            exclusive: true,
            dependency: 0,
            weight: 256,
        };
        assert_eq!(fingerprint.headers_priority, Some(headers_priority));
        assert_eq!(fingerprint.text(), CHROME_TEXT);
        // printf '%s' "$text" | sha256sum | cut -c1-12
        assert_eq!(fingerprint.hash(), "b95b8e312a5e");
    }

    #[test]
    fn firefox_like_preface_with_priority_frames() {
        let fingerprint = fingerprint_of(&firefox());
        assert_eq!(fingerprint.priorities.len(), 5);
        assert_eq!(
            fingerprint.priorities[3],
            Priority {
                stream_id: 9,
                exclusive: false,
                dependency: 7,
                weight: 1
            }
        );
        assert_eq!(fingerprint.headers_priority, None);
        assert_eq!(fingerprint.text(), FIREFOX_TEXT);
        assert_eq!(fingerprint.hash(), "6f0edb968eee");
    }

    #[test]
    fn rfc_7541_huffman_example_block() {
        // RFC 7541, C.4.1: GET http://www.example.com/ with Huffman-coded :authority.
        let block = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ];
        let bytes = with_preface(&[
            settings(&[]),
            frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block),
        ]);
        let fingerprint = fingerprint_of(&bytes);
        assert_eq!(fingerprint.text(), "|00|0|m,s,p,a");
        assert_chunking_invariant(&bytes);
    }

    #[test]
    fn any_chunking_gives_the_same_fingerprint() {
        assert_chunking_invariant(&chrome());
        assert_chunking_invariant(&firefox());
    }

    #[test]
    fn http1_and_tls_are_not_http2() {
        let mut tap = Http2Tap::new(MAX_PREFACE);
        assert_eq!(tap.feed(b"G"), &TapState::NotHttp2);
        assert_eq!(tap.feed(b"ET / HTTP/1.1\r\n"), &TapState::NotHttp2);
        assert_eq!(
            feed_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", MAX_PREFACE),
            TapState::NotHttp2
        );
        assert_eq!(
            feed_all(b"PRI * HTTP/1.1\r\n", MAX_PREFACE),
            TapState::NotHttp2
        );
        assert_eq!(
            feed_all(&[0x16, 0x03, 0x01, 0x02, 0x00], MAX_PREFACE),
            TapState::NotHttp2
        );
        let mut tap = Http2Tap::new(MAX_PREFACE);
        assert_eq!(tap.feed(b"PRI * HTTP/2.0\r\n"), &TapState::NeedMore);
        assert_eq!(tap.feed(b"\r\nSX"), &TapState::NotHttp2);
    }

    #[test]
    fn every_truncation_needs_more() {
        for bytes in [chrome(), firefox()] {
            for end in 0..bytes.len() {
                assert_eq!(
                    feed_all(&bytes[..end], MAX_PREFACE),
                    TapState::NeedMore,
                    "{end}"
                );
            }
        }
        assert_eq!(Http2Tap::new(MAX_PREFACE).feed(&[]), &TapState::NeedMore);
    }

    #[test]
    fn garbage_after_the_preface_fails() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(
            feed_all(&bytes, MAX_PREFACE),
            TapState::Failed("first frame is not SETTINGS")
        );
        // A first frame that is a HEADERS frame.
        let bytes = with_preface(&[frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &chrome_block())]);
        assert!(matches!(feed_all(&bytes, MAX_PREFACE), TapState::Failed(_)));
        // A SETTINGS ACK first, a SETTINGS frame with a bad length or on a stream.
        for first in [
            frame(TYPE_SETTINGS, FLAG_ACK, 0, &[]),
            frame(TYPE_SETTINGS, 0, 0, &[0, 1, 0, 0, 0]),
            frame(TYPE_SETTINGS, 0, 1, &[]),
        ] {
            assert!(matches!(
                feed_all(&with_preface(&[first]), MAX_PREFACE),
                TapState::Failed(_)
            ));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(42);
        let valid = [chrome(), firefox()];
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                valid[round % 4 / 2].clone()
            } else {
                let mut bytes = PREFACE.to_vec();
                bytes.extend((0..rng.below(200)).map(|_| rng.next() as u8));
                bytes
            };
            // Flip a few bytes after the preface.
            for _ in 0..1 + rng.below(4) {
                let at = PREFACE.len() + rng.below(bytes.len() - PREFACE.len() + 1);
                if at < bytes.len() {
                    bytes[at] = rng.next() as u8;
                }
            }
            let whole = feed_all(&bytes, 4096);
            let cut = rng.below(bytes.len() + 1);
            let mut tap = Http2Tap::new(4096);
            tap.feed(&bytes[..cut]);
            assert_eq!(tap.feed(&bytes[cut..]), &whole);
            assert!(tap.consumed() <= 4096);
        }
    }

    #[test]
    fn continuation_frames_complete_the_block() {
        let block = chrome_block();
        let (first, rest) = block.split_at(5);
        let (second, third) = rest.split_at(7);
        let bytes = with_preface(&[
            settings(&[(3, 100)]),
            frame(TYPE_HEADERS, 0x1, 1, first),
            frame(TYPE_CONTINUATION, 0, 1, second),
            frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, third),
        ]);
        assert_eq!(fingerprint_of(&bytes).text(), "3:100|00|0|m,a,s,p");
        assert_chunking_invariant(&bytes);
        // Without the last CONTINUATION: still waiting.
        let partial = with_preface(&[
            settings(&[(3, 100)]),
            frame(TYPE_HEADERS, 0x1, 1, first),
            frame(TYPE_CONTINUATION, 0, 1, second),
        ]);
        assert_eq!(feed_all(&partial, MAX_PREFACE), TapState::NeedMore);
    }

    #[test]
    fn broken_continuation_fails() {
        let block = chrome_block();
        let (first, rest) = block.split_at(5);
        let cases = [
            // Interrupted by a PING.
            vec![frame(TYPE_HEADERS, 0, 1, first), frame(0x6, 0, 0, &[0; 8])],
            // On another stream.
            vec![
                frame(TYPE_HEADERS, 0, 1, first),
                frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 3, rest),
            ],
            // Without HEADERS.
            vec![frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, rest)],
        ];
        for case in cases {
            let mut frames = vec![settings(&[])];
            frames.extend(case);
            assert!(matches!(
                feed_all(&with_preface(&frames), MAX_PREFACE),
                TapState::Failed(_)
            ));
        }
    }

    #[test]
    fn padded_headers_with_priority() {
        let mut payload = vec![7];
        payload.extend_from_slice(&priority_bytes(false, 3, 41));
        payload.extend_from_slice(&chrome_block());
        payload.extend_from_slice(&[0; 7]);
        let flags = FLAG_PADDED | FLAG_PRIORITY | FLAG_END_HEADERS;
        let bytes = with_preface(&[settings(&[(2, 0)]), frame(TYPE_HEADERS, flags, 5, &payload)]);
        let fingerprint = fingerprint_of(&bytes);
        assert_eq!(fingerprint.text(), "2:0|00|0|m,a,s,p");
        let expected = Priority {
            stream_id: 5,
            exclusive: false,
            dependency: 3,
            weight: 42,
        };
        assert_eq!(fingerprint.headers_priority, Some(expected));
        assert_chunking_invariant(&bytes);

        // Padding without priority, and a padding that covers the whole block (empty block).
        let mut payload = vec![3];
        payload.extend_from_slice(&chrome_block());
        payload.extend_from_slice(&[0; 3]);
        let bytes = with_preface(&[
            settings(&[]),
            frame(TYPE_HEADERS, FLAG_PADDED | FLAG_END_HEADERS, 1, &payload),
        ]);
        assert_eq!(fingerprint_of(&bytes).text(), "|00|0|m,a,s,p");
        let bytes = with_preface(&[
            settings(&[]),
            frame(TYPE_HEADERS, FLAG_PADDED | FLAG_END_HEADERS, 1, &[2, 0, 0]),
        ]);
        assert_eq!(fingerprint_of(&bytes).text(), "|00|0|");
    }

    #[test]
    fn bad_padding_or_priority_fails() {
        let flags = FLAG_PADDED | FLAG_END_HEADERS;
        for payload in [vec![], vec![9, 0x82], vec![1]] {
            let bytes = with_preface(&[settings(&[]), frame(TYPE_HEADERS, flags, 1, &payload)]);
            assert!(
                matches!(feed_all(&bytes, MAX_PREFACE), TapState::Failed(_)),
                "{payload:?}"
            );
        }
        let bytes = with_preface(&[
            settings(&[]),
            frame(
                TYPE_HEADERS,
                FLAG_PRIORITY | FLAG_END_HEADERS,
                1,
                &[0, 0, 0],
            ),
        ]);
        assert!(matches!(feed_all(&bytes, MAX_PREFACE), TapState::Failed(_)));
        for bad in [
            frame(TYPE_PRIORITY, 0, 3, &[0; 4]),
            frame(TYPE_PRIORITY, 0, 0, &[0; 5]),
            frame(TYPE_WINDOW_UPDATE, 0, 0, &[0; 5]),
            frame(TYPE_HEADERS, FLAG_END_HEADERS, 0, &[0x82]),
        ] {
            let bytes = with_preface(&[settings(&[]), bad]);
            assert!(matches!(feed_all(&bytes, MAX_PREFACE), TapState::Failed(_)));
        }
    }

    #[test]
    fn hpack_errors_fail() {
        for block in [
            vec![0x80],                         // index 0
            vec![0xff, 0x7f],                   // index beyond both tables
            vec![0x41, 0x8c, 0xf1],             // string longer than the block
            vec![0x3f, 0x81, 0x8d, 0x06, 0x82], // table size update to 100000
            vec![0x82, 0x20],                   // size update at the end of the block
        ] {
            let bytes = with_preface(&[
                settings(&[]),
                frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block),
            ]);
            assert_eq!(
                feed_all(&bytes, MAX_PREFACE),
                TapState::Failed("HPACK decoding failed"),
                "{block:?}"
            );
        }
    }

    #[test]
    fn limit_is_enforced() {
        let bytes = chrome();
        assert!(matches!(feed_all(&bytes, bytes.len()), TapState::Done(_)));
        // One byte short: the HEADERS frame cannot fit, which its header already tells.
        let mut tap = Http2Tap::new(bytes.len() - 1);
        let cut = bytes.len() - chrome_block().len() - 5;
        assert_eq!(tap.feed(&bytes[..cut - 1]), &TapState::NeedMore);
        assert_eq!(
            tap.feed(&bytes[cut - 1..cut]),
            &TapState::Failed("frame longer than the byte limit allows")
        );
        // Exactly the limit read without finishing: waits; one byte more fails.
        let start = with_preface(&[settings(&[(2, 0)])]);
        let mut tap = Http2Tap::new(start.len());
        assert_eq!(tap.feed(&start), &TapState::NeedMore);
        assert_eq!(
            tap.feed(&[0]),
            &TapState::Failed("no fingerprint within the byte limit")
        );
        // A frame that declares more than the limit fails on its header, before its payload.
        let mut tap = Http2Tap::new(1000);
        tap.feed(&with_preface(&[settings(&[])]));
        assert!(matches!(
            tap.feed(&[0, 4, 0, 0x0, 0, 0, 0, 0, 1]),
            TapState::Failed(_)
        ));
        // Endless skipped frames hit the limit.
        let mut tap = Http2Tap::new(MAX_PREFACE);
        tap.feed(&with_preface(&[settings(&[])]));
        let ping = frame(0x6, 0, 0, &[0; 8]);
        let mut state = TapState::NeedMore;
        for _ in 0..MAX_PREFACE / ping.len() + 1 {
            state = tap.feed(&ping).clone();
        }
        assert!(matches!(state, TapState::Failed(_)));
        assert_eq!(tap.consumed(), MAX_PREFACE);
        // A zero limit cannot even hold the preface.
        assert!(matches!(feed_all(b"P", 0), TapState::Failed(_)));
    }

    #[test]
    fn a_declared_length_is_not_allocated() {
        let mut tap = Http2Tap::new(usize::MAX);
        tap.feed(&with_preface(&[settings(&[])]));
        // HEADERS declaring 16 MiB - 1, then one byte of it.
        tap.feed(&[0xff, 0xff, 0xff, TYPE_HEADERS, 0, 0, 0, 0, 1, 0x82]);
        assert_eq!(tap.state(), &TapState::NeedMore);
        assert!(tap.payload.capacity() < 1024);
    }

    #[test]
    fn other_frames_are_skipped() {
        let bytes = with_preface(&[
            settings(&[(1, 4096), (1, 8192), (0xff, 7)]),
            frame(0x6, 0, 0, &[1; 8]),              // PING
            frame(TYPE_SETTINGS, FLAG_ACK, 0, &[]), // SETTINGS ACK
            settings(&[(4, 1)]),                    // a second SETTINGS
            window_update(3, 99),                   // stream-level
            frame(0xfa, 0xff, 7, b"extension"),     // unknown type
            frame(0x0, 0, 3, b"data"),              // DATA
            window_update(0, 1000),
            window_update(0, 2000), // only the first counts
            priority(3, true, 0, 7),
            frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &chrome_block()),
            frame(0x6, 0, 0, &[1; 8]), // after Done: ignored
        ]);
        let fingerprint = fingerprint_of(&bytes);
        assert_eq!(
            fingerprint.text(),
            "1:4096;1:8192;255:7|1000|3:1:0:8|m,a,s,p"
        );
        assert_chunking_invariant(&bytes);
    }

    #[test]
    fn done_is_final() {
        let mut bytes = chrome();
        let length = bytes.len();
        bytes.extend_from_slice(b"garbage after the first request");
        let mut tap = Http2Tap::new(MAX_PREFACE);
        let state = tap.feed(&bytes).clone();
        assert_eq!(done(state).text(), CHROME_TEXT);
        assert_eq!(tap.consumed(), length);
        assert!(matches!(tap.feed(b"more"), TapState::Done(_)));
        let mut tap = Http2Tap::new(MAX_PREFACE);
        tap.feed(b"GET");
        assert_eq!(tap.feed(&chrome()), &TapState::NotHttp2);
    }

    #[test]
    fn protocol_and_unknown_pseudo_headers() {
        let block = loona_hpack::Encoder::new().encode([
            (&b":method"[..], &b"CONNECT"[..]),
            (b":protocol", b"websocket"),
            (b":scheme", b"https"),
            (b":path", b"/chat"),
            (b":authority", b"example.com"),
            (b":unknown", b"x"),
        ]);
        let bytes = with_preface(&[
            settings(&[(8, 1)]),
            frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &block),
        ]);
        assert_eq!(fingerprint_of(&bytes).text(), "8:1|00|0|m,t,s,p,a");
    }

    #[test]
    fn too_many_settings_or_priorities_fail() {
        let many: Vec<(u16, u32)> = (0..=MAX_SETTINGS as u16).map(|id| (id, 1)).collect();
        let bytes = with_preface(&[settings(&many)]);
        assert_eq!(
            feed_all(&bytes, MAX_PREFACE),
            TapState::Failed("too many settings")
        );
        let mut frames = vec![settings(&[])];
        frames.extend((0..=MAX_PRIORITIES as u32).map(|i| priority(2 * i + 3, false, 0, 0)));
        let bytes = with_preface(&frames);
        assert_eq!(
            feed_all(&bytes, MAX_PREFACE),
            TapState::Failed("too many PRIORITY frames")
        );
    }

    fn headers_only(block: &[u8]) -> TapState {
        let bytes = with_preface(&[
            settings(&[]),
            frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, block),
        ]);
        feed_all(&bytes, MAX_PREFACE)
    }

    #[test]
    fn decoding_stops_at_the_first_regular_field() {
        // `:path` after a regular field is not recorded; the tail is not even decoded.
        let mut block = vec![0x82, 0x87, 0x7a, 1, b'x', 0x84, 0xff, 0xff];
        assert_eq!(
            done(headers_only(&block)).pseudo_headers,
            [PseudoHeader::Method, PseudoHeader::Scheme]
        );
        // A regular field first: no pseudo-headers.
        block.drain(..2);
        assert_eq!(done(headers_only(&block)).text(), "|00|0|");
        // A dynamic table entry added by a pseudo-header and used by the next one.
        let block = [0x44, 1, b'/', 0xbe, 0x82, 0x7a, 1, b'x'];
        let pseudo = done(headers_only(&block)).pseudo_headers;
        assert_eq!(
            pseudo,
            [PseudoHeader::Path, PseudoHeader::Path, PseudoHeader::Method]
        );
        // A size update before a field is decoded with it.
        let block = [0x20, 0x82, 0x84, 0x3f, 0xe1, 0x1f, 0x87];
        assert_eq!(done(headers_only(&block)).text(), "|00|0|m,p,s");
    }

    #[test]
    fn decoding_is_bounded() {
        // Many pseudo-header fields (`:authority` with an empty Huffman value).
        let block: Vec<u8> = [0x01, 0x80].repeat(MAX_PSEUDO_FIELDS + 1);
        assert_eq!(
            headers_only(&block),
            TapState::Failed("too many pseudo-headers")
        );
        assert!(matches!(
            headers_only(&block[..2 * MAX_PSEUDO_FIELDS]),
            TapState::Done(_)
        ));
        // A `:path` whose value ends past the first 16 KiB.
        let length = MAX_DECODED;
        let mut block = vec![0x04, 0x7f];
        let mut rest = length - 127;
        while rest >= 128 {
            block.push(rest as u8 | 0x80);
            rest >>= 7;
        }
        block.push(rest as u8);
        block.resize(block.len() + length, b'a');
        assert_eq!(
            headers_only(&block),
            TapState::Failed("pseudo-headers too large")
        );
        let time = std::time::Instant::now();
        let bytes: Vec<u8> = [0x01, 0x80].repeat(30_000);
        assert!(matches!(headers_only(&bytes), TapState::Failed(_)));
        // Stopped at the first blocks, not after 60,000 bytes of them (generous: a debug
        // build on a loaded machine).
        assert!(time.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn hpack_integers() {
        assert_eq!(read_integer(&[10], 0, 5), Ok((10, 1)));
        // RFC 7541, C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(read_integer(&[31, 154, 10], 0, 5), Ok((1337, 3)));
        assert_eq!(
            read_integer(&[0xff, 0x80, 0x80, 0x80, 0x7f], 0, 8),
            Ok((255 + (127 << 21), 5))
        );
        assert_eq!(
            read_integer(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x01], 0, 8),
            Err(HPACK_FAILED)
        );
        assert_eq!(read_integer(&[0x1f], 0, 5), Err(HPACK_FAILED));
        assert_eq!(read_integer(&[], 0, 5), Err(HPACK_FAILED));
        assert_eq!(string_end(&[0x03, b'a', b'b'], 0), Err(HPACK_FAILED));
        assert_eq!(field_end(&[0x20], 0), Err(HPACK_FAILED));
    }

    #[test]
    fn serializes() {
        let value = serde_json::to_value(fingerprint_of(&chrome())).unwrap();
        assert_eq!(value["settings"][2], serde_json::json!([4, 6_291_456]));
        assert_eq!(value["window_update"], 15_663_105);
        assert_eq!(
            value["pseudo_headers"],
            serde_json::json!(["method", "authority", "scheme", "path"])
        );
        assert_eq!(value["headers_priority"]["weight"], 256);
    }
}

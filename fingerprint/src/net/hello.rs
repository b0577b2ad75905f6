//! Reading a TLS ClientHello before the TLS library does ([`read_client_hello`]), and handing
//! that library a stream that replays the same bytes ([`Replay`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

#[cfg(doc)]
use super::ja4::Ja4;
use super::tls::{parse_client_hello, ClientHello};

/// Reads the TLS ClientHello at the start of `io`, without consuming it:
/// the returned [`Replay`] yields the bytes read here first, then the rest of `io`, so the TLS
/// library (e.g. `tokio_rustls::TlsAcceptor::accept`) sees the connection unchanged.
///
/// Reads at most `max_bytes` (ClientHellos of 16 KiB and more exist; see
/// [`MAX_CLIENT_HELLO`](crate::v1::MAX_CLIENT_HELLO)) and waits at most `timeout` in all, so a
/// client sending one byte a second holds nothing past it. The hello is `None` when the bytes
/// are not a ClientHello this parser understands, are larger than `max_bytes`, or end early:
/// the TLS library then fails (or accepts) the handshake exactly as it would have. Its JA4 is
/// [`Ja4::from_hello`]; [`ConnectionInfo::with_client_hello`](super::ConnectionInfo::with_client_hello)
/// keeps both.
///
/// # Errors
/// `TimedOut` when no complete ClientHello arrived within `timeout`; any read error of `io`.
pub async fn read_client_hello<S>(
    mut io: S,
    max_bytes: usize,
    timeout: Duration,
) -> io::Result<(Replay<S>, Option<ClientHello>)>
where
    S: AsyncRead + Unpin,
{
    let mut read = Vec::with_capacity(2048);
    let hello = tokio::time::timeout(timeout, read_hello(&mut io, &mut read, max_bytes))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TLS ClientHello in time"))??;
    Ok((Replay::new(read, io), hello))
}

/// Reads from `io` into `read` until it holds a ClientHello, something else, or `max_bytes`
/// (`None`).
async fn read_hello<S: AsyncRead + Unpin>(
    io: &mut S,
    read: &mut Vec<u8>,
    max_bytes: usize,
) -> io::Result<Option<ClientHello>> {
    let mut records = Records::default();
    loop {
        if records.complete(read) || read.len() >= max_bytes {
            match parse_client_hello(read, max_bytes) {
                Ok(Some((hello, _))) => return Ok(Some(hello)),
                Ok(None) => {}
                // Not a ClientHello, or too large: the TLS library decides.
                Err(_) => return Ok(None),
            }
        }
        // Never read past the limit: the parser has what it needs to refuse.
        let room = max_bytes.saturating_sub(read.len()).clamp(1, 16 * 1024);
        if (&mut *io).take(room as u64).read_buf(read).await? == 0 {
            return Ok(None); // the client closed early
        }
    }
}

/// How far the record headers of the bytes read so far have been walked, so that each read
/// walks only the records it completed: walking them all again after every read would cost
/// quadratic time when a client sends its ClientHello as many tiny records, a few bytes at a
/// time.
#[derive(Debug, Default)]
struct Records {
    /// Where the first record not yet whole starts.
    next: usize,
    /// The first bytes (up to 4) of the handshake payload: its type and length.
    head: Vec<u8>,
    /// The payload bytes of the whole records so far.
    payload_len: usize,
    /// Record headers walked (each once).
    walked: usize,
}

impl Records {
    /// Whether `read` is worth parsing: it holds the whole handshake message its first
    /// record announces, or bytes that are not TLS records (which the parser refuses).
    /// `read` only grows between calls.
    fn complete(&mut self, read: &[u8]) -> bool {
        while let [kind, major, _, high, low, body @ ..] = &read[self.next..] {
            if *kind != 0x16 || *major != 0x03 {
                return true; // not a handshake record: let the parser say so
            }
            let len = usize::from(*high) << 8 | usize::from(*low);
            let Some(record) = body.get(..len) else {
                return false; // this record is still arriving
            };
            let wanted = 4usize.saturating_sub(self.head.len()).min(record.len());
            self.head.extend_from_slice(&record[..wanted]);
            self.payload_len += len;
            self.next += 5 + len;
            self.walked += 1;
        }
        match self.head[..] {
            [_, a, b, c, ..] => {
                let message = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.payload_len >= 4 + message
            }
            // Too short to say, unless not TLS.
            _ => read[self.next..].first().is_some_and(|byte| *byte != 0x16),
        }
    }
}

/// A stream that yields `prefix` before the bytes of its inner stream; writes go straight
/// through. Made by [`read_client_hello`].
#[derive(Debug)]
pub struct Replay<S> {
    prefix: Vec<u8>,
    position: usize,
    io: S,
}

impl<S> Replay<S> {
    /// `io`, with `prefix` read first.
    pub fn new(prefix: Vec<u8>, io: S) -> Self {
        Self {
            prefix,
            position: 0,
            io,
        }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = this.prefix.get(this.position..).unwrap_or_default();
        if rest.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.position += n;
        if this.position == this.prefix.len() {
            this.prefix = Vec::new(); // replayed: free it
            this.position = 0;
        }
        Poll::Ready(Ok(()))
    }
}

super::forward_write!(Replay, io);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn each_record_header_is_walked_once() {
        // A 4,000-byte handshake message in one-byte records, arriving three bytes at a time.
        let mut message = vec![1, 0x00, 0x0f, 0x9c];
        message.resize(4_000, 7);
        let bytes: Vec<u8> = message
            .iter()
            .flat_map(|&byte| [0x16, 0x03, 0x01, 0x00, 0x01, byte])
            .collect();
        let mut records = Records::default();
        let mut complete_at = None;
        for end in (3..=bytes.len()).step_by(3) {
            if records.complete(&bytes[..end]) {
                complete_at = Some(end);
                break;
            }
        }
        assert_eq!(complete_at, Some(bytes.len()));
        assert_eq!(records.walked, 4_000);
    }

    #[tokio::test]
    async fn replays_what_was_read_then_the_rest() {
        let (mut client, server) = tokio::io::duplex(64);
        client
            .write_all(b"not tls at all, then more")
            .await
            .unwrap();
        drop(client);
        let (mut replay, hello) = read_client_hello(server, 1024, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(hello, None);
        let mut all = String::new();
        replay.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "not tls at all, then more");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_client_times_out() {
        let (mut client, server) = tokio::io::duplex(64);
        // A record header that announces more than is ever sent.
        client
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .unwrap();
        let error = read_client_hello(server, 1024, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }

    #[tokio::test]
    async fn stops_reading_at_the_limit() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        // A record announcing 16 KiB of handshake, sent whole, then bytes that must stay unread.
        let mut record = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc];
        record.resize(5 + 0x4000, 0);
        client.write_all(&record).await.unwrap();
        client.write_all(b"after").await.unwrap();
        drop(client);
        let (mut replay, hello) = read_client_hello(server, 4096, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(hello, None);
        assert!(replay.prefix.len() <= 4096, "read {}", replay.prefix.len());
        let mut all = Vec::new();
        replay.read_to_end(&mut all).await.unwrap();
        assert_eq!(
            all.len(),
            record.len() + 5,
            "every byte reaches the TLS library"
        );
    }
}

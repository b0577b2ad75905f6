//! [`ConnectionInfo`]: what a connection's first bytes told about the client, and
//! [`Http2TapStream`], which reads the HTTP/2 fingerprint off a stream while the server reads it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::h2::{Http2Fingerprint, Http2Tap, TapState, MAX_PREFACE};
use super::ja4::Ja4;
use super::tls::ClientHello;

/// What the connection of a request told about its client: the peer address, the JA4 of its
/// TLS ClientHello and the fingerprint of its HTTP/2 preface (each when there was one).
///
/// [`FingerprintListener`](crate::v1::FingerprintListener) makes one per connection and axum
/// hands it to the layer as `ConnectInfo<ConnectionInfo>` (serve with
/// `into_make_service_with_connect_info::<ConnectionInfo>()`). A server of your own inserts it
/// into each request's extensions before the fingerprint layer; wrap the stream hyper reads in
/// [`ConnectionInfo::tap`] to fill in the HTTP/2 fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    remote: SocketAddr,
    tls: Option<Arc<(ClientHello, Ja4)>>,
    http2: Arc<OnceLock<Http2Fingerprint>>,
}

impl ConnectionInfo {
    /// A connection from `remote`, with no network fingerprint yet.
    #[must_use]
    pub fn new(remote: SocketAddr) -> Self {
        Self {
            remote,
            tls: None,
            http2: Arc::default(),
        }
    }

    /// The same connection, with its TLS ClientHello (and so its JA4).
    #[must_use]
    pub fn with_client_hello(mut self, hello: ClientHello) -> Self {
        let ja4 = Ja4::from_hello(&hello);
        self.tls = Some(Arc::new((hello, ja4)));
        self
    }

    /// The client's socket address.
    #[must_use]
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The JA4 of the connection's TLS ClientHello; `None` on a connection without TLS, or
    /// when the first bytes were not a ClientHello.
    #[must_use]
    pub fn ja4(&self) -> Option<&Ja4> {
        self.tls.as_deref().map(|(_, ja4)| ja4)
    }

    /// The connection's TLS ClientHello, as parsed (see [`ja4`](Self::ja4)).
    #[must_use]
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.tls.as_deref().map(|(hello, _)| hello)
    }

    /// The fingerprint of the connection's HTTP/2 preface: `None` for HTTP/1 connections, and
    /// until the stream made by [`tap`](Self::tap) has read the first HEADERS frame (which
    /// happens before the server sees the first request).
    #[must_use]
    pub fn http2(&self) -> Option<&Http2Fingerprint> {
        self.http2.get()
    }

    /// `io`, reporting the fingerprint of the HTTP/2 preface read through it to this
    /// connection's [`http2`](Self::http2). The bytes are passed on unchanged.
    pub fn tap<S>(&self, io: S) -> Http2TapStream<S> {
        Http2TapStream {
            io,
            tap: Some(Box::new(Http2Tap::new(MAX_PREFACE))),
            slot: Arc::clone(&self.http2),
        }
    }
}

/// A stream that passes every byte through and reads the HTTP/2 fingerprint off the first ones
/// (see [`ConnectionInfo::tap`]). Once the first HEADERS frame was read, or the bytes are not
/// HTTP/2, it only forwards.
#[derive(Debug)]
pub struct Http2TapStream<S> {
    io: S,
    tap: Option<Box<Http2Tap>>,
    slot: Arc<OnceLock<Http2Fingerprint>>,
}

impl<S> Http2TapStream<S> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    fn observe(&mut self, bytes: &[u8]) {
        let Some(tap) = self.tap.as_mut() else { return };
        match tap.feed(bytes) {
            TapState::NeedMore => return,
            TapState::Done(fingerprint) => {
                let _ = self.slot.set(fingerprint.clone());
            }
            TapState::NotHttp2 | TapState::Failed(_) => {}
        }
        self.tap = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Http2TapStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.tap.is_some() && matches!(poll, Poll::Ready(Ok(()))) {
            this.observe(&buf.filled()[before..]);
        }
        poll
    }
}

super::forward_write!(Http2TapStream, io);

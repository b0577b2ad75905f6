//! [`FingerprintListener`]: an axum listener that reads each connection's network
//! fingerprints (JA4 over TLS, the HTTP/2 preface over TLS or h2c) on the way in.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::connection::{ConnectionInfo, Http2TapStream};
#[cfg(feature = "tls")]
use super::hello::{read_client_hello, Replay};
#[cfg(feature = "tls")]
use super::tls::MAX_CLIENT_HELLO;

/// How long a TLS client may take from connecting to a finished handshake, by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at most, by default: past it the listener stops accepting until one
/// finishes (the kernel's backlog holds the rest).
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// A listener for `axum::serve` that reads network fingerprints: the JA4 of each TLS
/// ClientHello (read before rustls, then replayed to it unchanged) and the HTTP/2 preface of
/// each HTTP/2 connection, over TLS or cleartext (h2c). The app serves with
/// `into_make_service_with_connect_info::<ConnectionInfo>()`, and the fingerprint layer stores
/// what [`ConnectionInfo`] holds with each request.
///
/// ```no_run
/// # #[cfg(feature = "tls")]
/// # async fn run(app: axum::Router, tls: std::sync::Arc<rustls::ServerConfig>) -> std::io::Result<()> {
/// use fingerprint::v1 as fp;
///
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// let listener = fp::FingerprintListener::tls(tcp, tls);
/// axum::serve(listener, app.into_make_service_with_connect_info::<fp::ConnectionInfo>()).await
/// # }
/// ```
///
/// TLS handshakes run concurrently, each in its own task and within
/// [`with_handshake_timeout`](Self::with_handshake_timeout); a client that stalls holds only
/// its own task, until the timeout.
pub struct FingerprintListener {
    tcp: TcpListener,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    handshake_timeout: Duration,
    #[cfg(feature = "tls")]
    max_client_hello: usize,
    max_pending: usize,
    pending: JoinSet<Option<(FingerprintStream, ConnectionInfo)>>,
}

impl std::fmt::Debug for FingerprintListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintListener")
            .field("tcp", &self.tcp)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl FingerprintListener {
    /// A listener for cleartext connections: HTTP/1 and HTTP/2 with prior knowledge (h2c).
    #[must_use]
    pub fn new(tcp: TcpListener) -> Self {
        Self {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            #[cfg(feature = "tls")]
            max_client_hello: MAX_CLIENT_HELLO,
            max_pending: MAX_PENDING_HANDSHAKES,
            pending: JoinSet::new(),
        }
    }

    /// A listener that terminates TLS with `config` (list `h2` in its ALPN protocols for
    /// HTTP/2) and reads the JA4 of each ClientHello.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[must_use]
    pub fn tls(
        tcp: TcpListener,
        config: std::sync::Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> Self {
        let mut listener = Self::new(tcp);
        listener.tls = Some(tokio_rustls::TlsAcceptor::from(config));
        listener
    }

    /// How long a client may take from connecting to a finished TLS handshake
    /// ([`HANDSHAKE_TIMEOUT`] by default). Slower connections are closed.
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The most bytes read as a ClientHello ([`MAX_CLIENT_HELLO`](crate::v1::MAX_CLIENT_HELLO)
    /// by default). A larger one is handed to rustls without a JA4.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[must_use]
    pub fn with_max_client_hello(mut self, bytes: usize) -> Self {
        self.max_client_hello = bytes;
        self
    }

    /// At most this many TLS handshakes in progress ([`MAX_PENDING_HANDSHAKES`] by default).
    #[must_use]
    pub fn with_max_pending_handshakes(mut self, handshakes: usize) -> Self {
        self.max_pending = handshakes.max(1);
        self
    }

    /// Starts the handshake of a new connection, or returns it ready when there is none.
    fn admit(
        &mut self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> Option<(FingerprintStream, ConnectionInfo)> {
        let _ = tcp.set_nodelay(true);
        let info = ConnectionInfo::new(remote);
        #[cfg(feature = "tls")]
        if let Some(acceptor) = self.tls.clone() {
            let (timeout, max_hello) = (self.handshake_timeout, self.max_client_hello);
            self.pending.spawn(async move {
                let handshake = async {
                    let (replay, hello) = read_client_hello(tcp, max_hello, timeout).await?;
                    let stream = acceptor.accept(replay).await?;
                    io::Result::Ok((stream, hello))
                };
                match tokio::time::timeout(timeout, handshake).await {
                    Ok(Ok((stream, hello))) => {
                        let info = match hello {
                            Some(hello) => info.with_client_hello(hello),
                            None => info,
                        };
                        let stream = info.tap(Transport::Tls(Box::new(stream)));
                        Some((stream, info))
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(%remote, %error, "TLS handshake failed");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        None
                    }
                }
            });
            return None;
        }
        Some((info.tap(Transport::Plain(tcp)), info))
    }
}

impl axum::serve::Listener for FingerprintListener {
    type Io = FingerprintStream;
    type Addr = ConnectionInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.pending.len() < self.max_pending;
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((tcp, remote)) => {
                        if let Some(ready) = self.admit(tcp, remote) {
                            return ready;
                        }
                    }
                    Err(error) => accept_error(error).await,
                },
                Some(done) = self.pending.join_next(), if !self.pending.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr().map(ConnectionInfo::new)
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, FingerprintListener>>
    for ConnectionInfo
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, FingerprintListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// As axum's own listener does: connection errors concern one client and are skipped; others
/// (such as running out of file descriptors) are logged and waited out.
async fn accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A connection accepted by [`FingerprintListener`].
pub type FingerprintStream = Http2TapStream<Transport>;

/// The transport of a connection accepted by [`FingerprintListener`]: plain TCP or TLS.
#[derive(Debug)]
#[non_exhaustive]
pub enum Transport {
    /// Cleartext.
    Plain(TcpStream),
    /// TLS, terminated by rustls.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    Tls(Box<tokio_rustls::server::TlsStream<Replay<TcpStream>>>),
}

macro_rules! each_transport {
    ($self:ident, $io:ident => $body:expr) => {
        match $self.get_mut() {
            Transport::Plain($io) => {
                let $io = Pin::new($io);
                $body
            }
            #[cfg(feature = "tls")]
            Transport::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $body
            }
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each_transport!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_transport!(self, io => io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_transport!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_transport!(self, io => io.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_transport!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(io) => io.is_write_vectored(),
            #[cfg(feature = "tls")]
            Transport::Tls(io) => io.is_write_vectored(),
        }
    }
}

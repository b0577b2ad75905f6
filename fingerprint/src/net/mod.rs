//! Network fingerprints: how a client's TLS library and HTTP stack talk, which a client
//! cannot change as easily as what it states in its headers.
//!
//! - [`Ja4`]: the JA4 of a TLS ClientHello ([`ja4_of_records`], [`read_client_hello`]).
//! - [`Http2Fingerprint`]: SETTINGS, WINDOW_UPDATE, PRIORITY and pseudo-header order of an
//!   HTTP/2 connection's first frames ([`Http2Tap`], [`ConnectionInfo::tap`]).
//! - [`HeaderFingerprint`]: method, version and header-name order of a request.
//! - [`FingerprintListener`] (feature `listener`, TLS with `tls`): reads the first two for every
//!   connection an axum app accepts; the layer stores them with each request.

/// `impl AsyncWrite for $stream<S>`, writing straight to its `$field` (the streams here only
/// look at what is read).
macro_rules! forward_write {
    ($stream:ident, $field:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $stream<S> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().$field).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.$field.is_write_vectored()
            }
        }
    };
}
use forward_write;

mod connection;
mod h2;
mod headers;
mod hello;
mod ja4;
#[cfg(feature = "listener")]
mod listener;
mod tls;

pub use connection::{ConnectionInfo, Http2TapStream};
pub use h2::{Http2Fingerprint, Http2Tap, Priority, PseudoHeader, TapState, MAX_PREFACE};
pub use headers::{header_fingerprint, HeaderFingerprint};
pub use hello::{read_client_hello, Replay};
pub(crate) use ja4::is_grease;
pub use ja4::{ja4_of_records, Ja4};
#[cfg(feature = "listener")]
pub use listener::{
    FingerprintListener, FingerprintStream, Transport, HANDSHAKE_TIMEOUT, MAX_PENDING_HANDSHAKES,
};
pub use tls::{parse_client_hello, ClientHello, HelloError, MAX_CLIENT_HELLO};

/// A xorshift64 generator for the parsers' tests: reproducible inputs without a dependency.
#[cfg(test)]
mod test_rng {
    pub(crate) struct XorShift(pub(crate) u64);

    impl XorShift {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }
}

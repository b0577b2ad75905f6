//! The response future of the library's services.

use std::future::Future;
use std::pin::Pin;

/// The response future of [`FingerprintService`](super::FingerprintService) (and of
/// [`RememberUserSession`](super::RememberUserSession)).
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

//! The tower layer: Django's `@fingerprint` decorator.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{header, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::fingerprint::Shared;

mod remember;

pub use remember::{RememberUserSession, RememberUserSessionLayer};

/// Fingerprints every request to the routes it wraps. Made by
/// [`Fingerprint::layer`](crate::Fingerprint::layer).
///
/// It captures the request, enqueues it for the recorder and calls the inner service. It never
/// waits for the database and never fails a request: when the queue is full the fingerprint is
/// dropped and counted.
#[derive(Clone)]
pub struct FingerprintLayer {
    pub(crate) shared: std::sync::Arc<Shared>,
}

impl std::fmt::Debug for FingerprintLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for FingerprintLayer {
    type Service = FingerprintService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FingerprintService {
            inner,
            shared: std::sync::Arc::clone(&self.shared),
        }
    }
}

/// The service made by [`FingerprintLayer`].
#[derive(Clone)]
pub struct FingerprintService<S> {
    inner: S,
    shared: std::sync::Arc<Shared>,
}

impl<S> std::fmt::Debug for FingerprintService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintService").finish_non_exhaustive()
    }
}

/// The response future of [`FingerprintService`].
pub type ResponseFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for FingerprintService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Keep the service that was driven to readiness; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = std::sync::Arc::clone(&self.shared);
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            #[cfg(feature = "tower-sessions")]
            let session = parts.extensions.get::<tower_sessions::Session>().cloned();
            let set_cookie = shared.fingerprint_request(&mut parts).await;
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            #[cfg(feature = "tower-sessions")]
            if let Some(session) = session {
                // The handler may have logged a user in (axum-login).
                shared.after_handler(&session).await;
            }
            if let Some(cookie) = set_cookie {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(response)
        })
    }
}

//! [`FingerprintLayer`]: Django's `@fingerprint` decorator.

use std::sync::Arc;

use tower_layer::Layer;

use super::FingerprintService;
use crate::shared::Shared;

/// Fingerprints every request to the routes it wraps. Made by
/// [`Fingerprint::layer`](crate::v1::Fingerprint::layer).
///
/// It captures the request, enqueues it for the recorder and calls the inner service. It never
/// waits for the database and never fails a request: when the queue is full the fingerprint is
/// dropped and counted.
#[derive(Clone)]
pub struct FingerprintLayer {
    shared: Arc<Shared>,
}

impl FingerprintLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl std::fmt::Debug for FingerprintLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for FingerprintLayer {
    type Service = FingerprintService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FingerprintService::new(inner, Arc::clone(&self.shared))
    }
}

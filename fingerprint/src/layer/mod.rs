//! The tower layers (in the shape of tower-http's middleware: a layer, its service and the
//! service's response future, each in its own file).
//!
//! - [`FingerprintLayer`] / [`FingerprintService`]: Django's `@fingerprint` decorator. Per
//!   request: capture, session identity, debounce, enqueue for the recorder, a
//!   [`CurrentVisit`](crate::v1::CurrentVisit) for the handler; after the handler, a login it
//!   made is followed and a new built-in cookie is set.
//! - [`RememberUserSessionLayer`] / [`RememberUserSession`]: Django's
//!   `@remember_user_session`, for apps whose auth is not axum-login.

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod remember;
mod service;

pub use future::ResponseFuture;
pub use layer::FingerprintLayer;
pub use remember::{RememberUserSession, RememberUserSessionLayer};
pub use service::FingerprintService;

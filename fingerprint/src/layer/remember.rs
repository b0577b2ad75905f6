//! `remember_user_session`: links the request's session to the user an app's own auth
//! reports (Django's `@remember_user_session`).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::ResponseFuture;
use crate::session::{RememberedUser, RememberedUserTaken, SessionIdentity};
use crate::shared::Shared;
use crate::visit::CurrentVisit;

/// Links the session of each request to the user that a closure finds in the request (for
/// apps whose auth is not axum-login). Made by
/// [`Fingerprint::remember_user_session`](crate::v1::Fingerprint::remember_user_session).
///
/// The link is queued for the recorder, once per session and user per process: no database
/// round trip on the request path. With the built-in session cookie (no tower-sessions
/// layer), a browser keeps one session per user, as Django's login and logout do: an
/// anonymous session goes on as the user's; the browser's next user, or a logout (the
/// closure returns `None` where it returned a user), starts a new session, so nobody's
/// visits go to the user before them. Put this layer outside the fingerprint layer for the
/// request where the user changes to be recorded in the new session already; inside, it is
/// the next request's. Requests without a session are left alone.
#[derive(Clone)]
pub struct RememberUserSessionLayer<F> {
    shared: Arc<Shared>,
    user: F,
}

impl<F> RememberUserSessionLayer<F> {
    pub(crate) fn new(shared: Arc<Shared>, user: F) -> Self {
        Self { shared, user }
    }
}

impl<F> std::fmt::Debug for RememberUserSessionLayer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RememberUserSessionLayer")
            .finish_non_exhaustive()
    }
}

impl<S, F: Clone> Layer<S> for RememberUserSessionLayer<F> {
    type Service = RememberUserSession<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RememberUserSession {
            inner,
            shared: Arc::clone(&self.shared),
            user: self.user.clone(),
        }
    }
}

/// The service made by [`RememberUserSessionLayer`].
#[derive(Clone)]
pub struct RememberUserSession<S, F> {
    inner: S,
    shared: Arc<Shared>,
    user: F,
}

impl<S, F> std::fmt::Debug for RememberUserSession<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RememberUserSession")
            .finish_non_exhaustive()
    }
}

impl<S, F, ReqBody, ResBody> Service<Request<ReqBody>> for RememberUserSession<S, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    F: Fn(&Parts) -> Option<String> + Clone + Send + Sync + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        let user = self.user.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let user = user(&parts).filter(|user| !user.is_empty());
            let session = shared.sessions.of(&parts);
            if session.has_tower_session() {
                // The tower-sessions session starts a new one for another user itself.
                if let Some(user) = user {
                    // The fingerprint layer's session when it ran first, else the session
                    // the request already has (none is created for this).
                    let key = match parts.extensions.get::<CurrentVisit>() {
                        Some(visit) => Some(visit.session_key.clone()),
                        None => session.existing_key().await,
                    };
                    if let Some(key) = key {
                        shared.link(&key, &user);
                    }
                }
                return inner.call(Request::from_parts(parts, body)).await;
            }
            // The built-in cookie: the fingerprint layer links the user and keeps one
            // session per user of a browser. When it ran first, it reads the user from the
            // response; else from the request.
            if parts.extensions.get::<CurrentVisit>().is_some() {
                let mut response = inner.call(Request::from_parts(parts, body)).await?;
                response.extensions_mut().insert(RememberedUser(user));
                return Ok(response);
            }
            let existing = session.existing_key().await;
            parts.extensions.insert(RememberedUser(user.clone()));
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            if response
                .extensions_mut()
                .remove::<RememberedUserTaken>()
                .is_none()
            {
                // No fingerprint layer inside: the request's session is linked as it is.
                if let (Some(user), Some(key)) = (user, existing) {
                    shared.link(&key, &user);
                }
            }
            Ok(response)
        })
    }
}

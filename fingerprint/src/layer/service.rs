//! [`FingerprintService`]: the per-request pipeline.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{header, HeaderValue, Request, Response};
use tower_service::Service;
use tracing::Instrument;

use super::ResponseFuture;
use crate::assess::{assess_request, Assessment, Finding, SessionAssessment, Verdict};
use crate::capture;
use crate::model::Visit;
use crate::session::{
    IssuedKey, LinkFn, RememberedUser, RememberedUserTaken, RequestSession, SessionIdentity,
};
use crate::shared::Shared;
use crate::visit::{peer_ip, CurrentVisit};

/// The service made by [`FingerprintLayer`](super::FingerprintLayer).
#[derive(Clone)]
pub struct FingerprintService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> FingerprintService<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S> std::fmt::Debug for FingerprintService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintService").finish_non_exhaustive()
    }
}

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
        let shared = Arc::clone(&self.shared);
        let span = tracing::info_span!(
            "fingerprint",
            method = %request.method(),
            path = request.uri().path(),
        );
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let session = shared.sessions.of(&parts);
            let link = |key: &str, user: &str| shared.link(key, user);
            let remembered = parts.extensions.get::<RememberedUser>().is_some();
            let (issued, secure) = fingerprint_request(&shared, &session, &link, &mut parts)
                .instrument(span.clone())
                .await;
            let mut response = inner.call(Request::from_parts(parts, body)).await?;
            // The handler may have logged a user in (axum-login).
            session.after_handler(&link).instrument(span).await;
            let mut set_cookie = issued.set_cookie.clone();
            // The remember layer inside found the request's user.
            if let Some(RememberedUser(user)) = response.extensions_mut().remove() {
                if let Some(cookie) =
                    session.after_remembered(&issued, user.as_deref(), secure, &link)
                {
                    set_cookie = Some(cookie);
                }
            }
            if remembered {
                response.extensions_mut().insert(RememberedUserTaken);
            }
            if let Some(cookie) = set_cookie {
                // A shared cache must not hand this response, and so this visitor's key, to
                // others: `Vary: Cookie` (as Django's session middleware adds), and `private`
                // unless the app chose its own caching.
                let headers = response.headers_mut();
                headers.append(header::SET_COOKIE, cookie);
                headers.append(header::VARY, HeaderValue::from_static("Cookie"));
                if !headers.contains_key(header::CACHE_CONTROL) {
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
                }
            }
            Ok(response)
        })
    }
}

/// Captures, debounces and enqueues one request; puts a [`CurrentVisit`] into its
/// extensions. Returns the session key it was recorded under (with the `Set-Cookie` value
/// when a new built-in cookie was issued), and whether it came over https. Takes the parts
/// only, so the request's body type need not be `Sync`.
async fn fingerprint_request(
    shared: &Shared,
    session: &RequestSession<'_>,
    link: LinkFn<'_>,
    parts: &mut Parts,
) -> (IssuedKey, bool) {
    let now = shared.now();
    let peer = peer_ip(&parts.extensions);
    let location = capture::locate(&parts.uri, &parts.headers, peer, &shared.capture);
    let issued = session.issue(location.secure, link).await;
    let session_key = issued.key.clone();

    let url = location.url.clone();
    let (client_ip, secure) = (location.client_ip, location.secure);
    let connection = crate::visit::connection(&parts.extensions).cloned();
    let mut assessment = assess_request(&parts.headers, parts.version, secure, connection.as_ref());
    let crawler = verified_crawler(shared, &parts.headers, client_ip, &mut assessment);
    // Behaviour is a matter of the session, not of the header profile: it is added to the
    // assessment the handler sees, and stored on the session.
    let behaviour = shared.behaviour.observe(&session_key, &url, client_ip, now);
    let session_assessment = session_findings(crawler, &behaviour.findings);
    // The handler's assessment: the profile's, with the minute's behaviour reasons (a copy
    // only when there are some).
    let seen = (!behaviour.over.is_empty()).then(|| {
        let mut seen = assessment.clone();
        seen.add_reasons(behaviour.over);
        seen
    });
    // A request that crosses a behaviour limit goes to the store even inside the debounce
    // window, so its session keeps the finding (the store's debounce still keeps a second
    // row of the same page out).
    // Of concurrent requests of one pair, one claims it; a claim not enqueued is given back.
    let claim = behaviour
        .findings
        .is_empty()
        .then(|| shared.debounce.claim(&session_key, &url, now));
    let debounced = matches!(claim, Some(None));
    let recorded = if debounced {
        shared.recorder.count_skipped();
        false
    } else {
        // Only recorded requests pay for the full capture.
        let mut captured = capture::capture_at(
            location,
            &capture::Head::of(parts, peer, connection.as_ref()),
            &shared.capture,
            now,
        );
        captured.fingerprint.verdict = assessment.verdict.as_str().to_owned();
        captured.fingerprint.reasons = assessment.reason_codes();
        let visit = Visit {
            session_key: session_key.clone(),
            fingerprint: captured.fingerprint,
            utm: captured.utm,
            counted: shared.count_automated
                || !seen.as_ref().unwrap_or(&assessment).verdict.is_automated(),
            assessment: session_assessment,
        };
        let accepted = shared.recorder.offer(visit);
        match claim {
            Some(Some(claim)) if !accepted => shared.debounce.release(claim),
            None if accepted => shared.debounce.remember(&session_key, &url, now),
            _ => {}
        }
        accepted
    };
    let browser_fingerprinting = shared.browser_allowed(parts);
    parts.extensions.insert(CurrentVisit {
        session_key,
        url,
        recorded,
        browser_fingerprinting,
        client_ip,
        secure,
        connection,
        assessment: seen.unwrap_or(assessment),
    });
    (issued, secure)
}

/// What a request tells about its session: a crawler's verification and behaviour limits
/// crossed (none: nothing).
fn session_findings(
    crawler: Option<SessionAssessment>,
    behaviour: &[Finding],
) -> Option<SessionAssessment> {
    if behaviour.is_empty() {
        return crawler;
    }
    let behaviour = SessionAssessment::new(Verdict::Unknown, behaviour.to_vec());
    // Merged, even onto nothing: the merge decides the verdict the findings make.
    let earlier = crawler.unwrap_or_else(|| SessionAssessment::new(Verdict::Unknown, Vec::new()));
    Some(earlier.merge(&behaviour))
}

/// For a declared crawler, when the app gave a resolver: the verification of its address,
/// once finished (the first request of an address starts it and goes on). A refuted
/// crawler's request becomes `automated`; the session assessment is returned for its session.
fn verified_crawler(
    shared: &Shared,
    headers: &http::HeaderMap,
    client_ip: Option<std::net::IpAddr>,
    assessment: &mut Assessment,
) -> Option<SessionAssessment> {
    if assessment.verdict != Verdict::DeclaredBot {
        return None;
    }
    let (verifier, ip) = (shared.crawlers.as_ref()?, client_ip?);
    let user_agent = headers.get(header::USER_AGENT)?.to_str().ok()?;
    let session = verifier.check(user_agent, ip)?.assessment()?;
    assessment.add_reasons(session.findings.iter().map(|finding| finding.reason));
    Some(session)
}

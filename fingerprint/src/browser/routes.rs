//! The library's routes (feature `axum`): the redirect page, the collector endpoint and the
//! collector script.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue, StatusCode};

use super::{components, html_escape, next, script_element, COLLECTOR_JS, COLLECTOR_VERSION};
use crate::assess::{assess_request, assess_session, SessionAssessment};
use crate::capture;
use crate::device::country_from_header;
use crate::layer::FingerprintLayer;
use crate::model::BrowserVisit;
use crate::session::SessionIdentity;
use crate::shared::Shared;
use crate::visit::CurrentVisit;

/// The little styling of the library's own pages.
const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;color:#1d2433;display:grid;\
    place-items:center;min-height:90vh;margin:0}main{text-align:center}a{color:#2f5bd3}";

/// Largest collector POST body.
pub(crate) const MAX_BODY: usize = 16 * 1024;

/// The routes of [`Fingerprint::routes`](crate::v1::Fingerprint::routes).
pub(crate) fn router<S: Clone + Send + Sync + 'static>(shared: &Arc<Shared>) -> Router<S> {
    let prefix = shared.browser.prefix.clone();
    let layer = FingerprintLayer::new(Arc::clone(shared));
    Router::new()
        .route(
            &format!("{prefix}/"),
            get(redirect_page).layer(layer).post(collect),
        )
        .route(&prefix, get(add_slash))
        .route(&format!("{prefix}/collector-{{version}}"), get(collector))
        .with_state(Arc::clone(shared))
}

/// A 4xx with a short plain-text reason.
fn refuse(status: StatusCode, reason: impl std::fmt::Display) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{reason}\n"),
    )
        .into_response()
}

async fn add_slash(request: Request) -> Response {
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let location = format!("{}/{query}", request.uri().path());
    match HeaderValue::from_str(&location) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => refuse(StatusCode::BAD_REQUEST, "bad request"),
    }
}

async fn collector(State(_): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path();
    let wanted = format!("collector-{}.js", *COLLECTOR_VERSION);
    if !path.ends_with(&wanted) {
        // An old version: send the current one, briefly cacheable.
        return (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            COLLECTOR_JS,
        )
            .into_response();
    }
    let etag = format!("\"{}\"", *COLLECTOR_VERSION);
    let fresh = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let headers = [
        (
            header::CONTENT_TYPE,
            "text/javascript; charset=utf-8".to_owned(),
        ),
        (
            header::CACHE_CONTROL,
            "public, max-age=31536000, immutable".to_owned(),
        ),
        (header::ETAG, etag),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, COLLECTOR_JS).into_response()
}

async fn redirect_page(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let next_param = request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "next")
            .map(|(_, value)| value.into_owned())
    });
    let Some(visit) = request.extensions().get::<CurrentVisit>() else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "fingerprint layer missing",
        );
    };
    // The request's own host is allowed, as the app sees it (after trusted-proxy handling).
    let next = match next::check(
        next_param.as_deref(),
        &shared.browser.policy,
        Some(visit.origin()),
    ) {
        Ok(next) => next,
        Err(reason) => return refused_page(reason),
    };
    if !visit.browser_fingerprinting {
        // Nothing to collect: go on at once.
        return (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, next.as_str()),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response();
    }
    let token = shared.token_for(visit);
    let script = script_element(&shared.browser, &token, None, Some(&next));
    let delay = shared.browser.redirect_delay.as_secs();
    let seconds = if delay == 1 { "second" } else { "seconds" };
    let next_attr = html_escape(&next);
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta http-equiv="refresh" content="{delay};url={next_attr}">
<title>Redirecting…</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<p>Redirecting to <a href="{next_attr}">{next_attr}</a>…</p>
<noscript><p>JavaScript is off: you will be taken there in {delay} {seconds}, or follow the link.</p></noscript>
</main>
{script}
</body>
</html>
"#
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        html,
    )
        .into_response()
}

fn refused_page(reason: next::RefusedRedirect) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Bad redirect</title>\
         <style>{STYLE}</style></head>\
         <body><main><h1>Bad redirect</h1><p>{}</p><p><a href=\"/\">Home</a></p></main></body></html>\n",
        html_escape(&reason.to_string())
    );
    (
        StatusCode::BAD_REQUEST,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Whether an `Origin` header names another site than the request's host: its `Host`
/// header, or on HTTP/2 (which has none) its `:authority`.
fn cross_origin(parts: &http::request::Parts) -> bool {
    let headers = &parts.headers;
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site == "cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|url| match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        });
    match (origin_host, host) {
        (Some(origin), Some(host)) => !origin.eq_ignore_ascii_case(host),
        _ => true,
    }
}

async fn collect(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if cross_origin(&parts) {
        return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    if !shared.browser_allowed(&parts) {
        return refuse(
            StatusCode::FORBIDDEN,
            "browser fingerprinting declined (privacy signal or no consent)",
        );
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/json",
        );
    }
    let too_long = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|length| length > MAX_BODY);
    if too_long {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 16 KiB");
    }
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 16 KiB"),
    };
    let payload = match components::parse(&body) {
        Ok(payload) => payload,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, error),
    };
    // The session the request already has (none is created).
    let Some(session_key) = shared.sessions.of(&parts).existing_key().await else {
        return refuse(StatusCode::FORBIDDEN, "no session");
    };
    let now = shared.now();
    let page_url = match shared
        .browser
        .signer
        .verify(&payload.token, &session_key, now)
    {
        Ok(url) => url,
        Err(error) => return refuse(StatusCode::FORBIDDEN, error),
    };
    let assessment = assess(&shared, &parts, &payload.components);
    let visit = BrowserVisit {
        session_key,
        url: Some(page_url),
        visitor_id: components::visitor_id(&payload.components),
        components: serde_json::to_string(&payload.components).unwrap_or_else(|_| "{}".into()),
        duration_ms: payload.duration_ms,
        created_at: now,
        assessment: Some(assessment),
    };
    match shared.store().record_browser(&visit).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            tracing::error!(%error, "browser fingerprint could not be stored");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not store, try again later",
            )
        }
    }
}

/// The session assessment of a collector POST: its own request's signals (the same rules as
/// the layer's) and what the collector reported.
fn assess(
    shared: &Shared,
    parts: &http::request::Parts,
    components: &std::collections::BTreeMap<String, serde_json::Value>,
) -> SessionAssessment {
    let peer = crate::visit::peer_ip(&parts.extensions);
    let location = capture::locate(&parts.uri, &parts.headers, peer, &shared.capture);
    let connection = crate::visit::connection(&parts.extensions);
    let request = assess_request(&parts.headers, parts.version, location.secure, connection);
    let country = parts
        .headers
        .get(&shared.capture.country_header)
        .and_then(|value| value.to_str().ok())
        .and_then(country_from_header);
    assess_session(&request, &parts.headers, country.as_deref(), components)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut request = http::Request::post(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn same_origin_is_told_by_host_or_by_the_http2_authority() {
        let origin = ("origin", "https://shop.example:8443");
        // HTTP/1.1: the Host header.
        let h1 = parts("/fingerprint/", &[("host", "shop.example:8443"), origin]);
        assert!(!cross_origin(&h1));
        // HTTP/2: no Host header; the authority is in the URI.
        let h2 = parts("https://shop.example:8443/fingerprint/", &[origin]);
        assert!(!cross_origin(&h2));
        let other = parts("https://evil.example/fingerprint/", &[origin]);
        assert!(cross_origin(&other));
        let neither = parts("/fingerprint/", &[origin]);
        assert!(cross_origin(&neither));
        let no_origin = parts("/fingerprint/", &[]);
        assert!(!cross_origin(&no_origin));
        let site = parts("/fingerprint/", &[("sec-fetch-site", "cross-site")]);
        assert!(cross_origin(&site));
    }
}

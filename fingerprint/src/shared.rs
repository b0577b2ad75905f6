//! The state shared by the [`Fingerprint`](crate::v1::Fingerprint) handle, its layers and its
//! routes. It depends on the recorder, capture, session and browser settings; the handle, the
//! layers, the browser routes and the dashboard depend on it, never the reverse.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::browser::BrowserSettings;
use crate::capture::CaptureConfig;
use crate::clock::Clock;
use crate::model::SessionLink;
use crate::recorder::{Debounce, Recorder};
use crate::session::Sessions;
use crate::store::Reports;
use crate::visit::CurrentVisit;

/// The app's decision, per request, whether the browser collector may run.
pub(crate) type ConsentHook = Arc<dyn Fn(&http::request::Parts) -> bool + Send + Sync>;

/// State shared by the handle and every layer (made by the builder).
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Reports>,
    pub(crate) recorder: Recorder,
    pub(crate) capture: CaptureConfig,
    pub(crate) sessions: Sessions,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) debounce: Debounce,
    pub(crate) browser: BrowserSettings,
    pub(crate) privacy_signals: bool,
    pub(crate) consent: Option<ConsentHook>,
    /// Whether automated requests count as unique visitors.
    pub(crate) count_automated: bool,
    /// Verifies declared crawlers, when the app gave a resolver.
    pub(crate) crawlers: Option<crate::assess::CrawlerVerifier>,
    /// Behaviour per session and address, per minute.
    pub(crate) behaviour: crate::assess::Behaviour,
}

impl Shared {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store.
    pub(crate) fn store(&self) -> &Arc<dyn Reports> {
        &self.store
    }

    /// A collector token for the visit's session and page.
    pub(crate) fn token_for(&self, visit: &CurrentVisit) -> String {
        let ttl = TimeDelta::from_std(self.browser.token_ttl).unwrap_or(TimeDelta::MAX);
        let expires = self
            .now()
            .checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.browser
            .signer
            .sign(&visit.session_key, &visit.url, expires)
    }

    /// Whether the browser collector may run for this request: no privacy signal (when
    /// honoured) and the consent hook, if any, agrees.
    pub(crate) fn browser_allowed(&self, parts: &http::request::Parts) -> bool {
        let signal = |name: &str| {
            parts
                .headers
                .get(name)
                .is_some_and(|value| value.as_bytes().trim_ascii() == b"1")
        };
        if self.privacy_signals && (signal("sec-gpc") || signal("dnt")) {
            return false;
        }
        self.consent.as_ref().is_none_or(|consent| consent(parts))
    }

    /// Queues a link of `session_key` to `user_id` unless this process already queued the
    /// same one. False when the queue refused it. A user id the store could not take as it
    /// is (see [`crate::limits::is_storable_user_id`]) is not linked, once logged: it would
    /// fail the batch of links it is written with.
    pub(crate) fn link(&self, session_key: &str, user_id: &str) -> bool {
        let now = self.clock.now();
        if self.debounce.is_linked(session_key, user_id, now) {
            return true;
        }
        if !crate::limits::is_storable_user_id(user_id) {
            tracing::warn!(
                bytes = user_id.len(),
                "session not linked: the user id is empty, longer than {} bytes or holds \
                 control characters",
                crate::limits::USER_ID
            );
            self.debounce.remember_link(session_key, user_id, now);
            return true;
        }
        let link = SessionLink::new(session_key, user_id, now);
        let accepted = self.recorder.offer_link(link);
        if accepted {
            self.debounce.remember_link(session_key, user_id, now);
        }
        accepted
    }
}

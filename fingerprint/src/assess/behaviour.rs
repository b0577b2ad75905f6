//! Behaviour over time, in the layer: requests and distinct URLs per session per minute, and
//! distinct sessions per client address per minute. Kept in memory per process (bounded
//! caches); a limit crossed becomes a reason on that request's assessment and a finding on
//! its session, once per window.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{Finding, Reason};

/// The limits of behaviour a person does not show, per minute. Each crossed limit is a weak
/// reason (two make a verdict `automated`).
///
/// ```
/// use fingerprint::v1::BehaviourLimits;
///
/// let limits = BehaviourLimits::new().with_session_requests(300);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BehaviourLimits {
    /// Most requests of one session in a minute (default 120).
    pub session_requests: u32,
    /// Most distinct URLs of one session in a minute (default 60).
    pub session_urls: u32,
    /// Most distinct sessions of one client address in a minute (default 30).
    pub address_sessions: u32,
}

impl Default for BehaviourLimits {
    fn default() -> Self {
        Self::new()
    }
}

impl BehaviourLimits {
    /// 120 requests and 60 URLs per session, 30 sessions per address, per minute.
    #[must_use]
    pub fn new() -> Self {
        Self {
            session_requests: 120,
            session_urls: 60,
            address_sessions: 30,
        }
    }

    /// Most requests of one session in a minute.
    #[must_use]
    pub fn with_session_requests(mut self, limit: u32) -> Self {
        self.session_requests = limit;
        self
    }

    /// Most distinct URLs of one session in a minute.
    #[must_use]
    pub fn with_session_urls(mut self, limit: u32) -> Self {
        self.session_urls = limit;
        self
    }

    /// Most distinct sessions of one client address in a minute.
    #[must_use]
    pub fn with_address_sessions(mut self, limit: u32) -> Self {
        self.address_sessions = limit;
        self
    }
}

/// One minute of a session or an address: a count and the distinct values seen (hashes,
/// kept only up to the limit).
#[derive(Default)]
struct Window {
    minute: i64,
    count: u32,
    distinct: Vec<u64>,
    /// Reasons already reported in this minute.
    reported: Vec<Reason>,
}

impl Window {
    fn at(&mut self, minute: i64) -> &mut Self {
        if self.minute != minute {
            *self = Self {
                minute,
                ..Self::default()
            };
        }
        self
    }

    /// Counts one event of `value`; the number of distinct values so far (at most
    /// `cap + 1`).
    fn add(&mut self, value: u64, cap: u32) -> u32 {
        self.count = self.count.saturating_add(1);
        if !self.distinct.contains(&value) && self.distinct.len() <= cap as usize {
            self.distinct.push(value);
        }
        self.distinct.len() as u32
    }

    /// Whether `reason` is to be reported now (once per window).
    fn report(&mut self, reason: Reason) -> bool {
        if self.reported.contains(&reason) {
            return false;
        }
        self.reported.push(reason);
        true
    }
}

/// The windows of the sessions (by a hash of their key) or addresses seen lately. quick_cache:
/// a lookup is tens of nanoseconds, and evicts what is least likely to be asked again when
/// full. A window older than a minute starts over when next asked, so nothing expires.
type Windows<K> = quick_cache::sync::Cache<K, Arc<Mutex<Window>>>;

/// The layer's behaviour tracker.
#[derive(Clone)]
pub(crate) struct Behaviour {
    limits: BehaviourLimits,
    sessions: Arc<Windows<u64>>,
    addresses: Arc<Windows<IpAddr>>,
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn windows<K: Hash + Eq + Clone + Send + Sync + 'static>() -> Windows<K> {
    quick_cache::sync::Cache::new(100_000)
}

/// The window of `key`, made when it has none.
fn window_of<K: Hash + Eq + Clone + Send + Sync + 'static>(
    windows: &Windows<K>,
    key: K,
) -> Arc<Mutex<Window>> {
    windows
        .get_or_insert_with(&key, || {
            Ok::<_, std::convert::Infallible>(Arc::new(Mutex::new(Window::default())))
        })
        .unwrap_or_else(|never| match never {})
}

impl Behaviour {
    pub(crate) fn new(limits: BehaviourLimits) -> Self {
        Self {
            limits,
            sessions: Arc::new(windows()),
            addresses: Arc::new(windows()),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Counts a request of `session` for `url` from `address` at `now`: the limits over in
    /// this minute (every request of the minute carries them), and the findings of the limits
    /// this request crossed (each told once per minute and session, or address).
    pub(crate) fn observe(
        &self,
        session: &str,
        url: &str,
        address: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Observed {
        let minute = now.timestamp().div_euclid(60);
        let limits = self.limits;
        let mut findings = Vec::new();
        let mut over = Vec::new();
        let session_window = window_of(&self.sessions, self.hasher.hash_one(session));
        let locked = session_window.lock();
        if let Ok(mut guard) = locked {
            let window = guard.at(minute);
            let urls = window.add(self.hasher.hash_one(url), limits.session_urls);
            if window.count > limits.session_requests {
                over.push(Reason::SessionRequestRate);
            }
            if window.count > limits.session_requests && window.report(Reason::SessionRequestRate) {
                findings.push(Finding::new(
                    Reason::SessionRequestRate,
                    format!(
                        "more than {} requests in one minute",
                        limits.session_requests
                    ),
                ));
            }
            if urls > limits.session_urls {
                over.push(Reason::SessionUrlSpread);
            }
            if urls > limits.session_urls && window.report(Reason::SessionUrlSpread) {
                findings.push(Finding::new(
                    Reason::SessionUrlSpread,
                    format!(
                        "more than {} distinct URLs in one minute",
                        limits.session_urls
                    ),
                ));
            }
        }
        if let Some(address) = address {
            let address_window = window_of(&self.addresses, address);
            let locked = address_window.lock();
            if let Ok(mut guard) = locked {
                let window = guard.at(minute);
                let sessions = window.add(self.hasher.hash_one(session), limits.address_sessions);
                if sessions > limits.address_sessions {
                    over.push(Reason::AddressSessionRate);
                }
                if sessions > limits.address_sessions && window.report(Reason::AddressSessionRate) {
                    findings.push(Finding::new(
                        Reason::AddressSessionRate,
                        format!(
                            "the client address opened more than {} sessions in one minute",
                            limits.address_sessions
                        ),
                    ));
                }
            }
        }
        Observed { over, findings }
    }
}

/// What [`Behaviour::observe`] found.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// The limits over in this minute.
    pub(crate) over: Vec<Reason>,
    /// The limits this request crossed, with their evidence (for its session).
    pub(crate) findings: Vec<Finding>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn codes(observed: &Observed) -> Vec<&'static str> {
        observed
            .findings
            .iter()
            .map(|f| f.reason.as_str())
            .collect()
    }

    #[test]
    fn a_limit_crossed_is_reported_once_per_minute() {
        let limits = BehaviourLimits::new()
            .with_session_requests(5)
            .with_session_urls(3)
            .with_address_sessions(2);
        let behaviour = Behaviour::new(limits);
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        // The same page, five times: within both limits.
        for _ in 0..5 {
            assert!(codes(&behaviour.observe("s1", "/a", Some(ip), start)).is_empty());
        }
        // The sixth request crosses the request limit; then it is not told again.
        let sixth = behaviour.observe("s1", "/a", Some(ip), start);
        assert_eq!(codes(&sixth), ["session_request_rate"]);
        assert_eq!(
            sixth.findings[0].evidence,
            "more than 5 requests in one minute"
        );
        let seventh = behaviour.observe("s1", "/a", Some(ip), start);
        assert!(seventh.findings.is_empty(), "told once");
        assert_eq!(seventh.over, [Reason::SessionRequestRate], "still over");
        // Three more URLs: the fourth distinct one crosses the spread limit.
        assert!(codes(&behaviour.observe("s1", "/b", Some(ip), start)).is_empty());
        assert!(codes(&behaviour.observe("s1", "/c", Some(ip), start)).is_empty());
        assert_eq!(
            codes(&behaviour.observe("s1", "/d", Some(ip), start)),
            ["session_url_spread"]
        );
        // A new minute starts counting again.
        let later = start + TimeDelta::seconds(60);
        let fresh = behaviour.observe("s1", "/e", Some(ip), later);
        assert!(fresh.findings.is_empty() && fresh.over.is_empty());
        // Three sessions from one address in a minute cross its limit.
        assert!(codes(&behaviour.observe("s2", "/a", Some(ip), later)).is_empty());
        let third = behaviour.observe("s3", "/a", Some(ip), later);
        assert_eq!(codes(&third), ["address_session_rate"]);
        assert_eq!(
            third.findings[0].evidence,
            "the client address opened more than 2 sessions in one minute"
        );
        // Without an address, only the session's own limits.
        assert!(codes(&behaviour.observe("s4", "/a", None, later)).is_empty());
    }
}

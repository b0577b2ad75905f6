//! What the request path remembers so it does not enqueue the same thing twice: the
//! debounce of (session, URL) visits and the session-to-user links already queued.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Most (session, URL) pairs remembered unless the builder says otherwise.
pub(crate) const DEFAULT_CAPACITY: u64 = 100_000;

/// How long a queued link is remembered before it is queued again.
const LINK_MEMORY: TimeDelta = TimeDelta::hours(1);

/// In-memory debounce (the store checks again, so several instances agree) and the links
/// this process queued.
///
/// Both are quick_cache maps that compare the stored time themselves: no time-to-live
/// bookkeeping. (With moka's time-to-live, the expiry of a burst of new visitors' entries
/// was paid by the requests a minute later: a returning request cost 30 µs more.)
pub(crate) struct Debounce {
    window: TimeDelta,
    /// (session, URL) hash -> time of the last enqueued visit; `None` for a zero window.
    visits: Option<quick_cache::sync::Cache<u64, DateTime<Utc>>>,
    /// Session hash -> the user it was last linked to by this process, and when (so a link
    /// is queued once an hour, not on every request).
    links: quick_cache::sync::Cache<u64, (Arc<str>, DateTime<Utc>)>,
    hasher: RandomState,
}

impl std::fmt::Debug for Debounce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Debounce")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Debounce {
    /// One record per (session, URL) per `window` (zero: none debounced), remembering at most
    /// `capacity` pairs and as many links.
    pub(crate) fn new(window: Duration, capacity: u64) -> Self {
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        Self {
            window: TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX),
            visits: (!window.is_zero()).then(|| quick_cache::sync::Cache::new(capacity)),
            links: quick_cache::sync::Cache::new(capacity),
            hasher: RandomState::new(),
        }
    }

    /// Whether a visit of `url` in `session_key` was enqueued less than a window before `now`.
    pub(crate) fn is_debounced(&self, session_key: &str, url: &str, now: DateTime<Utc>) -> bool {
        let Some(cache) = &self.visits else {
            return false;
        };
        cache
            .get(&self.pair_hash(session_key, url))
            .is_some_and(|last| now.signed_duration_since(last) < self.window)
    }

    /// Notes that a visit of `url` in `session_key` was enqueued at `now`.
    pub(crate) fn remember(&self, session_key: &str, url: &str, now: DateTime<Utc>) {
        if let Some(cache) = &self.visits {
            cache.insert(self.pair_hash(session_key, url), now);
        }
    }

    /// Whether this process queued the link of `session_key` to `user_id` within the hour
    /// before `now`.
    pub(crate) fn is_linked(&self, session_key: &str, user_id: &str, now: DateTime<Utc>) -> bool {
        self.links
            .get(&self.pair_hash(session_key, ""))
            .is_some_and(|(linked, at)| {
                &*linked == user_id && now.signed_duration_since(at) < LINK_MEMORY
            })
    }

    /// Notes that the link of `session_key` to `user_id` was queued at `now`.
    pub(crate) fn remember_link(&self, session_key: &str, user_id: &str, now: DateTime<Utc>) {
        self.links
            .insert(self.pair_hash(session_key, ""), (Arc::from(user_id), now));
    }

    fn pair_hash(&self, session_key: &str, url: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        session_key.hash(&mut hasher);
        url.hash(&mut hasher);
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_are_debounced_within_the_window() {
        let debounce = Debounce::new(Duration::from_secs(10), 100);
        let t0 = Utc::now();
        assert!(!debounce.is_debounced("s", "u", t0));
        debounce.remember("s", "u", t0);
        assert!(debounce.is_debounced("s", "u", t0 + TimeDelta::seconds(9)));
        assert!(!debounce.is_debounced("s", "u", t0 + TimeDelta::seconds(10)));
        assert!(!debounce.is_debounced("s", "v", t0));
        assert!(!debounce.is_debounced("t", "u", t0));

        let off = Debounce::new(Duration::ZERO, 100);
        off.remember("s", "u", t0);
        assert!(!off.is_debounced("s", "u", t0));
    }

    #[test]
    fn links_are_remembered_per_user_for_an_hour() {
        let debounce = Debounce::new(Duration::from_secs(10), 100);
        let t0 = Utc::now();
        assert!(!debounce.is_linked("s", "alice", t0));
        debounce.remember_link("s", "alice", t0);
        assert!(debounce.is_linked("s", "alice", t0 + TimeDelta::minutes(59)));
        assert!(!debounce.is_linked("s", "alice", t0 + TimeDelta::hours(1)));
        assert!(!debounce.is_linked("s", "bob", t0));
        assert!(!debounce.is_linked("t", "alice", t0));
    }

    #[test]
    fn capacity_bounds_what_is_remembered() {
        let debounce = Debounce::new(Duration::from_secs(10), 100);
        let t0 = Utc::now();
        for i in 0..10_000 {
            debounce.remember(&format!("{i:032x}"), "u", t0);
        }
        let remembered = (0..10_000)
            .filter(|i| debounce.is_debounced(&format!("{i:032x}"), "u", t0))
            .count();
        assert!((1..=200).contains(&remembered), "{remembered}");
    }
}

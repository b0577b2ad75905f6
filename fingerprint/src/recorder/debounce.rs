//! What the request path remembers so it does not enqueue the same thing twice: the
//! debounce of (session, URL) visits and the session-to-user links already queued.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use quick_cache::sync::{EntryAction, EntryResult};

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

    /// Claims the visit of `url` in `session_key` at `now`: `None` when one was enqueued
    /// less than a window before, or another request is claiming it at this moment; else the
    /// pair is marked as enqueued at `now` (give it back with [`Self::release`] if the visit
    /// is not enqueued after all). Of concurrent requests of one pair, one claims it.
    pub(crate) fn claim(&self, session_key: &str, url: &str, now: DateTime<Utc>) -> Option<Claim> {
        let Some(cache) = &self.visits else {
            return Some(Claim::default());
        };
        let key = self.pair_hash(session_key, url);
        let inside = |last: DateTime<Utc>| now.signed_duration_since(last) < self.window;
        // A returning visit inside its window takes the shard's read lock only.
        if cache.get(&key).is_some_and(inside) {
            return None;
        }
        let claimed = |previous| {
            Some(Claim {
                key,
                at: now,
                previous,
            })
        };
        match cache.entry(&key, Some(Duration::ZERO), |_, last| {
            if inside(*last) {
                EntryAction::Retain(None)
            } else {
                let previous = *last;
                *last = now;
                EntryAction::Retain(Some(previous))
            }
        }) {
            EntryResult::Retained(previous) => {
                previous.and_then(|previous| claimed(Some(previous)))
            }
            EntryResult::Vacant(guard) => {
                // Not admitted (a full cache that keeps its entries): the store debounces.
                let _ = guard.insert(now);
                claimed(None)
            }
            // Another request is inserting this pair now; the callback removes nothing.
            EntryResult::Timeout | EntryResult::Removed(..) | EntryResult::Replaced(..) => None,
        }
    }

    /// Gives back a claim whose visit was not enqueued: the pair's earlier time (or none),
    /// unless a later claim replaced it.
    pub(crate) fn release(&self, claim: Claim) {
        let Some(cache) = &self.visits else {
            return;
        };
        let _ = cache.entry(&claim.key, Some(Duration::ZERO), |_, last| {
            if *last != claim.at {
                return EntryAction::Retain(());
            }
            match claim.previous {
                Some(previous) => {
                    *last = previous;
                    EntryAction::Retain(())
                }
                None => EntryAction::Remove,
            }
        });
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

/// A (session, URL) pair claimed by one request (see [`Debounce::claim`]).
#[derive(Debug, Default)]
pub(crate) struct Claim {
    key: u64,
    at: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_are_debounced_within_the_window() {
        let debounce = Debounce::new(Duration::from_secs(10), 100);
        let t0 = Utc::now();
        let s = |secs| t0 + TimeDelta::seconds(secs);
        assert!(debounce.claim("s", "u", t0).is_some());
        assert!(debounce.claim("s", "u", s(9)).is_none());
        assert!(debounce.claim("s", "v", t0).is_some());
        assert!(debounce.claim("t", "u", t0).is_some());
        // The window is half-open, and opens again from the new claim.
        assert!(debounce.claim("s", "u", s(10)).is_some());
        assert!(debounce.claim("s", "u", s(19)).is_none());
        // A request that skips the debounce (a behaviour finding) marks the pair too.
        debounce.remember("w", "u", t0);
        assert!(debounce.claim("w", "u", s(1)).is_none());

        let off = Debounce::new(Duration::ZERO, 100);
        off.remember("s", "u", t0);
        assert!(off.claim("s", "u", t0).is_some());
        assert!(off.claim("s", "u", t0).is_some());
    }

    #[test]
    fn a_released_claim_gives_the_pair_back() {
        let debounce = Debounce::new(Duration::from_secs(10), 100);
        let t0 = Utc::now();
        let s = |secs| t0 + TimeDelta::seconds(secs);
        // A new pair: released, it is new again.
        let claim = debounce.claim("s", "u", t0).unwrap();
        debounce.release(claim);
        assert!(debounce.claim("s", "u", s(1)).is_some());
        // A pair claimed at 1, claimed again at 12 and released: its time is 1 again (so a
        // request stamped 5 is inside that window), not gone.
        let claim = debounce.claim("s", "u", s(12)).unwrap();
        debounce.release(claim);
        assert!(debounce.claim("s", "u", s(5)).is_none());
        assert!(debounce.claim("s", "u", s(13)).is_some());
        // A release does not undo a later claim.
        let early = debounce.claim("s", "u", s(30)).unwrap();
        let later = debounce.claim("s", "u", s(45)).unwrap();
        debounce.release(early);
        assert!(debounce.claim("s", "u", s(50)).is_none());
        debounce.release(later);
    }

    #[test]
    fn one_of_concurrent_requests_claims_a_pair() {
        let debounce = Debounce::new(Duration::from_secs(10), 1_000);
        let now = Utc::now();
        for round in 0..200 {
            let url = format!("/{round}");
            let barrier = std::sync::Barrier::new(8);
            let claimed = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|scope| {
                for _ in 0..8 {
                    scope.spawn(|| {
                        barrier.wait();
                        if debounce.claim("s", &url, now).is_some() {
                            claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                }
            });
            assert_eq!(claimed.into_inner(), 1, "round {round}");
        }
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
            .filter(|i| debounce.claim(&format!("{i:032x}"), "u", t0).is_none())
            .count();
        assert!((1..=200).contains(&remembered), "{remembered}");
    }
}

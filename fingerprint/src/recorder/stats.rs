use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters of the recorder since start. For every visit the layer saw:
/// `skipped` (debounced in memory) or `enqueued` or `dropped`; and every enqueued visit ends
/// as `stored`, `debounced` (by the store), `failed`, or is still pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecorderStats {
    /// Visits put on the queue.
    pub enqueued: u64,
    /// Visits refused because the queue was full or the recorder had shut down.
    pub dropped: u64,
    /// Visits not enqueued because the same session saw the same URL within the debounce window.
    pub skipped: u64,
    /// Request fingerprints written to the store.
    pub stored: u64,
    /// Enqueued visits the store did not insert because of the debounce window.
    pub debounced: u64,
    /// Enqueued visits given up after failed writes.
    pub failed: u64,
    /// Failed writes that were retried.
    pub retries: u64,
    /// Session-to-user links written to the store.
    pub links: u64,
    /// Session-to-user links refused by a full queue or given up after failed writes (the
    /// layer offers them again on the session's next request).
    pub links_dropped: u64,
}

impl RecorderStats {
    /// Enqueued visits not yet written, debounced or given up.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.enqueued
            .saturating_sub(self.stored + self.debounced + self.failed)
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) enqueued: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) skipped: AtomicU64,
    pub(super) stored: AtomicU64,
    pub(super) debounced: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) links: AtomicU64,
    pub(super) links_dropped: AtomicU64,
    last_warning_second: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> RecorderStats {
        RecorderStats {
            enqueued: self.enqueued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            debounced: self.debounced.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            links: self.links.load(Ordering::Relaxed),
            links_dropped: self.links_dropped.load(Ordering::Relaxed),
        }
    }

    /// At most one warning per second, so a flood of drops does not flood the logs.
    pub(super) fn should_warn(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_warning_second.swap(now, Ordering::Relaxed) != now
    }
}

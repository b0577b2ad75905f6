//! What store operations report: outcomes, totals, progress.

/// What a store did with one batch of visits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordOutcome {
    /// Request fingerprints inserted.
    pub inserted: u64,
    /// Visits not inserted because the same session visited the same URL within the debounce
    /// window (in this batch or already in the database).
    pub debounced: u64,
    /// Visits not inserted because they are stored as they are (the same session, URL and
    /// time): a batch written again after a failure whose commit had in fact gone through
    /// (a connection lost before the commit's answer came back). Two visits of one session
    /// and URL in the same microsecond are one visit to the store.
    pub already_stored: u64,
}

/// How far a long operation (rebuild, purge) has come: `done` of `total` units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Units done so far.
    pub done: u64,
    /// Units in all (an estimate taken at the start).
    pub total: u64,
}

impl Progress {
    /// `done` of `total`.
    #[must_use]
    pub fn new(done: u64, total: u64) -> Self {
        Self { done, total }
    }
}

/// Told how far a long operation has come (a progress bar, a log line).
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// What a purge of old fingerprints did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Request fingerprints deleted.
    pub request_fingerprints: u64,
    /// Browser fingerprints deleted.
    pub browser_fingerprints: u64,
    /// Sessions deleted (older than the cutoff, with no fingerprint left).
    pub sessions: u64,
    /// Unique (URL, session) visits taken out of the hit counters, because the session has
    /// no fingerprint of the URL left.
    pub visits_uncounted: u64,
    /// Transactions used.
    pub chunks: u64,
}

/// How much a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Sessions.
    pub sessions: u64,
    /// Sessions linked to a user.
    pub linked_sessions: u64,
    /// Users with at least one session.
    pub users: u64,
    /// Request fingerprints.
    pub request_fingerprints: u64,
    /// Browser fingerprints.
    pub browser_fingerprints: u64,
    /// Distinct browser visitor ids.
    pub visitor_ids: u64,
    /// URLs seen.
    pub urls: u64,
    /// Unique (URL, session) visits: the sum of all hit counters.
    pub unique_visits: u64,
}

/// What forgetting a user did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForgetReport {
    /// The user's sessions deleted.
    pub sessions: u64,
    /// Their request fingerprints deleted.
    pub request_fingerprints: u64,
    /// Their browser fingerprints deleted.
    pub browser_fingerprints: u64,
    /// Unique (URL, session) visits taken out of the hit counters.
    pub visits_uncounted: u64,
}

/// What a hit-count rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RebuildReport {
    /// URLs whose counters were rebuilt.
    pub urls: u64,
    /// Unique (URL, session) pairs counted.
    pub visitors: u64,
    /// Chunks (transactions) used.
    pub chunks: u64,
}

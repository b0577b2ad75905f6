//! Backend-neutral preparation of a batch: in-batch debounce, distinct URLs and sessions,
//! and a stable order (sorted keys) so concurrent writers lock rows in the same order.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::TimeDelta;

use crate::model::Visit;
use crate::store::StoreError;

pub(crate) struct PreparedBatch<'a> {
    /// Distinct URLs, sorted.
    pub(crate) urls: Vec<&'a str>,
    /// The earliest visit of each session, sorted by session key: it brings the session's
    /// referer and UTM parameters when the session is new.
    pub(crate) sessions: Vec<&'a Visit>,
    /// Visits left after the in-batch debounce, sorted by (session, URL, time).
    pub(crate) rows: Vec<&'a Visit>,
    /// Distinct (URL, session key) pairs of the counted visits, sorted.
    pub(crate) pairs: Vec<(&'a str, &'a str)>,
    /// Visits dropped by the in-batch debounce.
    pub(crate) debounced: u64,
}

impl<'a> PreparedBatch<'a> {
    pub(crate) fn new(visits: &'a [Visit], debounce: Duration) -> Self {
        // A window of zero still debounces a visit with itself (the same microsecond).
        let window = TimeDelta::from_std(debounce)
            .unwrap_or(TimeDelta::MAX)
            .max(TimeDelta::microseconds(1));
        let mut groups: BTreeMap<(&str, &str), Vec<&Visit>> = BTreeMap::new();
        let mut sessions: BTreeMap<&str, &Visit> = BTreeMap::new();
        for visit in visits {
            groups
                .entry((visit.session_key.as_str(), visit.fingerprint.url.as_str()))
                .or_default()
                .push(visit);
            sessions
                .entry(visit.session_key.as_str())
                .and_modify(|first| {
                    if visit.fingerprint.created_at < first.fingerprint.created_at {
                        *first = visit;
                    }
                })
                .or_insert(visit);
        }

        let mut rows = Vec::with_capacity(visits.len());
        let mut pairs = Vec::with_capacity(groups.len());
        let mut debounced = 0;
        for ((session, url), mut group) in groups {
            if group.iter().any(|visit| visit.counted) {
                pairs.push((url, session));
            }
            group.sort_by_key(|visit| visit.fingerprint.created_at);
            let mut last_kept = None;
            for visit in group {
                let at = visit.fingerprint.created_at;
                let inside = last_kept.is_some_and(|last| at.signed_duration_since(last) < window);
                if inside {
                    debounced += 1;
                } else {
                    last_kept = Some(at);
                    rows.push(visit);
                }
            }
        }
        pairs.sort_unstable();

        let mut urls: Vec<&str> = visits.iter().map(|v| v.fingerprint.url.as_str()).collect();
        urls.sort_unstable();
        urls.dedup();

        Self {
            urls,
            sessions: sessions.into_values().collect(),
            rows,
            pairs,
            debounced,
        }
    }
}

/// A map local to one batch: keys are hashed with a fast hasher keyed at random per process
/// (client-chosen header values are among the keys).
pub(crate) type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// The error for a row a write needs but did not find after inserting it.
pub(crate) fn missing_id(what: &str, key: &str) -> StoreError {
    StoreError::Decode(format!("no id for {what} {key:?} after insert"))
}

/// The debounce window as whole microseconds (saturating).
pub(crate) fn window_micros(debounce: Duration) -> i64 {
    i64::try_from(debounce.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::model::RequestFingerprint;

    fn visit(session: &str, url: &str, at: DateTime<Utc>) -> Visit {
        Visit::new(session, RequestFingerprint::new(url, at))
    }

    #[test]
    fn debounces_inside_the_batch_and_orders_keys() {
        let t0 = Utc::now();
        let s = |secs| t0 + TimeDelta::seconds(secs);
        let visits = vec![
            visit("b", "u1", s(5)),
            visit("a", "u2", s(0)),
            visit("a", "u1", s(0)),
            visit("a", "u1", s(9)),
            visit("a", "u1", s(10)),
            visit("a", "u1", s(19)),
            visit("a", "u1", s(25)),
        ];
        let batch = PreparedBatch::new(&visits, Duration::from_secs(10));
        assert_eq!(batch.urls, vec!["u1", "u2"]);
        assert_eq!(batch.pairs, vec![("u1", "a"), ("u1", "b"), ("u2", "a")]);
        let kept: Vec<_> = batch
            .rows
            .iter()
            .map(|v| {
                (
                    v.session_key.as_str(),
                    v.fingerprint.url.as_str(),
                    v.fingerprint.created_at,
                )
            })
            .collect();
        assert_eq!(
            kept,
            vec![
                ("a", "u1", s(0)),
                ("a", "u1", s(10)),
                ("a", "u1", s(25)),
                ("a", "u2", s(0)),
                ("b", "u1", s(5)),
            ]
        );
        // 9 is inside the window opened at 0, 19 inside the one opened at 10; 10 and 25 open
        // new windows (a window is half-open: exactly 10 s later records again).
        assert_eq!(batch.debounced, 2);
        assert_eq!(batch.sessions.len(), 2);
        assert_eq!(batch.sessions[0].fingerprint.created_at, s(0));
    }

    #[test]
    fn a_window_of_zero_keeps_each_time_once() {
        let t0 = Utc::now();
        let visits = vec![
            visit("a", "u1", t0),
            visit("a", "u1", t0),
            visit("a", "u1", t0 + TimeDelta::microseconds(1)),
        ];
        let batch = PreparedBatch::new(&visits, Duration::ZERO);
        assert_eq!((batch.rows.len(), batch.debounced), (2, 1));
    }
}

//! What is known of users, their sessions and devices ("which and how many devices users use,
//! where they are from"), as the stores return it, and the queries that ask for it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::assess::SessionAssessment;
use crate::device::Device;
use crate::model::Utm;

/// A session to link to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLink {
    /// The session key.
    pub session_key: String,
    /// The user id (any string: an integer, a UUID, an email).
    pub user_id: String,
    /// When the user was seen on the session.
    pub at: DateTime<Utc>,
}

impl SessionLink {
    /// A link of `session_key` to `user_id` seen at `at`.
    #[must_use]
    pub fn new(
        session_key: impl Into<String>,
        user_id: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            session_key: session_key.into(),
            user_id: user_id.into(),
            at,
        }
    }
}

/// What linking one session did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkOutcome {
    /// The session now belongs to the user (it was anonymous, or unknown until now).
    Linked,
    /// It already belonged to this user.
    AlreadyLinked,
    /// It belongs to another user and was left alone: relinking is explicit
    /// ([`Users::relink_session`](crate::v1::Users::relink_session)).
    LinkedToOther(String),
}

/// The devices a user was seen with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserDevices {
    /// Distinct browser visitor ids (from the collector), most recently seen first.
    pub browsers: Vec<BrowserDevice>,
    /// Distinct request devices (browser, OS, device type from the user agent), most
    /// recently seen first.
    pub devices: Vec<RequestDevice>,
}

/// One browser visitor id of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowserDevice {
    /// The visitor id.
    pub visitor_id: String,
    /// First browser fingerprint with this id.
    pub first_seen: DateTime<Utc>,
    /// Last browser fingerprint with this id.
    pub last_seen: DateTime<Utc>,
    /// Sessions of the user in which it was seen.
    pub sessions: u64,
    /// Countries (ISO codes, sorted) of the request fingerprints of those sessions.
    pub countries: Vec<String>,
}

/// One request device of a user: a browser (family and major version) on an OS, of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestDevice {
    /// Browser, OS and device type.
    pub device: Device,
    /// First request fingerprint from this device.
    pub first_seen: DateTime<Utc>,
    /// Last request fingerprint from this device.
    pub last_seen: DateTime<Utc>,
    /// Sessions of the user it was seen in.
    pub sessions: u64,
    /// Request fingerprints from it.
    pub requests: u64,
    /// Countries (ISO codes, sorted) it was seen from.
    pub countries: Vec<String>,
    /// The JA4s of its TLS connections (sorted): one per browser build, usually; several
    /// for one user agent can mean a proxy, or a client that lies about what it is.
    pub ja4s: Vec<String>,
}

/// A session with its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The session key.
    pub key: String,
    /// Its user, if linked.
    pub user_id: Option<String>,
    /// When its first record was written.
    pub created_at: DateTime<Utc>,
    /// Its last request or browser fingerprint (`None` when it has none).
    pub last_seen: Option<DateTime<Utc>>,
    /// Request fingerprints.
    pub request_fingerprints: u64,
    /// Browser fingerprints.
    pub browser_fingerprints: u64,
    /// The referer of its first request.
    pub referer: String,
    /// The UTM parameters of its first request.
    pub utm: Utm,
    /// Its assessment, once its browser ran the collector.
    pub assessment: Option<SessionAssessment>,
}

/// A user with the counts the lists filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSummary {
    /// The user id.
    pub user_id: String,
    /// Sessions linked to the user.
    pub sessions: u64,
    /// Distinct browser visitor ids.
    pub browser_fingerprints: u64,
    /// Distinct user agents of request fingerprints.
    pub request_fingerprints: u64,
    /// First fingerprint of any of the user's sessions.
    pub first_seen: Option<DateTime<Utc>>,
    /// Last fingerprint of any of the user's sessions.
    pub last_seen: Option<DateTime<Utc>>,
}

/// A user who shares a browser visitor id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VisitorUser {
    /// The user id.
    pub user_id: String,
    /// The user's sessions in which the visitor id was seen.
    pub sessions: u64,
    /// First browser fingerprint with the id in those sessions.
    pub first_seen: DateTime<Utc>,
    /// Last one.
    pub last_seen: DateTime<Utc>,
}

/// The count buckets of the user lists (the Django admin's filters), for distinct browser or
/// request fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CountBucket {
    /// Exactly 1.
    One,
    /// 2 or 3.
    TwoToThree,
    /// 4 or 5.
    FourToFive,
    /// 6 to 10.
    SixToTen,
    /// 11 to 20.
    ElevenToTwenty,
    /// More than 20.
    OverTwenty,
}

impl CountBucket {
    /// Every bucket, smallest first.
    pub const ALL: [Self; 6] = [
        Self::One,
        Self::TwoToThree,
        Self::FourToFive,
        Self::SixToTen,
        Self::ElevenToTwenty,
        Self::OverTwenty,
    ];

    /// The inclusive range of counts (`u64::MAX` as the top of the last one).
    #[must_use]
    pub fn range(self) -> (u64, u64) {
        match self {
            Self::One => (1, 1),
            Self::TwoToThree => (2, 3),
            Self::FourToFive => (4, 5),
            Self::SixToTen => (6, 10),
            Self::ElevenToTwenty => (11, 20),
            Self::OverTwenty => (21, u64::MAX),
        }
    }

    /// A label such as `2-3` or `over 20`; also what [`CountBucket::from_label`] reads.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::One => "1",
            Self::TwoToThree => "2-3",
            Self::FourToFive => "4-5",
            Self::SixToTen => "6-10",
            Self::ElevenToTwenty => "11-20",
            Self::OverTwenty => "over 20",
        }
    }

    /// The bucket with `label` (see [`CountBucket::label`]).
    #[must_use]
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|bucket| bucket.label() == label)
    }

    /// Whether `count` falls in this bucket.
    #[must_use]
    pub fn contains(self, count: u64) -> bool {
        let (low, high) = self.range();
        (low..=high).contains(&count)
    }
}

/// Which users to list: filters, search and keyset pagination. Users come most recently
/// seen first.
///
/// ```
/// use std::time::Duration;
/// use fingerprint::v1::{CountBucket, UserQuery};
///
/// let query = UserQuery::new()
///     .with_seen_within(Duration::from_secs(7 * 86_400))
///     .with_browser_fingerprints(CountBucket::TwoToThree)
///     .with_limit(50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserQuery {
    /// Only users whose last fingerprint is at or after this time.
    pub seen_since: Option<DateTime<Utc>>,
    /// Only users with this many distinct browser visitor ids.
    pub browser_fingerprints: Option<CountBucket>,
    /// Only users with this many distinct request user agents.
    pub request_fingerprints: Option<CountBucket>,
    /// Only user ids containing this text (case-sensitive).
    pub search: Option<String>,
    /// The cursor of the previous page ([`Page::next`]).
    pub after: Option<String>,
    /// Page size (default 50, at most 1,000).
    pub limit: u32,
    seen_within: Option<Duration>,
}

impl Default for UserQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl UserQuery {
    /// All users, 50 per page.
    #[must_use]
    pub fn new() -> Self {
        Self {
            seen_since: None,
            browser_fingerprints: None,
            request_fingerprints: None,
            search: None,
            after: None,
            limit: 50,
            seen_within: None,
        }
    }

    /// Only users seen within `window` before now (1 day, 1 week, 1 month, ...): resolved
    /// against the clock when the query runs.
    #[must_use]
    pub fn with_seen_within(mut self, window: Duration) -> Self {
        self.seen_within = Some(window);
        self
    }

    /// Only users seen at or after `since`.
    #[must_use]
    pub fn with_seen_since(mut self, since: DateTime<Utc>) -> Self {
        self.seen_since = Some(since);
        self
    }

    /// Only users with this many distinct browser visitor ids.
    #[must_use]
    pub fn with_browser_fingerprints(mut self, bucket: CountBucket) -> Self {
        self.browser_fingerprints = Some(bucket);
        self
    }

    /// Only users with this many distinct request user agents.
    #[must_use]
    pub fn with_request_fingerprints(mut self, bucket: CountBucket) -> Self {
        self.request_fingerprints = Some(bucket);
        self
    }

    /// Only user ids containing `text`.
    #[must_use]
    pub fn with_search(mut self, text: impl Into<String>) -> Self {
        self.search = Some(text.into());
        self
    }

    /// The page after `cursor` (from [`Page::next`]).
    #[must_use]
    pub fn with_after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    /// Page size, clamped to 1..=1000.
    #[must_use]
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The query with `seen_within` turned into `seen_since` (the later of the two) and the
    /// limit clamped.
    pub(crate) fn resolved(&self, now: DateTime<Utc>) -> Self {
        let mut query = self.clone();
        if let Some(window) = query.seen_within.take() {
            let since = now
                .checked_sub_signed(TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            query.seen_since = Some(query.seen_since.map_or(since, |s| s.max(since)));
        }
        query.limit = query.limit.clamp(1, 1000);
        query
    }
}

/// One page of a list, and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass it to the query's `with_after` for the next page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page of `items` with the `next` cursor.
    #[must_use]
    pub fn new(items: Vec<T>, next: Option<String>) -> Self {
        Self { items, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_count_once() {
        for count in 1..100 {
            let matching: Vec<_> = CountBucket::ALL
                .into_iter()
                .filter(|b| b.contains(count))
                .collect();
            assert_eq!(matching.len(), 1, "{count}");
        }
        assert!(!CountBucket::ALL.iter().any(|b| b.contains(0)));
        for bucket in CountBucket::ALL {
            assert_eq!(CountBucket::from_label(bucket.label()), Some(bucket));
        }
    }

    #[test]
    fn seen_within_resolves_against_now() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let query = UserQuery::new()
            .with_seen_within(Duration::from_secs(86_400))
            .with_limit(0)
            .resolved(now);
        assert_eq!(query.seen_since, Some(now - TimeDelta::days(1)));
        assert_eq!(query.limit, 1);
    }
}

//! Backend-neutral pieces of the user summaries: what a batch tells about linked users, and
//! how rows of the device queries become results.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::device::{Device, DeviceType};

use crate::model::{Page, UserSummary};
use crate::store::StoreError;

/// `fingerprint_user_devices.kind` of a browser visitor id.
pub(crate) const KIND_BROWSER: i16 = 1;
/// `fingerprint_user_devices.kind` of a request user agent.
pub(crate) const KIND_AGENT: i16 = 2;

/// One distinct thing a user was seen with, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceSeen<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) kind: i16,
    pub(crate) value: &'a str,
    pub(crate) first: DateTime<Utc>,
    pub(crate) last: DateTime<Utc>,
}

/// Folds (user, kind, value, time) observations into one row per key, sorted by key (so
/// concurrent writers lock rows in the same order, and no upsert touches a row twice).
pub(crate) fn fold_seen<'a>(
    observations: impl IntoIterator<Item = (&'a str, i16, &'a str, DateTime<Utc>)>,
) -> Vec<DeviceSeen<'a>> {
    type Key<'k> = (&'k str, i16, &'k str);
    let mut folded: BTreeMap<Key<'a>, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for (user_id, kind, value, at) in observations {
        folded
            .entry((user_id, kind, value))
            .and_modify(|(first, last)| {
                *first = (*first).min(at);
                *last = (*last).max(at);
            })
            .or_insert((at, at));
    }
    folded
        .into_iter()
        .map(|((user_id, kind, value), (first, last))| DeviceSeen {
            user_id,
            kind,
            value,
            first,
            last,
        })
        .collect()
}

/// The distinct users of `seen`, sorted.
pub(crate) fn users_of<'a>(seen: &[DeviceSeen<'a>]) -> Vec<&'a str> {
    let mut users: Vec<&str> = seen.iter().map(|s| s.user_id).collect();
    users.sort_unstable();
    users.dedup();
    users
}

/// A page of users from `limit + 1` fetched rows.
pub(crate) fn user_page(mut users: Vec<UserSummary>, limit: u32) -> Page<UserSummary> {
    let limit = limit as usize;
    let next = (users.len() > limit).then(|| {
        users.truncate(limit);
        users.last().map(user_cursor)
    });
    Page::new(users, next.flatten())
}

/// The values of a `group_concat`/`string_agg` of distinct values (country codes, JA4s):
/// sorted, empties dropped.
pub(crate) fn distinct_values(joined: Option<String>) -> Vec<String> {
    let mut list: Vec<String> = joined
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    list.sort_unstable();
    list.dedup();
    list
}

/// A device from its stored columns.
pub(crate) fn device(
    browser: String,
    browser_version: String,
    os: String,
    os_version: String,
    device_type: &str,
) -> Device {
    Device {
        browser,
        browser_version,
        os,
        os_version,
        device_type: DeviceType::from_name(device_type),
    }
}

/// A count from the database (never negative).
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The keyset cursor of the user lists: the last item's `last_seen` (microseconds, or
/// nothing) and its id.
pub(crate) fn user_cursor(user: &UserSummary) -> String {
    let micros = user
        .last_seen
        .map_or(String::new(), |t| t.timestamp_micros().to_string());
    format!("{micros}:{}", user.user_id)
}

/// Reads a cursor made by [`user_cursor`]; a malformed cursor is an error the caller shows as
/// a 400.
pub(crate) fn parse_user_cursor(
    cursor: &str,
) -> Result<(Option<DateTime<Utc>>, String), StoreError> {
    let invalid = || StoreError::InvalidInput(format!("invalid page cursor {cursor:?}"));
    let (micros, user) = cursor.split_once(':').ok_or_else(invalid)?;
    let last_seen = if micros.is_empty() {
        None
    } else {
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        Some(DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?)
    };
    Ok((last_seen, user.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_observations_per_key() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        let seen = fold_seen([
            ("u2", KIND_AGENT, "ua", t(5)),
            ("u1", KIND_AGENT, "ua", t(3)),
            ("u1", KIND_AGENT, "ua", t(1)),
            ("u1", KIND_BROWSER, "v", t(2)),
        ]);
        assert_eq!(seen.len(), 3);
        assert_eq!((seen[0].user_id, seen[0].kind), ("u1", KIND_BROWSER));
        assert_eq!((seen[1].first, seen[1].last), (t(1), t(3)));
        assert_eq!(users_of(&seen), ["u1", "u2"]);
        assert_eq!(distinct_values(Some("PL,,DE,PL".into())), ["DE", "PL"]);
        assert!(distinct_values(None).is_empty());
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let user = UserSummary {
            user_id: "a:b".into(),
            sessions: 1,
            browser_fingerprints: 0,
            request_fingerprints: 1,
            first_seen: None,
            last_seen: DateTime::from_timestamp_micros(1_700_000_000_123_456),
        };
        let (seen, id) = parse_user_cursor(&user_cursor(&user)).unwrap();
        assert_eq!((seen, id.as_str()), (user.last_seen, "a:b"));
        let never = UserSummary {
            last_seen: None,
            ..user
        };
        assert_eq!(parse_user_cursor(&user_cursor(&never)).unwrap().0, None);
        for bad in ["", "x", "abc:u", "99999999999999999999:u"] {
            assert!(parse_user_cursor(bad).is_err(), "{bad}");
        }
    }
}

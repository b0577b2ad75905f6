//! The users API: sessions linked to users, their devices, and users by activity.

use std::sync::Arc;

use crate::clock::Clock;
use crate::model::{
    LinkOutcome, Page, SessionLink, SessionSummary, UserDevices, UserQuery, UserSummary,
    VisitorUser,
};
use crate::store::{read_retrying, Reports, StoreError};

/// Users, sessions and devices. Made by [`Fingerprint::users`](crate::v1::Fingerprint::users).
///
/// ```no_run
/// # async fn run(fingerprint: fingerprint::v1::Fingerprint) -> Result<(), fingerprint::v1::StoreError> {
/// let users = fingerprint.users();
/// let devices = users.devices("42").await?;
/// for device in &devices.devices {
///     println!("{} on {} ({}), from {:?}", device.device.browser, device.device.os,
///              device.device.device_type, device.countries);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Users {
    pub(crate) store: Arc<dyn Reports>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Users {
    /// Links a session to a user now, in the store (one transaction). Pre-login history of
    /// the session becomes the user's. A session linked to another user is left alone
    /// ([`LinkOutcome::LinkedToOther`]).
    pub async fn link_session(
        &self,
        session_key: &str,
        user_id: &str,
    ) -> Result<LinkOutcome, StoreError> {
        let link = SessionLink::new(session_key, user_id, self.clock.now());
        let mut outcomes = self
            .store
            .link_sessions(std::slice::from_ref(&link))
            .await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Decode("no outcome for the link".into()))
    }

    /// Moves a session to another user (`Some`), or makes it anonymous (`None`), whatever
    /// it was linked to. Both users' summaries are recomputed. Returns false when the
    /// session is unknown.
    pub async fn relink_session(
        &self,
        session_key: &str,
        user_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.store
            .relink_session(session_key, user_id, self.clock.now())
            .await
    }

    /// The devices of a user: distinct browser visitor ids and distinct request devices,
    /// each with first and last seen, number of sessions and countries.
    pub async fn devices(&self, user_id: &str) -> Result<UserDevices, StoreError> {
        read_retrying(|| self.store.user_devices(user_id)).await
    }

    /// The sessions of a user, newest first, with their fingerprint counts.
    pub async fn sessions(
        &self,
        user_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        read_retrying(|| self.store.user_sessions(user_id, limit)).await
    }

    /// The users whose sessions share a browser visitor id (shared or multi-account
    /// devices), most recently seen first.
    pub async fn of_visitor(&self, visitor_id: &str) -> Result<Vec<VisitorUser>, StoreError> {
        read_retrying(|| self.store.visitor_users(visitor_id)).await
    }

    /// Every session (anonymous or not) in which a visitor id was seen, newest first.
    pub async fn sessions_of_visitor(
        &self,
        visitor_id: &str,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, StoreError> {
        read_retrying(|| self.store.visitor_sessions(visitor_id, limit)).await
    }

    /// One user's summary (`None` when no session was ever linked to it).
    pub async fn get(&self, user_id: &str) -> Result<Option<UserSummary>, StoreError> {
        read_retrying(|| self.store.user(user_id)).await
    }

    /// Users by activity and counts, most recently seen first, one page.
    pub async fn list(&self, query: &UserQuery) -> Result<Page<UserSummary>, StoreError> {
        let query = query.resolved(self.clock.now());
        read_retrying(|| self.store.users(&query)).await
    }
}

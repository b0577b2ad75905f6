//! The tower-sessions session as the identity (feature `tower-sessions`): the key lives
//! inside the session an outer tower-sessions layer manages, and logins made through
//! axum-login are followed (the session is linked to the user with no code in the app).

use http::request::Parts;
use tower_sessions::session::Error;
use tower_sessions::Session;

use super::{is_valid_key, new_key, IssuedKey, LinkFn, SessionIdentity};

/// The session-data key under which the fingerprint session key is kept in a tower-sessions
/// session.
const SESSION_DATA_KEY: &str = "fingerprint.key";

/// The session-data key under which the user the fingerprint session was linked to is kept.
const SESSION_USER_KEY: &str = "fingerprint.user";

/// The tower-sessions session of one request.
pub(crate) struct TowerSession<'a> {
    session: Session,
    /// Where axum-login keeps its data; `None`: logins are not followed.
    login_data_key: Option<&'a str>,
}

impl<'a> TowerSession<'a> {
    /// The session a tower-sessions layer put into the request, if any.
    pub(crate) fn from_parts(parts: &Parts, login_data_key: Option<&'a str>) -> Option<Self> {
        let session = parts.extensions.get::<Session>()?.clone();
        Some(Self {
            session,
            login_data_key,
        })
    }

    /// Our key inside the session, created (which makes tower-sessions save the session
    /// and set its cookie) when missing.
    async fn get_or_insert_key(&self) -> Result<String, Error> {
        if let Some(key) = self.session.get::<String>(SESSION_DATA_KEY).await? {
            if is_valid_key(&key) {
                return Ok(key);
            }
        }
        let key = new_key();
        self.session.insert(SESSION_DATA_KEY, &key).await?;
        Ok(key)
    }

    /// Follows axum-login: when the session has a logged-in user the fingerprint session is
    /// not linked to yet, queues the link; when another user logged in on it, starts a new
    /// fingerprint session for them. Returns the key to record under.
    async fn follow_login(&self, key: String, link: LinkFn<'_>) -> Result<String, Error> {
        let Some(data_key) = self.login_data_key else {
            return Ok(key);
        };
        let Some(user) = login_user(&self.session, data_key).await? else {
            return Ok(key);
        };
        let session = &self.session;
        let linked: Option<String> = session.get(SESSION_USER_KEY).await?;
        if linked.as_deref() == Some(user.as_str()) {
            // The mark says the link was queued, not that it is stored (its batch may have
            // failed, or a purge deleted the session since): queued again once per process
            // and hour, as `remember_user_session` does.
            link(&key, &user);
            return Ok(key);
        }
        let key = if linked.is_some() {
            // Another user logged in on this session: their visits start a session of
            // their own (not linked until the link below is queued).
            let key = new_key();
            session.insert(SESSION_DATA_KEY, &key).await?;
            session.remove_value(SESSION_USER_KEY).await?;
            key
        } else {
            key
        };
        if link(&key, &user) {
            session.insert(SESSION_USER_KEY, &user).await?;
        }
        Ok(key)
    }
}

impl SessionIdentity for TowerSession<'_> {
    async fn existing_key(&self) -> Option<String> {
        match self.session.get::<String>(SESSION_DATA_KEY).await {
            Ok(Some(key)) if is_valid_key(&key) => Some(key),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "tower-sessions failed");
                None
            }
        }
    }

    async fn key(&self, _secure: bool, link: LinkFn<'_>) -> Option<IssuedKey> {
        let identity = async {
            let key = self.get_or_insert_key().await?;
            self.follow_login(key, link).await
        };
        match identity.await {
            Ok(key) => Some(IssuedKey {
                key,
                set_cookie: None,
                cookie: false,
            }),
            Err(error) => {
                tracing::warn!(%error, "tower-sessions failed; using the fingerprint cookie");
                None
            }
        }
    }

    /// Links the session when the handler logged a user in.
    async fn after_handler(&self, link: LinkFn<'_>) {
        if self.login_data_key.is_none() {
            return;
        }
        let followed = async {
            match self.session.get::<String>(SESSION_DATA_KEY).await? {
                Some(key) if is_valid_key(&key) => self.follow_login(key, link).await.map(|_| ()),
                _ => Ok(()),
            }
        };
        if let Err(error) = followed.await {
            tracing::warn!(%error, "tower-sessions failed while linking the session");
        }
    }
}

/// The id of the user logged in through axum-login, from its session data (`{"user_id":
/// ..., "auth_hash": ...}`): a string as is, anything else (numbers, ...) as its JSON text.
async fn login_user(session: &Session, data_key: &str) -> Result<Option<String>, Error> {
    let data: Option<serde_json::Value> = session.get(data_key).await?;
    Ok(data
        .as_ref()
        .and_then(|data| data.get("user_id"))
        .and_then(|id| match id {
            serde_json::Value::Null => None,
            serde_json::Value::String(id) => Some(id.clone()),
            other => Some(other.to_string()),
        })
        .filter(|id| !id.is_empty()))
}

//! Accounts of the demo: two users in the demo's database, logged in with axum-login over
//! tower-sessions. The fingerprint layer links their sessions with no code of ours.
//!
//! | user | password | staff |
//! | --- | --- | --- |
//! | `alice` | `wonderland` | yes |
//! | `bob` | `builder` | no |

use axum_login::{AuthUser, AuthnBackend, UserId};
use serde::Deserialize;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;

/// The demo's users: (id, name, password, staff).
pub const DEMO_USERS: [(i64, &str, &str, bool); 2] = [
    (1, "alice", "wonderland", true),
    (2, "bob", "builder", false),
];

/// A user of the demo.
#[derive(Clone, Deserialize, sqlx::FromRow)]
pub struct User {
    /// Id (what the fingerprint tables store as the user id).
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Argon2 hash of the password.
    password_hash: String,
    /// 1 when the user may open the fingerprint dashboard (an integer: portable across
    /// SQLite and PostgreSQL through sqlx's Any driver).
    staff: i64,
}

impl User {
    /// May open the fingerprint dashboard.
    #[must_use]
    pub fn is_staff(&self) -> bool {
        self.staff != 0
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("staff", &self.is_staff())
            .finish_non_exhaustive()
    }
}

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    // A password change logs the user out everywhere.
    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_bytes()
    }
}

/// What the login form posts.
#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Where to go after logging in.
    #[serde(default)]
    pub next: Option<String>,
}

/// An error of the user table.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Hashing failed on a blocking thread.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// The users, in the demo's database (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct Backend {
    pool: AnyPool,
}

impl Backend {
    /// Opens the user table in the database at `url`, creating it and the demo users when
    /// missing.
    pub async fn connect(url: &str) -> Result<Self, AccountError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS demo_users (
                id BIGINT PRIMARY KEY,
                username TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                staff BIGINT NOT NULL
            )",
        )
        .execute(&pool)
        .await?;
        for (id, username, password, staff) in DEMO_USERS {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM demo_users WHERE id = $1")
                .bind(id)
                .fetch_optional(&pool)
                .await?;
            if exists.is_none() {
                let hash =
                    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
                        .await?;
                sqlx::query(
                    "INSERT INTO demo_users (id, username, password_hash, staff) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(username)
                .bind(hash)
                .bind(i64::from(staff))
                .execute(&pool)
                .await?;
            }
        }
        Ok(Self { pool })
    }
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = AccountError;

    async fn authenticate(&self, credentials: Credentials) -> Result<Option<User>, AccountError> {
        let user: Option<User> = sqlx::query_as(
            "SELECT id, username, password_hash, staff FROM demo_users WHERE username = $1",
        )
        .bind(&credentials.username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(user) = user else {
            return Ok(None);
        };
        // Argon2 is slow on purpose: keep it off the runtime's threads.
        let hash = user.password_hash.clone();
        let valid = tokio::task::spawn_blocking(move || {
            password_auth::verify_password(credentials.password, &hash).is_ok()
        })
        .await?;
        Ok(valid.then_some(user))
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, AccountError> {
        Ok(sqlx::query_as(
            "SELECT id, username, password_hash, staff FROM demo_users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// The session of the demo's auth layer.
pub type AuthSession = axum_login::AuthSession<Backend>;

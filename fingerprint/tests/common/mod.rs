//! Test support: a fresh store per test (a SQLite file, or a PostgreSQL schema of its own),
//! a server on 127.0.0.1, and raw-SQL checks.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::Router;
use fingerprint::v1 as fp;
use fp::Store as _;

/// Generates, for each suite function `async fn name(db: TestDb)`, one test on SQLite and one
/// on PostgreSQL (skipped, saying so, when no PostgreSQL is configured).
#[allow(unused_macros)]
macro_rules! suite {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::TestDb::postgres(stringify!($name)).await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// Where PostgreSQL tests connect; unset = PostgreSQL tests are skipped (with a message).
pub const POSTGRES_URL_VAR: &str = "FINGERPRINT_TEST_POSTGRES_URL";

pub enum TestDb {
    Sqlite {
        store: fp::SqliteStore,
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        store: fp::PostgresStore,
        url: String,
        schema: String,
    },
}

/// A name no other test of any process uses: the process id and a per-process counter (tests
/// of one binary run on threads, and two of them can read the clock in the same tick), and the
/// clock, against a reused process id meeting a schema a killed run left behind.
fn random_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}_{n}_{nanos}", std::process::id())
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fingerprint.db").display());
        let store = fp::SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        Self::Sqlite {
            store,
            url,
            _dir: dir,
        }
    }

    /// `None` (after saying so) when no PostgreSQL is configured. A configured but unreachable
    /// server fails the test.
    pub async fn postgres(test: &str) -> Option<Self> {
        let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("SKIPPED {test} on PostgreSQL: set {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test) to run it");
            return None;
        };
        let schema = format!("fp_test_{}", random_suffix());
        let admin = sqlx::PgPool::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}={base} is set but unreachable: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = with_search_path(&base, &schema);
        let store = Self::connect_postgres(&url).await;
        store.migrate().await.unwrap();
        Some(Self::Postgres { store, url, schema })
    }

    async fn connect_postgres(url: &str) -> fp::PostgresStore {
        let options = sqlx::postgres::PgConnectOptions::from_str(url).unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .unwrap();
        fp::PostgresStore::new(pool)
    }

    /// A second, independent store on the same database (another app instance).
    pub async fn another_instance(&self) -> Box<dyn fp::FullStore> {
        match self {
            Self::Sqlite { url, .. } => Box::new(fp::SqliteStore::connect(url).await.unwrap()),
            Self::Postgres { url, .. } => Box::new(Self::connect_postgres(url).await),
        }
    }

    pub fn store(&self) -> Box<dyn fp::FullStore> {
        match self {
            Self::Sqlite { store, .. } => Box::new(store.clone()),
            Self::Postgres { store, .. } => Box::new(store.clone()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    /// The one integer `sql` selects.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self {
            Self::Sqlite { store, .. } => sqlx::query_scalar(sql)
                .fetch_one(store.pool())
                .await
                .unwrap(),
            Self::Postgres { store, .. } => sqlx::query_scalar(sql)
                .fetch_one(store.pool())
                .await
                .unwrap(),
        }
    }

    pub async fn execute(&self, sql: &str) {
        match self {
            Self::Sqlite { store, .. } => {
                sqlx::query(sql).execute(store.pool()).await.unwrap();
            }
            Self::Postgres { store, .. } => {
                sqlx::query(sql).execute(store.pool()).await.unwrap();
            }
        }
    }

    /// Runs the statements in one transaction (one connection: each sees the schema the one
    /// before left).
    pub async fn execute_all(&self, sqls: &[&str]) {
        match self {
            Self::Sqlite { store, .. } => {
                let mut tx = store.pool().begin().await.unwrap();
                for sql in sqls {
                    sqlx::query(sql).execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
            Self::Postgres { store, .. } => {
                let mut tx = store.pool().begin().await.unwrap();
                for sql in sqls {
                    sqlx::query(sql).execute(&mut *tx).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
        }
    }

    /// The key of the only session in the store.
    pub async fn only_session_key(&self) -> String {
        assert_eq!(self.count("fingerprint_sessions").await, 1);
        let sql = "SELECT key FROM fingerprint_sessions";
        match self {
            Self::Sqlite { store, .. } => sqlx::query_scalar(sql)
                .fetch_one(store.pool())
                .await
                .unwrap(),
            Self::Postgres { store, .. } => sqlx::query_scalar(sql)
                .fetch_one(store.pool())
                .await
                .unwrap(),
        }
    }

    /// Unique sessions per URL, counted from the raw request fingerprints.
    pub async fn recount_hits(&self) -> HashMap<String, u64> {
        // What the library counts by default: people, not requests or sessions assessed
        // automated or declared_bot.
        let sql =
            "SELECT u.url, COUNT(DISTINCT r.session_id) FROM fingerprint_request_fingerprints r \
             JOIN fingerprint_urls u ON u.id = r.url_id \
             JOIN fingerprint_profiles p ON p.id = r.profile_id \
             JOIN fingerprint_sessions s ON s.id = r.session_id \
             WHERE p.verdict NOT IN ('automated', 'declared_bot') \
             AND s.verdict NOT IN ('automated', 'declared_bot') GROUP BY u.url";
        let rows: Vec<(String, i64)> = match self {
            Self::Sqlite { store, .. } => {
                sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap()
            }
            Self::Postgres { store, .. } => {
                sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap()
            }
        };
        rows.into_iter().map(|(url, n)| (url, n as u64)).collect()
    }

    /// Rows of the dashboard's (IP, session) and (day, session) pairs that differ from a
    /// recount from the request fingerprints, in either direction, and (day, session) pairs
    /// stored both as a row and on their session (0 when consistent).
    pub async fn rollup_mismatches(&self) -> i64 {
        let day = if self.is_postgres() {
            "(created_at AT TIME ZONE 'UTC')::date"
        } else {
            "created_at / 86400000000"
        };
        let ips =
            "SELECT ip, session_id FROM fingerprint_request_fingerprints WHERE ip IS NOT NULL";
        let days = format!("SELECT {day}, session_id FROM fingerprint_request_fingerprints");
        let mut mismatches = 0;
        for (table, recount) in [
            (
                "SELECT ip, session_id FROM fingerprint_ip_sessions",
                ips.to_owned(),
            ),
            // A session created by a request carries its first (day, session) pair.
            (
                "SELECT day, session_id FROM fingerprint_daily_sessions UNION \
                 SELECT first_day, id FROM fingerprint_sessions WHERE first_day IS NOT NULL",
                days,
            ),
            // A pair is a row or implied by its session, never both (it would count twice).
            (
                "SELECT day, session_id FROM fingerprint_daily_sessions",
                "SELECT day, session_id FROM fingerprint_daily_sessions EXCEPT \
                 SELECT first_day, id FROM fingerprint_sessions WHERE first_day IS NOT NULL"
                    .to_owned(),
            ),
        ] {
            for (a, b) in [(table, recount.as_str()), (recount.as_str(), table)] {
                let sql = format!(
                    "SELECT COUNT(*) FROM (SELECT * FROM ({a}) AS a \
                     EXCEPT SELECT * FROM ({b}) AS b) AS d"
                );
                mismatches += self.scalar(&sql).await;
            }
        }
        mismatches
    }

    /// The unique visits stored: (URL, session) rows and the pairs sessions imply. Panics if
    /// a pair is both (it would count twice).
    pub async fn visitor_pairs(&self) -> i64 {
        let implied = "SELECT first_url_id, id FROM fingerprint_sessions \
                       WHERE first_url_id IS NOT NULL";
        let both = format!(
            "SELECT COUNT(*) FROM (SELECT * FROM (SELECT url_id, session_id \
             FROM fingerprint_url_visitors) AS a INTERSECT SELECT * FROM ({implied}) AS b) AS d"
        );
        assert_eq!(
            self.scalar(&both).await,
            0,
            "pairs stored as rows and implied"
        );
        let implied = self
            .scalar(&format!("SELECT COUNT(*) FROM ({implied}) AS i"))
            .await;
        self.count("fingerprint_url_visitors").await + implied
    }

    /// The stored hit counters.
    pub async fn counters(&self) -> HashMap<String, u64> {
        let sql = "SELECT u.url, h.hits FROM fingerprint_hit_counts h \
                   JOIN fingerprint_urls u ON u.id = h.url_id";
        let rows: Vec<(String, i64)> = match self {
            Self::Sqlite { store, .. } => {
                sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap()
            }
            Self::Postgres { store, .. } => {
                sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap()
            }
        };
        rows.into_iter().map(|(url, n)| (url, n as u64)).collect()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { schema, .. } = self {
            let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
                return;
            };
            let schema = schema.clone();
            // Best effort, on a thread of its own (we may be inside a runtime).
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let pool = sqlx::PgPool::connect(&base).await.ok()?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&pool)
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Serves `app` on 127.0.0.1 with connection info; returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The session key from a response's fingerprint cookie.
pub fn cookie_key(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("fingerprint_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

/// The value of the first `name="..."` attribute in `html`.
pub fn attribute<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + name.len()
        + 2;
    &html[start..start + html[start..].find('"').unwrap()]
}

/// A collector POST body with `token` and a few components.
pub fn collector_payload(token: &str) -> serde_json::Value {
    serde_json::json!({
        "token": token,
        "duration": 42,
        "components": {
            "screen": [1280, 720, 24],
            "timezone": "UTC",
            "timezoneOffset": 0,
            "languages": ["en-US"],
            "canvas": "5f1e2d",
            "webdriver": true
        }
    })
}

/// POSTs `body` to the collector endpoint at `addr`, as the session `key` (by its
/// fingerprint cookie); returns (status, body).
pub async fn post_collector(
    addr: SocketAddr,
    key: Option<&str>,
    body: String,
    content_type: &str,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/fingerprint/"))
        .header("content-type", content_type)
        .body(body);
    if let Some(key) = key {
        request = request.header("cookie", format!("fingerprint_session={key}"));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

//! Test support: the demo app on 127.0.0.1 with a temporary SQLite file.

#![allow(dead_code)]

use std::net::SocketAddr;

use fingerprint::v1 as fp;

/// A running demo.
pub struct Demo {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its fingerprint handle (flush, users, store).
    pub fingerprint: fp::Fingerprint,
    _dir: Option<tempfile::TempDir>,
}

impl Demo {
    /// Starts the demo with or without the fingerprint layer and accounts.
    pub async fn start(fingerprint: bool, accounts: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = demo::Config {
            database_url: format!("sqlite://{}", dir.path().join("demo.db").display()),
            fingerprint,
            accounts,
            queue_capacity: None,
            writers: None,
        };
        Self::serve(&config, Some(dir)).await
    }

    /// Starts the demo with `config` (`dir`: a folder to keep until the demo is dropped).
    pub async fn serve(config: &demo::Config, dir: Option<tempfile::TempDir>) -> Self {
        let (app, fingerprint) = demo::build(config).await.unwrap();
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
        Self {
            addr,
            fingerprint,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

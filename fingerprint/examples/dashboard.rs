//! The dashboard on a seeded data set, on 127.0.0.1:3001 (no login: do not expose it).
//!
//! ```sh
//! cargo run -p fingerprint-rt --features dashboard,seed --example dashboard -- [ROWS] [sqlite://FILE]
//! ```
//!
//! Seeds ROWS request fingerprints (default 20,000) into FILE (default: a temporary file)
//! unless it already holds some, then serves the dashboard at
//! <http://127.0.0.1:3001/admin/fingerprint>.

use std::net::SocketAddr;

use axum::Router;
use fingerprint::v1::{self as fp, Reports as _, Store as _};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(Ok(20_000), |rows| rows.parse())?;
    let dir = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("dashboard.db").display()));
    let store = fp::SqliteStore::connect(&url).await?;
    store.migrate().await?;
    let empty = store
        .request_fingerprints(&fp::RequestQuery::new().with_limit(1))
        .await?
        .items
        .is_empty();
    if empty {
        let report =
            fingerprint::seed::seed(&store, fingerprint::seed::SeedOptions::new(rows)).await?;
        println!(
            "seeded {} request fingerprints, {} sessions, {} users in {:.1} s",
            report.request_fingerprints,
            report.sessions,
            report.users,
            report.elapsed.as_secs_f64()
        );
    }
    let fingerprint = fp::Fingerprint::builder(store).build()?;
    let app = Router::new().nest(
        "/admin/fingerprint",
        fingerprint.dashboard(|_: &http::request::Parts| fp::DashboardAccess::Allow),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("http://127.0.0.1:3001/admin/fingerprint");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    fingerprint.shutdown().await;
    Ok(())
}

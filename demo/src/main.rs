//! `cargo run -p demo -- --help`

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use fingerprint::v1 as fp;

/// mimalloc, not the system allocator: see the dependency's note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fingerprint-rt demo: a small articles site, every page fingerprinted, with unique views.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to listen on.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Where fingerprints are stored: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "FINGERPRINT_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://fingerprint-demo.db"
    )]
    database_url: String,
    /// Serve the same pages without the fingerprint layer (to measure what it costs).
    #[arg(long)]
    without_fingerprint: bool,
    /// No accounts: no session layer, no login (the fingerprint layer's own cookie carries
    /// the session). Demo users: alice / wonderland (staff), bob / builder.
    #[arg(long)]
    without_accounts: bool,
    /// Capacity of the fingerprint recorder's queue (default: the library's, 16,384).
    #[arg(long)]
    queue_capacity: Option<usize>,
    /// Batches the fingerprint recorder writes at the same time (default: the library's, 1;
    /// 2-4 help PostgreSQL keep up with many new visitors).
    #[arg(long)]
    writers: Option<usize>,
    /// Serve over HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate made at start
    /// for localhost, so "My devices" shows your browser's JA4. Browsers warn about the
    /// certificate: accept it for this address.
    #[arg(long)]
    tls_self_signed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = demo::Config {
        database_url: args.database_url,
        fingerprint: !args.without_fingerprint,
        accounts: !args.without_accounts,
        queue_capacity: args.queue_capacity,
        writers: args.writers,
    };
    let (app, fingerprint) = demo::build(&config).await?;
    let addr = SocketAddr::new(args.host, args.port);
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    // The listener reads each connection's network fingerprints (JA4 over TLS, HTTP/2
    // settings over TLS and h2c) for the fingerprint layer.
    let (listener, scheme) = if args.tls_self_signed {
        let tls = demo::self_signed_tls(args.host)?;
        (fp::FingerprintListener::tls(tcp, Arc::new(tls)), "https")
    } else {
        (fp::FingerprintListener::new(tcp), "http")
    };
    tracing::info!(
        "demo on {scheme}://{addr}/ (database {}, fingerprinting {})",
        demo::database_name(&config.database_url),
        if config.fingerprint { "on" } else { "off" }
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<fp::ConnectionInfo>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let stats = fingerprint.shutdown().await;
    tracing::info!(?stats, "stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

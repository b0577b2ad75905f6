//! `fp-bench tls`: TLS handshakes per second and requests per second over TLS, served by
//! `FingerprintListener::tls` (ClientHello read and replayed, JA4 computed, HTTP/2 tap) and by a
//! plain tokio-rustls listener of the same shape, alternating in one run on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use fingerprint::v1 as fp;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::rustls;

/// `fp-bench tls`.
#[derive(Debug, clap::Args)]
pub(crate) struct TlsArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds (each measures both listeners, in alternating order).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

pub(crate) async fn run(args: &TlsArgs) -> anyhow::Result<()> {
    let server = server_config()?;
    let client = client_config();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let listening = [
        (
            "fingerprint",
            serve(app.clone(), Arc::clone(&server), true).await?,
        ),
        ("plain", serve(app, server, false).await?),
    ];
    let duration = Duration::from_secs(args.seconds);
    let mut results: Vec<(&str, &str, f64)> = Vec::new();
    for round in 0..args.rounds {
        let order: Vec<_> = if round % 2 == 0 {
            listening.iter().collect()
        } else {
            listening.iter().rev().collect()
        };
        for (name, addr) in order {
            let handshakes = handshakes(*addr, &client, args.clients, duration).await;
            let requests = requests(*addr, &client, args.clients, duration).await?;
            eprintln!(
                "round {round} {name}: {handshakes:.0} handshakes/s, {requests:.0} requests/s"
            );
            results.push((name, "handshakes", handshakes));
            results.push((name, "requests", requests));
        }
    }
    let median = |name: &str, what: &str| {
        let mut values: Vec<f64> = results
            .iter()
            .filter(|(n, w, _)| *n == name && *w == what)
            .map(|(_, _, v)| *v)
            .collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for what in ["handshakes", "requests"] {
        let (with, plain) = (median("fingerprint", what), median("plain", what));
        println!(
            "{what}/s median of {}: FingerprintListener {with:.0}, plain tokio-rustls {plain:.0}, ratio {:.3}",
            args.rounds,
            with / plain
        );
    }
    Ok(())
}

fn server_config() -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Full handshakes every time: no session resumption, no certificate check (self-signed).
fn client_config() -> tokio_rustls::TlsConnector {
    let mut config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate::new()))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn serve(
    app: Router,
    config: Arc<rustls::ServerConfig>,
    fingerprint: bool,
) -> anyhow::Result<SocketAddr> {
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr()?;
    if fingerprint {
        let listener = fp::FingerprintListener::tls(tcp, config);
        let service = app.into_make_service_with_connect_info::<fp::ConnectionInfo>();
        tokio::spawn(async move { axum::serve(listener, service).await });
    } else {
        let listener = PlainTls {
            tcp,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            pending: JoinSet::new(),
        };
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    Ok(addr)
}

/// Completed handshakes per second, `clients` at a time, each on a new connection.
async fn handshakes(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    clients: usize,
    duration: Duration,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (connector, done) = (connector.clone(), Arc::clone(&done));
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let Ok(tcp) = TcpStream::connect(addr).await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                if connector.connect(name, tcp).await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tasks.join_all().await;
    done.load(Ordering::Relaxed) as f64 / duration.as_secs_f64()
}

/// HTTP/1.1 requests per second over `clients` keep-alive TLS connections.
async fn requests(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (connector, done) = (connector.clone(), Arc::clone(&done));
        tasks.spawn(async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let tls = connector.connect(name, tcp).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let request = hyper::Request::get("/")
                    .header("host", "localhost")
                    .body(Empty::<Bytes>::new())?;
                let response = sender.send_request(request).await?;
                response.into_body().collect().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    for result in tasks.join_all().await {
        result?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / duration.as_secs_f64())
}

/// The baseline: TLS terminated by tokio-rustls, handshakes in tasks of their own as
/// `FingerprintListener` runs them, without reading the ClientHello first.
struct PlainTls {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    pending: JoinSet<Option<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>>,
}

impl axum::serve::Listener for PlainTls {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => {
                    let Ok((tcp, remote)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    self.pending.spawn(async move {
                        let handshake = acceptor.accept(tcp);
                        match tokio::time::timeout(fp::HANDSHAKE_TIMEOUT, handshake).await {
                            Ok(Ok(stream)) => Some((stream, remote)),
                            _ => None,
                        }
                    });
                }
                Some(done) = self.pending.join_next(), if !self.pending.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Accepts any server certificate: the benchmark's server is self-signed on loopback.
/// Signatures are still checked, with the algorithms of the provider (taken once).
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl AnyCertificate {
    fn new() -> Self {
        Self(rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms)
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

//! A fixed-rate (open-loop) HTTP/1.1 load generator for loopback servers.
//!
//! Request `k` is due at `start + k / rate`. Keep-alive connections take the next due request
//! as soon as they are free, so the offered rate does not depend on the server's latency
//! (wrk's closed loop slows down with the server). A request that cannot be sent on time
//! because every connection is busy goes out late and is counted as such; its latency is
//! measured from when it was due, so a slow server cannot hide its queueing
//! ("coordinated omission"). Every run is bounded: `rate * duration` requests in all.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// `fp-bench load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The page: http://127.0.0.1:PORT/path (loopback only).
    #[arg(long)]
    pub(crate) url: String,
    /// Requests per second.
    #[arg(long)]
    pub(crate) rate: f64,
    /// Seconds of load.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) duration: f64,
    /// Keep-alive connections (the most requests in flight).
    #[arg(long, default_value_t = 64)]
    pub(crate) connections: usize,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header")]
    pub(crate) headers: Vec<String>,
    /// Client worker threads (the server shares the machine's cores).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
}

impl LoadArgs {
    pub(crate) fn config(&self) -> anyhow::Result<LoadConfig> {
        LoadConfig::new(
            &self.url,
            self.rate,
            Duration::from_secs_f64(self.duration),
            self.connections,
            &self.headers,
        )
    }
}

/// The runtime the generator runs on.
pub(crate) fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?)
}

#[derive(Debug, Clone)]
pub(crate) struct LoadConfig {
    addr: SocketAddr,
    host: String,
    path: String,
    pub(crate) rate: f64,
    pub(crate) duration: Duration,
    connections: usize,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl LoadConfig {
    pub(crate) fn new(
        url: &str,
        rate: f64,
        duration: Duration,
        connections: usize,
        headers: &[String],
    ) -> anyhow::Result<Self> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("URL {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs on 127.0.0.1 are supported");
        }
        let host = uri.host().context("URL without host")?;
        let ip: std::net::IpAddr = host
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .or_else(|_| {
                if host == "localhost" {
                    Ok("127.0.0.1".parse()?)
                } else {
                    bail!("host {host:?} is not an IP address")
                }
            })?;
        if !ip.is_loopback() {
            bail!("{ip} is not a loopback address: load goes to this machine only");
        }
        if !(rate.is_finite() && rate > 0.0) {
            bail!("the rate must be a positive number of requests per second");
        }
        let headers = headers
            .iter()
            .map(|h| {
                let (name, value) = h.split_once(':').with_context(|| format!("header {h:?}"))?;
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            addr: SocketAddr::new(ip, uri.port_u16().unwrap_or(80)),
            host: uri
                .authority()
                .map_or_else(|| host.to_owned(), |a| a.to_string()),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            rate,
            duration,
            connections: connections.max(1),
            headers,
            timeout: Duration::from_secs(10),
        })
    }

    /// Requests in the whole run.
    pub(crate) fn total(&self) -> u64 {
        (self.rate * self.duration.as_secs_f64()).round().max(1.0) as u64
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadReport {
    pub(crate) offered_rate: f64,
    /// Requests sent (every due request is sent, late or not).
    pub(crate) sent: u64,
    /// 2xx responses.
    pub(crate) ok: u64,
    /// Other statuses.
    pub(crate) non_2xx: u64,
    /// Connection errors and timeouts.
    pub(crate) errors: u64,
    /// Requests sent more than 10 ms after they were due (every connection was busy).
    pub(crate) late: u64,
    /// From the first due time to the last response.
    pub(crate) elapsed: Duration,
    /// Latency percentiles from the due time, in milliseconds: p50, p99, max.
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

impl LoadReport {
    /// Requests answered per second over the run.
    pub(crate) fn achieved_rate(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            (self.ok + self.non_2xx) as f64 / seconds
        } else {
            0.0
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "offered_rate": self.offered_rate,
            "achieved_rate": (self.achieved_rate() * 10.0).round() / 10.0,
            "sent": self.sent,
            "ok": self.ok,
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "late": self.late,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    non_2xx: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
}

/// Runs one bounded load.
pub(crate) async fn run(config: &LoadConfig) -> anyhow::Result<LoadReport> {
    let total = config.total();
    let next = Arc::new(AtomicU64::new(0));
    let counters = Arc::new(Counters::default());
    // Connect first, so the schedule starts with every connection open.
    let mut senders = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        senders.push(connect(config.addr).await?);
    }
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(senders.len());
    for sender in senders {
        let config = config.clone();
        let next = Arc::clone(&next);
        let counters = Arc::clone(&counters);
        tasks.push(tokio::spawn(async move {
            worker(sender, &config, start, total, &next, &counters).await
        }));
    }
    let mut latencies: Vec<u32> = Vec::with_capacity(total as usize);
    for task in tasks {
        latencies.extend(task.await?);
    }
    let elapsed = Instant::now().saturating_duration_since(start);
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[index]) / 1000.0
    };
    Ok(LoadReport {
        offered_rate: config.rate,
        sent: total,
        ok: counters.ok.load(Ordering::Relaxed),
        non_2xx: counters.non_2xx.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        late: counters.late.load(Ordering::Relaxed),
        elapsed,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        max_ms: percentile(1.0),
    })
}

type Sender = http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One keep-alive connection: takes due requests until none are left; returns the latencies
/// (microseconds from the due time) of the requests that were answered.
async fn worker(
    mut sender: Sender,
    config: &LoadConfig,
    start: Instant,
    total: u64,
    next: &AtomicU64,
    counters: &Counters,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    let mut broken = false;
    loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        if k >= total {
            break;
        }
        let due = start + Duration::from_secs_f64(k as f64 / config.rate);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep_until(due).await;
        } else if now - due > Duration::from_millis(10) {
            counters.late.fetch_add(1, Ordering::Relaxed);
        }
        if broken {
            match connect(config.addr).await {
                Ok(fresh) => {
                    sender = fresh;
                    broken = false;
                }
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        }
        let outcome = tokio::time::timeout(config.timeout, send(&mut sender, config)).await;
        match outcome {
            Ok(Ok(status)) => {
                let waited = Instant::now().saturating_duration_since(due);
                latencies.push(u32::try_from(waited.as_micros()).unwrap_or(u32::MAX));
                if (200..300).contains(&status) {
                    counters.ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.non_2xx.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Err(_)) | Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                broken = true;
            }
        }
    }
    latencies
}

/// Sends one GET and reads the whole body; returns the status.
async fn send(sender: &mut Sender, config: &LoadConfig) -> anyhow::Result<u16> {
    sender.ready().await?;
    let mut request = Request::get(config.path.as_str()).header(hyper::header::HOST, &config.host);
    for (name, value) in &config.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = sender.send_request(request.body(Empty::new())?).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

/// One GET on its own connection; returns the body (for small JSON endpoints).
pub(crate) async fn get_text(url: &str) -> anyhow::Result<String> {
    let config = LoadConfig::new(url, 1.0, Duration::from_secs(1), 1, &[])?;
    let mut sender = connect(config.addr).await?;
    sender.ready().await?;
    let request = Request::get(config.path.as_str())
        .header(hyper::header::HOST, &config.host)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

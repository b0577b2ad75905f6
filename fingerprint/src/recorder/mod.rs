//! The recorder: a bounded queue in front of the store and the background task that drains
//! it in batches. The request path only ever calls [`Recorder::offer`], which never waits.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::model::SessionLink;
use crate::model::Visit;
use crate::store::{Store, StoreError};

mod debounce;
mod enrich;
mod stats;

pub(crate) use debounce::{Debounce, DEFAULT_CAPACITY as DEFAULT_DEBOUNCE_CAPACITY};
pub(crate) use enrich::Enricher;
use stats::Counters;
pub use stats::RecorderStats;

/// Recorder settings (filled by the builder).
#[derive(Debug, Clone)]
pub(crate) struct RecorderConfig {
    pub(crate) queue_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) batch_delay: Duration,
    /// Batches written at the same time, each in its own transaction.
    pub(crate) writers: usize,
    pub(crate) debounce: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) retry_initial: Duration,
    pub(crate) retry_max: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 16_384,
            batch_size: 2_048,
            batch_delay: Duration::from_millis(50),
            writers: 1,
            debounce: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_secs(5),
        }
    }
}

enum Message {
    Visit(Box<Visit>),
    Link(SessionLink),
    Flush(oneshot::Sender<()>),
}

/// Returned by [`Fingerprint::flush`](crate::v1::Fingerprint::flush) after shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fingerprint recorder has shut down")]
#[non_exhaustive]
pub struct RecorderClosed;

pub(crate) struct Recorder {
    sender: mpsc::Sender<Message>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Recorder {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn start(store: Arc<dyn Store>, config: RecorderConfig, enricher: Enricher) -> Self {
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        let counters = Arc::new(Counters::default());
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let writer = Writer {
            batches: Arc::new(Batches {
                store,
                enricher,
                config,
                counters: Arc::clone(&counters),
                cancel: cancel.clone(),
                stopping: OnceLock::new(),
            }),
            receiver,
        };
        tracker.spawn(writer.run());
        tracker.close();
        Self {
            sender,
            counters,
            cancel,
            tracker,
        }
    }

    /// Enqueues a visit without waiting. Returns false (and counts a drop) when the queue is
    /// full or the recorder has shut down.
    pub(crate) fn offer(&self, visit: Visit) -> bool {
        match self.sender.try_send(Message::Visit(Box::new(visit))) {
            Ok(()) => {
                self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(error) => {
                let total = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let reason = match error {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "recorder shut down",
                };
                if self.counters.should_warn() {
                    tracing::warn!(reason, dropped_total = total, "fingerprint dropped");
                }
                false
            }
        }
    }

    /// Enqueues a session-to-user link without waiting. False (and counted) when the queue
    /// is full or the recorder has shut down.
    pub(crate) fn offer_link(&self, link: SessionLink) -> bool {
        let accepted = self.sender.try_send(Message::Link(link)).is_ok();
        if !accepted {
            self.counters.links_dropped.fetch_add(1, Ordering::Relaxed);
            if self.counters.should_warn() {
                tracing::warn!("session link dropped: the fingerprint queue is full or closed");
            }
        }
        accepted
    }

    pub(crate) fn count_skipped(&self) {
        self.counters.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> RecorderStats {
        self.counters.snapshot()
    }

    /// Waits until every visit enqueued before this call has been written (or given up).
    pub(crate) async fn flush(&self) -> Result<(), RecorderClosed> {
        let (done, wait) = oneshot::channel();
        self.sender
            .send(Message::Flush(done))
            .await
            .map_err(|_| RecorderClosed)?;
        wait.await.map_err(|_| RecorderClosed)
    }

    /// Stops accepting visits, writes what is queued (retrying until the shutdown timeout)
    /// and waits for the writer to finish.
    pub(crate) async fn shutdown(&self) -> RecorderStats {
        self.cancel.cancel();
        self.tracker.wait().await;
        self.stats()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // The last handle is gone: let the writer drain and stop on its own.
        self.cancel.cancel();
    }
}

/// The background task: takes batches off the queue and writes them, up to
/// `config.writers` at a time.
struct Writer {
    batches: Arc<Batches>,
    receiver: mpsc::Receiver<Message>,
}

/// What writing a batch needs, shared by the batches in flight.
struct Batches {
    store: Arc<dyn Store>,
    enricher: Enricher,
    config: RecorderConfig,
    counters: Arc<Counters>,
    /// Cancelled when the recorder shuts down.
    cancel: CancellationToken,
    /// When retries give up once shutting down: the shutdown timeout after it was first seen.
    stopping: OnceLock<Instant>,
}

impl Writer {
    async fn run(mut self) {
        let cancel = self.batches.cancel.clone();
        // Load the user-agent rules off the runtime's threads before the first batch.
        let _ = tokio::task::spawn_blocking(Enricher::warm_up).await;
        let config = &self.batches.config;
        let (batch_size, batch_delay) = (config.batch_size, config.batch_delay);
        let writers = config.writers.max(1);
        let mut in_flight = JoinSet::new();
        let mut messages = Vec::with_capacity(batch_size);
        loop {
            // A free writer first: while all are busy, what arrives waits in the queue (whose
            // capacity bounds it), not here.
            while in_flight.len() >= writers {
                finished(in_flight.join_next().await);
            }
            let received = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                n = self.receiver.recv_many(&mut messages, batch_size) => n,
            };
            if received == 0 {
                break;
            }
            // Collect more until the batch is full or its delay has passed.
            let deadline = later(batch_delay);
            while messages.len() < batch_size && !matches!(messages.last(), Some(Message::Flush(_)))
            {
                let room = batch_size - messages.len();
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep_until(deadline) => break,
                    n = self.receiver.recv_many(&mut messages, room) => if n == 0 { break },
                }
            }
            let (visits, links, flushes) = split(&mut messages);
            let batches = Arc::clone(&self.batches);
            in_flight.spawn(async move { batches.write(visits, links).await });
            // A flush is answered once every batch before it is written.
            if !flushes.is_empty() {
                while finished(in_flight.join_next().await) {}
                for done in flushes {
                    let _ = done.send(());
                }
            }
        }
        // Shutdown: refuse new visits; the timeout starts now, for the batches in flight too;
        // then write everything still queued.
        self.receiver.close();
        self.batches.stopping();
        while finished(in_flight.join_next().await) {}
        while self.receiver.recv_many(&mut messages, batch_size).await > 0 {
            let (visits, links, flushes) = split(&mut messages);
            self.batches.write(visits, links).await;
            for done in flushes {
                let _ = done.send(());
            }
        }
        let stats = self.batches.counters.snapshot();
        tracing::info!(
            stored = stats.stored,
            dropped = stats.dropped,
            failed = stats.failed,
            "fingerprint recorder stopped"
        );
    }
}

/// How many times a write refused for good is tried before it is given up (or split).
const PERMANENT_TRIES: u32 = 4;

/// Whether `error` refuses a value the batch holds (so a part of it may pass): not the store
/// as a whole (read-only, full, not migrated: splitting would only repeat the refusal) nor
/// the moment (the database away).
fn refused_for_what_it_holds(error: &StoreError) -> bool {
    matches!(error, StoreError::InvalidInput(_))
}

/// `wait` from now; a wait too long for the clock (`Duration::MAX`: never) is 30 years.
fn later(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// Whether a batch task had finished (`join_next` found one); logs one that failed (a
/// panic is caught, and counted, inside it).
fn finished(joined: Option<Result<(), tokio::task::JoinError>>) -> bool {
    if let Some(Err(error)) = &joined {
        tracing::error!(%error, "a fingerprint batch was not written");
    }
    joined.is_some()
}

/// The visits, links and flushes of `messages` (emptied). Visits are written before links:
/// a link takes in whatever its session already has, so the order does not change the result.
fn split(messages: &mut Vec<Message>) -> (Vec<Visit>, Vec<SessionLink>, Vec<oneshot::Sender<()>>) {
    let mut visits = Vec::with_capacity(messages.len());
    let (mut links, mut flushes) = (Vec::new(), Vec::new());
    for message in messages.drain(..) {
        match message {
            Message::Visit(visit) => visits.push(*visit),
            Message::Link(link) => links.push(link),
            Message::Flush(done) => flushes.push(done),
        }
    }
    (visits, links, flushes)
}

impl Batches {
    /// The shutdown's deadline (set the first time it is asked for).
    fn stopping(&self) -> Instant {
        *self
            .stopping
            .get_or_init(|| later(self.config.shutdown_timeout))
    }

    /// Writes one batch of visits, then one of links. A part that panics (a store or a
    /// user-agent rule with a bug) is counted as failed, and the writer goes on.
    async fn write(&self, mut visits: Vec<Visit>, links: Vec<SessionLink>) {
        if !visits.is_empty() {
            let enriched =
                std::panic::catch_unwind(AssertUnwindSafe(|| self.enricher.enrich(&mut visits)));
            if enriched.is_ok() {
                self.store_visits(&visits, PERMANENT_TRIES).await;
            } else {
                self.lost_to_a_panic(visits.len());
            }
        }
        if !links.is_empty() {
            let n = links.len() as u64;
            if AssertUnwindSafe(self.write_links(links))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!(lost = n, "writing session links panicked");
                self.counters.links_dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Stores `visits` and counts them. A batch the store refuses for good (a value the
    /// database cannot take, say) is written again in halves, each tried once, down to the
    /// visits at fault: one bad visit costs only itself, not its whole batch.
    fn store_visits<'a>(&'a self, visits: &'a [Visit], permanent_tries: u32) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let debounce = self.config.debounce;
            let written = AssertUnwindSafe(self.retrying("fingerprints", permanent_tries, || {
                self.store.record(visits, debounce)
            }))
            .catch_unwind()
            .await;
            let Ok(written) = written else {
                return self.lost_to_a_panic(visits.len());
            };
            match written {
                Ok(outcome) => {
                    // A visit found stored as it is was written by an earlier try of this
                    // batch, whose commit went through though its answer was lost.
                    self.counters
                        .stored
                        .fetch_add(outcome.inserted + outcome.already_stored, Ordering::Relaxed);
                    self.counters
                        .debounced
                        .fetch_add(outcome.debounced, Ordering::Relaxed);
                }
                Err(error) if visits.len() > 1 && refused_for_what_it_holds(&error) => {
                    if permanent_tries == PERMANENT_TRIES {
                        tracing::warn!(
                            %error,
                            visits = visits.len(),
                            "a batch was refused; writing it in halves to find the visits at fault"
                        );
                    }
                    let (first, second) = visits.split_at(visits.len() / 2);
                    self.store_visits(first, 1).await;
                    self.store_visits(second, 1).await;
                }
                Err(error) => {
                    tracing::error!(%error, lost = visits.len(), "fingerprints could not be stored");
                    self.counters
                        .failed
                        .fetch_add(visits.len() as u64, Ordering::Relaxed);
                }
            }
        })
    }

    /// Counts `n` visits as failed: the enricher or the store panicked on them (a bug).
    fn lost_to_a_panic(&self, n: usize) {
        tracing::error!(lost = n, "writing fingerprints panicked");
        self.counters.failed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Stores `links`, then counts them (the last step: a panic before it leaves them to the
    /// caller to count).
    async fn write_links(&self, links: Vec<SessionLink>) {
        let batch: &[SessionLink] = &links;
        let written = self
            .retrying("session links", PERMANENT_TRIES, move || {
                self.store.link_sessions(batch)
            })
            .await;
        let counter = match written {
            Ok(_) => &self.counters.links,
            Err(error) => {
                tracing::error!(%error, lost = links.len(), "session links could not be stored");
                &self.counters.links_dropped
            }
        };
        counter.fetch_add(links.len() as u64, Ordering::Relaxed);
    }

    /// Runs `operation`, retrying transient failures with exponential backoff: forever while
    /// running, until the shutdown timeout once the recorder shuts down. A permanent failure
    /// is tried `permanent_tries` times in all; then the last error.
    async fn retrying<T, F, Fut>(
        &self,
        what: &str,
        permanent_tries: u32,
        mut operation: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delay = self.config.retry_initial;
        let mut permanent_failures = 0;
        loop {
            // Once shutting down, an attempt (one under way included) ends at the deadline: a
            // write stuck on a lock or a connection cannot hold the shutdown past it.
            let attempt = operation();
            tokio::pin!(attempt);
            let result = tokio::select! {
                biased;
                result = &mut attempt => result,
                () = self.cancel.cancelled() => {
                    match tokio::time::timeout_at(self.stopping(), &mut attempt).await {
                        Ok(result) => result,
                        Err(_) => Err(StoreError::backend(
                            std::io::Error::new(std::io::ErrorKind::TimedOut, "shutdown timeout"),
                            true,
                        )),
                    }
                }
            };
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let transient = error.is_transient();
            if !transient {
                permanent_failures += 1;
            }
            // Forever while running; once shutting down, until the shutdown's deadline (a
            // batch already retrying when the shutdown began included).
            let deadline = self.cancel.is_cancelled().then(|| self.stopping());
            let out_of_time = deadline.is_some_and(|d| later(delay) > d);
            if permanent_failures >= permanent_tries || out_of_time {
                return Err(error);
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, transient, retry_in = ?delay, what, "storing failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cancel.cancelled(), if deadline.is_none() => {}
            }
            delay = delay.saturating_mul(2).min(self.config.retry_max);
        }
    }
}

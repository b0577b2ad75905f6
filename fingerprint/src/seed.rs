//! A synthetic data set for demos, screenshots and benchmarks (feature `seed`): sessions of
//! real user agents from many countries over the last days, users linked to some of them,
//! pages of skewed popularity and browser fingerprints, written through the public
//! [`Store`] API.
//!
//! Not part of [`v1`](crate::v1): it is a development tool, and the data it makes may change
//! in any release (the same options give the same data within a release).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use serde_json::{json, Value};

use crate::browser::components::visitor_id;
use crate::device::Device;
use crate::model::SessionLink;
use crate::model::{BrowserVisit, RequestFingerprint, Utm, Visit};
use crate::store::{Store, StoreError};

/// What [`seed`] makes. Deterministic: the same options (with the same `now`) write the same
/// data.
///
/// ```
/// use fingerprint::seed::SeedOptions;
///
/// let options = SeedOptions::new(100_000)
///     .with_days(30)
///     .with_seed(7)
///     .with_progress(|p| eprintln!("{} of {} rows", p.request_fingerprints, p.total));
/// ```
#[non_exhaustive]
pub struct SeedOptions {
    /// Request fingerprints to write (default 10,000).
    pub rows: u64,
    /// Spread over this many days up to `now` (default 30, at least 1).
    pub days: u32,
    /// The seed of the generator (default 1).
    pub seed: u64,
    /// The end of the period (default: the time `new` was called).
    pub now: DateTime<Utc>,
    /// Scheme and host of the URLs (default `https://shop.example`).
    pub origin: String,
    /// Users to link sessions to (default: one per 40 rows, at least 1).
    pub users: Option<u64>,
    /// Distinct pages, of Zipf-like popularity (default 500, at least 10).
    pub pages: u32,
    /// Visits per `record` call (default 8,192).
    pub batch_size: usize,
    progress: Option<Box<dyn FnMut(SeedProgress) + Send>>,
}

impl fmt::Debug for SeedOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedOptions")
            .field("rows", &self.rows)
            .field("days", &self.days)
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("origin", &self.origin)
            .field("users", &self.users)
            .field("pages", &self.pages)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl SeedOptions {
    /// `rows` request fingerprints over the last 30 days, seed 1.
    #[must_use]
    pub fn new(rows: u64) -> Self {
        Self {
            rows,
            days: 30,
            seed: 1,
            now: Utc::now(),
            origin: "https://shop.example".into(),
            users: None,
            pages: 500,
            batch_size: 8192,
            progress: None,
        }
    }

    /// Spread over the last `days` days.
    #[must_use]
    pub fn with_days(mut self, days: u32) -> Self {
        self.days = days;
        self
    }

    /// The generator's seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The end of the period (pin it to make the data set reproducible).
    #[must_use]
    pub fn with_now(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// Scheme and host of the URLs, e.g. `https://shop.example`.
    #[must_use]
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// How many users sessions are linked to.
    #[must_use]
    pub fn with_users(mut self, users: u64) -> Self {
        self.users = Some(users);
        self
    }

    /// How many distinct pages.
    #[must_use]
    pub fn with_pages(mut self, pages: u32) -> Self {
        self.pages = pages;
        self
    }

    /// Visits per `record` call.
    #[must_use]
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Called after every batch with what was written so far.
    #[must_use]
    pub fn with_progress(mut self, progress: impl FnMut(SeedProgress) + Send + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }
}

/// How far [`seed`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedProgress {
    /// Request fingerprints written.
    pub request_fingerprints: u64,
    /// Request fingerprints to write in all.
    pub total: u64,
    /// Sessions written.
    pub sessions: u64,
    /// Browser fingerprints written.
    pub browser_fingerprints: u64,
    /// Sessions linked to users.
    pub linked_sessions: u64,
}

/// What [`seed`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeedReport {
    /// Request fingerprints.
    pub request_fingerprints: u64,
    /// Sessions.
    pub sessions: u64,
    /// Sessions linked to a user.
    pub linked_sessions: u64,
    /// Distinct users with at least one session.
    pub users: u64,
    /// Browser fingerprints.
    pub browser_fingerprints: u64,
    /// Distinct URLs.
    pub urls: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Writes a synthetic data set into `store` (migrated) through its public API: `record` in
/// batches, `record_browsers` (or `record_browser` for a store without it), `link_sessions`.
///
/// What it makes: sessions spread over the last `days` days (fewer at night and at weekends,
/// slowly growing), each of 1 to 40 page views 10 seconds to 5 minutes apart; 29 real user
/// agents (desktop, mobile and tablet browsers, crawlers, curl) in realistic shares; 20
/// countries with their languages, time zones and addresses (some IPv6); pages of Zipf-like
/// popularity, landing referers and some UTM campaigns. About a third of the sessions belong
/// to users, who come back on their own devices (1 to 4 each, some shared with another user)
/// mostly from a home address. 40 % of browser sessions post one browser fingerprint with the
/// components the collector sends, so visitor ids repeat across a user's sessions and across
/// the users who share a device.
///
/// ```no_run
/// # async fn run() -> Result<(), fingerprint::v1::StoreError> {
/// use fingerprint::seed::{seed, SeedOptions};
/// use fingerprint::v1::{self as fp, Store as _};
///
/// let store = fp::SqliteStore::connect("sqlite://seeded.db").await?;
/// store.migrate().await?;
/// let report = seed(&store, SeedOptions::new(1_000_000)).await?;
/// println!("{} rows, {} sessions in {:?}", report.request_fingerprints, report.sessions, report.elapsed);
/// # Ok(()) }
/// ```
pub async fn seed<S: Store + ?Sized>(
    store: &S,
    mut options: SeedOptions,
) -> Result<SeedReport, StoreError> {
    let started = Instant::now();
    let mut progress = options.progress.take();
    let total = options.rows;
    // The next batch is made on a blocking thread while the store writes this one.
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Batch>(2);
    let generator = tokio::task::spawn_blocking(move || {
        let plan = Plan::new(&options);
        plan.batches(options.batch_size.max(1), |batch| {
            sender.blocking_send(batch).is_ok()
        })
    });
    let mut report = SeedReport {
        request_fingerprints: 0,
        sessions: 0,
        linked_sessions: 0,
        users: 0,
        browser_fingerprints: 0,
        urls: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(batch) = batches.recv().await {
        store.record(&batch.visits, Duration::ZERO).await?;
        store.record_browsers(&batch.browsers).await?;
        if !batch.links.is_empty() {
            store.link_sessions(&batch.links).await?;
        }
        report.request_fingerprints += batch.visits.len() as u64;
        report.sessions += batch.sessions;
        report.browser_fingerprints += batch.browsers.len() as u64;
        report.linked_sessions += batch.links.len() as u64;
        if let Some(progress) = progress.as_mut() {
            progress(SeedProgress {
                request_fingerprints: report.request_fingerprints,
                total,
                sessions: report.sessions,
                browser_fingerprints: report.browser_fingerprints,
                linked_sessions: report.linked_sessions,
            });
        }
    }
    let (users, urls) = match generator.await {
        Ok(counts) => counts,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    };
    report.users = users;
    report.urls = urls;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What one round of writes takes.
#[derive(Debug, Default)]
struct Batch {
    visits: Vec<Visit>,
    browsers: Vec<BrowserVisit>,
    links: Vec<SessionLink>,
    sessions: u64,
}

/// SplitMix64: small, fast, and the same sequence on every platform and version.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn by `weights`.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut point = self.below(total);
        for (index, weight) in weights.iter().enumerate() {
            if point < u64::from(*weight) {
                return index;
            }
            point -= u64::from(*weight);
        }
        weights.len().saturating_sub(1)
    }

    fn hex(&mut self, chars: usize) -> String {
        let mut text = String::with_capacity(chars);
        while text.len() < chars {
            text.push_str(&format!("{:016x}", self.next_u64()));
        }
        text.truncate(chars);
        text
    }

    /// An index into a cumulative distribution.
    fn sample(&mut self, cdf: &[f64]) -> usize {
        let point = self.unit() * cdf.last().copied().unwrap_or(1.0);
        cdf.partition_point(|c| *c <= point).min(cdf.len() - 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Chromium,
    Firefox,
    Safari,
    Bot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Windows,
    Mac,
    Linux,
    Android,
    AndroidTablet,
    IPhone,
    IPad,
    Bot,
}

struct Agent {
    user_agent: &'static str,
    weight: u32,
    engine: Engine,
    platform: Platform,
}

const fn agent(user_agent: &'static str, weight: u32, engine: Engine, platform: Platform) -> Agent {
    Agent {
        user_agent,
        weight,
        engine,
        platform,
    }
}

use Engine::{Bot as BotEngine, Chromium, Firefox, Safari};
use Platform::{Android, AndroidTablet, IPad, IPhone, Linux, Mac, Windows};

/// Real user agents, weighted roughly as a consumer site sees them.
#[rustfmt::skip]
const AGENTS: &[Agent] = &[
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", 150, Chromium, Windows),
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36", 80, Chromium, Windows),
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36", 30, Chromium, Windows),
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80", 60, Chromium, Windows),
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0", 10, Chromium, Windows),
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 40, Firefox, Windows),
    agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0", 15, Firefox, Windows),
    agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", 55, Chromium, Mac),
    agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15", 50, Safari, Mac),
    agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15", 10, Safari, Mac),
    agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0", 10, Firefox, Mac),
    agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67", 8, Chromium, Mac),
    agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36", 15, Chromium, Linux),
    agent("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0", 10, Firefox, Linux),
    agent("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 8, Chromium, Linux),
    agent("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", 140, Chromium, Android),
    agent("Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36", 15, Chromium, Android),
    agent("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36", 30, Chromium, Android),
    agent("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", 8, Firefox, Android),
    agent("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36", 10, Chromium, AndroidTablet),
    agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 130, Safari, IPhone),
    agent("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", 30, Safari, IPhone),
    agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1", 20, Safari, IPhone),
    agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15", 5, Safari, IPhone),
    agent("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 30, Safari, IPad),
    agent("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 20, BotEngine, Platform::Bot),
    agent("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 8, BotEngine, Platform::Bot),
    agent("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)", 5, BotEngine, Platform::Bot),
    agent("curl/8.5.0", 4, BotEngine, Platform::Bot),
];

/// Network fingerprints of an engine's current builds over TLS and HTTP/2 (JA4, HTTP/2,
/// header fingerprint), shaped like real ones: illustrative values for the data set, not a
/// reference.
fn network(engine: Engine) -> [&'static str; 3] {
    match engine {
        Chromium => [
            "t13d1516h2_8daaf6152771_02713d6af862",
            "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p",
            "GET h2 c1r1 n14 en 0c2c1d640f3e afb804d43c66",
        ],
        Firefox => [
            "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
            "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s",
            "GET h2 c1r1 n12 en 4f1e9c0a7b21 afb804d43c66",
        ],
        Safari => [
            "t13d2014h2_a09f3c656075_14788d8d241b",
            "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p",
            "GET h2 c1r1 n10 en 9d3a61c2e0f4 afb804d43c66",
        ],
        BotEngine => [
            "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
            "3:100;4:33554432;2:0|33488897|0|m,p,s,a",
            "GET h2 c0r0 n3 - 042112399351 -",
        ],
    }
}

struct Country {
    code: &'static str,
    weight: u32,
    languages: &'static [&'static str],
    timezone: &'static str,
    /// Minutes, as JavaScript's `getTimezoneOffset` (winter time).
    offset: i32,
    /// First octets of its IPv4 addresses in this data set.
    networks: &'static [u8],
}

const fn country(
    code: &'static str,
    weight: u32,
    languages: &'static [&'static str],
    timezone: &'static str,
    offset: i32,
    networks: &'static [u8],
) -> Country {
    Country {
        code,
        weight,
        languages,
        timezone,
        offset,
        networks,
    }
}

#[rustfmt::skip]
const COUNTRIES: &[Country] = &[
    country("US", 280, &["en-US", "en"], "America/New_York", 300, &[23, 64, 98, 174]),
    country("DE", 90, &["de-DE", "de", "en"], "Europe/Berlin", -60, &[46, 79, 85]),
    country("GB", 80, &["en-GB", "en"], "Europe/London", 0, &[51, 81, 86]),
    country("FR", 60, &["fr-FR", "fr", "en"], "Europe/Paris", -60, &[78, 90, 92]),
    country("IN", 60, &["en-IN", "en", "hi"], "Asia/Kolkata", -330, &[49, 103, 117]),
    country("BR", 50, &["pt-BR", "pt"], "America/Sao_Paulo", 180, &[177, 179, 189]),
    country("PL", 40, &["pl-PL", "pl", "en"], "Europe/Warsaw", -60, &[31, 83, 89]),
    country("CA", 40, &["en-CA", "en", "fr-CA"], "America/Toronto", 300, &[24, 70, 99]),
    country("JP", 40, &["ja-JP", "ja"], "Asia/Tokyo", -540, &[60, 126, 133]),
    country("NL", 30, &["nl-NL", "nl", "en"], "Europe/Amsterdam", -60, &[77, 145]),
    country("ES", 30, &["es-ES", "es"], "Europe/Madrid", -60, &[80, 88]),
    country("IT", 30, &["it-IT", "it"], "Europe/Rome", -60, &[93, 151]),
    country("AU", 20, &["en-AU", "en"], "Australia/Sydney", -660, &[1, 101, 110]),
    country("SE", 20, &["sv-SE", "sv", "en"], "Europe/Stockholm", -60, &[83, 90]),
    country("CZ", 20, &["cs-CZ", "cs", "en"], "Europe/Prague", -60, &[46, 89]),
    country("MX", 20, &["es-MX", "es"], "America/Mexico_City", 360, &[187, 189]),
    country("KR", 10, &["ko-KR", "ko"], "Asia/Seoul", -540, &[121, 211]),
    country("UA", 10, &["uk-UA", "uk", "en"], "Europe/Kyiv", -120, &[37, 91]),
    country("TR", 10, &["tr-TR", "tr"], "Europe/Istanbul", -180, &[78, 88]),
    country("ZA", 10, &["en-ZA", "en"], "Africa/Johannesburg", -120, &[41, 102]),
    // Requests without a country header.
    country("", 10, &["en-US", "en"], "UTC", 0, &[5, 185]),
];

const REFERERS: &[(&str, u32)] = &[
    ("", 40),
    ("https://www.google.com/", 30),
    ("https://www.bing.com/", 4),
    ("https://duckduckgo.com/", 4),
    ("https://news.ycombinator.com/", 3),
    ("https://www.reddit.com/", 4),
    ("https://t.co/", 3),
    ("https://www.facebook.com/", 4),
];

const CAMPAIGNS: &[(&str, &str, &str)] = &[
    ("newsletter", "email", "spring-sale"),
    ("twitter", "social", "launch"),
    ("google", "cpc", "brand"),
    ("partner", "referral", "affiliates"),
];

const FONTS: &[&str] = &[
    "Arial",
    "Arial Black",
    "Calibri",
    "Cambria",
    "Comic Sans MS",
    "Consolas",
    "Courier New",
    "DejaVu Sans",
    "Georgia",
    "Helvetica",
    "Helvetica Neue",
    "Liberation Sans",
    "Lucida Console",
    "Menlo",
    "Monaco",
    "Noto Sans",
    "Palatino",
    "Roboto",
    "Segoe UI",
    "Tahoma",
    "Times New Roman",
    "Trebuchet MS",
    "Ubuntu",
    "Verdana",
];

/// The share of browser sessions that post a browser fingerprint.
const BROWSER_SHARE: f64 = 0.4;

/// Most page views of one session.
const MAX_PAGES: u32 = 40;

/// A device: a user agent and the hardware behind it (its seed), set up in a country.
#[derive(Debug, Clone, Copy)]
struct DeviceSpec {
    agent: u16,
    seed: u64,
    country: u8,
}

#[derive(Debug)]
struct User {
    id: u32,
    country: u8,
    home: IpAddr,
    devices: Vec<DeviceSpec>,
}

#[derive(Debug)]
struct PlannedSession {
    seed: u64,
    /// Microseconds since the epoch.
    start: i64,
    pages: u32,
    /// The user it is linked to (logged in).
    user: Option<u32>,
    device: DeviceSpec,
    ip: IpAddr,
}

struct Plan {
    /// The device of each of [`AGENTS`], parsed once.
    devices: Vec<Device>,
    origin: String,
    pages: u32,
    page_cdf: Vec<f64>,
    sessions: Vec<PlannedSession>,
}

impl Plan {
    fn new(options: &SeedOptions) -> Self {
        let mut rng = Rng::new(options.seed ^ 0x5eed_f1a9_0000_0001);
        let pages = options.pages.max(10);
        let mut page_cdf = Vec::with_capacity(pages as usize);
        let mut sum = 0.0;
        for rank in 0..pages {
            sum += 1.0 / f64::from(rank + 1).powf(1.1);
            page_cdf.push(sum);
        }
        let agent_weights: Vec<u32> = AGENTS.iter().map(|a| a.weight).collect();
        let browser_agents: Vec<u32> = AGENTS
            .iter()
            .map(|a| if a.engine == BotEngine { 0 } else { a.weight })
            .collect();
        let country_weights: Vec<u32> = COUNTRIES.iter().map(|c| c.weight).collect();

        // Users: a home country and address, one to four devices (some shared).
        let user_count = options
            .users
            .unwrap_or(options.rows / 40)
            .clamp(1, u64::from(u32::MAX / 2)) as u32;
        let mut users: Vec<User> = Vec::with_capacity(user_count as usize);
        for n in 0..user_count {
            let country = rng.weighted(&country_weights) as u8;
            let home = address(&mut rng, country, false);
            let count = 1 + rng.weighted(&[50, 30, 15, 5]);
            let mut devices = Vec::with_capacity(count);
            for _ in 0..count {
                devices.push(DeviceSpec {
                    agent: rng.weighted(&browser_agents) as u16,
                    seed: rng.next_u64(),
                    country,
                });
            }
            if n > 0 && rng.chance(0.05) {
                // A family computer: another user's device.
                let other = &users[rng.index(users.len())];
                devices.push(other.devices[0]);
            }
            users.push(User {
                id: 1000 + n,
                country,
                home,
                devices,
            });
        }
        // Activity: a few users come back much more often than most.
        let mut user_cdf = Vec::with_capacity(users.len());
        let mut sum = 0.0;
        for n in 0..users.len() {
            sum += 1.0 / (n as f64 + 1.0).sqrt();
            user_cdf.push(sum);
        }

        let now = options.now.timestamp_micros();
        let span = i64::from(options.days.max(1)) * 86_400_000_000;
        let mut sessions = Vec::new();
        let mut remaining = options.rows;
        while remaining > 0 {
            let seed = rng.next_u64();
            let mut shape = Rng::new(seed);
            let pages = session_pages(&mut shape).min(remaining.min(u64::from(MAX_PAGES)) as u32);
            let duration = (1..pages).map(|_| gap(&mut shape)).sum::<i64>();
            let start = loop {
                let t = now - span + rng.below(span as u64) as i64;
                if rng.unit() * 1.3 < activity(t, now - span, span) {
                    break t.min(now - duration - 1_000_000);
                }
            };
            let roll = rng.unit();
            let (user, device, ip) = if roll < 0.45 {
                // A user's device: logged in, or (one in four) reading anonymously.
                let user = &users[rng.sample(&user_cdf)];
                let device = user.devices[rng.weighted(&device_weights(user.devices.len()))];
                let ip = if rng.chance(0.7) {
                    user.home
                } else {
                    let v6 = rng.chance(0.2);
                    address(&mut rng, user.country, v6)
                };
                ((roll < 0.35).then_some(user.id), device, ip)
            } else {
                let country = rng.weighted(&country_weights) as u8;
                let device = DeviceSpec {
                    agent: rng.weighted(&agent_weights) as u16,
                    seed: rng.next_u64(),
                    country,
                };
                let v6 = rng.chance(0.15);
                let ip = address(&mut rng, country, v6);
                (None, device, ip)
            };
            let pages = if AGENTS[usize::from(device.agent)].engine == BotEngine {
                1
            } else {
                pages
            };
            remaining -= u64::from(pages);
            sessions.push(PlannedSession {
                seed,
                start,
                pages,
                user,
                device,
                ip,
            });
        }
        sessions.sort_by_key(|s| (s.start, s.seed));
        Self {
            devices: AGENTS
                .iter()
                .map(|agent| Device::from_user_agent(agent.user_agent))
                .collect(),
            origin: options.origin.trim_end_matches('/').to_owned(),
            pages,
            page_cdf,
            sessions,
        }
    }

    /// Hands the sessions, in order, to `send` in batches of about `size` visits (sessions
    /// are never split). Stops when `send` returns false. Returns the distinct users and URLs.
    fn batches(&self, size: usize, mut send: impl FnMut(Batch) -> bool) -> (u64, u64) {
        let mut urls: HashSet<String> = HashSet::new();
        let mut users: HashSet<u32> = HashSet::new();
        let mut batch = Batch::default();
        for (n, session) in self.sessions.iter().enumerate() {
            let written = self.write_session(
                session,
                &mut batch.visits,
                &mut batch.browsers,
                &mut batch.links,
            );
            for url in written {
                if !urls.contains(&url) {
                    urls.insert(url);
                }
            }
            if let Some(user) = session.user {
                users.insert(user);
            }
            batch.sessions += 1;
            let last = n + 1 == self.sessions.len();
            if (batch.visits.len() >= size || last) && !send(std::mem::take(&mut batch)) {
                break;
            }
        }
        (users.len() as u64, urls.len() as u64)
    }

    /// Adds one session's visits, browser fingerprint and link; returns its URLs.
    fn write_session(
        &self,
        session: &PlannedSession,
        visits: &mut Vec<Visit>,
        browsers: &mut Vec<BrowserVisit>,
        links: &mut Vec<SessionLink>,
    ) -> Vec<String> {
        let mut shape = Rng::new(session.seed);
        let _ = session_pages(&mut shape);
        let gaps: Vec<i64> = (1..session.pages).map(|_| gap(&mut shape)).collect();
        let mut rng = Rng::new(session.seed.rotate_left(17) ^ 0xa5a5);
        let key = rng.hex(32);
        let agent = &AGENTS[usize::from(session.device.agent)];
        let country = &COUNTRIES[usize::from(session.device.country)];
        let device = &self.devices[usize::from(session.device.agent)];
        let (accept, encoding) = match agent.engine {
            Chromium => (
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
                "gzip, deflate, br, zstd",
            ),
            Firefox => (
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
                "gzip, deflate, br, zstd",
            ),
            Safari => (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "gzip, deflate, br",
            ),
            BotEngine => ("*/*", "gzip, deflate"),
        };
        let language = accept_language(country.languages);
        let campaign = rng
            .chance(0.12)
            .then(|| CAMPAIGNS[rng.index(CAMPAIGNS.len())]);
        let referer_weights: Vec<u32> = REFERERS.iter().map(|r| r.1).collect();
        let mut referer = REFERERS[rng.weighted(&referer_weights)].0.to_owned();
        let mut at = session.start;
        let mut urls = Vec::with_capacity(session.pages as usize);
        for page in 0..session.pages {
            if page > 0 {
                at += gaps[page as usize - 1];
            }
            let mut url = format!(
                "{}{}",
                self.origin,
                page_path(rng.sample(&self.page_cdf), self.pages)
            );
            let mut utm = Utm::default();
            if let (0, Some((source, medium, name))) = (page, campaign) {
                let separator = if url.contains('?') { '&' } else { '?' };
                url = format!(
                    "{url}{separator}utm_source={source}&utm_medium={medium}&utm_campaign={name}"
                );
                utm.source = Some(source.into());
                utm.medium = Some(medium.into());
                utm.campaign = Some(name.into());
            }
            let time = DateTime::from_timestamp_micros(at).unwrap_or_default();
            let mut fingerprint = RequestFingerprint::new(url.clone(), time);
            fingerprint.ip = Some(session.ip);
            fingerprint.user_agent = agent.user_agent.into();
            fingerprint.accept = accept.into();
            fingerprint.accept_language = language.clone();
            fingerprint.accept_encoding = encoding.into();
            fingerprint.referer = std::mem::replace(&mut referer, url.clone());
            fingerprint.country = country.code.into();
            fingerprint.country_code = country.code.into();
            fingerprint.device = device.clone();
            let [ja4, http2, headers] = network(agent.engine);
            fingerprint.ja4 = ja4.into();
            fingerprint.http2 = http2.into();
            fingerprint.headers = headers.into();
            fingerprint.verdict = match agent.engine {
                BotEngine if agent.user_agent.starts_with("curl/") => "automated",
                BotEngine => "declared_bot",
                _ => "human",
            }
            .into();
            // As the layer records them by default: bots are stored, not counted.
            let counted = fingerprint.verdict == "human";
            visits.push(Visit {
                session_key: key.clone(),
                fingerprint,
                utm,
                counted,
                assessment: None,
            });
            urls.push(url);
        }
        let first = DateTime::from_timestamp_micros(session.start).unwrap_or_default();
        if agent.engine != BotEngine && rng.chance(BROWSER_SHARE) {
            let components = components(session.device);
            let json = serde_json::to_string(&components).unwrap_or_default();
            let mut browser = BrowserVisit::new(
                key.clone(),
                visitor_id(&components),
                json,
                first + TimeDelta::milliseconds(1500 + rng.below(2000) as i64),
            );
            browser.url = urls.first().cloned();
            browser.duration_ms = Some(40 + rng.below(400));
            browsers.push(browser);
        }
        if let Some(user) = session.user {
            let login = first + TimeDelta::seconds(5 + rng.below(60) as i64);
            links.push(SessionLink::new(key, user.to_string(), login));
        }
        urls
    }
}

/// Page views of a session: mostly a few, sometimes many (1..=40, mean about 6).
fn session_pages(rng: &mut Rng) -> u32 {
    let mut pages = 1;
    while pages < MAX_PAGES && rng.chance(0.83) {
        pages += 1;
    }
    pages
}

/// Microseconds between two page views: 10 seconds to 5 minutes, mostly short.
fn gap(rng: &mut Rng) -> i64 {
    let seconds = 10.0 + 290.0 * rng.unit().powi(3);
    (seconds * 1e6) as i64
}

/// How busy the site is at `t` (0.2 to 1.3): a daily wave, quieter weekends, slow growth.
fn activity(t: i64, start: i64, span: i64) -> f64 {
    let time = DateTime::from_timestamp_micros(t).unwrap_or_default();
    let hour = f64::from(time.hour()) + f64::from(time.minute()) / 60.0;
    let daily = 0.55 + 0.45 * ((hour - 15.0) / 24.0 * std::f64::consts::TAU).cos();
    let weekly = if time.weekday().number_from_monday() >= 6 {
        0.75
    } else {
        1.0
    };
    let growth = 0.8 + 0.4 * (t - start) as f64 / span as f64;
    (daily * weekly * growth).max(0.2)
}

fn device_weights(count: usize) -> Vec<u32> {
    (0..count).map(|n| if n == 0 { 6 } else { 2 }).collect()
}

fn accept_language(languages: &[&str]) -> String {
    languages
        .iter()
        .enumerate()
        .map(|(n, language)| {
            if n == 0 {
                (*language).to_owned()
            } else {
                format!("{language};q=0.{}", 10 - n.min(5))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// An address in `country`: IPv4 in one of its networks, or IPv6 in 2001:db8::/32.
fn address(rng: &mut Rng, country: u8, v6: bool) -> IpAddr {
    let spec = &COUNTRIES[usize::from(country)];
    if v6 {
        return IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0x0db8,
            0x100 + u16::from(country),
            (rng.below(0xffff) + 1) as u16,
            0,
            0,
            0,
            (rng.below(0xfffe) + 1) as u16,
        ));
    }
    let first = spec.networks[rng.index(spec.networks.len())];
    IpAddr::V4(Ipv4Addr::new(
        first,
        rng.below(256) as u8,
        rng.below(256) as u8,
        1 + rng.below(254) as u8,
    ))
}

/// The path of the page of popularity `rank` (0: the most visited).
fn page_path(rank: usize, pages: u32) -> String {
    const TOP: &[&str] = &[
        "/",
        "/products",
        "/products?sort=popular",
        "/blog",
        "/pricing",
        "/cart",
        "/login",
        "/account",
        "/checkout",
        "/about",
        "/help",
        "/search?q=shoes",
    ];
    if let Some(path) = TOP.get(rank) {
        return (*path).to_owned();
    }
    let n = rank - TOP.len();
    match n % 5 {
        0..=2 => format!("/products/{}", 100 + n),
        3 => format!("/blog/{}-notes-on-{}", 2020 + n % 6, n),
        _ => format!("/search?q=item-{}&page={}", n % (pages as usize), 1 + n % 3),
    }
}

/// The components the collector would send from `device` (stable per device).
fn components(device: DeviceSpec) -> BTreeMap<String, Value> {
    let mut rng = Rng::new(device.seed);
    let agent = &AGENTS[usize::from(device.agent)];
    let country = &COUNTRIES[usize::from(device.country)];
    let pick = |rng: &mut Rng, items: &[(u32, u32, f64)]| items[rng.index(items.len())];
    let (screen, platform, cores, memory, touch, gpu) = match agent.platform {
        Windows => (
            pick(
                &mut rng,
                &[
                    (1920, 1080, 1.0),
                    (1366, 768, 1.0),
                    (2560, 1440, 1.0),
                    (1536, 864, 1.25),
                    (1440, 900, 1.0),
                ],
            ),
            "Win32",
            [4, 8, 12, 16][rng.index(4)],
            Some(8),
            0,
            [
                (
                    "Google Inc. (NVIDIA)",
                    "ANGLE (NVIDIA, NVIDIA GeForce RTX 3060 Direct3D11 vs_5_0 ps_5_0, D3D11)",
                ),
                (
                    "Google Inc. (Intel)",
                    "ANGLE (Intel, Intel(R) UHD Graphics 620 Direct3D11 vs_5_0 ps_5_0, D3D11)",
                ),
                (
                    "Google Inc. (AMD)",
                    "ANGLE (AMD, AMD Radeon RX 6600 Direct3D11 vs_5_0 ps_5_0, D3D11)",
                ),
            ][rng.index(3)],
        ),
        Mac => (
            pick(
                &mut rng,
                &[
                    (1440, 900, 2.0),
                    (1512, 982, 2.0),
                    (1728, 1117, 2.0),
                    (2560, 1440, 1.0),
                ],
            ),
            "MacIntel",
            [8, 10, 12][rng.index(3)],
            Some(8),
            0,
            [
                (
                    "Google Inc. (Apple)",
                    "ANGLE (Apple, ANGLE Metal Renderer: Apple M1, Unspecified Version)",
                ),
                (
                    "Google Inc. (Apple)",
                    "ANGLE (Apple, ANGLE Metal Renderer: Apple M2 Pro, Unspecified Version)",
                ),
                (
                    "Google Inc. (Apple)",
                    "ANGLE (Apple, ANGLE Metal Renderer: Apple M3, Unspecified Version)",
                ),
            ][rng.index(3)],
        ),
        Linux => (
            pick(
                &mut rng,
                &[(1920, 1080, 1.0), (2560, 1440, 1.0), (1366, 768, 1.0)],
            ),
            "Linux x86_64",
            [4, 8, 16][rng.index(3)],
            Some(8),
            0,
            (
                "Google Inc. (Intel)",
                "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)",
            ),
        ),
        Android => (
            pick(
                &mut rng,
                &[
                    (412, 915, 2.625),
                    (393, 873, 2.75),
                    (360, 800, 3.0),
                    (384, 854, 2.8125),
                ],
            ),
            "Linux armv81",
            8,
            Some([4, 8][rng.index(2)]),
            5,
            [("Qualcomm", "Adreno (TM) 730"), ("ARM", "Mali-G78 MP20")][rng.index(2)],
        ),
        AndroidTablet => (
            (800, 1280, 2.0),
            "Linux armv81",
            8,
            Some(4),
            5,
            ("ARM", "Mali-G78 MP20"),
        ),
        IPhone => (
            pick(
                &mut rng,
                &[
                    (390, 844, 3.0),
                    (393, 852, 3.0),
                    (430, 932, 3.0),
                    (375, 667, 2.0),
                ],
            ),
            "iPhone",
            4,
            None,
            5,
            ("Apple Inc.", "Apple GPU"),
        ),
        IPad => (
            pick(&mut rng, &[(820, 1180, 2.0), (1024, 1366, 2.0)]),
            "MacIntel",
            4,
            None,
            5,
            ("Apple Inc.", "Apple GPU"),
        ),
        Platform::Bot => ((1280, 720, 1.0), "Linux x86_64", 2, None, 0, ("", "")),
    };
    let (width, height, ratio) = screen;
    let fonts: Vec<&str> = FONTS.iter().copied().filter(|_| rng.chance(0.55)).collect();
    let vendor = match agent.engine {
        Safari => "Apple Computer, Inc.",
        Firefox => "",
        _ => "Google Inc.",
    };
    let hash = |rng: &mut Rng| format!("{:x}", rng.next_u64() >> 11);
    let object = json!({
        "screen": [width, height, 24],
        "screenAvailable": [width, height.saturating_sub(if touch > 0 { 0 } else { 40 })],
        "pixelRatio": ratio,
        "timezone": country.timezone,
        "timezoneOffset": country.offset,
        "languages": country.languages,
        "platform": platform,
        "hardwareConcurrency": cores,
        "deviceMemory": memory,
        "touch": [touch, touch > 0],
        "storage": [true, true, true, true],
        "canvas": hash(&mut rng),
        "webgl": {
            "vendor": gpu.0,
            "renderer": gpu.1,
            "version": "WebGL 1.0",
            "params": hash(&mut rng),
            "extensions": hash(&mut rng),
        },
        "audio": format!("124.0434{}", rng.below(100_000)),
        "fonts": fonts,
        "math": hash(&mut rng),
        "colorGamut": if matches!(agent.platform, Mac | IPhone | IPad) { "p3" } else { "srgb" },
        "hdr": false,
        "reducedMotion": rng.chance(0.05),
        "forcedColors": false,
        "contrast": "no-preference",
        "pdfViewer": !matches!(agent.platform, Android | IPhone),
        "vendor": vendor,
        "webdriver": false,
    });
    match object {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[a.weighted(&[1, 2, 3, 4])] += 1;
        }
        // Each share within 10 % of its weight.
        for (n, count) in counts.iter().enumerate() {
            let expected = 4000.0 * (n as f64 + 1.0);
            assert!(
                (f64::from(*count) - expected).abs() < expected * 0.1,
                "{counts:?}"
            );
        }
        assert_eq!(a.hex(32).len(), 32);
    }

    #[test]
    fn a_plan_has_exactly_the_rows_asked_for() {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let options = SeedOptions::new(5_000).with_now(now).with_days(10);
        let plan = Plan::new(&options);
        let rows: u64 = plan.sessions.iter().map(|s| u64::from(s.pages)).sum();
        assert_eq!(rows, 5_000);
        let start = now.timestamp_micros() - 10 * 86_400_000_000;
        assert!(plan
            .sessions
            .iter()
            .all(|s| s.start >= start && s.start < now.timestamp_micros()));
        assert!(plan.sessions.windows(2).all(|w| w[0].start <= w[1].start));
        let again = Plan::new(&SeedOptions::new(5_000).with_now(now).with_days(10));
        assert_eq!(
            plan.sessions.iter().map(|s| s.seed).collect::<Vec<_>>(),
            again.sessions.iter().map(|s| s.seed).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_agent_parses_as_its_platform() {
        for agent in AGENTS {
            let device = Device::from_user_agent(agent.user_agent);
            assert!(!device.browser.is_empty(), "{}", agent.user_agent);
            let bot = device.device_type == crate::device::DeviceType::Bot;
            assert_eq!(bot, agent.engine == BotEngine, "{}", agent.user_agent);
        }
        // A device's components are stable, so its visitor id is too.
        let spec = DeviceSpec {
            agent: 0,
            seed: 42,
            country: 1,
        };
        assert_eq!(components(spec), components(spec));
        assert_ne!(
            components(spec),
            components(DeviceSpec { seed: 43, ..spec })
        );
    }
}

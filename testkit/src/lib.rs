//! Test support shared by the workspace's tests: Debian's headless Chromium driven over
//! WebDriver (chromedriver + fantoccini), each browser in a fresh profile.
//!
//! Browser tests call [`browser_available`] first: it skips them (saying `SKIPPED`) when
//! chromedriver is missing, unless `FINGERPRINT_REQUIRE_BROWSER=1` (set by `.ci/run`), which
//! makes a missing browser a failure.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs the process's TLS crypto provider (aws-lc-rs) unless one is: WebDriver clients
/// need one, and rustls cannot choose when several are built in.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Whether browser tests can run (see the crate docs).
pub fn browser_available(test: &str) -> bool {
    let driver = std::env::var("FINGERPRINT_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    if std::path::Path::new(&driver).exists() {
        return true;
    }
    if std::env::var("FINGERPRINT_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("FINGERPRINT_REQUIRE_BROWSER=1 but {driver} is missing: apt-get install chromium chromium-driver");
    }
    eprintln!("SKIPPED {test}: {driver} not found (apt-get install chromium chromium-driver)");
    false
}

/// A chromedriver process on a free loopback port; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver and waits (bounded) until it answers.
    pub async fn start() -> Self {
        let port = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap().port()
        };
        let driver =
            std::env::var("FINGERPRINT_CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }
}

impl Driver {
    /// Where the driver listens (for a WebDriver client with capabilities of its own).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser profile of its own (a fresh user-data-dir).
pub struct Browser {
    /// The WebDriver session.
    pub client: fantoccini::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens a browser with a fresh profile, a window of `window` pixels, `lang` as its
    /// language, and JavaScript on or off.
    pub async fn open(driver: &Driver, window: (u32, u32), lang: &str, javascript: bool) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-dev-shm-usage", "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={},{}", window.0, window.1),
                // Headless Chromium reports an 800x600 screen whatever the window size; give
                // the profile a display of the window's size, as a real one would have.
                format!("--screen-info={{{}x{}}}", window.0, window.1),
                format!("--lang={lang}"),
            ],
            "prefs": { "intl.accept_languages": lang },
        });
        if !javascript {
            options["prefs"]["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        install_crypto_provider();
        let client = fantoccini::ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a chromium session");
        Self {
            client,
            _profile: profile,
        }
    }

    /// The value of the cookie `name`.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let cookies = self.client.get_all_cookies().await.unwrap();
        cookies
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }

    /// Waits (bounded) until the location's path is `path`; returns how long it took.
    pub async fn wait_for_path(&self, path: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.client.current_url().await.unwrap().path() == path {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }
}

/// Saves a screenshot as `target/screenshots/<name>`, and as `docs/<name>` (what the README
/// shows) when `FINGERPRINT_UPDATE_DOCS=1`: test runs never change the repository's files.
pub fn save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut places = vec![root.join("target/screenshots")];
    if std::env::var("FINGERPRINT_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        places.push(root.join("docs"));
    }
    for dir in places {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

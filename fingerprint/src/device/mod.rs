//! Device and place of a request: browser, OS and device type from the user agent, country
//! from the country header or a GeoIP database. Derived by the recorder's background task,
//! never on the request path.

use std::sync::OnceLock;

#[cfg(feature = "geoip")]
mod geo;

#[cfg(feature = "geoip")]
pub use geo::{GeoIp, GeoIpError};

use crate::limits::{self, truncate_chars};

/// The kind of device a user agent belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DeviceType {
    /// A desktop or laptop computer.
    Desktop,
    /// A phone.
    Mobile,
    /// A tablet.
    Tablet,
    /// A crawler, a monitor, a script or an automated browser (curl, Googlebot,
    /// HeadlessChrome, ...).
    Bot,
    /// Unknown (no or an unrecognised user agent).
    #[default]
    Other,
}

impl DeviceType {
    /// The stored name: `desktop`, `mobile`, `tablet`, `bot` or `other`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Bot => "bot",
            Self::Other => "other",
        }
    }

    /// The type stored as `name` (anything unknown is [`DeviceType::Other`]).
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name {
            "desktop" => Self::Desktop,
            "mobile" => Self::Mobile,
            "tablet" => Self::Tablet,
            "bot" => Self::Bot,
            _ => Self::Other,
        }
    }
}

impl std::fmt::Display for DeviceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Browser, operating system and device type, parsed from a user agent with the uap-core
/// rules (the `ua-parser` crate; data in `fingerprint/data/uap-core`).
///
/// ```
/// use fingerprint::v1::{Device, DeviceType};
///
/// let device = Device::from_user_agent(
///     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
///      (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
/// );
/// assert_eq!(device.browser, "Mobile Safari");
/// assert_eq!(device.browser_version, "17");
/// assert_eq!(device.os, "iOS");
/// assert_eq!(device.device_type, DeviceType::Mobile);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Device {
    /// Browser family (`Chrome`, `Firefox`, `Mobile Safari`, `curl`, `Googlebot`, ...); empty
    /// when unknown.
    pub browser: String,
    /// Browser major version (`124`); empty when unknown.
    pub browser_version: String,
    /// Operating system family (`Windows`, `Mac OS X`, `Android`, `iOS`, `Linux`, ...).
    pub os: String,
    /// Operating system version, major and minor when known (`10`, `14.4`).
    pub os_version: String,
    /// Desktop, mobile, tablet, bot or other.
    pub device_type: DeviceType,
}

impl Device {
    /// Parses `user_agent` (an empty or unrecognised one gives empty names and
    /// [`DeviceType::Other`]). Takes about 10 µs; the recorder caches results per user agent.
    /// The first call loads the rules (a few hundred milliseconds).
    #[must_use]
    pub fn from_user_agent(user_agent: &str) -> Self {
        if user_agent.trim().is_empty() {
            return Self::default();
        }
        let Some(rules) = rules() else {
            return Self::default();
        };
        let unknown = |family: &str| family == "Other";
        let (browser, browser_version) = rules
            .agents
            .extract(user_agent)
            .filter(|a| !unknown(&a.family))
            .map(|a| {
                (
                    a.family.into_owned(),
                    a.major.unwrap_or_default().to_owned(),
                )
            })
            .unwrap_or_default();
        let (os, os_version) = rules
            .systems
            .extract(user_agent)
            .filter(|o| !unknown(&o.os))
            .map(|o| {
                let version = match (o.major, o.minor) {
                    (Some(major), Some(minor)) => format!("{major}.{minor}"),
                    (Some(major), None) => major.into_owned(),
                    _ => String::new(),
                };
                (o.os.into_owned(), version)
            })
            .unwrap_or_default();
        let device_type = classify(user_agent, &browser, &os);
        let cut = |value: String| truncate_chars(value, limits::HEADER);
        Self {
            browser: cut(browser),
            browser_version: cut(browser_version),
            os: cut(os),
            os_version: cut(os_version),
            device_type,
        }
    }
}

/// The uap-core rules for browsers and operating systems. (Its device-model rules are left
/// out: they would take another 15 MiB of compiled regexes, and the device type comes from
/// the browser, the OS and the user agent itself.)
struct Rules {
    agents: ua_parser::user_agent::Extractor<'static>,
    systems: ua_parser::os::Extractor<'static>,
}

#[derive(serde::Deserialize)]
struct RuleData<'a> {
    #[serde(borrow)]
    user_agent_parsers: Vec<ua_parser::user_agent::Parser<'a>>,
    #[serde(borrow)]
    os_parsers: Vec<ua_parser::os::Parser<'a>>,
}

impl Rules {
    fn load() -> Result<Self, String> {
        let data: RuleData<'static> =
            serde_json::from_str(include_str!("../../data/uap-core/regexes.json"))
                .map_err(|e| e.to_string())?;
        let agents = data
            .user_agent_parsers
            .into_iter()
            .try_fold(ua_parser::user_agent::Builder::new(), |b, p| b.push(p))
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| e.to_string())?;
        let systems = data
            .os_parsers
            .into_iter()
            .try_fold(ua_parser::os::Builder::new(), |b, p| b.push(p))
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { agents, systems })
    }
}

/// The compiled rules, loaded once per process (`None` if they failed to load, which is
/// logged; devices are then left unknown).
fn rules() -> Option<&'static Rules> {
    static RULES: OnceLock<Option<Rules>> = OnceLock::new();
    RULES
        .get_or_init(|| match Rules::load() {
            Ok(rules) => Some(rules),
            Err(error) => {
                tracing::error!(%error, "the user-agent rules failed to load");
                None
            }
        })
        .as_ref()
}

/// Automated clients that uap-core names as browsers (its `Spider` device covers crawlers).
const TOOLS: &[&str] = &[
    "curl",
    "wget",
    "python-requests",
    "python-urllib",
    "python",
    "go-http-client",
    "okhttp",
    "java",
    "apache-httpclient",
    "libwww-perl",
    "headlesschrome",
    "phantomjs",
    "axios",
    "node-fetch",
    "postmanruntime",
    "httpie",
    "wrk",
];

fn classify(user_agent: &str, browser: &str, os: &str) -> DeviceType {
    let lower_browser = browser.to_ascii_lowercase();
    let lower_ua = user_agent.to_ascii_lowercase();
    let bot_word = ["bot", "crawler", "spider", "slurp", "headless"]
        .iter()
        .any(|word| lower_browser.contains(word));
    // uap-core names crawlers after themselves ("Googlebot", "AhrefsBot"); a generic one is
    // still a bot by the words of its user agent.
    let bot_agent = browser.is_empty()
        && ["bot/", "bot;", "crawler", "spider"]
            .iter()
            .any(|word| lower_ua.contains(word));
    if bot_word
        || bot_agent
        || TOOLS.contains(&lower_browser.as_str())
        || TOOLS
            .iter()
            .any(|tool| lower_ua.starts_with(&format!("{tool}/")))
    {
        return DeviceType::Bot;
    }
    if lower_ua.contains("ipad")
        || lower_ua.contains("tablet")
        || lower_ua.contains("kindle")
        || lower_ua.contains("silk/")
        // Android tablets leave "Mobile" out of their user agent.
        || (os == "Android" && !lower_ua.contains("mobile"))
    {
        return DeviceType::Tablet;
    }
    if matches!(
        os,
        "iOS" | "Android" | "Windows Phone" | "BlackBerry OS" | "KaiOS" | "Symbian OS"
    ) || lower_ua.contains("iphone")
        || lower_ua.contains("mobi")
    {
        return DeviceType::Mobile;
    }
    if matches!(
        os,
        "Windows"
            | "Mac OS X"
            | "macOS"
            | "Linux"
            | "Ubuntu"
            | "Fedora"
            | "Debian"
            | "Chrome OS"
            | "ChromeOS"
            | "FreeBSD"
            | "OpenBSD"
            | "NetBSD"
    ) {
        return DeviceType::Desktop;
    }
    DeviceType::Other
}

/// A country code as the header sent it, when it is an ISO 3166-1 alpha-2 code (Cloudflare's
/// `XX`, unknown, and `T1`, Tor, are not countries).
pub(crate) fn country_from_header(value: &str) -> Option<String> {
    let code = value.trim();
    let valid = code.len() == 2
        && code.bytes().all(|b| b.is_ascii_alphabetic())
        && !code.eq_ignore_ascii_case("xx");
    valid.then(|| code.to_ascii_uppercase())
}

/// Loads the user-agent rules now (they load on first use otherwise): call from a blocking
/// thread.
pub(crate) fn warm_up() {
    let _ = rules();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_from_headers() {
        assert_eq!(country_from_header("de").as_deref(), Some("DE"));
        assert_eq!(country_from_header(" PL ").as_deref(), Some("PL"));
        assert_eq!(country_from_header("XX"), None);
        assert_eq!(country_from_header("T1").as_deref(), None);
        assert_eq!(country_from_header("DEU"), None);
        assert_eq!(country_from_header(""), None);
        assert_eq!(country_from_header("é"), None);
    }

    #[test]
    fn empty_and_garbage_user_agents_are_unknown() {
        assert_eq!(Device::from_user_agent(""), Device::default());
        let garbage = Device::from_user_agent("\u{0}\u{fffd}zzz");
        assert_eq!(garbage.device_type, DeviceType::Other);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text, and any mix of the fragments real user agents are made of: no panic (a
        /// client chooses its user agent), and names within the column limit.
        #[test]
        fn any_user_agent_parses(
            user_agent in "(Mozilla/5\\.0 \\(|; |\\) |Chrome/[0-9.]{0,12}|Version/|Safari/|Android |iPhone OS [0-9_]{0,8}|Windows NT |Linux|Mobile|bot|crawler|\\PC){0,40}",
        ) {
            let device = Device::from_user_agent(&user_agent);
            for name in [&device.browser, &device.browser_version, &device.os, &device.os_version] {
                proptest::prop_assert!(name.chars().count() <= limits::HEADER);
            }
        }
    }

    #[test]
    fn device_type_names_round_trip() {
        for kind in [
            DeviceType::Desktop,
            DeviceType::Mobile,
            DeviceType::Tablet,
            DeviceType::Bot,
            DeviceType::Other,
        ] {
            assert_eq!(DeviceType::from_name(kind.as_str()), kind);
        }
    }
}

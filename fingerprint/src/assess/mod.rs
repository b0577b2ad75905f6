//! Request assessment: is this a person's browser, an automated client, or a crawler that
//! says what it is — and is the client lying about what it is? Computed in the request path
//! from what the request carries (user agent, client hints, fetch metadata, header order) and
//! what its connection told (the TLS ClientHello and the HTTP/2 preface, when the server read
//! them), with named reasons. Nothing leaves the process.
//!
//! # The rules
//!
//! The rules are structural: what every current build of a browser engine does, not lists of
//! exact hashes (which change with each release). A browser is "claimed" by its user agent:
//! Chromium (`Chrome/` or `Chromium/`, Edge and Opera included; not Chrome on iOS, which is
//! WebKit), Firefox (`Firefox/`, not on iOS) or Safari (`Version/... Safari/`).
//!
//! | reason | rule | weight | source | known false positives |
//! | --- | --- | --- | --- | --- |
//! | `known_crawler_ua` | the user agent names a crawler (`bot`, `crawler`, `spider`, `slurp`, ...): the verdict is `declared_bot` | — | uap-core's spider family patterns | a browser extension or app whose user agent contains `bot` |
//! | `tool_ua` | the user agent is an HTTP library or tool (`curl/`, `Wget/`, `python-requests/`, `Go-http-client/`, ...) | strong | their default user agents | none known |
//! | `headless_ua` | `HeadlessChrome/` | strong | Chromium's headless mode | none |
//! | `no_user_agent` | no `User-Agent` | strong | every browser sends one | privacy proxies that strip it |
//! | `ua_claims_chrome_tls_not_chromium` | a Chromium claim, and the ClientHello has no GREASE values or no ALPS extension (`0x4469`/`0x44cd`) | strong | Chromium's BoringSSL: GREASE since 2016, ALPS since version 91 | corporate TLS interception (the hello is the proxy's); Chromium older than 91 |
//! | `ua_claims_firefox_tls_not_firefox` | a Firefox claim, and the ClientHello has GREASE values or no record_size_limit extension (`0x001c`) | strong | NSS: no GREASE; record_size_limit since Firefox 65 | TLS interception |
//! | `ua_claims_safari_tls_not_safari` | a Safari claim, and the ClientHello has no GREASE values, or has ALPS or record_size_limit | strong | Apple's TLS stack: GREASE, neither extension | TLS interception |
//! | `ua_claims_chrome_http2_not_chromium` | a Chromium claim on HTTP/2 whose pseudo-headers are not in the order `:method, :authority, :scheme, :path` | strong | Chromium's HTTP/2 stack (the order is fixed) | an HTTP/2-terminating proxy in front of the app |
//! | `ua_claims_firefox_http2_not_firefox` | a Firefox claim on HTTP/2 whose order is not `:method, :path, :authority, :scheme` | strong | Firefox's HTTP/2 stack | the same |
//! | `ua_claims_browser_no_client_hints` | a Chromium claim (89 or newer) over https without `Sec-CH-UA` | weak | Chromium sends the low-entropy client hints on every secure request since 89 | Chromium forks with hints off (some privacy browsers) |
//! | `ua_claims_browser_no_fetch_metadata` | a Chromium (80+), Firefox (90+) or Safari (16.4+) claim over https without `Sec-Fetch-Mode` | weak | fetch metadata, sent to secure origins | requests made by extensions; old builds behind a spoofed version |
//! | `header_order_not_browser` | a browser claim whose header names are out of that engine's order (`user-agent`, then `accept`, then `accept-encoding`; Chromium: `accept-encoding` before `accept-language`; Firefox: the other way round) | weak | the engines' request builders, navigations and subresources alike (Chromium moves its client hints around `user-agent` for subresources, so they are not part of the rule) | a proxy that reorders headers |
//! | `no_accept_language` | a browser claim without `Accept-Language` | weak | every browser sends it on navigations and subresources | some privacy configurations |
//!
//! **Verdict**: `declared_bot` for a named crawler; `automated` with a strong reason, or two
//! weak ones; `human` for a consistent browser claim (the browser checks ran and found
//! nothing, or one weak reason); `unknown` otherwise (a user agent that claims no browser
//! this module knows). The **score** (0-100) is how sure the verdict of automation is: each
//! strong reason adds 60, each weak one 25, capped at 100.
//!
//! "Human" only means "a browser that behaves like one": a browser driven by automation
//! (WebDriver with its flags hidden) passes these checks; the session assessment, which sees
//! what the collector reports, is where that is caught.
//!
//! # The session assessment
//!
//! When a page's collector posts, the library assesses the session: the rules above on the
//! POST itself (its evidence is the rule's description), then these on what the collector
//! reported. The result ([`SessionAssessment`]: verdict, score and [`Finding`]s, each a reason
//! with what was seen) is stored on the session. A session once `automated` or
//! `declared_bot` stays so when a later collector run finds nothing.
//!
//! | reason | rule | weight | source | known false positives |
//! | --- | --- | --- | --- | --- |
//! | `webdriver` | `navigator.webdriver` is true | strong | the WebDriver specification requires it of a browser under remote control | none |
//! | `automation_globals` | the window or document holds a driver's globals (`cdc_…`, `$cdc_…`, `__webdriver…`, `__selenium…`, `__playwright…`, `callPhantom`, …); the evidence names them | strong | ChromeDriver's injected helpers (`cdc_adoQpoasnfa76pfcZLmcfl_…`, seen here with its webdriver flag hidden), Selenium, PhantomJS, Playwright | a page script of the site's own with such a name |
//! | `no_pointing_device` | `(any-pointer: none)` with a desktop user agent | strong | headless Chromium and Firefox report no pointer at all (seen here); a desktop with a window has one | a desktop with neither mouse nor touch (keyboard-only kiosks, some remote sessions) |
//! | `webdriver_tampered` | the `navigator.webdriver` getter is not native code, or `navigator` has own properties | strong | how stealth plugins hide automation (they redefine the property) | none known |
//! | `api_tampered` | another API the collector reads (user agent, platform, languages, screen, canvas, WebGL, time zone, `Function.prototype.toString`) is not native code | weak | anti-detect tools and some privacy extensions wrap these functions | privacy extensions that replace canvas or WebGL functions with script |
//! | `ua_claims_chrome_engine_not_chromium`, `ua_claims_firefox_engine_not_gecko`, `ua_claims_safari_engine_not_webkit` | the page's engine (`window.chrome`: Blink; `mozInnerScreenX`: Gecko; `GestureEvent` or `window.safari`: WebKit) is not the claimed one | strong | engine-only globals | Android WebViews (`; wv)`) claim Chrome without `window.chrome`: not checked |
//! | `user_agent_not_navigator` | the `User-Agent` header differs from `navigator.userAgent` | weak | both come from the same setting in a browser | extensions that change only one of them |
//! | `timezone_not_country` | the browser's time zone is not used in the request's country (the configured country header); tzdata's `zone.tab` and `zone1970.tab` | weak | a person's clock follows where they are | travellers, VPN users, a country header from a CDN edge in another country |
//! | `languages_not_accept_language` | the primary language of `navigator.languages[0]` is not that of `Accept-Language` | weak | both come from the same setting | extensions that change one of them |
//! | `ua_claims_mobile_no_touch` | a mobile user agent and `navigator.maxTouchPoints` 0 | weak | every phone and tablet has touch | desktop browsers in device emulation without touch emulation |
//! | `ua_claims_phone_desktop_screen` | a phone's user agent (`Mobile`, `iPhone`; not tablets) and a screen whose shorter side is over 600 CSS pixels | weak | phones are under 500 CSS pixels wide | "request desktop site" keeps a phone's screen, so none known |
//! | `no_collector` | derived when sessions are read (not stored): three or more request fingerprints and no browser fingerprint | weak | a browser runs the collector on the pages that include it | pages without the collector, JavaScript off, privacy signals honoured (the collector does not run), no consent |
//!
//! The verdict and score follow the request rules (a strong reason, or two weak ones, make
//! `automated`).
//!
//! # Behaviour
//!
//! The layer also counts, per process and per minute, the requests and distinct URLs
//! of each session and the distinct sessions of each client address ([`BehaviourLimits`]:
//! 120, 60 and 30 by default). A limit crossed adds a weak reason to that request's
//! assessment (`session_request_rate`, `session_url_spread`, `address_session_rate`), so a
//! handler can slow the client down, and a finding to its session, once per minute. Known
//! false positives: single-page apps whose API calls go through the layer (put it on pages),
//! and many people behind one address (offices, carrier-grade NAT) for the address rule.
//! Several app instances each count their own share.
//!
//! # Declared crawlers, verified
//!
//! With a resolver ([`FingerprintBuilder::with_crawler_resolver`](crate::v1::FingerprintBuilder::with_crawler_resolver);
//! none by default, so nothing resolves), a request from a crawler that publishes how to
//! verify it (Googlebot and Google's other crawlers, Bingbot, Applebot, YandexBot,
//! Baiduspider, PetalBot, SeznamBot) has its address checked as those crawlers document: the
//! reverse name must be in the crawler's domain and resolve back to the address
//! ([`verify_crawler`]). `crawler_verified` keeps the verdict `declared_bot`;
//! `crawler_not_verified` (strong; the evidence names what the address is) makes it
//! `automated`: someone borrowing a crawler's name. The layer never waits for DNS: the first
//! request of an address starts the lookup, and the address's later requests (cached an
//! hour) carry the result, in `CurrentVisit::assessment` and on their session.

use http::{HeaderMap, Version};
use serde::{Deserialize, Serialize};

use crate::net::{is_grease, ClientHello, ConnectionInfo, PseudoHeader};

mod behaviour;
mod crawler;
mod session;

pub(crate) use behaviour::Behaviour;
pub use behaviour::BehaviourLimits;
pub(crate) use crawler::CrawlerVerifier;
pub use crawler::{verify_crawler, CrawlerCheck, CrawlerResolver, ResolveError};
#[cfg(feature = "axum")]
pub(crate) use session::assess_session;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "dashboard"))]
pub(crate) use session::with_no_collector;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use session::NO_COLLECTOR_PAGES;
pub use session::{Finding, SessionAssessment};

/// What a request is, as far as its own signals tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// A browser whose signals agree with what it claims to be.
    Human,
    /// A tool, a headless browser, or a client lying about what it is.
    Automated,
    /// A crawler that says what it is in its user agent.
    DeclaredBot,
    /// Not enough to say (a user agent no rule knows).
    Unknown,
}

impl Verdict {
    /// `human`, `automated`, `declared_bot` or `unknown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Automated => "automated",
            Self::DeclaredBot => "declared_bot",
            Self::Unknown => "unknown",
        }
    }

    /// The verdict of a code ([`as_str`](Self::as_str)); `None` for an unknown one.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Human,
            Self::Automated,
            Self::DeclaredBot,
            Self::Unknown,
        ]
        .into_iter()
        .find(|verdict| verdict.as_str() == code)
    }

    /// Whether the verdict is a client that is not a person (`automated` or `declared_bot`).
    #[must_use]
    pub fn is_automated(self) -> bool {
        matches!(self, Self::Automated | Self::DeclaredBot)
    }
}

/// Why a request or a session was assessed as it was (see the module docs for each rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The user agent names a crawler.
    KnownCrawlerUa,
    /// The user agent is an HTTP library or tool.
    ToolUa,
    /// The user agent says headless Chrome.
    HeadlessUa,
    /// No user agent.
    NoUserAgent,
    /// Claims Chromium; its TLS ClientHello is not BoringSSL's.
    UaClaimsChromeTlsNotChromium,
    /// Claims Firefox; its TLS ClientHello is not NSS's.
    UaClaimsFirefoxTlsNotFirefox,
    /// Claims Safari; its TLS ClientHello is not Apple's.
    UaClaimsSafariTlsNotSafari,
    /// Claims Chromium; its HTTP/2 pseudo-header order is not Chromium's.
    UaClaimsChromeHttp2NotChromium,
    /// Claims Firefox; its HTTP/2 pseudo-header order is not Firefox's.
    UaClaimsFirefoxHttp2NotFirefox,
    /// Claims a browser that sends client hints, sent none.
    UaClaimsBrowserNoClientHints,
    /// Claims a browser that sends fetch metadata, sent none.
    UaClaimsBrowserNoFetchMetadata,
    /// The header names are out of the claimed engine's order.
    HeaderOrderNotBrowser,
    /// Claims a browser, sent no `Accept-Language`.
    NoAcceptLanguage,
    /// Session: the collector saw `navigator.webdriver` set.
    Webdriver,
    /// Session: the page's window holds a browser-automation driver's globals.
    AutomationGlobals,
    /// Session: no pointing device at all, with a desktop user agent (headless browsers).
    NoPointingDevice,
    /// Session: the `navigator.webdriver` getter was replaced, or `navigator` has own
    /// properties (how automation hides itself).
    WebdriverTampered,
    /// Session: an API the collector reads is not the browser's own function.
    ApiTampered,
    /// Session: claims Chromium; the page's engine is not Blink.
    UaClaimsChromeEngineNotChromium,
    /// Session: claims Firefox; the page's engine is not Gecko.
    UaClaimsFirefoxEngineNotGecko,
    /// Session: claims Safari; the page's engine is not WebKit.
    UaClaimsSafariEngineNotWebkit,
    /// Session: the `User-Agent` header differs from `navigator.userAgent`.
    UserAgentNotNavigator,
    /// Session: the browser's time zone is not used in the request's country.
    TimezoneNotCountry,
    /// Session: the browser's first language is not the first of `Accept-Language`.
    LanguagesNotAcceptLanguage,
    /// Session: a mobile user agent on a device without touch.
    UaClaimsMobileNoTouch,
    /// Session: a crawler's address, verified by reverse and forward DNS.
    CrawlerVerified,
    /// Session: claims a crawler whose address is not that crawler's.
    CrawlerNotVerified,
    /// Behaviour: more requests in a minute than a person makes.
    SessionRequestRate,
    /// Behaviour: more distinct URLs in a minute than a person reads.
    SessionUrlSpread,
    /// Behaviour: more sessions from one address in a minute than people behind one address
    /// open.
    AddressSessionRate,
    /// Session: a phone's user agent on a screen no phone has.
    UaClaimsPhoneDesktopScreen,
    /// Session (derived when read): several pages, and the collector never ran.
    NoCollector,
}

impl Reason {
    /// The reason's code, e.g. `ua_claims_chrome_tls_not_chromium`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KnownCrawlerUa => "known_crawler_ua",
            Self::ToolUa => "tool_ua",
            Self::HeadlessUa => "headless_ua",
            Self::NoUserAgent => "no_user_agent",
            Self::UaClaimsChromeTlsNotChromium => "ua_claims_chrome_tls_not_chromium",
            Self::UaClaimsFirefoxTlsNotFirefox => "ua_claims_firefox_tls_not_firefox",
            Self::UaClaimsSafariTlsNotSafari => "ua_claims_safari_tls_not_safari",
            Self::UaClaimsChromeHttp2NotChromium => "ua_claims_chrome_http2_not_chromium",
            Self::UaClaimsFirefoxHttp2NotFirefox => "ua_claims_firefox_http2_not_firefox",
            Self::UaClaimsBrowserNoClientHints => "ua_claims_browser_no_client_hints",
            Self::UaClaimsBrowserNoFetchMetadata => "ua_claims_browser_no_fetch_metadata",
            Self::HeaderOrderNotBrowser => "header_order_not_browser",
            Self::NoAcceptLanguage => "no_accept_language",
            Self::Webdriver => "webdriver",
            Self::AutomationGlobals => "automation_globals",
            Self::NoPointingDevice => "no_pointing_device",
            Self::WebdriverTampered => "webdriver_tampered",
            Self::ApiTampered => "api_tampered",
            Self::UaClaimsChromeEngineNotChromium => "ua_claims_chrome_engine_not_chromium",
            Self::UaClaimsFirefoxEngineNotGecko => "ua_claims_firefox_engine_not_gecko",
            Self::UaClaimsSafariEngineNotWebkit => "ua_claims_safari_engine_not_webkit",
            Self::UserAgentNotNavigator => "user_agent_not_navigator",
            Self::TimezoneNotCountry => "timezone_not_country",
            Self::LanguagesNotAcceptLanguage => "languages_not_accept_language",
            Self::UaClaimsMobileNoTouch => "ua_claims_mobile_no_touch",
            Self::CrawlerVerified => "crawler_verified",
            Self::CrawlerNotVerified => "crawler_not_verified",
            Self::SessionRequestRate => "session_request_rate",
            Self::SessionUrlSpread => "session_url_spread",
            Self::AddressSessionRate => "address_session_rate",
            Self::UaClaimsPhoneDesktopScreen => "ua_claims_phone_desktop_screen",
            Self::NoCollector => "no_collector",
        }
    }

    /// Every reason, request-level ones first.
    pub const ALL: [Reason; 32] = [
        Self::KnownCrawlerUa,
        Self::ToolUa,
        Self::HeadlessUa,
        Self::NoUserAgent,
        Self::UaClaimsChromeTlsNotChromium,
        Self::UaClaimsFirefoxTlsNotFirefox,
        Self::UaClaimsSafariTlsNotSafari,
        Self::UaClaimsChromeHttp2NotChromium,
        Self::UaClaimsFirefoxHttp2NotFirefox,
        Self::UaClaimsBrowserNoClientHints,
        Self::UaClaimsBrowserNoFetchMetadata,
        Self::HeaderOrderNotBrowser,
        Self::NoAcceptLanguage,
        Self::Webdriver,
        Self::AutomationGlobals,
        Self::NoPointingDevice,
        Self::WebdriverTampered,
        Self::ApiTampered,
        Self::UaClaimsChromeEngineNotChromium,
        Self::UaClaimsFirefoxEngineNotGecko,
        Self::UaClaimsSafariEngineNotWebkit,
        Self::UserAgentNotNavigator,
        Self::TimezoneNotCountry,
        Self::LanguagesNotAcceptLanguage,
        Self::UaClaimsMobileNoTouch,
        Self::CrawlerVerified,
        Self::CrawlerNotVerified,
        Self::SessionRequestRate,
        Self::SessionUrlSpread,
        Self::AddressSessionRate,
        Self::UaClaimsPhoneDesktopScreen,
        Self::NoCollector,
    ];

    /// The reason of a code ([`as_str`](Self::as_str)); `None` for an unknown one.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == code)
    }

    /// What the rule saw, in a few words (the evidence of a request-level reason).
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::KnownCrawlerUa => "the user agent names a crawler",
            Self::ToolUa => "the user agent is an HTTP library or tool",
            Self::HeadlessUa => "the user agent says HeadlessChrome",
            Self::NoUserAgent => "no User-Agent header",
            Self::UaClaimsChromeTlsNotChromium => "the TLS ClientHello lacks GREASE or ALPS",
            Self::UaClaimsFirefoxTlsNotFirefox => {
                "the TLS ClientHello has GREASE or lacks record_size_limit"
            }
            Self::UaClaimsSafariTlsNotSafari => {
                "the TLS ClientHello lacks GREASE or has ALPS or record_size_limit"
            }
            Self::UaClaimsChromeHttp2NotChromium => {
                "HTTP/2 pseudo-headers not in the order :method :authority :scheme :path"
            }
            Self::UaClaimsFirefoxHttp2NotFirefox => {
                "HTTP/2 pseudo-headers not in the order :method :path :authority :scheme"
            }
            Self::UaClaimsBrowserNoClientHints => "no Sec-CH-UA header over https",
            Self::UaClaimsBrowserNoFetchMetadata => "no Sec-Fetch-Mode header over https",
            Self::HeaderOrderNotBrowser => "header names out of the engine's order",
            Self::NoAcceptLanguage => "no Accept-Language header",
            Self::Webdriver => "navigator.webdriver is true",
            Self::AutomationGlobals => "the window holds automation driver globals",
            Self::NoPointingDevice => "(any-pointer: none) with a desktop user agent",
            Self::WebdriverTampered => "navigator.webdriver or navigator was redefined",
            Self::ApiTampered => "an API the collector reads is not native code",
            Self::UaClaimsChromeEngineNotChromium => "the page's engine is not Blink",
            Self::UaClaimsFirefoxEngineNotGecko => "the page's engine is not Gecko",
            Self::UaClaimsSafariEngineNotWebkit => "the page's engine is not WebKit",
            Self::UserAgentNotNavigator => "User-Agent differs from navigator.userAgent",
            Self::TimezoneNotCountry => "the time zone is not used in the request's country",
            Self::LanguagesNotAcceptLanguage => "navigator.languages and Accept-Language disagree",
            Self::UaClaimsMobileNoTouch => "a mobile user agent without touch",
            Self::CrawlerVerified => "the crawler's address resolves to its domain and back",
            Self::CrawlerNotVerified => "the crawler's address is not the crawler's",
            Self::SessionRequestRate => "too many requests of the session in a minute",
            Self::SessionUrlSpread => "too many distinct URLs of the session in a minute",
            Self::AddressSessionRate => "too many sessions of the address in a minute",
            Self::UaClaimsPhoneDesktopScreen => "a phone's user agent on a desktop's screen",
            Self::NoCollector => "several pages, and the collector never ran",
        }
    }

    /// Whether the reason is a crawler saying (or proving) what it is: no evidence of
    /// automation hidden, so it does not count towards `automated`.
    pub(crate) fn is_declaration(self) -> bool {
        matches!(self, Self::KnownCrawlerUa | Self::CrawlerVerified)
    }

    /// Whether the reason alone makes a request `automated`.
    #[must_use]
    pub fn is_strong(self) -> bool {
        !matches!(
            self,
            Self::UaClaimsBrowserNoClientHints
                | Self::UaClaimsBrowserNoFetchMetadata
                | Self::HeaderOrderNotBrowser
                | Self::NoAcceptLanguage
                | Self::KnownCrawlerUa
                | Self::ApiTampered
                | Self::UserAgentNotNavigator
                | Self::TimezoneNotCountry
                | Self::LanguagesNotAcceptLanguage
                | Self::UaClaimsMobileNoTouch
                | Self::CrawlerVerified
                | Self::SessionRequestRate
                | Self::SessionUrlSpread
                | Self::AddressSessionRate
                | Self::UaClaimsPhoneDesktopScreen
                | Self::NoCollector
        )
    }
}

/// The assessment of one request: a verdict, how sure (0-100) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Assessment {
    /// What the request is.
    pub verdict: Verdict,
    /// How sure the verdict of automation is, 0-100 (see the module docs).
    pub score: u8,
    /// The reasons, in a fixed order.
    pub reasons: Vec<Reason>,
}

impl Assessment {
    /// Adds `more` reasons (behaviour, a crawler's verification) and decides again: a
    /// declared bot stays one unless the reasons make it automated.
    pub(crate) fn add_reasons(&mut self, more: impl IntoIterator<Item = Reason>) {
        let before = self.reasons.len();
        self.reasons.extend(more);
        if self.reasons.len() == before {
            return;
        }
        self.reasons.sort_unstable();
        self.reasons.dedup();
        let decided = verdict(self.reasons.clone(), self.verdict == Verdict::Human);
        self.score = decided.score;
        if decided.verdict == Verdict::Automated || self.verdict != Verdict::DeclaredBot {
            self.verdict = decided.verdict;
        }
    }

    /// The reason codes joined by `,` (empty without reasons), as stored.
    #[must_use]
    pub fn reason_codes(&self) -> String {
        let codes: Vec<&str> = self.reasons.iter().map(|r| r.as_str()).collect();
        codes.join(",")
    }
}

/// The browser engine a user agent claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Chromium(u32),
    Firefox(u32),
    Safari(u32, u32),
}

const CRAWLERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "crawl",
    "facebookexternalhit",
    "mediapartners",
    "feedfetcher",
    "bingpreview",
    "archiver",
    "yandex",
    "baiduspider",
];

const TOOLS: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "aiohttp/",
    "go-http-client/",
    "okhttp/",
    "java/",
    "apache-httpclient/",
    "libwww-perl/",
    "axios/",
    "node-fetch",
    "undici",
    "reqwest/",
    "postmanruntime/",
    "httpie/",
    "scrapy/",
    "powershell/",
];

/// Assesses a request from its headers, HTTP version, whether it came over https, and what
/// its connection told.
#[must_use]
pub fn assess_request(
    headers: &HeaderMap,
    version: Version,
    secure: bool,
    connection: Option<&ConnectionInfo>,
) -> Assessment {
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase());
    let mut reasons = Vec::new();
    let Some(user_agent) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        return verdict(vec![Reason::NoUserAgent], false);
    };
    if CRAWLERS.iter().any(|name| user_agent.contains(name)) {
        return Assessment {
            verdict: Verdict::DeclaredBot,
            score: 100,
            reasons: vec![Reason::KnownCrawlerUa],
        };
    }
    if TOOLS.iter().any(|tool| user_agent.starts_with(tool)) {
        return verdict(vec![Reason::ToolUa], false);
    }
    if user_agent.contains("headlesschrome/") {
        reasons.push(Reason::HeadlessUa);
    }
    let Some(claim) = claim(&user_agent) else {
        return verdict(reasons, false);
    };
    if let Some(hello) = connection.and_then(ConnectionInfo::client_hello) {
        if let Some(reason) = tls_lie(claim, hello) {
            reasons.push(reason);
        }
    }
    if version == Version::HTTP_2 {
        let order = connection.and_then(ConnectionInfo::http2);
        if let Some(reason) = order.and_then(|h2| http2_lie(claim, &h2.pseudo_headers)) {
            reasons.push(reason);
        }
    }
    if secure {
        if matches!(claim, Claim::Chromium(major) if major >= 89)
            && !headers.contains_key("sec-ch-ua")
        {
            reasons.push(Reason::UaClaimsBrowserNoClientHints);
        }
        let sends_fetch_metadata = match claim {
            Claim::Chromium(major) => major >= 80,
            Claim::Firefox(major) => major >= 90,
            Claim::Safari(major, minor) => (major, minor) >= (16, 4),
        };
        if sends_fetch_metadata && !headers.contains_key("sec-fetch-mode") {
            reasons.push(Reason::UaClaimsBrowserNoFetchMetadata);
        }
    }
    if !headers.contains_key(http::header::ACCEPT_LANGUAGE) {
        reasons.push(Reason::NoAcceptLanguage);
    }
    if !in_engine_order(claim, headers) {
        reasons.push(Reason::HeaderOrderNotBrowser);
    }
    reasons.sort_unstable();
    verdict(reasons, true)
}

/// The verdict of `reasons`; `browser`: a browser claim whose checks ran.
pub(crate) fn verdict(reasons: Vec<Reason>, browser: bool) -> Assessment {
    let strong = reasons.iter().filter(|r| r.is_strong()).count();
    let weak = reasons
        .iter()
        .filter(|r| !r.is_strong() && !r.is_declaration())
        .count();
    let score = score(reasons.iter().copied());
    let verdict = if strong > 0 || weak >= 2 {
        Verdict::Automated
    } else if browser {
        Verdict::Human
    } else {
        Verdict::Unknown
    };
    Assessment {
        verdict,
        score,
        reasons,
    }
}

/// How sure a verdict of automation on `reasons` is: 60 per strong reason, 25 per weak one,
/// at most 100.
pub(crate) fn score(reasons: impl Iterator<Item = Reason>) -> u8 {
    let points: usize = reasons
        .filter(|r| !r.is_declaration())
        .map(|r| if r.is_strong() { 60 } else { 25 })
        .sum();
    points.min(100) as u8
}

/// The engine a (lowercased) user agent claims, with its version.
pub(crate) fn claim(ua: &str) -> Option<Claim> {
    let major = |marker: &str| -> Option<u32> {
        let rest = &ua[ua.find(marker)? + marker.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    if ua.contains("crios/") || ua.contains("fxios/") {
        // Chrome and Firefox on iOS are WebKit: Safari's stack.
        return Some(Claim::Safari(major("os ").unwrap_or(0), 0));
    }
    if let Some(version) = major("chrome/").or_else(|| major("chromium/")) {
        return Some(Claim::Chromium(version));
    }
    if let Some(version) = major("firefox/") {
        return Some(Claim::Firefox(version));
    }
    if ua.contains("safari/") {
        let version = &ua[ua.find("version/")? + "version/".len()..];
        let mut parts = version.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
        return Some(Claim::Safari(major, minor));
    }
    None
}

/// The TLS reason when the ClientHello is not the claimed engine's.
fn tls_lie(claim: Claim, hello: &ClientHello) -> Option<Reason> {
    let grease = hello.cipher_suites.iter().any(|&c| is_grease(c))
        || hello.extensions.iter().any(|&e| is_grease(e));
    let has = |id: u16| hello.extensions.contains(&id);
    let alps = has(0x4469) || has(0x44cd);
    let record_size_limit = has(0x001c);
    match claim {
        Claim::Chromium(_) if !(grease && alps) => Some(Reason::UaClaimsChromeTlsNotChromium),
        Claim::Firefox(_) if grease || !record_size_limit => {
            Some(Reason::UaClaimsFirefoxTlsNotFirefox)
        }
        Claim::Safari(..) if !grease || alps || record_size_limit => {
            Some(Reason::UaClaimsSafariTlsNotSafari)
        }
        _ => None,
    }
}

/// The HTTP/2 reason when the pseudo-header order is not the claimed engine's.
fn http2_lie(claim: Claim, order: &[PseudoHeader]) -> Option<Reason> {
    use PseudoHeader::{Authority as A, Method as M, Path as P, Scheme as S};
    match claim {
        Claim::Chromium(_) if order != [M, A, S, P] => Some(Reason::UaClaimsChromeHttp2NotChromium),
        Claim::Firefox(_) if order != [M, P, A, S] => Some(Reason::UaClaimsFirefoxHttp2NotFirefox),
        _ => None,
    }
}

/// Whether the header names present follow the claimed engine's order.
fn in_engine_order(claim: Claim, headers: &HeaderMap) -> bool {
    let position = |name: &str| headers.keys().position(|key| key.as_str() == name);
    let before = |a: &str, b: &str| match (position(a), position(b)) {
        (Some(a), Some(b)) => a < b,
        _ => true,
    };
    let common = before("user-agent", "accept") && before("accept", "accept-encoding");
    match claim {
        Claim::Chromium(_) => common && before("accept-encoding", "accept-language"),
        Claim::Firefox(_) => common && before("accept-language", "accept-encoding"),
        Claim::Safari(..) => common,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like \
                          Gecko) Chrome/124.0.0.0 Safari/537.36";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any header lines a client sends (the names the rules read, in any order, with any
        /// bytes a header value may hold), over any version and scheme: an assessment, never
        /// a panic, with a score of at most 100.
        #[test]
        fn any_headers_are_assessed(
            lines in proptest::collection::vec(
                (0usize..12, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
                0..24,
            ),
            version in 0usize..4,
            secure in proptest::prelude::any::<bool>(),
        ) {
            const NAMES: [&str; 12] = [
                "user-agent", "accept", "accept-language", "accept-encoding", "sec-ch-ua",
                "sec-ch-ua-mobile", "sec-ch-ua-platform", "sec-fetch-site", "sec-fetch-mode",
                "sec-fetch-dest", "upgrade-insecure-requests", "connection",
            ];
            let mut map = HeaderMap::new();
            for (name, value) in &lines {
                map.append(NAMES[*name], crate::capture::header_value_of_any(value));
            }
            let version = [Version::HTTP_10, Version::HTTP_11, Version::HTTP_2, Version::HTTP_3][version];
            let assessment = assess_request(&map, version, secure, None);
            proptest::prop_assert!(assessment.score <= 100);
        }
    }

    /// Chromium's navigation headers, in its order.
    fn chrome_navigation() -> HeaderMap {
        headers(&[
            ("host", "example.com"),
            ("sec-ch-ua", "\"Chromium\";v=\"124\""),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", "\"Linux\""),
            ("upgrade-insecure-requests", "1"),
            ("user-agent", CHROME),
            ("accept", "text/html"),
            ("sec-fetch-site", "none"),
            ("sec-fetch-mode", "navigate"),
            ("sec-fetch-dest", "document"),
            ("accept-encoding", "gzip, deflate, br"),
            ("accept-language", "en-US,en;q=0.9"),
        ])
    }

    fn codes(assessment: &Assessment) -> Vec<&'static str> {
        assessment.reasons.iter().map(|r| r.as_str()).collect()
    }

    #[test]
    fn a_consistent_chromium_navigation_is_human() {
        let a = assess_request(&chrome_navigation(), Version::HTTP_11, true, None);
        assert_eq!((a.verdict, a.score), (Verdict::Human, 0), "{:?}", codes(&a));
    }

    #[test]
    fn tools_crawlers_and_headless_browsers() {
        let tool = assess_request(
            &headers(&[("user-agent", "curl/8.5.0")]),
            Version::HTTP_11,
            true,
            None,
        );
        assert_eq!(
            (tool.verdict, codes(&tool)),
            (Verdict::Automated, vec!["tool_ua"])
        );
        let bot = headers(&[("user-agent", "Mozilla/5.0 (compatible; Googlebot/2.1)")]);
        let bot = assess_request(&bot, Version::HTTP_11, true, None);
        assert_eq!(
            (bot.verdict, codes(&bot)),
            (Verdict::DeclaredBot, vec!["known_crawler_ua"])
        );
        let none = assess_request(&HeaderMap::new(), Version::HTTP_11, true, None);
        assert_eq!(
            (none.verdict, codes(&none)),
            (Verdict::Automated, vec!["no_user_agent"])
        );
        let mut headless = chrome_navigation();
        headless.insert(
            "user-agent",
            CHROME
                .replace("Chrome/", "HeadlessChrome/")
                .parse()
                .unwrap(),
        );
        let headless = assess_request(&headless, Version::HTTP_11, true, None);
        assert_eq!(headless.verdict, Verdict::Automated);
        assert!(codes(&headless).contains(&"headless_ua"));
        let unknown = assess_request(
            &headers(&[("user-agent", "MyApp/1.0")]),
            Version::HTTP_11,
            true,
            None,
        );
        assert_eq!((unknown.verdict, unknown.score), (Verdict::Unknown, 0));
    }

    #[test]
    fn a_chrome_user_agent_without_chromes_headers_is_automated() {
        // A script sending Chrome's user agent and little else.
        let liar = headers(&[("user-agent", CHROME), ("accept", "*/*")]);
        let a = assess_request(&liar, Version::HTTP_11, true, None);
        assert_eq!(a.verdict, Verdict::Automated);
        assert_eq!(
            codes(&a),
            [
                "ua_claims_browser_no_client_hints",
                "ua_claims_browser_no_fetch_metadata",
                "no_accept_language"
            ]
        );
        // Over plain http, client hints and fetch metadata are not expected.
        let a = assess_request(&liar, Version::HTTP_11, false, None);
        assert_eq!(
            (a.verdict, codes(&a)),
            (Verdict::Human, vec!["no_accept_language"])
        );
    }

    #[test]
    fn header_order_follows_the_engine() {
        let mut reordered = HeaderMap::new();
        let navigation = chrome_navigation();
        // Python's requests puts its defaults first: user-agent, accept-encoding, accept.
        for name in ["user-agent", "accept-encoding", "accept"] {
            reordered.insert(name, navigation[name].clone());
        }
        for (name, value) in &navigation {
            if !reordered.contains_key(name) {
                reordered.insert(name, value.clone());
            }
        }
        let a = assess_request(&reordered, Version::HTTP_11, true, None);
        assert!(
            codes(&a).contains(&"header_order_not_browser"),
            "{:?}",
            codes(&a)
        );
        // Firefox: accept-language before accept-encoding.
        let firefox = headers(&[
            ("host", "x"),
            ("user-agent", FIREFOX),
            ("accept", "text/html"),
            ("accept-language", "en-US"),
            ("accept-encoding", "gzip"),
            ("sec-fetch-mode", "navigate"),
        ]);
        let a = assess_request(&firefox, Version::HTTP_11, true, None);
        assert_eq!((a.verdict, a.score), (Verdict::Human, 0), "{:?}", codes(&a));
    }

    fn hello(ciphers: &[u16], extensions: &[u16]) -> ClientHello {
        let mut records = Vec::new();
        let mut body = vec![0x03, 0x03];
        body.extend([0; 32]);
        body.push(0);
        body.extend(((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend(c.to_be_bytes());
        }
        body.extend([1, 0]);
        let mut ext = Vec::new();
        for e in extensions {
            ext.extend(e.to_be_bytes());
            ext.extend([0, 0]);
        }
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut handshake = vec![1, 0];
        handshake.extend((body.len() as u16).to_be_bytes());
        handshake.extend(body);
        records.extend([0x16, 3, 1]);
        records.extend((handshake.len() as u16).to_be_bytes());
        records.extend(handshake);
        crate::net::parse_client_hello(&records, crate::net::MAX_CLIENT_HELLO)
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn the_tls_client_must_be_the_claimed_engines() {
        let connection =
            |hello| ConnectionInfo::new("127.0.0.1:1".parse().unwrap()).with_client_hello(hello);
        let chromium = connection(hello(&[0x3a3a, 0x1301], &[0x0a0a, 0x0017, 0x44cd, 0x0023]));
        let openssl = connection(hello(&[0x1302, 0x1303, 0x1301], &[0x000b, 0x0017, 0x0023]));
        let nss = connection(hello(&[0x1301, 0x1303], &[0x0017, 0x001c, 0x0023]));
        let navigation = chrome_navigation();
        let a = assess_request(&navigation, Version::HTTP_11, true, Some(&chromium));
        assert_eq!(a.verdict, Verdict::Human, "{:?}", codes(&a));
        // curl (OpenSSL) with Chrome's user agent and header set.
        let a = assess_request(&navigation, Version::HTTP_11, true, Some(&openssl));
        assert_eq!(
            (a.verdict, codes(&a)),
            (
                Verdict::Automated,
                vec!["ua_claims_chrome_tls_not_chromium"]
            )
        );
        // A Chromium TLS stack claiming Firefox.
        let mut firefox = navigation.clone();
        firefox.insert("user-agent", FIREFOX.parse().unwrap());
        let a = assess_request(&firefox, Version::HTTP_11, true, Some(&chromium));
        assert!(
            codes(&a).contains(&"ua_claims_firefox_tls_not_firefox"),
            "{:?}",
            codes(&a)
        );
        let a = assess_request(&firefox, Version::HTTP_11, true, Some(&nss));
        assert!(!codes(&a).contains(&"ua_claims_firefox_tls_not_firefox"));
    }
}

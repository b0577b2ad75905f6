//! The session assessment: what the browser collector reported, checked against what the
//! collector's own request claimed. Computed when the collector posts (never on a page's
//! request path) and stored on the session with the evidence of each reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{claim, verdict, Assessment, Claim, Reason, Verdict};

/// Longest evidence text kept.
const MAX_EVIDENCE: usize = 200;

/// One reason of a session assessment, with what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The reason.
    pub reason: Reason,
    /// What was seen, e.g. `window has cdc_adoQpoasnfa76pfcZLmcfl_Array`.
    pub evidence: String,
}

impl Finding {
    /// `reason`, with `evidence` (cut to 200 characters).
    #[must_use]
    pub fn new(reason: Reason, evidence: impl Into<String>) -> Self {
        let evidence: String = evidence.into();
        Self {
            reason,
            evidence: evidence.chars().take(MAX_EVIDENCE).collect(),
        }
    }
}

/// The assessment of a session once its browser ran the collector: the request-level reasons
/// of the collector's own request, and what the collector reported (see
/// [`assess_request`](super::assess_request)'s documentation for the rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionAssessment {
    /// What the session is.
    pub verdict: Verdict,
    /// How sure the verdict of automation is, 0-100.
    pub score: u8,
    /// The reasons with their evidence, in the order of [`Reason`].
    pub findings: Vec<Finding>,
}

impl SessionAssessment {
    /// An assessment of `verdict` with `findings` (as read back from a store).
    #[must_use]
    pub fn new(verdict: Verdict, findings: Vec<Finding>) -> Self {
        let score = super::score(findings.iter().map(|f| f.reason));
        Self {
            verdict,
            score,
            findings,
        }
    }

    /// This assessment followed by a `newer` one of the same session: the findings of both
    /// (the newer evidence for a reason both give), and the verdict they make together. A
    /// session once `automated` stays so: its reasons stay.
    #[must_use]
    pub fn merge(&self, newer: &SessionAssessment) -> SessionAssessment {
        let mut findings = newer.findings.clone();
        for finding in &self.findings {
            if !findings.iter().any(|f| f.reason == finding.reason) {
                findings.push(finding.clone());
            }
        }
        findings.sort_by_key(|finding| finding.reason);
        let either = |verdict| self.verdict == verdict || newer.verdict == verdict;
        let reasons: Vec<Reason> = findings.iter().map(|f| f.reason).collect();
        let mut merged = verdict(reasons, either(Verdict::Human));
        if merged.verdict != Verdict::Automated && either(Verdict::DeclaredBot) {
            merged.verdict = Verdict::DeclaredBot;
        }
        if either(Verdict::Automated) {
            merged.verdict = Verdict::Automated;
        }
        SessionAssessment {
            verdict: merged.verdict,
            score: merged.score,
            findings,
        }
    }

    /// The findings as stored: a JSON array of `{"reason": ..., "evidence": ...}`.
    #[must_use]
    pub fn findings_json(&self) -> String {
        serde_json::to_string(&self.findings).unwrap_or_else(|_| "[]".into())
    }

    /// Findings read back from their stored JSON; unknown reason codes (a newer version's)
    /// and malformed text are skipped.
    #[must_use]
    pub fn findings_from_json(json: &str) -> Vec<Finding> {
        #[derive(Deserialize)]
        struct Raw {
            reason: String,
            #[serde(default)]
            evidence: String,
        }
        serde_json::from_str::<Vec<Raw>>(json)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|raw| Some(Finding::new(Reason::from_code(&raw.reason)?, raw.evidence)))
            .collect()
    }
}

/// Pages a session shows without a browser fingerprint before `no_collector` is derived.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const NO_COLLECTOR_PAGES: u64 = 3;

/// A session's assessment as read, with `no_collector` derived from its counts: three or more
/// request fingerprints and no browser fingerprint.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "dashboard")),
    allow(dead_code)
)]
pub(crate) fn with_no_collector(
    assessment: Option<SessionAssessment>,
    requests: u64,
    browsers: u64,
) -> Option<SessionAssessment> {
    if browsers > 0 || requests < NO_COLLECTOR_PAGES {
        return assessment;
    }
    let finding = SessionAssessment::new(
        Verdict::Unknown,
        vec![Finding::new(
            Reason::NoCollector,
            format!("{requests} request fingerprints, no browser fingerprint"),
        )],
    );
    Some(match assessment {
        Some(stored) => stored.merge(&finding),
        None => finding,
    })
}

/// Time zone -> the countries that use it (tzdata's `zone.tab` and `zone1970.tab`, public
/// domain).
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
static ZONES: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    include_str!("zones.tsv")
        .lines()
        .filter_map(|line| {
            let (zone, countries) = line.split_once('\t')?;
            Some((zone, countries.split(',').collect()))
        })
        .collect()
});

/// Assesses a session from the collector's `components`, the headers of its POST, the
/// request assessment of that POST, and the request's country (ISO code, when known).
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn assess_session(
    request: &Assessment,
    headers: &HeaderMap,
    country: Option<&str>,
    components: &BTreeMap<String, Value>,
) -> SessionAssessment {
    let header = |name: http::header::HeaderName| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let user_agent = header(http::header::USER_AGENT).unwrap_or_default();
    let ua = user_agent.to_ascii_lowercase();
    let mut findings: Vec<Finding> = request
        .reasons
        .iter()
        .map(|&reason| Finding::new(reason, reason.describe()))
        .collect();
    if request.verdict == Verdict::DeclaredBot {
        return SessionAssessment::new(Verdict::DeclaredBot, findings);
    }
    let automation = components.get("automation").and_then(Value::as_object);
    let field = |name: &str| automation.and_then(|a| a.get(name));
    let strings = |name: &str| -> Vec<&str> {
        field(name)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let mobile = ["mobile", "android", "iphone", "ipad"]
        .iter()
        .any(|m| ua.contains(m));

    if components.get("webdriver") == Some(&Value::Bool(true)) {
        findings.push(Finding::new(
            Reason::Webdriver,
            "navigator.webdriver is true",
        ));
    }
    let globals = strings("globals");
    if !globals.is_empty() {
        findings.push(Finding::new(
            Reason::AutomationGlobals,
            format!("window has {}", globals.join(", ")),
        ));
    }
    if field("pointer").and_then(Value::as_str) == Some("none") && !mobile {
        findings.push(Finding::new(
            Reason::NoPointingDevice,
            "(any-pointer: none) with a desktop user agent",
        ));
    }
    let tampered = strings("tampered");
    let (hiding, other): (Vec<&str>, Vec<&str>) = tampered
        .iter()
        .partition(|name| name.starts_with("Navigator.webdriver") || name.starts_with("navigator"));
    if !hiding.is_empty() {
        findings.push(Finding::new(
            Reason::WebdriverTampered,
            format!("not native: {}", hiding.join(", ")),
        ));
    }
    if !other.is_empty() {
        findings.push(Finding::new(
            Reason::ApiTampered,
            format!("not native: {}", other.join(", ")),
        ));
    }
    let engine = field("engine").and_then(Value::as_str).unwrap_or_default();
    // Android WebViews claim Chrome without Chrome's `window.chrome`.
    let webview = ua.contains("; wv)");
    if let (Some(claimed), false, false) = (claim(&ua), engine.is_empty(), webview) {
        let lie = match claimed {
            Claim::Chromium(_) if engine != "blink" => {
                Some(Reason::UaClaimsChromeEngineNotChromium)
            }
            Claim::Firefox(_) if engine != "gecko" => Some(Reason::UaClaimsFirefoxEngineNotGecko),
            Claim::Safari(..) if engine != "webkit" => Some(Reason::UaClaimsSafariEngineNotWebkit),
            _ => None,
        };
        if let Some(reason) = lie {
            findings.push(Finding::new(
                reason,
                format!("the page's engine is {engine}"),
            ));
        }
    }
    if let Some(navigator) = field("userAgent").and_then(Value::as_str) {
        // The collector sends at most 512 characters of it.
        let sent: String = user_agent.chars().take(512).collect();
        if !navigator.is_empty() && navigator != sent {
            findings.push(Finding::new(
                Reason::UserAgentNotNavigator,
                format!("navigator.userAgent is {navigator:?}"),
            ));
        }
    }
    let timezone = components.get("timezone").and_then(Value::as_str);
    if let (Some(zone), Some(country)) = (timezone, country.filter(|c| c.len() == 2)) {
        let country = country.to_ascii_uppercase();
        if let Some(countries) = ZONES.get(zone) {
            if !countries.contains(&country.as_str()) {
                findings.push(Finding::new(
                    Reason::TimezoneNotCountry,
                    format!(
                        "time zone {zone} ({}), country {country}",
                        countries.join(", ")
                    ),
                ));
            }
        }
    }
    let first_language = components
        .get("languages")
        .and_then(Value::as_array)
        .and_then(|languages| languages.first())
        .and_then(Value::as_str);
    let accept_language = header(http::header::ACCEPT_LANGUAGE);
    if let (Some(language), Some(accept)) = (first_language, accept_language.as_deref()) {
        let primary = |tag: &str| {
            tag.split([',', ';', '-', '_'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        };
        let (browser, sent) = (primary(language), primary(accept));
        if !browser.is_empty() && !sent.is_empty() && sent != "*" && browser != sent {
            findings.push(Finding::new(
                Reason::LanguagesNotAcceptLanguage,
                format!(
                    "navigator.languages starts with {language:?}, Accept-Language with {sent:?}"
                ),
            ));
        }
    }
    let touch_points = components
        .get("touch")
        .and_then(Value::as_array)
        .and_then(|touch| touch.first())
        .and_then(Value::as_u64);
    let phone = (ua.contains("mobile") || ua.contains("iphone")) && !ua.contains("ipad");
    let screen = components.get("screen").and_then(Value::as_array).map(|s| {
        s.iter()
            .take(2)
            .filter_map(Value::as_u64)
            .collect::<Vec<_>>()
    });
    if let Some([width, height]) = screen.as_deref() {
        if phone && (*width).min(*height) > 600 {
            findings.push(Finding::new(
                Reason::UaClaimsPhoneDesktopScreen,
                format!("a phone's user agent on a {width}x{height} screen"),
            ));
        }
    }
    if mobile && touch_points == Some(0) {
        findings.push(Finding::new(
            Reason::UaClaimsMobileNoTouch,
            "a mobile user agent, navigator.maxTouchPoints is 0",
        ));
    }
    findings.sort_by_key(|finding| finding.reason);
    findings.dedup_by_key(|finding| finding.reason);
    // A browser claim whose checks ran (a `human` request is one).
    let browser = claim(&ua).is_some() && request.verdict != Verdict::Unknown;
    let reasons: Vec<Reason> = findings.iter().map(|f| f.reason).collect();
    let assessed = verdict(reasons, browser);
    SessionAssessment {
        verdict: assessed.verdict,
        score: assessed.score,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::assess::assess_request;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like \
                          Gecko) Chrome/124.0.0.0 Safari/537.36";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn headers(user_agent: &str, language: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("user-agent", user_agent.parse().unwrap());
        map.insert("accept", "*/*".parse().unwrap());
        // Each engine's order: Firefox sends the language first.
        if user_agent.contains("Firefox/") {
            map.insert("accept-language", language.parse().unwrap());
            map.insert("accept-encoding", "gzip".parse().unwrap());
        } else {
            map.insert("accept-encoding", "gzip".parse().unwrap());
            map.insert("accept-language", language.parse().unwrap());
        }
        map
    }

    /// What a person's Chromium reports.
    fn person(user_agent: &str, engine: &str) -> BTreeMap<String, Value> {
        let value = json!({
            "webdriver": false,
            "timezone": "Europe/Prague",
            "languages": ["cs-CZ", "en"],
            "touch": [0, false],
            "automation": {
                "globals": [], "pointer": "fine", "tampered": [], "engine": engine,
                "userAgent": user_agent
            }
        });
        serde_json::from_value(value).unwrap()
    }

    fn assess(
        user_agent: &str,
        country: Option<&str>,
        components: &BTreeMap<String, Value>,
    ) -> SessionAssessment {
        let headers = headers(user_agent, "cs-CZ,cs;q=0.9,en;q=0.8");
        let request = assess_request(&headers, http::Version::HTTP_11, false, None);
        assess_session(&request, &headers, country, components)
    }

    fn codes(assessment: &SessionAssessment) -> Vec<&'static str> {
        assessment
            .findings
            .iter()
            .map(|f| f.reason.as_str())
            .collect()
    }

    #[test]
    fn a_persons_browser_is_human() {
        for (ua, engine) in [(CHROME, "blink"), (FIREFOX, "gecko")] {
            let a = assess(ua, Some("CZ"), &person(ua, engine));
            assert_eq!((a.verdict, codes(&a)), (Verdict::Human, vec![]), "{ua}");
        }
        // Slovakia shares Prague's zone.
        let a = assess(CHROME, Some("sk"), &person(CHROME, "blink"));
        assert_eq!(a.verdict, Verdict::Human);
    }

    #[test]
    fn automation_is_caught_with_its_evidence() {
        let mut driven = person(CHROME, "blink");
        driven.insert("webdriver".into(), json!(true));
        let a = assess(CHROME, None, &driven);
        assert_eq!(
            (a.verdict, codes(&a)),
            (Verdict::Automated, vec!["webdriver"])
        );

        let mut hidden = person(CHROME, "blink");
        hidden.get_mut("automation").unwrap()["globals"] = json!([
            "cdc_adoQpoasnfa76pfcZLmcfl_Array",
            "cdc_adoQpoasnfa76pfcZLmcfl_Promise"
        ]);
        let a = assess(CHROME, None, &hidden);
        assert_eq!(a.verdict, Verdict::Automated);
        assert_eq!(a.findings[0].reason, Reason::AutomationGlobals);
        assert!(a.findings[0]
            .evidence
            .contains("cdc_adoQpoasnfa76pfcZLmcfl_Array"));

        let mut headless = person(FIREFOX, "gecko");
        headless.get_mut("automation").unwrap()["pointer"] = json!("none");
        let a = assess(FIREFOX, None, &headless);
        assert_eq!(
            (a.verdict, codes(&a)),
            (Verdict::Automated, vec!["no_pointing_device"])
        );
        // A phone without a pointer query answer is not a headless desktop.
        let phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like \
                     Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
        let mut touch = person(phone, "blink");
        touch.get_mut("automation").unwrap()["pointer"] = json!("none");
        touch.insert("touch".into(), json!([5, true]));
        touch.insert("screen".into(), json!([412, 915, 24]));
        assert_eq!(assess(phone, None, &touch).verdict, Verdict::Human);
        // A phone claim on a desktop's screen without touch: two weak reasons.
        let mut emulated = person(phone, "blink");
        emulated.insert("screen".into(), json!([1920, 1080, 24]));
        let a = assess(phone, None, &emulated);
        assert_eq!(
            (a.verdict, codes(&a)),
            (
                Verdict::Automated,
                vec![
                    "ua_claims_mobile_no_touch",
                    "ua_claims_phone_desktop_screen"
                ]
            )
        );
        assert_eq!(
            a.findings[1].evidence,
            "a phone's user agent on a 1920x1080 screen"
        );

        let mut stealth = person(CHROME, "blink");
        stealth.get_mut("automation").unwrap()["tampered"] =
            json!(["Navigator.webdriver", "HTMLCanvasElement.toDataURL"]);
        let a = assess(CHROME, None, &stealth);
        assert_eq!(codes(&a), ["webdriver_tampered", "api_tampered"]);
        assert_eq!(a.verdict, Verdict::Automated);
        assert!(a.findings[1].evidence.contains("toDataURL"));
    }

    #[test]
    fn liars_are_caught_by_their_engine() {
        // Chromium sending Firefox's user agent.
        let a = assess(FIREFOX, None, &person(FIREFOX, "blink"));
        assert_eq!(
            (a.verdict, codes(&a)),
            (
                Verdict::Automated,
                vec!["ua_claims_firefox_engine_not_gecko"]
            )
        );
        assert_eq!(a.findings[0].evidence, "the page's engine is blink");
        let a = assess(CHROME, None, &person(CHROME, "gecko"));
        assert_eq!(codes(&a), ["ua_claims_chrome_engine_not_chromium"]);
        // An Android WebView claims Chrome without Chrome's globals.
        let webview = "Mozilla/5.0 (Linux; Android 14; wv) AppleWebKit/537.36 (KHTML, like \
                       Gecko) Version/4.0 Chrome/124.0.0.0 Mobile Safari/537.36";
        let mut components = person(webview, "");
        components.insert("touch".into(), json!([5, true]));
        assert_eq!(assess(webview, None, &components).verdict, Verdict::Human);
    }

    #[test]
    fn weak_disagreements_need_company() {
        let mut components = person(CHROME, "blink");
        components.insert("timezone".into(), json!("America/New_York"));
        let a = assess(CHROME, Some("CZ"), &components);
        assert_eq!(
            (a.verdict, codes(&a)),
            (Verdict::Human, vec!["timezone_not_country"])
        );
        assert!(a.findings[0].evidence.contains("America/New_York (US)"));
        components.insert("languages".into(), json!(["en-US"]));
        let a = assess(CHROME, Some("CZ"), &components);
        assert_eq!(
            (a.verdict, codes(&a)),
            (
                Verdict::Automated,
                vec!["timezone_not_country", "languages_not_accept_language"]
            )
        );
        // An unknown zone or no country: no rule.
        components.insert("timezone".into(), json!("Etc/UTC"));
        assert_eq!(assess(CHROME, Some("CZ"), &components).findings.len(), 1);
        let mut spoofed = person(CHROME, "blink");
        spoofed.get_mut("automation").unwrap()["userAgent"] = json!(FIREFOX);
        assert_eq!(
            codes(&assess(CHROME, None, &spoofed)),
            ["user_agent_not_navigator"]
        );
    }

    #[test]
    fn request_reasons_and_declared_bots_carry_over() {
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let a = assess(bot, None, &BTreeMap::new());
        assert_eq!(
            (a.verdict, codes(&a)),
            (Verdict::DeclaredBot, vec!["known_crawler_ua"])
        );
        let headless = CHROME.replace("Chrome/", "HeadlessChrome/");
        let a = assess(&headless, None, &person(&headless, "blink"));
        assert_eq!(a.verdict, Verdict::Automated);
        assert_eq!(a.findings[0].evidence, "the user agent says HeadlessChrome");
    }

    #[test]
    fn merged_assessments_keep_every_reason() {
        let human = assess(CHROME, Some("CZ"), &person(CHROME, "blink"));
        let rate = SessionAssessment::new(
            Verdict::Unknown,
            vec![Finding::new(Reason::SessionRequestRate, "more than 120")],
        );
        let merged = human.merge(&rate);
        assert_eq!((merged.verdict, merged.findings.len()), (Verdict::Human, 1));
        let spread = SessionAssessment::new(
            Verdict::Unknown,
            vec![Finding::new(Reason::SessionUrlSpread, "more than 60")],
        );
        let both = merged.merge(&spread);
        assert_eq!(both.verdict, Verdict::Automated, "two weak reasons");
        assert_eq!(both.score, 50);
        // Automated stays automated after a clean run; the newer evidence wins.
        let clean = assess(CHROME, Some("CZ"), &person(CHROME, "blink"));
        assert_eq!(both.merge(&clean).verdict, Verdict::Automated);
        let newer = SessionAssessment::new(
            Verdict::Unknown,
            vec![Finding::new(
                Reason::SessionUrlSpread,
                "more than 60, again",
            )],
        );
        let again = both.merge(&newer);
        assert_eq!(again.findings.len(), 2);
        assert_eq!(again.findings[1].evidence, "more than 60, again");
        let bot = SessionAssessment::new(
            Verdict::DeclaredBot,
            vec![Finding::new(
                Reason::CrawlerVerified,
                "crawl-1.googlebot.com",
            )],
        );
        assert_eq!(bot.merge(&rate).verdict, Verdict::DeclaredBot);
    }

    #[test]
    fn findings_round_trip_through_their_json() {
        let mut driven = person(CHROME, "blink");
        driven.insert("webdriver".into(), json!(true));
        let a = assess(CHROME, None, &driven);
        let json = a.findings_json();
        assert_eq!(
            json,
            r#"[{"reason":"webdriver","evidence":"navigator.webdriver is true"}]"#
        );
        assert_eq!(SessionAssessment::findings_from_json(&json), a.findings);
        let newer = r#"[{"reason":"from_the_future","evidence":"x"},{"reason":"webdriver"}]"#;
        assert_eq!(
            SessionAssessment::findings_from_json(newer),
            vec![Finding::new(Reason::Webdriver, "")]
        );
        assert!(SessionAssessment::findings_from_json("not json").is_empty());
        assert_eq!(
            SessionAssessment::new(Verdict::Automated, a.findings).score,
            60
        );
    }
}

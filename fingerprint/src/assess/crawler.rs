//! Verifying crawlers that say who they are: the reverse name of the client address must end
//! in the crawler's published domain, and that name must resolve back to the address (what
//! Google, Bing, Apple, Yandex and Baidu document). Lookups go through a resolver the app
//! plugs in ([`CrawlerResolver`]); nothing resolves by default.
//!
//! The layer never waits for a lookup: the first request of a crawler's address starts one
//! in the background; later requests from that address carry the result (cached an hour),
//! on [`CurrentVisit::assessment`](crate::v1::CurrentVisit::assessment) and on the session.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Finding, Reason, SessionAssessment, Verdict};

/// A lookup that failed in a way trying again may fix (a timeout, SERVFAIL, no resolver).
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// The DNS lookups crawler verification needs, as the app does them (with hickory-resolver,
/// its own cache, or a test double).
///
/// A name or address with no records (NXDOMAIN, or no records of the type) is an answer:
/// return `Ok` with an empty list, so an impostor without a reverse name, or with a made-up
/// one, is refuted. Return `Err` only when the lookup itself failed.
#[async_trait]
pub trait CrawlerResolver: Send + Sync + 'static {
    /// The names of `ip` (its PTR records); empty when it has none.
    async fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, ResolveError>;
    /// The addresses of `host` (its A and AAAA records); empty when it has none.
    async fn forward(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError>;
}

/// What verifying a crawler's address found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrawlerCheck {
    /// The address's name is the crawler's and resolves back to it.
    Verified {
        /// The crawler, e.g. `Googlebot`.
        crawler: &'static str,
        /// The name found, e.g. `crawl-66-249-66-1.googlebot.com`.
        host: String,
    },
    /// The address is not the crawler's: its names are elsewhere, or do not resolve back.
    Refuted {
        /// The crawler the user agent claims.
        crawler: &'static str,
        /// What was found instead.
        evidence: String,
    },
    /// The user agent names no crawler that publishes a verification domain.
    NotVerifiable,
    /// A lookup failed: nothing is concluded.
    Failed(String),
}

impl CrawlerCheck {
    /// The session assessment it makes (none when nothing was concluded).
    #[must_use]
    pub fn assessment(&self) -> Option<SessionAssessment> {
        match self {
            Self::Verified { crawler, host } => Some(SessionAssessment::new(
                Verdict::DeclaredBot,
                vec![Finding::new(
                    Reason::CrawlerVerified,
                    format!("{crawler}: the address is {host}, which resolves back to it"),
                )],
            )),
            Self::Refuted { crawler, evidence } => Some(SessionAssessment::new(
                Verdict::Automated,
                vec![Finding::new(
                    Reason::CrawlerNotVerified,
                    format!("claims {crawler}; {evidence}"),
                )],
            )),
            Self::NotVerifiable | Self::Failed(_) => None,
        }
    }
}

/// Crawlers that publish how to verify them: a user-agent token (lowercase) and the domains
/// their addresses' names end in.
const CRAWLERS: &[(&str, &str, &[&str])] = &[
    // Google documents googlebot.com and google.com for its crawlers; googleusercontent.com
    // is every Google Cloud VM's, so it is not accepted.
    ("googlebot", "Googlebot", &["googlebot.com", "google.com"]),
    (
        "google-inspectiontool",
        "Google",
        &["googlebot.com", "google.com"],
    ),
    ("adsbot-google", "Google", &["google.com"]),
    (
        "mediapartners-google",
        "Google",
        &["google.com", "googlebot.com"],
    ),
    ("bingbot", "Bingbot", &["search.msn.com"]),
    ("msnbot", "Bingbot", &["search.msn.com"]),
    ("adidxbot", "Bingbot", &["search.msn.com"]),
    ("applebot", "Applebot", &["applebot.apple.com"]),
    (
        "yandex",
        "YandexBot",
        &["yandex.ru", "yandex.net", "yandex.com"],
    ),
    ("baiduspider", "Baiduspider", &["baidu.com", "baidu.jp"]),
    ("petalbot", "PetalBot", &["petalsearch.com"]),
    ("seznambot", "SeznamBot", &["seznam.cz"]),
];

/// The crawler a user agent claims, if it is one that can be verified.
fn claimed(user_agent: &str) -> Option<(&'static str, &'static [&'static str])> {
    let ua = user_agent.to_ascii_lowercase();
    CRAWLERS
        .iter()
        .find(|(token, _, _)| ua.contains(token))
        .map(|(_, name, domains)| (*name, *domains))
}

/// Verifies that `ip` belongs to the crawler `user_agent` names: reverse lookup, the name's
/// domain, forward lookup back to `ip`.
pub async fn verify_crawler(
    resolver: &dyn CrawlerResolver,
    user_agent: &str,
    ip: IpAddr,
) -> CrawlerCheck {
    let Some((crawler, domains)) = claimed(user_agent) else {
        return CrawlerCheck::NotVerifiable;
    };
    let names = match resolver.reverse(ip).await {
        Ok(names) => names,
        Err(error) => return CrawlerCheck::Failed(error.to_string()),
    };
    let in_domain = |name: &str| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        domains
            .iter()
            .any(|domain| name.ends_with(&format!(".{domain}")))
    };
    let Some(host) = names.iter().find(|name| in_domain(name)) else {
        // The evidence names neither the address nor its names: both may identify a person
        // (and the app may anonymise addresses).
        let found = if names.is_empty() {
            "has no name"
        } else {
            "has a name"
        };
        return CrawlerCheck::Refuted {
            crawler,
            evidence: format!("the address {found}, not in {}", domains.join(" or ")),
        };
    };
    let host = host.trim_end_matches('.').to_owned();
    match resolver.forward(&host).await {
        Ok(addresses) if addresses.contains(&ip) => CrawlerCheck::Verified { crawler, host },
        Ok(_) => CrawlerCheck::Refuted {
            crawler,
            evidence: format!(
                "the address's name is in {}, but does not resolve back to it",
                domains.join(" or ")
            ),
        },
        Err(error) => CrawlerCheck::Failed(error.to_string()),
    }
}

/// Crawler verification for the layer: cached per address, in the background, bounded.
#[derive(Clone)]
pub(crate) struct CrawlerVerifier {
    resolver: Arc<dyn CrawlerResolver>,
    /// Finished checks per address and claimed crawler (an hour), and `None` while one is
    /// in flight.
    checks: moka::sync::Cache<(IpAddr, &'static str), Option<CrawlerCheck>>,
    /// Checks that failed (a minute): not tried again before.
    failed: moka::sync::Cache<(IpAddr, &'static str), ()>,
    lookups: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for CrawlerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrawlerVerifier").finish_non_exhaustive()
    }
}

/// Longest a verification may take (both lookups).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

impl CrawlerVerifier {
    pub(crate) fn new(resolver: Arc<dyn CrawlerResolver>) -> Self {
        Self {
            resolver,
            checks: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            failed: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            lookups: Arc::new(tokio::sync::Semaphore::new(16)),
        }
    }

    /// The check of `ip` when one finished; otherwise starts one in the background (at
    /// most 16 at a time: beyond that, addresses wait for a later request) and returns
    /// `None`.
    pub(crate) fn check(&self, user_agent: &str, ip: IpAddr) -> Option<CrawlerCheck> {
        let (crawler, _) = claimed(user_agent)?;
        let key = (ip, crawler);
        if let Some(known) = self.checks.get(&key) {
            return known;
        }
        if self.failed.contains_key(&key) {
            return None;
        }
        let Ok(permit) = Arc::clone(&self.lookups).try_acquire_owned() else {
            return None;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return None;
        };
        self.checks.insert(key, None);
        let (resolver, checks) = (Arc::clone(&self.resolver), self.checks.clone());
        let failed = self.failed.clone();
        let user_agent = user_agent.to_owned();
        runtime.spawn(async move {
            let check =
                tokio::time::timeout(LOOKUP_TIMEOUT, verify_crawler(&*resolver, &user_agent, ip))
                    .await
                    .unwrap_or_else(|_| CrawlerCheck::Failed("timed out".into()));
            // A failed lookup is tried again by a request a minute later.
            match check {
                CrawlerCheck::Failed(_) => {
                    checks.invalidate(&key);
                    failed.insert(key, ());
                }
                check => checks.insert(key, Some(check)),
            }
            drop(permit);
        });
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A resolver answering from tables.
    #[derive(Default)]
    pub(crate) struct FakeResolver {
        pub(crate) names: HashMap<IpAddr, Vec<String>>,
        pub(crate) addresses: HashMap<String, Vec<IpAddr>>,
    }

    #[async_trait]
    impl CrawlerResolver for FakeResolver {
        async fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, ResolveError> {
            if ip == IpAddr::from([192, 0, 2, 254]) {
                return Err("SERVFAIL".into());
            }
            Ok(self.names.get(&ip).cloned().unwrap_or_default())
        }
        async fn forward(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
            Ok(self.addresses.get(host).cloned().unwrap_or_default())
        }
    }

    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn google() -> FakeResolver {
        let mut fake = FakeResolver::default();
        let real = "crawl-66-249-66-1.googlebot.com";
        fake.names
            .insert(ip("66.249.66.1"), vec![format!("{real}.")]);
        fake.addresses.insert(real.into(), vec![ip("66.249.66.1")]);
        // A name in Google's domain that does not point back.
        fake.names
            .insert(ip("203.0.113.9"), vec!["crawl-1.googlebot.com".into()]);
        fake.names
            .insert(ip("198.51.100.7"), vec!["host.evil.example".into()]);
        fake
    }

    #[tokio::test]
    async fn googlebot_is_verified_by_reverse_and_forward_lookups() {
        let fake = google();
        let check = verify_crawler(&fake, GOOGLEBOT, ip("66.249.66.1")).await;
        assert_eq!(
            check,
            CrawlerCheck::Verified {
                crawler: "Googlebot",
                host: "crawl-66-249-66-1.googlebot.com".into()
            }
        );
        let assessment = check.assessment().unwrap();
        assert_eq!(assessment.verdict, Verdict::DeclaredBot);
        assert_eq!(assessment.findings[0].reason, Reason::CrawlerVerified);
    }

    #[tokio::test]
    async fn impostors_are_refuted_with_what_was_found() {
        let fake = google();
        let elsewhere = verify_crawler(&fake, GOOGLEBOT, ip("198.51.100.7")).await;
        let CrawlerCheck::Refuted { evidence, .. } = &elsewhere else {
            panic!("{elsewhere:?}");
        };
        assert_eq!(
            evidence,
            "the address has a name, not in googlebot.com or google.com"
        );
        let assessment = elsewhere.assessment().unwrap();
        assert_eq!(assessment.verdict, Verdict::Automated);
        assert_eq!(assessment.findings[0].reason, Reason::CrawlerNotVerified);
        assert!(assessment.findings[0]
            .evidence
            .starts_with("claims Googlebot; "));
        let spoofed_ptr = verify_crawler(&fake, GOOGLEBOT, ip("203.0.113.9")).await;
        assert!(
            matches!(&spoofed_ptr, CrawlerCheck::Refuted { evidence, .. }
                if evidence.ends_with("but does not resolve back to it")),
            "{spoofed_ptr:?}"
        );
        // No reverse name at all (NXDOMAIN): refuted too.
        let nameless = verify_crawler(&fake, GOOGLEBOT, ip("192.0.2.200")).await;
        assert!(
            matches!(&nameless, CrawlerCheck::Refuted { evidence, .. }
                if evidence.starts_with("the address has no name")),
            "{nameless:?}"
        );
        // A Google Cloud VM's name is not Googlebot's.
        let mut cloud = google();
        let vm = "7.113.0.203.bc.googleusercontent.com";
        cloud.names.insert(ip("203.0.113.70"), vec![vm.into()]);
        cloud.addresses.insert(vm.into(), vec![ip("203.0.113.70")]);
        assert!(matches!(
            verify_crawler(&cloud, GOOGLEBOT, ip("203.0.113.70")).await,
            CrawlerCheck::Refuted { .. }
        ));
        // "googlebot.com.evil.example" is not in googlebot.com.
        let mut fake = google();
        fake.names
            .insert(ip("192.0.2.1"), vec!["x.googlebot.com.evil.example".into()]);
        assert!(matches!(
            verify_crawler(&fake, GOOGLEBOT, ip("192.0.2.1")).await,
            CrawlerCheck::Refuted { .. }
        ));
    }

    #[tokio::test]
    async fn lookups_that_fail_and_unknown_crawlers_conclude_nothing() {
        let fake = google();
        let failed = verify_crawler(&fake, GOOGLEBOT, ip("192.0.2.254")).await;
        assert_eq!(failed, CrawlerCheck::Failed("SERVFAIL".into()));
        assert_eq!(failed.assessment(), None);
        let other = verify_crawler(&fake, "SomeBot/1.0", ip("66.249.66.1")).await;
        assert_eq!(other, CrawlerCheck::NotVerifiable);
        let bing = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";
        assert!(matches!(
            verify_crawler(&fake, bing, ip("66.249.66.1")).await,
            CrawlerCheck::Refuted {
                crawler: "Bingbot",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn the_verifier_answers_from_its_cache_and_never_waits() {
        let verifier = CrawlerVerifier::new(Arc::new(google()));
        let address = ip("66.249.66.1");
        assert_eq!(verifier.check(GOOGLEBOT, address), None, "started");
        assert_eq!(verifier.check("curl/8.5.0", address), None, "not a crawler");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let check = loop {
            if let Some(check) = verifier.check(GOOGLEBOT, address) {
                break check;
            }
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(matches!(check, CrawlerCheck::Verified { .. }));
        // Another crawler claimed from the same address is checked on its own.
        let bing = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";
        assert_eq!(verifier.check(bing, address), None, "a check of its own");
        // A failed lookup is not tried again within the minute.
        let failing = ip("192.0.2.254");
        assert_eq!(verifier.check(GOOGLEBOT, failing), None);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let key = (failing, "Googlebot");
        assert_eq!(verifier.checks.get(&key), None, "not cached as a result");
        assert!(verifier.failed.contains_key(&key));
    }
}

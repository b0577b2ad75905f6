//! What the recorder's writer derives before storing: the device from the user agent
//! (cached per user agent) and the country, from the header or a GeoIP database. Never on
//! the request path.

use std::net::IpAddr;
use std::sync::Arc;

use crate::assess::{Reason, Verdict};
#[cfg(feature = "geoip")]
use crate::device::GeoIp;
use crate::device::{self, country_from_header, Device, DeviceType};
use crate::model::Visit;

/// What the recorder derives before storing: devices (cached per user agent) and countries.
#[derive(Clone)]
pub(crate) struct Enricher {
    devices: moka::sync::Cache<String, Arc<Device>>,
    /// Whether automated requests count as unique visitors (see `declared_by_device`).
    count_automated: bool,
    #[cfg(feature = "geoip")]
    geoip: Option<Arc<GeoIp>>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher").finish_non_exhaustive()
    }
}

impl Enricher {
    pub(crate) fn new(
        count_automated: bool,
        #[cfg(feature = "geoip")] geoip: Option<Arc<GeoIp>>,
    ) -> Self {
        Self {
            devices: moka::sync::Cache::new(10_000),
            count_automated,
            #[cfg(feature = "geoip")]
            geoip,
        }
    }

    /// Loads the user-agent rules (call from a blocking thread before the first batch).
    pub(crate) fn warm_up() {
        device::warm_up();
    }

    pub(crate) fn device(&self, user_agent: &str) -> Arc<Device> {
        if let Some(device) = self.devices.get(user_agent) {
            return device;
        }
        let device = Arc::new(Device::from_user_agent(user_agent));
        self.devices
            .insert(user_agent.to_owned(), Arc::clone(&device));
        device
    }

    pub(crate) fn country(&self, header: &str, ip: Option<IpAddr>) -> String {
        if let Some(code) = country_from_header(header) {
            return code;
        }
        #[cfg(feature = "geoip")]
        if let (Some(geoip), Some(ip)) = (&self.geoip, ip) {
            return geoip.country(ip).unwrap_or_default();
        }
        let _ = ip;
        String::new()
    }

    /// Fills the derived fields of each visit's fingerprint.
    pub(crate) fn enrich(&self, visits: &mut [Visit]) {
        for visit in visits {
            let fingerprint = &mut visit.fingerprint;
            fingerprint.device = (*self.device(&fingerprint.user_agent)).clone();
            fingerprint.country_code = self.country(&fingerprint.country, fingerprint.ip);
            self.declared_by_device(visit);
        }
    }

    /// A client the user-agent rules (uap-core's, and the device module's tool list) call a
    /// bot but the request assessment's word lists do not: a crawler (`declared_bot`,
    /// `known_crawler_ua`) or a tool (`automated`, `tool_ua`), not counted unless the app
    /// counts automated clients. The handler saw the layer's verdict; the store keeps this.
    fn declared_by_device(&self, visit: &mut Visit) {
        let fingerprint = &mut visit.fingerprint;
        let assessed = matches!(fingerprint.verdict.as_str(), "automated" | "declared_bot");
        if assessed || fingerprint.device.device_type != DeviceType::Bot {
            return;
        }
        let name = format!("{} {}", fingerprint.device.browser, fingerprint.user_agent)
            .to_ascii_lowercase();
        let crawler = ["bot", "crawl", "spider", "slurp"]
            .iter()
            .any(|word| name.contains(word));
        let (verdict, reason) = if crawler {
            (Verdict::DeclaredBot, Reason::KnownCrawlerUa)
        } else {
            (Verdict::Automated, Reason::ToolUa)
        };
        fingerprint.verdict = verdict.as_str().to_owned();
        // Added to the reasons the layer found, in the order of `Reason`.
        let mut reasons: Vec<Reason> = fingerprint
            .reasons
            .split(',')
            .filter_map(Reason::from_code)
            .chain([reason])
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        let codes: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
        fingerprint.reasons = codes.join(",");
        visit.counted = visit.counted && self.count_automated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RequestFingerprint;

    fn visit(user_agent: &str, verdict: &str) -> Visit {
        let mut fingerprint = RequestFingerprint::new("https://example.com/", chrono::Utc::now());
        fingerprint.user_agent = user_agent.into();
        fingerprint.verdict = verdict.into();
        Visit::new("0".repeat(32), fingerprint)
    }

    #[test]
    fn bots_the_device_rules_know_are_not_counted() {
        Enricher::warm_up();
        let enricher = Enricher::new(
            false,
            #[cfg(feature = "geoip")]
            None,
        );
        // wrk is in the device rules' tool list, not in the request assessment's.
        let mut visits = [
            visit("wrk/4.2.0", "unknown"),
            visit(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "human",
            ),
        ];
        enricher.enrich(&mut visits);
        let [tool, person] = &visits;
        assert_eq!(tool.fingerprint.device.device_type, DeviceType::Bot);
        assert_eq!(
            (
                tool.fingerprint.verdict.as_str(),
                tool.fingerprint.reasons.as_str()
            ),
            ("automated", "tool_ua")
        );
        assert!(!tool.counted);
        assert_eq!(person.fingerprint.verdict, "human");
        assert!(person.counted);
        // An app that counts automated clients still gets the verdict.
        let counting = Enricher::new(
            true,
            #[cfg(feature = "geoip")]
            None,
        );
        let mut visits = [visit("wrk/4.2.0", "unknown")];
        counting.enrich(&mut visits);
        assert_eq!(visits[0].fingerprint.verdict, "automated");
        assert!(visits[0].counted);
    }
}

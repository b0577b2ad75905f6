//! What the recorder's writer derives before storing: the device from the user agent
//! (cached per user agent) and the country, from the header or a GeoIP database. Never on
//! the request path.

use std::net::IpAddr;
use std::sync::Arc;

#[cfg(feature = "geoip")]
use crate::device::GeoIp;
use crate::device::{self, country_from_header, Device};
use crate::model::Visit;

/// What the recorder derives before storing: devices (cached per user agent) and countries.
#[derive(Clone)]
pub(crate) struct Enricher {
    devices: moka::sync::Cache<String, Arc<Device>>,
    #[cfg(feature = "geoip")]
    geoip: Option<Arc<GeoIp>>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher").finish_non_exhaustive()
    }
}

impl Enricher {
    pub(crate) fn new(#[cfg(feature = "geoip")] geoip: Option<Arc<GeoIp>>) -> Self {
        Self {
            devices: moka::sync::Cache::new(10_000),
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
        }
    }
}

//! Countries from a MaxMind DB file (GeoLite2-Country, GeoIP2-Country or -City; feature
//! `geoip`). The app supplies the `.mmdb` file; the library ships none.

use std::net::IpAddr;
use std::path::Path;

/// A GeoIP database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[cfg_attr(docsrs, doc(cfg(feature = "geoip")))]
pub enum GeoIpError {
    /// The file could not be read or is not a MaxMind DB.
    #[error("cannot open the GeoIP database {path}: {reason}")]
    Open {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A country database: IP address -> ISO 3166-1 alpha-2 code.
///
/// ```no_run
/// # fn run() -> Result<(), fingerprint::v1::GeoIpError> {
/// let geoip = fingerprint::v1::GeoIp::open("GeoLite2-Country.mmdb")?;
/// assert_eq!(geoip.country("81.2.69.142".parse().unwrap()).as_deref(), Some("GB"));
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "geoip")))]
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata().database_type)
            .finish_non_exhaustive()
    }
}

impl GeoIp {
    /// Reads the whole database file into memory (a country database is a few MiB).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GeoIpError> {
        let path = path.as_ref();
        let reader = maxminddb::Reader::open_readfile(path).map_err(|error| GeoIpError::Open {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        Ok(Self { reader })
    }

    /// Uses a database already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoIpError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|error| GeoIpError::Open {
            path: "<memory>".into(),
            reason: error.to_string(),
        })?;
        Ok(Self { reader })
    }

    /// The country of `ip` (`None` when the database does not know it, or for an IPv6
    /// address in an IPv4-only database).
    #[must_use]
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let result = self.reader.lookup(ip).ok()?;
        let record = result.decode::<maxminddb::geoip2::Country<'_>>().ok()??;
        let code = record
            .country
            .iso_code
            .or(record.registered_country.iso_code)?;
        super::country_from_header(code)
    }
}

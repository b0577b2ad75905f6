//! Countries from a GeoIP database (feature `geoip`): a small MaxMind DB that the test writes,
//! read by the library, used by the recorder when the country header says nothing.
#![cfg(feature = "geoip")]

mod common;

use std::net::IpAddr;

use axum::routing::get;
use axum::Router;
use common::{serve, TestDb};
use fingerprint::v1 as fp;
use mmdb_writer::{Value, Writer};

/// A GeoIP2-Country-shaped database: 81.2.69.0/24 in GB, 89.160.20.0/24 in SE (only its
/// registered country known), 2a02:cf40::/32 in NO.
fn country_database() -> Vec<u8> {
    let mut writer = Writer::new("Test-Country");
    let country = |code: &str| Value::map([("iso_code", Value::from(code))]);
    writer
        .insert_value(
            "81.2.69.0/24".parse::<ipnet::IpNet>().unwrap(),
            Value::map([("country", country("GB"))]),
        )
        .unwrap();
    writer
        .insert_value(
            "89.160.20.0/24".parse::<ipnet::IpNet>().unwrap(),
            Value::map([("registered_country", country("SE"))]),
        )
        .unwrap();
    writer
        .insert_value(
            "2a02:cf40::/32".parse::<ipnet::IpNet>().unwrap(),
            Value::map([("country", country("NO"))]),
        )
        .unwrap();
    writer.to_bytes().unwrap()
}

#[test]
fn lookups() {
    let geoip = fp::GeoIp::from_bytes(country_database()).unwrap();
    let country = |ip: &str| geoip.country(ip.parse::<IpAddr>().unwrap());
    assert_eq!(country("81.2.69.142").as_deref(), Some("GB"));
    assert_eq!(country("89.160.20.1").as_deref(), Some("SE"));
    assert_eq!(country("2a02:cf40::1").as_deref(), Some("NO"));
    assert_eq!(country("8.8.8.8"), None);
    assert_eq!(country("::1"), None);

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database").unwrap();
    let error = fp::GeoIp::open(&garbage).unwrap_err();
    assert!(error.to_string().contains("garbage.mmdb"), "{error}");
    assert!(fp::GeoIp::open(dir.path().join("missing.mmdb")).is_err());
    let file = dir.path().join("country.mmdb");
    std::fs::write(&file, country_database()).unwrap();
    assert!(fp::GeoIp::open(&file).is_ok());
}

#[tokio::test]
async fn the_recorder_fills_countries_from_the_database() {
    let db = TestDb::sqlite().await;
    let fingerprint = fp::Fingerprint::builder(db.store())
        .with_trusted_proxies(["127.0.0.1"])
        .with_geoip(fp::GeoIp::from_bytes(country_database()).unwrap())
        .build()
        .unwrap();
    let addr = serve(
        Router::new()
            .route("/{*rest}", get(|| async { "page" }))
            .route_layer(fingerprint.layer()),
    )
    .await;
    let client = reqwest::Client::new();
    for (path, forwarded_for, header) in [
        ("/from-gb", "81.2.69.142", None),
        ("/header-wins", "81.2.69.142", Some("PL")),
        ("/unknown-header", "89.160.20.7", Some("XX")),
        ("/v6", "2a02:cf40::7", None),
        ("/nowhere", "8.8.8.8", None),
    ] {
        let mut request = client
            .get(format!("http://{addr}{path}"))
            .header("x-forwarded-for", forwarded_for)
            .header(
                "cookie",
                "fingerprint_session=0123456789abcdef0123456789abcdef",
            );
        if let Some(country) = header {
            request = request.header("cf-ipcountry", country);
        }
        assert!(request.send().await.unwrap().status().is_success());
    }
    fingerprint.flush().await.unwrap();
    let stored = db
        .store()
        .session_requests("0123456789abcdef0123456789abcdef", 10)
        .await
        .unwrap();
    let by_path = |path: &str| {
        let request = stored
            .iter()
            .find(|r| r.fingerprint.url.ends_with(path))
            .unwrap();
        request.fingerprint.country_code.clone()
    };
    assert_eq!(by_path("/from-gb"), "GB");
    assert_eq!(by_path("/header-wins"), "PL");
    assert_eq!(by_path("/unknown-header"), "SE");
    assert_eq!(by_path("/v6"), "NO");
    assert_eq!(by_path("/nowhere"), "");
}

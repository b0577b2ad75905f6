//! The TLS ClientHello parser and JA4 (`fingerprint/src/net/tls.rs`,
//! `fingerprint/src/net/ja4.rs`) on any bytes:
//! `cargo +nightly fuzz run ja4 fuzz/corpus/ja4 fuzz/seeds/ja4`.
//! The seeds are ClientHellos (whole records) from FoxIO's JA4 test captures, one of them
//! split over several records. Besides not panicking, the two entry points must agree, and
//! a prefix of the input must need more bytes or fail the same way.
#![no_main]

use fingerprint::v1 as fp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ja4 = fp::ja4_of_records(data);
    let parsed = fp::parse_client_hello(data, fp::MAX_CLIENT_HELLO);
    match &parsed {
        Ok(Some((hello, consumed))) => {
            assert!(*consumed <= data.len());
            assert_eq!(ja4, Ok(fp::Ja4::from_hello(hello)));
            let half = &data[..consumed / 2];
            assert_eq!(fp::parse_client_hello(half, fp::MAX_CLIENT_HELLO), Ok(None));
        }
        Ok(None) => assert_eq!(ja4, Err(fp::HelloError::Incomplete)),
        Err(error) => {
            assert_eq!(ja4.as_ref().err(), Some(error));
            // An SSL 2.0 hello is told apart by its third byte only.
            if *error != fp::HelloError::SslV2 {
                let half = &data[..data.len() / 2];
                let prefix = fp::parse_client_hello(half, fp::MAX_CLIENT_HELLO);
                assert!(prefix == Ok(None) || prefix.as_ref().err() == Some(error));
            }
        }
    }
});

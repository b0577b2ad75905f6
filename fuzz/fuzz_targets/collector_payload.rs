//! The collector endpoint's payload parser (`fingerprint/src/browser/components.rs`) on any
//! bytes: `cargo +nightly fuzz run collector_payload fuzz/corpus/collector_payload fuzz/seeds/collector_payload`.
//! The checks (no panic, bounded sizes, known components, canonical visitor id) live in
//! `fingerprint/tests/oracle/collector_payload.rs`, shared with the property tests in
//! `fingerprint/tests/collector_payload.rs` that CI runs on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../fingerprint/tests/oracle/collector_payload.rs"]
mod oracle;

fuzz_target!(|body: &[u8]| {
    oracle::check_collector_payload(body);
});

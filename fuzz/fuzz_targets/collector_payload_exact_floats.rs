//! As `collector_payload`, and the canonical JSON must also be exact for fractional numbers
//! (re-reading it gives the same floats, so the same visitor id). Fails today: serde_json
//! reads some floats back one unit in the last place off unless its `float_roundtrip` feature
//! is on; `--features float_roundtrip` turns it on to check the fix. See BENCHMARKS.md.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    fingerprint::__bench::check_collector_payload(body, true);
});

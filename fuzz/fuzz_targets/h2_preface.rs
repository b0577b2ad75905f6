//! The HTTP/2 preface tap (`fingerprint/src/net/h2.rs`) on any bytes:
//! `cargo +nightly fuzz run h2_preface fuzz/corpus/h2_preface fuzz/seeds/h2_preface`.
//! The input is fed in two chunks, split at `data[0]` modulo its length; the checks: no
//! panic, no more bytes read than the limit, and the same final state as one feed of the
//! whole input (the tap must not depend on how the bytes arrive).
#![no_main]

use fingerprint::v1::{Http2Tap, TapState, MAX_PREFACE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = match data.first() {
        Some(&first) => usize::from(first) % data.len(),
        None => 0,
    };
    let mut tap = Http2Tap::new(MAX_PREFACE);
    tap.feed(&data[..split]);
    let state = tap.feed(&data[split..]).clone();
    assert!(tap.consumed() <= MAX_PREFACE);

    let mut whole = Http2Tap::new(MAX_PREFACE);
    assert_eq!(whole.feed(data), &state);

    if let TapState::Done(fingerprint) = &state {
        let text = fingerprint.text();
        assert_eq!(text.matches('|').count(), 3, "{text}");
        assert_eq!(fingerprint.hash().len(), 12);
    }
});

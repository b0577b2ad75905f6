//! The oracle of the collector payload parser: the checks behind the property tests
//! (`fingerprint/tests/collector_payload.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/collector_payload.rs`), which both include this file. It reaches the
//! parser through `fingerprint::__bench`.

use fingerprint::__bench::{collector_component_names, collector_payload};

/// Checks the payload parser's promises on any input, and panics when one is broken.
///
/// - It never panics; a refusal has a short, non-empty reason (it becomes a 400 body).
/// - An accepted payload has a token of 1 to 4,096 bytes, a visitor id of 32 lowercase
///   hex digits, and only known components, each at most 2,048 bytes of JSON.
/// - It is canonical: the accepted payload, sent again as the collector would send it, is
///   accepted as the same payload with the same visitor id, fractional numbers included
///   (the library turns on serde_json's `float_roundtrip`: without it a float may be read
///   back one unit in the last place off, changing the canonical JSON and the id).
pub(crate) fn check_collector_payload(body: &[u8]) {
    use serde_json::{Map, Value};

    let payload = match collector_payload(body) {
        Ok(payload) => payload,
        Err(reason) => {
            assert!(
                !reason.is_empty() && reason.len() <= 512,
                "refusal reason {reason:?}"
            );
            return;
        }
    };
    assert!(
        !payload.token.is_empty() && payload.token.len() <= 4096,
        "token of {} bytes accepted",
        payload.token.len()
    );
    assert!(
        payload.visitor_id.len() == 32
            && payload
                .visitor_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "visitor id {:?}",
        payload.visitor_id
    );
    let components: Map<String, Value> =
        serde_json::from_str(&payload.components).expect("components are a JSON object");
    for (name, value) in &components {
        assert!(
            collector_component_names().any(|known| known == name),
            "unknown component {name:?} accepted"
        );
        let json = serde_json::to_string(value).expect("a value serialises");
        assert!(
            json.len() <= 2048,
            "component {name:?} of {} bytes",
            json.len()
        );
    }
    let mut again = Map::new();
    again.insert("token".into(), Value::String(payload.token.clone()));
    again.insert("components".into(), Value::Object(components));
    if let Some(ms) = payload.duration_ms {
        again.insert("duration".into(), Value::from(ms));
    }
    let resent = Value::Object(again).to_string();
    let reparsed = collector_payload(resent.as_bytes())
        .unwrap_or_else(|reason| panic!("re-sent payload refused: {reason}"));
    assert_eq!(reparsed, payload, "not canonical");
}

//! Property tests of the collector payload parser on hostile input, on stable Rust (CI runs
//! them); the same checks drive the cargo-fuzz targets in `fuzz/`.

#[path = "oracle/collector_payload.rs"]
mod oracle;

use fingerprint::__bench::collector_component_names;
use oracle::check_collector_payload;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Any JSON value, nested up to 5 levels (the parser accepts 3), with long strings and arrays
/// now and then.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        (500usize..600).prop_map(|n| Value::String("é".repeat(n))),
    ];
    leaf.prop_recursive(5, 256, 70, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..70).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..70)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A component name: mostly known ones, sometimes anything.
fn component_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = collector_component_names().map(String::from).collect();
    prop_oneof![
        4 => prop::sample::select(known),
        1 => ".{0,50}",
    ]
}

/// A payload shaped like the collector's, with any values, extra fields and odd types.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            ".{0,20}".prop_map(Value::String),
            (4090usize..4100).prop_map(|n| Value::String("t".repeat(n))),
            any_json(),
        ],
        prop::collection::btree_map(component_name(), any_json(), 0..30),
        prop::option::of(prop_oneof![
            (-10.0f64..4_000_000.0).prop_map(Value::from),
            any_json()
        ]),
        prop::option::of((".{0,12}", any_json())),
    )
        .prop_map(|(token, components, duration, extra)| {
            let mut root = Map::new();
            root.insert("token".into(), token);
            root.insert(
                "components".into(),
                Value::Object(components.into_iter().collect()),
            );
            if let Some(duration) = duration {
                root.insert("duration".into(), duration);
            }
            if let Some((name, value)) = extra {
                root.insert(name, value);
            }
            Value::Object(root).to_string().into_bytes()
        })
}

/// A JSON value within the parser's bounds: depth up to 3, at most 64 items, strings of at
/// most 512 characters (component sizes may still exceed 2 KiB now and then).
fn bounded_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,10}", inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Payloads the parser should accept: known components with bounded values.
fn acceptable() -> impl Strategy<Value = Vec<u8>> {
    let known: Vec<String> = collector_component_names().map(String::from).collect();
    (
        "[A-Za-z0-9._-]{1,200}",
        prop::collection::btree_map(prop::sample::select(known), bounded_json(), 0..24),
        prop::option::of(0u32..3_600_000),
    )
        .prop_map(|(token, components, duration)| {
            let mut root = json!({"token": token, "components": components});
            if let Some(ms) = duration {
                root["duration"] = json!(ms);
            }
            root.to_string().into_bytes()
        })
}

/// A valid payload with bytes flipped, inserted or cut.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let valid = json!({
        "token": "v1.abc.def",
        "duration": 87,
        "components": {
            "screen": [1280, 720, 24],
            "timezone": "Europe/Prague",
            "languages": ["cs-CZ", "en"],
            "webgl": {"vendor": "Google Inc.", "renderer": "SwiftShader"},
            "fonts": ["Arial", "DejaVu Sans"],
            "webdriver": false
        }
    })
    .to_string()
    .into_bytes();
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8).prop_map(
        move |edits| {
            let mut body = valid.clone();
            for (at, byte, kind) in edits {
                let i = at.index(body.len().max(1));
                match kind {
                    0 if !body.is_empty() => body[i] = byte,
                    1 => body.insert(i.min(body.len()), byte),
                    _ if !body.is_empty() => {
                        body.remove(i);
                    }
                    _ => {}
                }
            }
            body
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_collector_payload(&body);
    }

    #[test]
    fn collector_shaped_payloads(body in payload()) {
        check_collector_payload(&body);
    }

    #[test]
    fn accepted_payloads_are_canonical(body in acceptable()) {
        // Most of these must be accepted, so the checks of accepted payloads do run.
        let accepted = fingerprint::__bench::collector_payload(&body).is_ok();
        let large = body.len() > 2048;
        prop_assert!(accepted || large, "refused: {}", String::from_utf8_lossy(&body));
        check_collector_payload(&body);
    }

    #[test]
    fn mutated_valid_payloads(body in mutated()) {
        check_collector_payload(&body);
    }
}

#[test]
fn the_fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/collector_payload");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        check_collector_payload(&std::fs::read(entry.unwrap().path()).unwrap());
        seen += 1;
    }
    assert!(seen >= 4, "seeds in {}", dir.display());
}

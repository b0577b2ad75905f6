//! The collector's payload: its shape is checked strictly (known names, bounded sizes), and
//! the visitor id is computed here from the stable components, never taken from the client.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every component the collector sends, and whether it is stable (part of the visitor id).
/// Unstable ones change without the device changing: the UTC offset with daylight saving
/// time, the available screen area with the task bar.
pub(crate) const COMPONENTS: &[(&str, bool)] = &[
    ("screen", true),
    ("screenAvailable", false),
    ("pixelRatio", true),
    ("timezone", true),
    ("timezoneOffset", false),
    ("languages", true),
    ("platform", true),
    ("hardwareConcurrency", true),
    ("deviceMemory", true),
    ("touch", true),
    ("storage", true),
    ("canvas", true),
    ("webgl", true),
    ("audio", true),
    ("fonts", true),
    ("math", true),
    ("colorGamut", true),
    ("hdr", true),
    ("reducedMotion", true),
    ("forcedColors", true),
    ("contrast", true),
    ("pdfViewer", true),
    ("vendor", true),
    ("webdriver", true),
    // Automation traces, for the session assessment; not part of the device.
    ("automation", false),
];

const MAX_TOKEN: usize = 4096;
const MAX_STRING: usize = 512;
const MAX_ITEMS: usize = 64;
const MAX_DEPTH: usize = 3;
const MAX_COMPONENT_JSON: usize = 2048;

/// Why a payload was refused: the short reason of the 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PayloadError {
    #[error("body is not a JSON object")]
    NotJson,
    #[error("unknown field {0:?}")]
    UnknownField(String),
    #[error("missing or invalid token")]
    Token,
    #[error("components must be an object")]
    Components,
    #[error("unknown component {0:?}")]
    UnknownComponent(String),
    #[error("component {0:?} is too large or too deep")]
    TooLarge(String),
    #[error("duration must be a number of milliseconds")]
    Duration,
    #[error("component {0:?} holds a NUL character")]
    Nul(String),
}

/// A checked payload.
#[derive(Debug)]
pub(crate) struct Payload {
    pub(crate) token: String,
    pub(crate) components: BTreeMap<String, Value>,
    pub(crate) duration_ms: Option<u64>,
}

pub(crate) fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return Err(PayloadError::NotJson);
    };
    let mut token = None;
    let mut components = None;
    let mut duration_ms = None;
    for (name, value) in root {
        match name.as_str() {
            "token" => match value {
                Value::String(t) if !t.is_empty() && t.len() <= MAX_TOKEN => token = Some(t),
                _ => return Err(PayloadError::Token),
            },
            "components" => match value {
                Value::Object(map) => components = Some(map),
                _ => return Err(PayloadError::Components),
            },
            "duration" => match value.as_f64() {
                Some(ms) if (0.0..=3_600_000.0).contains(&ms) => duration_ms = Some(ms as u64),
                _ => return Err(PayloadError::Duration),
            },
            _ => return Err(PayloadError::UnknownField(truncate(&name))),
        }
    }
    let token = token.ok_or(PayloadError::Token)?;
    let components = components.ok_or(PayloadError::Components)?;
    let mut checked = BTreeMap::new();
    for (name, value) in components {
        if !COMPONENTS.iter().any(|(known, _)| *known == name) {
            return Err(PayloadError::UnknownComponent(truncate(&name)));
        }
        let fits = bounded(&value, 0)
            && serde_json::to_string(&value).is_ok_and(|json| json.len() <= MAX_COMPONENT_JSON);
        if !fits {
            return Err(PayloadError::TooLarge(name));
        }
        // Text that PostgreSQL cannot hold, and no browser reports.
        if holds_nul(&value) {
            return Err(PayloadError::Nul(name));
        }
        checked.insert(name, value);
    }
    Ok(Payload {
        token,
        components: checked,
        duration_ms,
    })
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
    }
}

fn bounded(value: &Value, depth: usize) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
        Value::String(s) => s.chars().count() <= MAX_STRING,
        Value::Array(items) => {
            depth < MAX_DEPTH
                && items.len() <= MAX_ITEMS
                && items.iter().all(|v| bounded(v, depth + 1))
        }
        Value::Object(map) => {
            depth < MAX_DEPTH
                && map.len() <= MAX_ITEMS
                && map
                    .iter()
                    .all(|(k, v)| k.chars().count() <= MAX_STRING && bounded(v, depth + 1))
        }
    }
}

/// The visitor id: the first 128 bits, in hex, of
/// `SHA-256("fingerprint-rt/visitor/v1\n" + canonical JSON)`, where the canonical JSON is
/// the object of the stable components only, keys sorted, without whitespace. The order in
/// which the browser sent them and the unstable components do not change it.
pub(crate) fn visitor_id(components: &BTreeMap<String, Value>) -> String {
    let stable: BTreeMap<&str, &Value> = components
        .iter()
        .filter(|(name, _)| {
            COMPONENTS
                .iter()
                .any(|(known, stable)| known == name && *stable)
        })
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    // serde_json sorts object keys (no `preserve_order`), so nested objects are canonical too.
    let canonical = serde_json::to_string(&stable).unwrap_or_default();
    let digest = Sha256::new()
        .chain_update(b"fingerprint-rt/visitor/v1\n")
        .chain_update(canonical.as_bytes())
        .finalize();
    crate::hex::lower(&digest[..16])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({
            "token": "t",
            "duration": 87,
            "components": {
                "screen": [1280, 720, 24],
                "screenAvailable": [1280, 680],
                "timezone": "Europe/Prague",
                "timezoneOffset": -60,
                "languages": ["cs-CZ", "en"],
                "webgl": {"vendor": "Google Inc.", "renderer": "SwiftShader", "params": "1a2b"},
                "audio": {"error": "timeout"},
                "fonts": ["Arial", "DejaVu Sans"],
                "webdriver": false
            }
        })
    }

    fn id_of(value: &Value) -> String {
        visitor_id(&parse(value.to_string().as_bytes()).unwrap().components)
    }

    #[test]
    fn accepts_the_collector_payload() {
        let payload = parse(sample().to_string().as_bytes()).unwrap();
        assert_eq!(payload.token, "t");
        assert_eq!(payload.duration_ms, Some(87));
        assert_eq!(payload.components.len(), 9);
        let id = visitor_id(&payload.components);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn order_and_unstable_components_do_not_change_the_id() {
        let base = id_of(&sample());
        // Same components, written in another order (keys and nested keys).
        let reordered = r#"{"components":{"webdriver":false,"fonts":["Arial","DejaVu Sans"],
            "audio":{"error":"timeout"},"webgl":{"params":"1a2b","renderer":"SwiftShader","vendor":"Google Inc."},
            "languages":["cs-CZ","en"],"timezoneOffset":-60,"timezone":"Europe/Prague",
            "screenAvailable":[1280,680],"screen":[1280,720,24]},"duration":87,"token":"t"}"#;
        assert_eq!(
            visitor_id(&parse(reordered.as_bytes()).unwrap().components),
            base
        );
        let mut unstable = sample();
        unstable["components"]["timezoneOffset"] = json!(-120);
        unstable["components"]["screenAvailable"] = json!([1280, 700]);
        unstable["duration"] = json!(450);
        unstable["token"] = json!("another");
        assert_eq!(id_of(&unstable), base);
    }

    #[test]
    fn a_changed_stable_signal_changes_the_id() {
        let base = id_of(&sample());
        for (name, value) in [
            ("screen", json!([1920, 1080, 24])),
            ("languages", json!(["en-US"])),
            ("timezone", json!("America/New_York")),
            (
                "webgl",
                json!({"vendor": "Google Inc.", "renderer": "ANGLE", "params": "1a2b"}),
            ),
            ("fonts", json!(["Arial"])),
            ("webdriver", json!(true)),
        ] {
            let mut changed = sample();
            changed["components"][name] = value;
            assert_ne!(id_of(&changed), base, "{name}");
        }
        let mut added = sample();
        added["components"]["canvas"] = json!("9f9f");
        assert_ne!(id_of(&added), base);
    }

    #[test]
    fn refuses_bad_shapes() {
        let cases: Vec<(&[u8], PayloadError)> = vec![
            (b"", PayloadError::NotJson),
            (b"not json", PayloadError::NotJson),
            (b"[1,2]", PayloadError::NotJson),
            (br#"{"components":{}}"#, PayloadError::Token),
            (br#"{"token":"","components":{}}"#, PayloadError::Token),
            (br#"{"token":5,"components":{}}"#, PayloadError::Token),
            (br#"{"token":"t"}"#, PayloadError::Components),
            (
                br#"{"token":"t","components":[]}"#,
                PayloadError::Components,
            ),
            (
                br#"{"token":"t","components":{},"visitorId":"mine"}"#,
                PayloadError::UnknownField("visitorId".into()),
            ),
            (
                br#"{"token":"t","components":{"evil":1}}"#,
                PayloadError::UnknownComponent("evil".into()),
            ),
            (
                br#"{"token":"t","components":{},"duration":-1}"#,
                PayloadError::Duration,
            ),
            (
                br#"{"token":"t","components":{},"duration":"5"}"#,
                PayloadError::Duration,
            ),
            (
                br#"{"token":"t","components":{"fonts":[[[["deep"]]]]}}"#,
                PayloadError::TooLarge("fonts".into()),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse(body).unwrap_err(),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let long_string = json!({"token": "t", "components": {"platform": "x".repeat(513)}});
        assert_eq!(
            parse(long_string.to_string().as_bytes()).unwrap_err(),
            PayloadError::TooLarge("platform".into())
        );
        let many = json!({"token": "t", "components": {"fonts": vec!["Arial"; 65]}});
        assert_eq!(
            parse(many.to_string().as_bytes()).unwrap_err(),
            PayloadError::TooLarge("fonts".into())
        );
        let wide = json!({"token": "t", "components": {"math": vec!["x".repeat(200); 20]}});
        assert_eq!(
            parse(wide.to_string().as_bytes()).unwrap_err(),
            PayloadError::TooLarge("math".into())
        );
        let long_token = json!({"token": "t".repeat(4097), "components": {}});
        assert_eq!(
            parse(long_token.to_string().as_bytes()).unwrap_err(),
            PayloadError::Token
        );
    }
}

//! `fingerprint ja4`: JA4 fingerprints of ClientHellos given as hex, one JSON line each.

use std::io::{BufRead, Write};

use fingerprint::v1 as fp;
use serde_json::{json, Value};

use crate::CliError;

/// Fingerprints `hex`, or every JSON line of `input`, writing one JSON line per ClientHello.
pub(crate) fn run(
    hex: Option<&str>,
    input: &mut dyn BufRead,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let mut write =
        |line: Value| writeln!(out, "{line}").map_err(|e| CliError::Output(e.to_string()));
    if let Some(hex) = hex {
        return write(answer(Value::Null, Some(hex)));
    }
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        let read = input
            .read_until(b'\n', &mut bytes)
            .map_err(|e| CliError::Input(format!("cannot read the input: {e}")))?;
        if read == 0 {
            break;
        }
        // A line that is not UTF-8 is not JSON: its error line, and on to the next.
        let line = String::from_utf8_lossy(&bytes);
        if line.trim().is_empty() {
            continue;
        }
        let line = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(object)) => answer(
                object.get("id").cloned().unwrap_or(Value::Null),
                object.get("client_hello_hex").and_then(Value::as_str),
            ),
            Ok(_) => json!({"id": null, "error": "not a JSON object"}),
            Err(error) => json!({"id": null, "error": format!("not JSON: {error}")}),
        };
        write(line)?;
    }
    Ok(())
}

/// The JA4 line for `id`, or its error line.
fn answer(id: Value, hex: Option<&str>) -> Value {
    let ja4 = hex
        .ok_or_else(|| "no \"client_hello_hex\" string".to_owned())
        .and_then(|hex| {
            hex::decode(hex.trim()).map_err(|error| format!("client_hello_hex: {error}"))
        })
        .and_then(|bytes| fp::ja4_of_records(&bytes).map_err(|error| error.to_string()));
    match ja4 {
        Ok(ja4) => json!({
            "id": id,
            "ja4": ja4.ja4,
            "ja4_r": ja4.ja4_r,
            "ja4_o": ja4.ja4_o,
            "ja4_ro": ja4.ja4_ro,
        }),
        Err(error) => json!({"id": id, "error": error}),
    }
}

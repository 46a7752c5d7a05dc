//! Where a config's secrets are and the forms they take in output: the values of the spec's
//! `airbyte_secret` fields and of secret-looking properties, their parts (the private key
//! inside a service-account JSON, a PEM key's lines), each raw, URL-encoded, base64 and
//! JSON-escaped. Shared by the acceptance kit's secrets check (which looks for them) and the
//! cassette recorder (which replaces them).

use serde_json::{Value, json};

use crate::spec::ConnectorSpec;

/// `(pointer, value)` of every secret in `config`: the spec's secret fields and the
/// properties whose names look secret, values of 4 characters or more.
pub(crate) fn config_secrets(spec: &ConnectorSpec, config: &Value) -> Vec<(String, String)> {
    let mut pointers = spec.secret_fields();
    secret_looking(&spec.connection_specification, "", &mut |p| {
        pointers.push(p.to_string())
    });
    let mut secrets = Vec::new();
    for pointer in pointers {
        let mut values = Vec::new();
        collect_strings(config.pointer(&pointer), &mut values);
        secrets.extend(values.into_iter().map(|v| (pointer.clone(), v)));
    }
    secrets.retain(|(_, v)| v.chars().count() >= 4);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Every form of every secret: `(pointer, form)`, deduplicated.
pub(crate) fn secret_forms(secrets: &[(String, String)]) -> Vec<(String, String)> {
    let mut forms: Vec<(String, String)> = Vec::new();
    for (pointer, value) in secrets {
        for part in secret_parts(value) {
            for form in encodings(&part) {
                forms.push((pointer.clone(), form));
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// A secret and the pieces of it that are secrets too: the string values of a JSON secret
/// (a service-account key file) and the lines of a multi-line one (a PEM key's body), when
/// they are long enough not to match by chance.
pub(crate) fn secret_parts(value: &str) -> Vec<String> {
    const PART: usize = 16;
    let mut parts = vec![value.to_string()];
    if let Ok(json) = serde_json::from_str::<Value>(value) {
        // Only the members that are secrets themselves: a key file's `client_email` or
        // `token_uri` is no secret and is rightly shown (share the sheet with this address).
        let mut strings = Vec::new();
        secret_members(&json, &mut strings);
        parts.extend(strings.into_iter().filter(|s| s.len() >= PART));
    }
    let lines: Vec<String> = parts
        .iter()
        .flat_map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| l.len() >= PART)
                .map(str::to_string)
        })
        .collect();
    parts.extend(lines);
    parts.sort();
    parts.dedup();
    parts
}

/// The forms a secret takes in output: as it is, URL-encoded, base64 and JSON-escaped.
pub(crate) fn encodings(secret: &str) -> Vec<String> {
    let url: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let json = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string();
    let mut forms = vec![
        secret.to_string(),
        url,
        super::base64(secret.as_bytes()),
        json,
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// The text that every base64 run (standard or URL-safe, 12 characters or more) in `text`
/// decodes to, one per line. (The secrets check and a cassette's replay use these.)
#[cfg(feature = "testing")]
pub(crate) fn decode_base64_runs(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=');
    let mut out = String::new();
    for run in text.split(|c: char| !is_b64(c)).filter(|r| r.len() >= 12) {
        // A run may start mid-quantum where it follows other base64-looking text: try the
        // four alignments.
        for skip in 0..4 {
            if let Some(bytes) = run.get(skip..).and_then(base64_decode) {
                out.push('\n');
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional); `None` if it is not.
#[cfg(feature = "testing")]
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The string values of `json` under secret-looking keys, at any depth.
fn secret_members(json: &Value, out: &mut Vec<String>) {
    match json {
        Value::Object(m) => {
            for (k, v) in m {
                if looks_secret(k) {
                    collect_strings(Some(v), out);
                } else {
                    secret_members(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| secret_members(v, out)),
        _ => {}
    }
}

pub(crate) fn collect_strings(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Object(m)) => m.values().for_each(|v| collect_strings(Some(v), out)),
        Some(Value::Array(a)) => a.iter().for_each(|v| collect_strings(Some(v), out)),
        _ => {}
    }
}

/// Calls `f` with the pointer of every property whose name looks like it holds a secret.
pub(crate) fn secret_looking(schema: &Value, at: &str, f: &mut dyn FnMut(&str)) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            let pointer = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
            // Only leaves hold secrets: an object (or a choice of objects) is checked inside.
            let composite = sub.get("type") == Some(&json!("object"))
                || ["properties", "oneOf", "anyOf", "allOf", "$ref"]
                    .iter()
                    .any(|k| sub.get(*k).is_some());
            if looks_secret(name) && !composite {
                f(&pointer);
            }
            secret_looking(sub, &pointer, f);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for sub in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            secret_looking(sub, at, f);
        }
    }
}

pub(crate) fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let not = [
        "_uri", "_url", "_id", "_type", "_date", "_at", "_name", "_expiry", "_path", "_file",
    ];
    if not.iter().any(|s| n.ends_with(s)) {
        return false;
    }
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "private_key",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
        || n == "key"
        || n.ends_with("_key")
}

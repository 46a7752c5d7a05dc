//! The secrets check: no secret in any output, log line or error.

use std::sync::Arc;

use serde_json::{Value, json};

use super::incremental::full_refresh;
use super::{Acceptance, Captured, Outcome, TempDir, capture};
use crate::catalog::{Catalog, ConfiguredCatalog};
use crate::error::{Error, Result};
use crate::source::Source;

impl Acceptance<'_> {
    pub(super) async fn check_secrets(
        &self,
        catalog: Option<&Catalog>,
    ) -> std::result::Result<((), String), Outcome> {
        let spec = self.source.spec();
        // (pointer, value) of every secret in the config.
        let mut secrets: Vec<(String, String)> = Vec::new();
        let mut pointers = spec.secret_fields();
        secret_looking(&spec.connection_specification, "", &mut |p| {
            pointers.push(p.to_string())
        });
        for pointer in pointers {
            let mut values = Vec::new();
            collect_strings(self.config.pointer(&pointer), &mut values);
            secrets.extend(values.into_iter().map(|v| (pointer.clone(), v)));
        }
        secrets.retain(|(_, v)| v.chars().count() >= 4);
        // A secret shows in other forms than its own: its parts (the private key inside a
        // service-account JSON, each line of a PEM key) and its encodings.
        let mut forms: Vec<(String, String)> = Vec::new();
        for (pointer, value) in &secrets {
            for part in secret_parts(value) {
                for form in encodings(&part) {
                    forms.push((pointer.clone(), form));
                }
            }
        }
        let mut secrets = forms;
        secrets.sort();
        secrets.dedup();
        if secrets.is_empty() {
            return Err(Outcome::NotApplicable(
                "the config holds no secret value".into(),
            ));
        }
        let mut output = scan_run(
            self.source.clone(),
            self.config.clone(),
            catalog.map(full_refresh),
            self.logs.clone(),
            self.read_timeout,
        )
        .await
        .map_err(|e| Outcome::Failed(format!("running the connector: {e}")))?;
        // Everything the connector logged during the whole suite, the errors it returned to
        // the checks (the 401 and 403 checks' messages), and what any base64 in all that
        // decodes to (a secret inside a longer encoded string: `Basic base64(user:key)`).
        output.push_str(&self.logs.text());
        for message in self
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            output.push('\n');
            output.push_str(message);
        }
        for result in &self.results {
            if let Outcome::Failed(m) | Outcome::Passed(m) = &result.outcome {
                output.push('\n');
                output.push_str(m);
            }
        }
        let decoded = decode_base64_runs(&output);
        output.push_str(&decoded);
        let mut leaked: Vec<&str> = secrets
            .iter()
            .filter(|(_, v)| output.contains(v.as_str()))
            .map(|(p, _)| p.as_str())
            .collect();
        leaked.dedup();
        if !leaked.is_empty() {
            return Err(Outcome::Failed(format!(
                "the value of {} appears in the connector's output, logs or error messages",
                leaked.join(", ")
            )));
        }
        Ok((
            (),
            format!(
                "{} secret(s) absent from {} bytes of messages and logs",
                secrets.len(),
                output.len()
            ),
        ))
    }
}

/// A secret and the pieces of it that are secrets too: the string values of a JSON secret
/// (a service-account key file) and the lines of a multi-line one (a PEM key's body), when
/// they are long enough not to match by chance.
pub(super) fn secret_parts(value: &str) -> Vec<String> {
    const PART: usize = 16;
    let mut parts = vec![value.to_string()];
    if let Ok(json) = serde_json::from_str::<Value>(value) {
        let mut strings = Vec::new();
        collect_strings(Some(&json), &mut strings);
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
pub(super) fn encodings(secret: &str) -> Vec<String> {
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
        crate::http::base64(secret.as_bytes()),
        json,
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// The text that every base64 run (standard or URL-safe, 12 characters or more) in `text`
/// decodes to, one per line.
pub(super) fn decode_base64_runs(text: &str) -> String {
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
fn base64_decode(text: &str) -> Option<Vec<u8>> {
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

pub(super) fn collect_strings(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Object(m)) => m.values().for_each(|v| collect_strings(Some(v), out)),
        Some(Value::Array(a)) => a.iter().for_each(|v| collect_strings(Some(v), out)),
        _ => {}
    }
}

/// Calls `f` with the pointer of every property whose name looks like it holds a secret.
pub(super) fn secret_looking(schema: &Value, at: &str, f: &mut dyn FnMut(&str)) {
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

pub(super) fn looks_secret(name: &str) -> bool {
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

/// Runs spec, check, discover and (with a catalog) read through the protocol runner on a
/// runtime of its own, capturing stdout and every log line.
pub(super) async fn scan_run(
    source: Arc<dyn Source>,
    config: Value,
    catalog: Option<ConfiguredCatalog>,
    logs: Captured,
    limit: std::time::Duration,
) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let subscriber = capture(&logs);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::system(format!("a runtime for the secrets check: {e}")))?;
        let dir = TempDir::new()?;
        let config_path = dir.write("config.json", &config.to_string())?;
        let mut out = Vec::new();
        tracing::dispatcher::with_default(&subscriber, || {
            rt.block_on(async {
                let cfg = config_path.display().to_string();
                let mut commands = vec![
                    vec!["spec".to_string()],
                    vec!["check".into(), "--config".into(), cfg.clone()],
                    vec!["discover".into(), "--config".into(), cfg.clone()],
                ];
                if let Some(catalog) = &catalog
                    && let Ok(text) = serde_json::to_string(catalog)
                    && let Ok(path) = dir.write("catalog.json", &text)
                {
                    commands.push(vec![
                        "read".into(),
                        "--config".into(),
                        cfg,
                        "--catalog".into(),
                        path.display().to_string(),
                    ]);
                }
                for args in commands {
                    // A command that hangs is cut off; what it printed so far is still scanned.
                    let mut buf = Vec::new();
                    let _ = tokio::time::timeout(
                        limit,
                        crate::protocol::run_source_with(&*source, args, &mut buf),
                    )
                    .await;
                    out.extend_from_slice(&buf);
                }
            })
        });
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
    .await
    .map_err(|e| Error::system(format!("the secrets check panicked: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_looked_for_in_every_form_and_part() {
        let forms = encodings("tok/en+1 \"x\"");
        assert!(forms.contains(&"tok/en+1 \"x\"".to_string()));
        assert!(forms.contains(&"tok%2Fen%2B1+%22x%22".to_string()));
        assert!(forms.contains(&"dG9rL2VuKzEgIngi".to_string()));
        assert!(forms.contains(&"tok/en+1 \\\"x\\\"".to_string()));
        let key = serde_json::json!({
            "type": "service_account",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
        })
        .to_string();
        let parts = secret_parts(&key);
        assert!(
            parts
                .iter()
                .any(|p| p.starts_with("-----BEGIN PRIVATE KEY-----"))
        );
        assert!(parts.contains(&"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".to_string()));
        // Short values of the file ("service_account") are not secrets of their own.
        assert!(!parts.contains(&"service_account".to_string()), "{parts:?}");
    }

    #[test]
    fn base64_inside_longer_strings_is_decoded() {
        // "user:tok-secret-1234" in a Basic header, and inside other base64-looking text.
        let header = format!(
            "authorization: Basic {}",
            crate::http::base64(b"user:tok-secret-1234")
        );
        assert!(decode_base64_runs(&header).contains("tok-secret-1234"));
        let glued = format!("x{}", crate::http::base64(b"abc:tok-secret-1234"));
        assert!(decode_base64_runs(&glued).contains("tok-secret-1234"));
        assert_eq!(base64_decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("a b"), None);
    }

    #[test]
    fn secret_looking_names() {
        for yes in [
            "api_token",
            "access_token",
            "client_secret",
            "password",
            "api_key",
            "private_key",
            "key",
            "refresh_token",
        ] {
            assert!(looks_secret(yes), "{yes}");
        }
        for no in [
            "token_uri",
            "client_id",
            "start_date",
            "base_url",
            "keyword",
            "token_type",
            "spreadsheet_id",
        ] {
            assert!(!looks_secret(no), "{no}");
        }
    }
}

//! The secrets check: no secret in any output, log line or error.

use std::sync::Arc;

use serde_json::Value;

use super::incremental::full_refresh;
use super::{Acceptance, Captured, Outcome, TempDir, capture};
use crate::catalog::{Catalog, ConfiguredCatalog};
use crate::error::{Error, Result};
use crate::http::secret_forms::{config_secrets, decode_base64_runs, secret_forms};
use crate::source::Source;

impl Acceptance<'_> {
    pub(super) async fn check_secrets(
        &self,
        catalog: Option<&Catalog>,
    ) -> std::result::Result<((), String), Outcome> {
        // Every secret in the config, in every form it can take in output: its parts (the
        // private key inside a service-account JSON, each line of a PEM key) and encodings.
        let secrets = secret_forms(&config_secrets(&self.source.spec(), &self.config));
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
    use crate::http::secret_forms::{base64_decode, encodings, looks_secret, secret_parts};

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

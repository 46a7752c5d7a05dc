//! The connection checks: spec, check (with good, unauthorized and forbidden credentials)
//! and discover.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Acceptance, Outcome};
use crate::catalog::Catalog;
use crate::http::secret_forms::secret_looking;
use crate::source::Source;
use crate::testing::mock::Fault;

impl Acceptance<'_> {
    pub(super) async fn check_spec(&self) -> std::result::Result<((), String), Outcome> {
        let spec = self.source.spec();
        let schema = &spec.connection_specification;
        if let Err(e) = jsonschema::draft7::meta::validate(schema) {
            return Err(Outcome::Failed(format!(
                "the spec is not a draft-07 JSON Schema: {e}"
            )));
        }
        if schema.get("type") != Some(&json!("object")) {
            return Err(Outcome::Failed(
                "the spec's schema is not an object schema".into(),
            ));
        }
        let marked: HashSet<String> = spec.secret_fields().into_iter().collect();
        let mut unmarked = Vec::new();
        secret_looking(schema, "", &mut |pointer| {
            if !marked.contains(pointer) {
                unmarked.push(pointer.to_string());
            }
        });
        if !unmarked.is_empty() {
            return Err(Outcome::Failed(format!(
                "fields that look secret are not marked airbyte_secret: {} (make them `intake::Secret`)",
                unmarked.join(", ")
            )));
        }
        Ok((
            (),
            format!("draft-07; {} secret field(s) marked", marked.len()),
        ))
    }

    pub(super) async fn check_ok(&self) -> std::result::Result<((), String), Outcome> {
        self.bounded(self.source.check(&self.config))
            .await
            .map(|()| ((), "the good config checks".into()))
            .map_err(|e| Outcome::Failed(format!("check failed with the good config: {e}")))
    }

    pub(super) async fn check_rejected(
        &self,
        fault: Fault,
        status: u16,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(mock) = self.api() else {
            return Err(self.no_mock());
        };
        let _guard = mock.inject_always(fault);
        let result = self.bounded(self.source.check(&self.config)).await;
        if let Err(e) = &result {
            // The secrets check looks for secrets in what the connector says here, too.
            self.note_message(e.to_string());
        }
        match result {
            Err(e) if e.is_config() => Ok((
                (),
                format!("HTTP {status} -> config error: {}", e.message()),
            )),
            Err(e) => Err(Outcome::Failed(format!(
                "HTTP {status} gave a {:?} error, not a config error: {e}",
                e.failure_type()
            ))),
            Ok(()) => Err(Outcome::Failed(format!(
                "check passed although the API answered {status}"
            ))),
        }
    }

    pub(super) async fn check_discover(&self) -> std::result::Result<(Catalog, String), Outcome> {
        let catalog = self
            .bounded(self.source.discover(&self.config))
            .await
            .map_err(|e| Outcome::Failed(format!("discover failed: {e}")))?;
        if catalog.streams.is_empty() {
            return Err(Outcome::Failed("discover returned no streams".into()));
        }
        let mut problems = Vec::new();
        for s in &catalog.streams {
            if let Err(e) = jsonschema::validator_for(&s.json_schema) {
                problems.push(format!("{}: invalid JSON Schema: {e}", s.name));
                continue;
            }
            let Some(props) = s.json_schema.get("properties").and_then(Value::as_object) else {
                problems.push(format!(
                    "{}: the schema has no top-level properties",
                    s.name
                ));
                continue;
            };
            for key in s.source_defined_primary_key.iter().flatten() {
                if let Some(first) = key.first()
                    && !props.contains_key(first)
                {
                    problems.push(format!(
                        "{}: primary key field \"{first}\" is not in the schema",
                        s.name
                    ));
                }
            }
            if let Some(first) = s.default_cursor_field.as_ref().and_then(|c| c.first())
                && !props.contains_key(first)
            {
                problems.push(format!(
                    "{}: cursor field \"{first}\" is not in the schema",
                    s.name
                ));
            }
            if s.supports_incremental() && s.default_cursor_field.is_none() {
                problems.push(format!(
                    "{}: incremental without a default cursor field",
                    s.name
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        let detail = format!("{} stream(s)", catalog.streams.len());
        Ok((catalog, detail))
    }
}

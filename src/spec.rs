//! The connector spec: a draft-07 JSON Schema of a connector's config, generated from the
//! typed config struct, with secret fields marked `"airbyte_secret": true`.
//!
//! # Example
//! ```
//! use intake::spec::{ConnectorSpec, Secret};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Connection settings for the Acme API.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct AcmeConfig {
//!     /// API token from Settings -> API.
//!     api_token: Secret,
//!     /// Records per page. Default: 100.
//!     #[serde(default)]
//!     page_size: Option<u32>,
//! }
//!
//! let spec = ConnectorSpec::from_config::<AcmeConfig>();
//! let props = &spec.connection_specification["properties"];
//! assert_eq!(props["api_token"]["airbyte_secret"], true);
//! assert_eq!(spec.secret_fields(), vec!["/api_token".to_string()]);
//!
//! let config: AcmeConfig = intake::spec::parse_config(&serde_json::json!({"api_token": "t"}))?;
//! # let _ = config;
//! # Ok::<(), intake::Error>(())
//! ```

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::catalog::DestinationSyncMode;
use crate::error::{Error, Result};

pub use crate::secret::Secret;

/// The Airbyte protocol version intake speaks.
pub const PROTOCOL_VERSION: &str = "0.3.2";

/// A connector's specification (`ConnectorSpecification` in the protocol).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorSpec {
    /// Where the connector's documentation lives.
    #[serde(
        rename = "documentationUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub documentation_url: Option<String>,
    /// The config's JSON Schema (draft-07).
    #[serde(rename = "connectionSpecification")]
    pub connection_specification: Value,
    /// Whether a source supports incremental reads (deprecated in the protocol, still read by
    /// some orchestrators).
    #[serde(
        rename = "supportsIncremental",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub supports_incremental: Option<bool>,
    /// The write modes a destination supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_destination_sync_modes: Option<Vec<DestinationSyncMode>>,
    /// The protocol version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// Fields this version of intake does not model, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConnectorSpec {
    /// The spec of a config type: its draft-07 JSON Schema, as schemars generates it from the
    /// type's fields and doc comments, with nested types inlined.
    pub fn from_config<C: JsonSchema>() -> Self {
        // Subschemas inline: Airbyte-protocol UIs render a `oneOf` of credentials in place and
        // do not follow `$ref`s into `definitions`.
        let schema = SchemaSettings::draft07()
            .with(|s| s.inline_subschemas = true)
            .into_generator()
            .into_root_schema_for::<C>();
        ConnectorSpec::from_schema(schema.to_value())
    }

    /// A spec from an already-built JSON Schema.
    pub fn from_schema(connection_specification: Value) -> Self {
        ConnectorSpec {
            documentation_url: None,
            connection_specification,
            supports_incremental: None,
            supported_destination_sync_modes: None,
            protocol_version: Some(PROTOCOL_VERSION.to_string()),
            extra: Map::new(),
        }
    }

    /// Sets the documentation URL.
    pub fn documentation_url(mut self, url: impl Into<String>) -> Self {
        self.documentation_url = Some(url.into());
        self
    }

    /// Declares incremental support (sources).
    pub fn supports_incremental(mut self, yes: bool) -> Self {
        self.supports_incremental = Some(yes);
        self
    }

    /// Declares the supported write modes (destinations).
    pub fn destination_sync_modes(mut self, modes: &[DestinationSyncMode]) -> Self {
        self.supported_destination_sync_modes = Some(modes.to_vec());
        self
    }

    /// JSON pointers (`/credentials/api_key`) of every field marked `airbyte_secret`.
    pub fn secret_fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_secret_fields(
            &self.connection_specification,
            "",
            &self.connection_specification,
            &mut out,
            0,
        );
        out.sort();
        out.dedup();
        out
    }
}

fn collect_secret_fields(
    root: &Value,
    path: &str,
    schema: &Value,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    let Some(obj) = schema.as_object() else {
        return;
    };
    if let Some(Value::String(r)) = obj.get("$ref")
        && let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p))
    {
        collect_secret_fields(root, path, target, out, depth + 1);
    }
    if obj.get("airbyte_secret") == Some(&Value::Bool(true)) && !path.is_empty() {
        out.push(path.to_string());
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (name, sub) in props {
            collect_secret_fields(root, &format!("{path}/{name}"), sub, out, depth + 1);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(items)) = obj.get(key) {
            for sub in items {
                collect_secret_fields(root, path, sub, out, depth + 1);
            }
        }
    }
}

/// A `schema_with` function for a [`secrecy::SecretString`] field: a string marked
/// `airbyte_secret` (`#[schemars(schema_with = "intake::spec::secret")]`). A [`Secret`] field
/// needs no attribute; a `SecretString` field without one does not compile, as `SecretString`
/// has no JSON Schema.
pub fn secret(_generator: &mut SchemaGenerator) -> Schema {
    let value = json!({"type": "string", "airbyte_secret": true});
    Schema::try_from(value).unwrap_or_default()
}

/// Parses a connector config from JSON into its typed form.
///
/// A config that does not match the type is a config error naming the problem. Every string
/// and number in the given config is redacted from the message, so a secret given with the
/// wrong type never appears in it.
pub fn parse_config<C: DeserializeOwned>(config: &Value) -> Result<C> {
    serde_json::from_value::<C>(config.clone()).map_err(|e| {
        // serde names the offending value before ", expected ..."; what follows is the
        // schema's own words (field and variant names), left as they are.
        let text = e.to_string();
        let message = match text.split_once(", expected") {
            Some((head, tail)) => format!("{}, expected{tail}", redact_values(head, config)),
            None => redact_values(&text, config),
        };
        Error::config(format!("invalid config: {message}"))
    })
}

/// Replaces every string or number value found in `values` inside `text` with `***`.
pub fn redact_values(text: &str, values: &Value) -> String {
    let mut leaves = Vec::new();
    collect_leaves(values, &mut leaves, 0);
    leaves.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for leaf in leaves {
        if leaf.len() >= 3 {
            out = out.replace(&leaf, "***");
        }
    }
    out
}

/// A change to a connector's config that the caller must persist, such as a rotated OAuth
/// refresh token: set the string at `pointer` (a JSON pointer into the config) to `value`.
#[derive(Debug, Clone)]
pub struct ConfigUpdate {
    /// Where in the config, as a JSON pointer (`/credentials/refresh_token`).
    pub pointer: String,
    /// The new value.
    pub value: SecretString,
}

impl ConfigUpdate {
    /// An update of the string at `pointer`.
    pub fn new(pointer: impl Into<String>, value: SecretString) -> Self {
        ConfigUpdate {
            pointer: pointer.into(),
            value,
        }
    }

    /// Applies the update to a config, creating missing objects along the pointer. Fails with
    /// a system error when the pointer crosses a value that is not an object.
    pub fn apply(&self, config: &mut Value) -> Result<()> {
        set_pointer(
            config,
            &self.pointer,
            Value::String(self.value.expose_secret().to_string()),
        )
    }
}

/// Sets the value at a JSON pointer, creating missing objects along it. Fails with a system
/// error when the pointer crosses a value that is not an object.
pub(crate) fn set_pointer(root: &mut Value, pointer: &str, value: Value) -> Result<()> {
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = segments.split_last() else {
        return Err(Error::system(format!(
            "the pointer \"{pointer}\" names no field"
        )));
    };
    let crossing = || {
        Error::system(format!(
            "the pointer \"{pointer}\" crosses a value that is not an object"
        ))
    };
    let mut here = root;
    for segment in parents {
        if here.is_null() {
            *here = Value::Object(Default::default());
        }
        let Value::Object(map) = here else {
            return Err(crossing());
        };
        here = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if here.is_null() {
        *here = Value::Object(Default::default());
    }
    let Value::Object(map) = here else {
        return Err(crossing());
    };
    map.insert(last.clone(), value);
    Ok(())
}

fn collect_leaves(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect_leaves(i, out, depth + 1)),
        Value::Object(map) => map.values().for_each(|i| collect_leaves(i, out, depth + 1)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test config.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        /// The token.
        #[schemars(schema_with = "secret")]
        token: SecretString,
        /// Nested auth.
        auth: Option<Auth>,
        /// A count.
        count: Option<u32>,
    }

    /// Nested.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Auth {
        #[schemars(schema_with = "secret")]
        password: SecretString,
        user: String,
    }

    #[test]
    fn spec_is_draft07_with_secrets_marked() {
        let spec = ConnectorSpec::from_config::<Cfg>();
        let schema = &spec.connection_specification;
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(schema["properties"]["token"]["airbyte_secret"], true);
        assert_eq!(schema["properties"]["count"]["description"], "A count.");
        assert_eq!(spec.secret_fields(), vec!["/auth/password", "/token"]);
    }

    #[test]
    fn config_update_sets_the_field_and_hides_it_from_debug() {
        let mut config = json!({"credentials": {"client_id": "c", "refresh_token": "old"}});
        let update = ConfigUpdate::new("/credentials/refresh_token", SecretString::from("new-rt"));
        assert!(!format!("{update:?}").contains("new-rt"));
        update.apply(&mut config).unwrap();
        assert_eq!(config["credentials"]["refresh_token"], "new-rt");
        assert_eq!(config["credentials"]["client_id"], "c");
        let mut fresh = json!({});
        ConfigUpdate::new("/a/b", SecretString::from("v"))
            .apply(&mut fresh)
            .unwrap();
        assert_eq!(fresh, json!({"a": {"b": "v"}}));
        let mut bad = json!({"a": 1});
        assert!(
            ConfigUpdate::new("/a/b", SecretString::from("v"))
                .apply(&mut bad)
                .is_err()
        );
    }

    #[test]
    fn config_errors_never_echo_values() {
        let bad = json!({"token": 12345678, "count": 1});
        let err = parse_config::<Cfg>(&bad).err().unwrap();
        assert!(err.is_config());
        assert!(!err.to_string().contains("12345678"), "{err}");
        let typo = json!({"token": "sekrit-value", "cuont": 1});
        let err = parse_config::<Cfg>(&typo).err().unwrap();
        assert!(err.to_string().contains("cuont"), "{err}");
        assert!(!err.to_string().contains("sekrit-value"));
    }
}

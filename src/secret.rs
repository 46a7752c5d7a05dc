//! [`Secret`]: a config value that must never be shown, marked `airbyte_secret` in the spec by
//! its type alone.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A secret config field: an API key, a token, a password. Its JSON Schema is a string marked
/// `"airbyte_secret": true`, so a config struct needs no attribute on the field, and an
/// `Option<Secret>` is an optional secret. It never reaches a log, an error or `Debug`; read it
/// with [`ExposeSecret::expose_secret`], or hand it on as a [`SecretString`].
///
/// ```
/// use intake::Secret;
/// use intake::spec::ConnectorSpec;
/// use schemars::JsonSchema;
/// use secrecy::ExposeSecret;
/// use serde::Deserialize;
///
/// /// Acme's settings.
/// #[derive(Deserialize, JsonSchema)]
/// struct AcmeConfig {
///     /// API token from Settings -> API.
///     api_token: Secret,
///     /// A password, when the account has one.
///     password: Option<Secret>,
/// }
///
/// let spec = ConnectorSpec::from_config::<AcmeConfig>();
/// assert_eq!(spec.secret_fields(), ["/api_token", "/password"]);
/// let cfg: AcmeConfig = intake::spec::parse_config(&serde_json::json!({"api_token": "t-1"}))?;
/// assert_eq!(cfg.api_token.expose_secret(), "t-1");
/// assert_eq!(format!("{:?}", cfg.api_token), "Secret([REDACTED])");
/// # Ok::<(), intake::Error>(())
/// ```
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The secret as a [`SecretString`] (what [`crate::http::Auth`] takes).
    pub fn to_secret_string(&self) -> SecretString {
        self.0.clone()
    }
}

impl ExposeSecret<str> for Secret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<Secret> for SecretString {
    fn from(secret: Secret) -> Self {
        secret.0
    }
}

impl From<SecretString> for Secret {
    fn from(secret: SecretString) -> Self {
        Secret(secret)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(Secret)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    // Inlined, so every secret field carries the mark itself (`$ref`s would hide it from
    // tools that read one property at a time).
    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "airbyte_secret": true})
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::ConnectorSpec;

    /// Nested and optional secrets.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Cfg {
        /// The token.
        token: Secret,
        /// Optional.
        password: Option<Secret>,
        /// Nested.
        auth: Option<Auth>,
        /// Not secret.
        user: String,
    }

    /// Nested.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Auth {
        /// A key.
        key: Secret,
    }

    #[test]
    fn secrets_are_marked_by_type_wherever_they_are() {
        let spec = ConnectorSpec::from_config::<Cfg>();
        assert_eq!(spec.secret_fields(), ["/auth/key", "/password", "/token"]);
        let props = &spec.connection_specification["properties"];
        assert_eq!(props["token"]["description"], "The token.");
        assert_eq!(props["password"]["airbyte_secret"], true);
        assert!(props["user"].get("airbyte_secret").is_none());
    }

    #[test]
    fn a_secret_never_shows() {
        let cfg: Cfg =
            crate::spec::parse_config(&json!({"token": "tok-123", "user": "u"})).unwrap();
        assert!(!format!("{:?}", cfg.token).contains("tok-123"));
        assert_eq!(cfg.token.expose_secret(), "tok-123");
        let wrong = crate::spec::parse_config::<Cfg>(&json!({"token": 424242, "user": "u"}))
            .unwrap_err()
            .to_string();
        assert!(!wrong.contains("424242"), "{wrong}");
    }
}

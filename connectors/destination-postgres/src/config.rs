//! The destination's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use intake::Secret;
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings of the PostgreSQL destination.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection URL, `postgres://user:password@host:5432/database` (it holds the password,
    /// so it is secret). Give either this or `host` (with `user`, `password`, `database`).
    #[serde(default)]
    pub url: Option<Secret>,
    /// Server host name or IP address (instead of `url`).
    #[serde(default)]
    pub host: Option<String>,
    /// Server port. Default 5432.
    #[serde(default)]
    pub port: Option<u16>,
    /// User name. Default `postgres`.
    #[serde(default)]
    pub user: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Database name. Default: the user name.
    #[serde(default)]
    pub database: Option<String>,
    /// The schema for streams without a namespace. Default `public`.
    #[serde(default = "public")]
    pub schema: String,
    /// `prefer` (default: TLS when the server offers it), `require` or `disable`.
    #[serde(default)]
    pub tls: TlsMode,
    /// A PEM CA certificate (or several) to trust besides the public roots: the CA of a
    /// private server (a managed database's CA bundle, your own CA).
    #[serde(default)]
    pub ca_certificate: Option<String>,
}

/// Whether the connection is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS when the server offers it, plain TCP otherwise.
    #[default]
    Prefer,
    /// TLS or no connection.
    Require,
    /// Plain TCP.
    Disable,
}

pub(crate) fn public() -> String {
    "public".into()
}

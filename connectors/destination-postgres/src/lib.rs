//! The PostgreSQL destination: for teams that outgrow one SQLite file.
//!
//! - **Tables from schemas.** A table per stream in the schema named by the stream's namespace
//!   (or the config's `schema`, default `public`); columns typed from the JSON Schema (see
//!   [`intake::table`]): `TEXT`, `BIGINT`, `DOUBLE PRECISION`, `BOOLEAN`, `TIMESTAMPTZ`, `DATE`,
//!   `JSONB`; metadata `_intake_extracted_at TIMESTAMPTZ`, `_intake_raw JSONB` (the record
//!   when a value did not fit) and `_intake_error TEXT`.
//! - **Bulk path.** Each batch goes in with one binary `COPY`: straight into the table for
//!   `append`, into a staging table swapped in at the stream's end for `overwrite`, and for
//!   `append_dedup` into a temporary table merged with `INSERT ... SELECT DISTINCT ON (key)
//!   ... ON CONFLICT (key) DO UPDATE ... WHERE` the incoming cursor is not older (ties: the
//!   later record wins).
//! - **Checkpoints commit with the data.** Batches and the stream's state row in
//!   `_intake_state` share one transaction, committed before the checkpoint is acknowledged;
//!   rows after the last checkpoint are rolled back if the input ends early.
//! - **Schema evolution.** New fields add columns; widened kinds alter the column type
//!   (`USING` a cast); values that fit nothing keep the record's raw JSON and count as rejected.
//! - **TLS** with rustls: `tls: prefer` (the default: encrypted when the server offers it),
//!   `require` or `disable`. An encrypted connection always verifies the server's certificate
//!   and host name, against the Mozilla roots plus `ca_certificate` when given (a private CA or
//!   a self-signed server); there is no "encrypt without verifying" mode.

mod writer;

use async_trait::async_trait;
use intake::destination::{Acks, Destination, DestinationInput, WriteSummary};
use intake::spec::{ConnectorSpec, parse_config};
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

/// Settings of the PostgreSQL destination.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection URL, `postgres://user:password@host:5432/database` (it holds the password,
    /// so it is secret). Give either this or `host` (with `user`, `password`, `database`).
    #[serde(default)]
    #[schemars(schema_with = "optional_secret")]
    pub url: Option<SecretString>,
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
    #[schemars(schema_with = "optional_secret")]
    pub password: Option<SecretString>,
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

fn optional_secret(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    intake::spec::secret(generator)
}

fn public() -> String {
    "public".into()
}

/// The PostgreSQL destination. [`PostgresDestination::connect`] fixes the server in code; the
/// default instance reads the config it is given.
#[derive(Debug, Clone, Default)]
pub struct PostgresDestination {
    preset: Option<PostgresConfig>,
}

impl PostgresDestination {
    /// Writes to the server at `url`, into `public` unless a stream has a namespace.
    pub fn connect(url: &str) -> Self {
        PostgresDestination {
            preset: Some(PostgresConfig {
                url: Some(SecretString::from(url.to_string())),
                host: None,
                port: None,
                user: None,
                password: None,
                database: None,
                schema: public(),
                tls: TlsMode::Prefer,
                ca_certificate: None,
            }),
        }
    }

    /// The schema for streams without a namespace.
    pub fn schema(mut self, schema: &str) -> Self {
        if let Some(p) = self.preset.as_mut() {
            p.schema = schema.to_string();
        }
        self
    }

    /// The TLS mode.
    pub fn tls(mut self, mode: TlsMode) -> Self {
        if let Some(p) = self.preset.as_mut() {
            p.tls = mode;
        }
        self
    }

    /// A PEM certificate to trust besides the public roots.
    pub fn ca_certificate(mut self, pem: &str) -> Self {
        if let Some(p) = self.preset.as_mut() {
            p.ca_certificate = Some(pem.to_string());
        }
        self
    }

    fn config(&self, config: &Value) -> Result<PostgresConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
        }
    }
}

fn connect_error(e: tokio_postgres::Error) -> Error {
    // The error never repeats the URL (it holds the password).
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.to_ascii_lowercase().contains("certificate") {
        return Error::config(format!(
            "the PostgreSQL server's TLS certificate is not trusted ({cause}): give its CA in ca_certificate, or set tls to disable on a trusted network"
        ));
    }
    let message = format!("cannot connect to PostgreSQL: {}", writer::describe(&e));
    if e.as_db_error().is_some() {
        Error::config(message)
    } else {
        Error::transient(message)
    }
}

fn tls_connector(cfg: &PostgresConfig) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &cfg.ca_certificate {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert =
                cert.map_err(|e| Error::config(format!("ca_certificate is not PEM: {e}")))?;
            roots.add(cert).map_err(|e| {
                Error::config(format!("ca_certificate is not a usable certificate: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::config("ca_certificate holds no PEM certificate"));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::system(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Connects; the connection task runs on the current runtime.
pub(crate) async fn connect(cfg: &PostgresConfig) -> Result<tokio_postgres::Client> {
    let mut pg = match (&cfg.url, &cfg.host) {
        (Some(url), None) => url.expose_secret().parse::<tokio_postgres::Config>().map_err(|_| {
            Error::config(
                "url is not a PostgreSQL connection URL (postgres://user:password@host:5432/database)",
            )
        })?,
        (None, Some(host)) => {
            let mut pg = tokio_postgres::Config::new();
            let user = cfg.user.clone().unwrap_or_else(|| "postgres".into());
            pg.host(host)
                .port(cfg.port.unwrap_or(5432))
                .dbname(cfg.database.as_deref().unwrap_or(&user))
                .user(&user);
            if let Some(pw) = &cfg.password {
                pg.password(pw.expose_secret());
            }
            pg
        }
        (Some(_), Some(_)) => {
            return Err(Error::config("give either url or host, not both"));
        }
        (None, None) => {
            return Err(Error::config(
                "the config needs url, or host (with user, password and database)",
            ));
        }
    };
    let log = |e: tokio_postgres::Error| {
        tracing::warn!("PostgreSQL connection closed: {}", writer::describe(&e));
    };
    match cfg.tls {
        TlsMode::Disable => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = pg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(connect_error)?;
            tokio::spawn(async move { connection.await.map_err(log) });
            Ok(client)
        }
        mode => {
            pg.ssl_mode(if mode == TlsMode::Require {
                tokio_postgres::config::SslMode::Require
            } else {
                tokio_postgres::config::SslMode::Prefer
            });
            let (client, connection) = pg
                .connect(tls_connector(cfg)?)
                .await
                .map_err(connect_error)?;
            tokio::spawn(async move { connection.await.map_err(log) });
            Ok(client)
        }
    }
}

#[async_trait]
impl Destination for PostgresDestination {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<PostgresConfig>()
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/destination-postgres",
            )
            .destination_sync_modes(&[
                DestinationSyncMode::Append,
                DestinationSyncMode::Overwrite,
                DestinationSyncMode::AppendDedup,
            ])
    }

    async fn check(&self, config: &Value) -> Result<()> {
        let cfg = self.config(config)?;
        let client = connect(&cfg).await?;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                writer::quote(&cfg.schema)
            ))
            .await
            .map_err(|e| {
                Error::config(format!(
                    "the user cannot create or use the schema \"{}\": {}",
                    cfg.schema,
                    writer::describe(&e)
                ))
            })
    }

    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        let cfg = self.config(config)?;
        let client = connect(&cfg).await?;
        writer::stored_state(&client, &cfg.schema).await
    }

    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let cfg = self.config(config)?;
        let mut client = connect(&cfg).await?;
        writer::write(&mut client, &cfg, catalog, input, acks).await
    }
}

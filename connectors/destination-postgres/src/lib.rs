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
//! - **Not yet:** TLS (connections are plain TCP: use a trusted network, an SSH tunnel or a
//!   local socket) and connection parameters other than a URL.

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
    /// so it is secret).
    #[schemars(schema_with = "intake::spec::secret")]
    pub url: SecretString,
    /// The schema for streams without a namespace. Default `public`.
    #[serde(default = "public")]
    pub schema: String,
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
                url: SecretString::from(url.to_string()),
                schema: public(),
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

    fn config(&self, config: &Value) -> Result<PostgresConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
        }
    }
}

/// Connects; the connection task runs on the current runtime.
pub(crate) async fn connect(cfg: &PostgresConfig) -> Result<tokio_postgres::Client> {
    let (client, connection) =
        tokio_postgres::connect(cfg.url.expose_secret(), tokio_postgres::NoTls)
            .await
            .map_err(|e| {
                // The error never repeats the URL (it holds the password).
                let message = format!("cannot connect to PostgreSQL: {}", writer::describe(&e));
                if e.as_db_error().is_some() {
                    Error::config(message)
                } else {
                    Error::transient(message)
                }
            })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("PostgreSQL connection closed: {}", writer::describe(&e));
        }
    });
    Ok(client)
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

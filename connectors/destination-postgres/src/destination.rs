//! [`PostgresDestination`]: the writer as an intake [`Destination`].

use async_trait::async_trait;
use intake::destination::{Acks, Destination, DestinationInput, WriteSummary};
use intake::spec::{ConnectorSpec, parse_config};
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State};
use serde_json::Value;

use crate::client::connect;
use crate::config::{PostgresConfig, TlsMode, public};

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
                url: Some(intake::Secret::new(url)),
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

    pub(crate) fn config(&self, config: &Value) -> Result<PostgresConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
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
                crate::writer::quote(&cfg.schema)
            ))
            .await
            .map_err(|e| {
                Error::config(format!(
                    "the user cannot create or use the schema \"{}\": {}",
                    cfg.schema,
                    crate::writer::describe(&e)
                ))
            })
    }

    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        let cfg = self.config(config)?;
        let client = connect(&cfg).await?;
        crate::writer::stored_state(&client, &cfg.schema).await
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
        crate::writer::write(&mut client, &cfg, catalog, input, acks).await
    }
}

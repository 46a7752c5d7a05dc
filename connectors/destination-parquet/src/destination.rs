//! [`ParquetDestination`]: the writer as an intake [`Destination`].

use std::path::PathBuf;

use async_trait::async_trait;
use intake::destination::{Acks, Destination, DestinationInput, WriteSummary};
use intake::spec::{ConnectorSpec, parse_config};
use intake::{ConfiguredCatalog, DestinationSyncMode, Error, Result, State};
use serde_json::Value;

use crate::config::{ParquetConfig, default_row_group};

/// The Parquet destination. [`ParquetDestination::new`] fixes the folder in code; the default
/// instance reads `destination_path` from the config it is given.
#[derive(Debug, Clone, Default)]
pub struct ParquetDestination {
    preset: Option<ParquetConfig>,
}

impl ParquetDestination {
    /// Writes into this folder, whatever config JSON it is given.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ParquetDestination {
            preset: Some(ParquetConfig {
                destination_path: path.into(),
                row_group_rows: default_row_group(),
            }),
        }
    }

    pub(crate) fn config(&self, config: &Value) -> Result<ParquetConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    intake::destination::blocking("the Parquet writer", f).await
}

#[async_trait]
impl Destination for ParquetDestination {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<ParquetConfig>()
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/destination-parquet",
            )
            .destination_sync_modes(&[DestinationSyncMode::Append, DestinationSyncMode::Overwrite])
    }

    async fn check(&self, config: &Value) -> Result<()> {
        let cfg = self.config(config)?;
        blocking(move || {
            std::fs::create_dir_all(&cfg.destination_path).map_err(|e| {
                Error::config(format!(
                    "cannot create {}: {e}",
                    cfg.destination_path.display()
                ))
            })?;
            let probe = cfg.destination_path.join(".intake-check");
            std::fs::write(&probe, b"ok").map_err(|e| {
                Error::config(format!(
                    "{} is not writable: {e}",
                    cfg.destination_path.display()
                ))
            })?;
            let _ = std::fs::remove_file(probe);
            Ok(())
        })
        .await
    }

    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        let cfg = self.config(config)?;
        blocking(move || crate::writer::stored_state(&cfg.destination_path)).await
    }

    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let cfg = self.config(config)?;
        for s in &catalog.streams {
            if s.destination_sync_mode == DestinationSyncMode::AppendDedup {
                return Err(Error::config(format!(
                    "stream \"{}\" is configured append_dedup, which the Parquet destination does not do (its files are immutable); use append or overwrite, or the SQLite or PostgreSQL destination",
                    s.descriptor()
                )));
            }
        }
        let catalog = catalog.clone();
        blocking(move || crate::writer::Writer::start(&cfg, &catalog)?.run(input, acks)).await
    }
}

//! [`SqliteDestination`]: the writer as an intake [`Destination`].

use std::path::PathBuf;

use async_trait::async_trait;
use intake::destination::{Acks, Destination, DestinationInput, WriteSummary};
use intake::spec::{ConnectorSpec, parse_config};
use intake::{ConfiguredCatalog, DestinationSyncMode, Result, State};
use serde_json::Value;

use crate::config::{Journal, SqliteConfig, Synchronous};

/// The SQLite destination. [`SqliteDestination::open`] fixes the file in code; the default
/// instance reads `path` from the config it is given.
#[derive(Debug, Clone, Default)]
pub struct SqliteDestination {
    preset: Option<SqliteConfig>,
}

impl SqliteDestination {
    /// Writes into this database file, whatever config JSON it is given.
    pub fn open(path: impl Into<PathBuf>) -> Self {
        SqliteDestination {
            preset: Some(SqliteConfig {
                path: path.into(),
                synchronous: Synchronous::Normal,
                journal: Journal::Wal,
            }),
        }
    }

    /// Sets the durability level.
    pub fn synchronous(mut self, level: Synchronous) -> Self {
        if let Some(p) = self.preset.as_mut() {
            p.synchronous = level;
        }
        self
    }

    /// Sets the journal.
    pub fn journal(mut self, journal: Journal) -> Self {
        if let Some(p) = self.preset.as_mut() {
            p.journal = journal;
        }
        self
    }

    pub(crate) fn config(&self, config: &Value) -> Result<SqliteConfig> {
        match &self.preset {
            Some(p) => Ok(p.clone()),
            None => parse_config(config),
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    intake::destination::blocking("the SQLite writer", f).await
}

#[async_trait]
impl Destination for SqliteDestination {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<SqliteConfig>()
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/destination-sqlite",
            )
            .destination_sync_modes(&[
                DestinationSyncMode::Append,
                DestinationSyncMode::Overwrite,
                DestinationSyncMode::AppendDedup,
            ])
    }

    async fn check(&self, config: &Value) -> Result<()> {
        let cfg = self.config(config)?;
        blocking(move || crate::writer::open(&cfg).map(|_| ())).await
    }

    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        let cfg = self.config(config)?;
        if !cfg.path.exists() {
            return Ok(None);
        }
        blocking(move || crate::writer::stored_state(&crate::writer::open_to_read(&cfg)?)).await
    }

    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        let cfg = self.config(config)?;
        let catalog = catalog.clone();
        blocking(move || crate::writer::Writer::start(&cfg, &catalog)?.run(input, acks)).await
    }
}

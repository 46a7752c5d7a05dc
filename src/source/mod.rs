//! Sources and their streams.
//!
//! A [`Source`] is built from [`Stream`]s. A stream reads one partition at a time and yields
//! [`Page`]s of records; intake does everything around it: cursor tracking and boundary dedup
//! ([`crate::state::CursorTracker`]), checkpoints every N records or T seconds, concurrency
//! across streams and partitions, and stream statuses. A custom connector implements
//! [`Stream::read`] and declares the rest.

mod context;
mod driver;
mod events;
mod key;
mod namespaced;
mod prefetch;
mod skip;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::catalog::{Catalog, ConfiguredCatalog};
use crate::error::Result;
use crate::spec::ConnectorSpec;
use crate::state::State;

pub use context::{PartitionEnd, StreamContext, StreamMetrics};
pub use driver::{ReadOptions, read_streams};
pub use events::{Checkpoint, EventSender, LogLevel, SourceEvent, StreamStatus};
pub use key::PrimaryKey;
pub use namespaced::Namespaced;
pub use prefetch::prefetch;
pub use skip::{Skip, SkipOnError};
pub use stream::{DeclaredLimits, Page, PageStream, Partition, ReadRequest, Stream};

/// A data source: a config schema, a connection check, a catalog and the reading of streams.
///
/// Config arrives as JSON (what the user wrote); parse it into your typed config with
/// [`crate::spec::parse_config`]. The trait is object safe: `Box<dyn Source>` works.
#[async_trait]
pub trait Source: Send + Sync {
    /// The connector's spec (its config's JSON Schema).
    fn spec(&self) -> ConnectorSpec;

    /// Proves the config works (credentials, reachability); a config error says what to fix.
    async fn check(&self, config: &Value) -> Result<()>;

    /// The streams this config gives access to.
    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>>;

    /// The catalog. Default: every stream's [`Stream::describe`].
    async fn discover(&self, config: &Value) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        for stream in self.streams(config).await? {
            catalog.streams.push(stream.describe().await?);
        }
        Ok(catalog)
    }

    /// Reads the configured streams from `state`, sending events to `out`. Default: the
    /// standard driver over [`Source::streams`] ([`read_streams`]).
    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        let streams = self.streams(config).await?;
        read_streams(streams, catalog, state, options, out).await
    }
}

#[async_trait]
impl<S: Source + ?Sized> Source for Arc<S> {
    fn spec(&self) -> ConnectorSpec {
        (**self).spec()
    }
    async fn check(&self, config: &Value) -> Result<()> {
        (**self).check(config).await
    }
    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        (**self).streams(config).await
    }
    async fn discover(&self, config: &Value) -> Result<Catalog> {
        (**self).discover(config).await
    }
    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        (**self).read(config, catalog, state, options, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Keeps the traits object safe: this must compile.
    fn _object_safe(_: Box<dyn Source>, _: Box<dyn Stream>) {}
}

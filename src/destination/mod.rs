//! Destinations and acknowledgements.
//!
//! A [`Destination`] receives the configured catalog and an ordered stream of
//! [`DestinationMessage`]s: record batches, checkpoints and stream completions. It writes the
//! records in batches and, for each checkpoint, sends it back through [`Acks`] only once every
//! record before it is durable (and, where it can, stores the state with the data). The sync
//! engine persists state only from these acknowledgements, so state never runs ahead of data.

mod acks;
mod folder_lock;
pub mod jsonl;
mod message;
pub mod table;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::catalog::ConfiguredCatalog;
use crate::error::Result;
use crate::spec::ConnectorSpec;
use crate::state::State;

pub use acks::{Acks, StreamWriteSummary, WriteSummary};
pub use folder_lock::{FolderLock, LOCK_FILE};
pub use message::{DestinationInput, DestinationMessage, StreamEnd, StreamStart};

/// Runs a destination's blocking work (a file or an embedded database) off the async threads;
/// a panic in it is a system error naming `what` ("the SQLite writer stopped: ...").
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::Error::system(format!("{what} stopped: {e}")))?
}

/// A data destination.
///
/// Config arrives as JSON; parse it with [`crate::spec::parse_config`]. A destination built
/// in code with its settings (`JsonlDestination::new(dir)`) may ignore the JSON it is given.
/// The trait is object safe: `Box<dyn Destination>` works.
#[async_trait]
pub trait Destination: Send + Sync {
    /// The connector's spec.
    fn spec(&self) -> ConnectorSpec;

    /// Proves the config works (the path is writable, the server answers).
    async fn check(&self, config: &Value) -> Result<()>;

    /// The state stored with the data by earlier syncs, if this destination keeps one.
    /// Default: none.
    async fn stored_state(&self, _config: &Value) -> Result<Option<State>> {
        Ok(None)
    }

    /// Writes the messages until the input ends, acknowledging each checkpoint once the
    /// records before it are durable. Records after the last checkpoint may be discarded when
    /// the input ends. An `overwrite` stream replaces its old data only at a
    /// [`StreamEnd::Complete`]; at [`DestinationMessage::StreamStart`] without `resume` it
    /// discards what an earlier run staged.
    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary>;
}

#[async_trait]
impl<D: Destination + ?Sized> Destination for Arc<D> {
    fn spec(&self) -> ConnectorSpec {
        (**self).spec()
    }
    async fn check(&self, config: &Value) -> Result<()> {
        (**self).check(config).await
    }
    async fn stored_state(&self, config: &Value) -> Result<Option<State>> {
        (**self).stored_state(config).await
    }
    async fn write(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        input: DestinationInput,
        acks: Acks,
    ) -> Result<WriteSummary> {
        (**self).write(config, catalog, input, acks).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Keeps the trait object safe: this must compile.
    fn _object_safe(_: Box<dyn Destination>) {}
}

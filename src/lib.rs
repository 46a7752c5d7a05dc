//! # intake — a Rust SDK for data-ingestion connectors
//!
//! intake moves records from a **source** (an API, a file, a database) into a **destination**
//! (SQLite, PostgreSQL, Parquet, JSONL), incrementally, within the API's limits, and without
//! losing data when something crashes.
//!
//! ## The model on one page
//! - A connector's **config** is a typed struct (`Deserialize + JsonSchema`); its JSON Schema is
//!   the connector's [`ConnectorSpec`], with secret fields marked ([`spec::secret`]).
//! - A [`Source`] checks a config, discovers a [`Catalog`] of streams and reads them. It is
//!   built from [`Stream`]s: each has a name, a JSON Schema, a primary key, an optional
//!   [`Cursor`], optional [`Partition`]s, and reads [`Page`]s of [`Record`]s.
//! - A [`Record`] is a JSON object kept as its raw text: the hot path never re-parses it.
//! - [`State`] is per stream (and per partition): the cursor's maximum, the primary keys at that
//!   boundary (so an inclusive `updated >= cursor` filter loses nothing and duplicates nothing),
//!   and a resume token for a read that stopped mid-way.
//! - A [`Destination`] writes a [`ConfiguredCatalog`]'s streams (`append`, `overwrite`,
//!   `append_dedup`) and acknowledges each [`Checkpoint`] only once the records before it are
//!   durable.
//! - The engine ([`sync()`]) runs a source into a destination with bounded channels, bounded
//!   concurrency and checkpoints every N records or T seconds; state is stored only when the
//!   destination acknowledges it. A crash at any point loses nothing.
//! - Every failure is an [`Error`]: config (the user fixes something), transient (retry later)
//!   or system (a bug or a broken API contract).
//! - [`protocol`] makes any connector a binary that speaks the Airbyte protocol.
//!
//! ## Example: a custom source, synced to JSONL
//! ```
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use futures::StreamExt;
//! use intake::{Cursor, Page, PageStream, PrimaryKey, ReadRequest, Record, Source, Stream, ConnectorSpec};
//! use serde_json::{json, Value};
//!
//! struct Events;
//!
//! #[async_trait]
//! impl Stream for Events {
//!     fn name(&self) -> &str { "events" }
//!     async fn json_schema(&self) -> intake::Result<Value> {
//!         Ok(json!({"type": "object", "properties": {
//!             "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}}))
//!     }
//!     fn primary_key(&self) -> PrimaryKey { "id".into() }
//!     fn cursor(&self) -> Option<Cursor> { Some(Cursor::new("at")) }
//!     fn read(&self, request: ReadRequest) -> PageStream<'_> {
//!         let records = (1..=3)
//!             .map(|i| Record::from_value(&json!({"id": i, "at": format!("2024-01-0{i}T00:00:00Z")})))
//!             .collect::<intake::Result<Vec<_>>>();
//!         futures::stream::iter([records.map(Page::new)]).boxed()
//!     }
//! }
//!
//! struct Demo;
//!
//! #[async_trait]
//! impl Source for Demo {
//!     fn spec(&self) -> ConnectorSpec { ConnectorSpec::from_schema(json!({"type": "object"})) }
//!     async fn check(&self, _config: &Value) -> intake::Result<()> { Ok(()) }
//!     async fn streams(&self, _config: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
//!         Ok(vec![Arc::new(Events)])
//!     }
//! }
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> intake::Result<()> {
//! let dir = tempfile::tempdir()?;
//! let report = intake::sync(Demo, json!({}))
//!     .to(intake::destination::jsonl::JsonlDestination::new(dir.path()))
//!     .run()
//!     .await?;
//! assert_eq!(report.records_written(), 3);
//! # Ok(()) }
//! ```

// One exception, in `json::scan`: calling its SSE2 block scanner (x86-64 always has SSE2); the
// measurement that earns it is in docs/benchmarks.md.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod buffer;
pub mod catalog;
pub mod destination;
pub mod engine;
pub mod error;
pub mod fs;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "http")]
pub mod http;
pub mod json;

pub mod protocol;
pub mod record;
pub mod schema;
mod secret;
pub mod source;
pub mod spec;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

pub use async_trait::async_trait;
pub use catalog::{
    Catalog, CatalogStream, ConfiguredCatalog, ConfiguredStream, DestinationSyncMode,
    StreamDescriptor, SyncMode,
};
pub use destination::{
    Acks, Destination, DestinationInput, DestinationMessage, StreamEnd, StreamStart, WriteSummary,
};
pub use engine::{Progress, SyncBuilder, SyncReport, sync};
pub use error::{Error, FailureType, Result};
pub use record::{Record, RecordBatch, RecordBuilder};
pub use secret::Secret;
pub use source::{
    Checkpoint, DeclaredLimits, EventSender, Page, PageStream, Partition, PartitionEnd, PrimaryKey,
    ReadOptions, ReadRequest, Skip, Source, SourceEvent, Stream, StreamContext, StreamMetrics,
    StreamStatus, read_streams,
};
pub use spec::{ConfigUpdate, ConnectorSpec};
pub use state::{Cursor, CursorKind, State};
pub use tokio_util::sync::CancellationToken;

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The HTTP toolkit page's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/http.md")]
pub struct HttpDocDoctests;

/// The testing page's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
pub struct TestingDocDoctests;

//! A native runtime for Airbyte's declarative ("low-code") manifests on intake.
//!
//! About 475 of Airbyte's connectors are nothing but a `manifest.yaml` that airbyte-cdk's
//! Python runtime executes. This crate reads the same manifests, with the CDK's semantics at
//! every step, so a manifest runs unchanged and reads what Airbyte reads:
//! - [`Manifest`]: the YAML parsed, `$ref`s resolved, types and `$parameters` propagated, as
//!   the CDK's `ManifestReferenceResolver` and `ManifestComponentTransformer` do;
//! - [`interpolation`]: Jinja on minijinja with the CDK's context, macros, filters, Python
//!   methods on values, Python printing of values and the literal reading of results.
//!
//! - [`DeclarativeSource`]: the manifest as an intake `Source` (spec, `CheckStream`, full-refresh
//!   reads of `SimpleRetriever` streams through intake's HTTP stack). Components not
//!   implemented yet are refused when the manifest loads, by type and path.
//!
//! Errors name the manifest path of the node at fault (`streams[3].retriever.paginator`).

pub mod components;
pub mod error;
pub mod interpolation;
pub mod lint;
pub mod manifest;
mod source;
mod stream;

pub use error::{ManifestError, Result};
pub use manifest::Manifest;
pub use source::DeclarativeSource;
pub use stream::DeclarativeStream;

//! The destination's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of the Parquet destination.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParquetConfig {
    /// Folder to write a sub-folder of Parquet files per stream into; created if missing.
    pub destination_path: PathBuf,
    /// Rows per row group. Default 131,072: large enough for fast scans, small enough to
    /// bound the writer's memory.
    #[serde(default = "default_row_group")]
    pub row_group_rows: usize,
}

pub(crate) fn default_row_group() -> usize {
    131_072
}

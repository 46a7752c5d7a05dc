//! The destination's config: what a user writes. Field doc comments are the user docs (they
//! become the spec's descriptions).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How hard SQLite works to make a commit durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a process crash at every commit (WAL); the recommended setting.
    #[default]
    Normal,
    /// Also survives a power loss at every commit.
    Full,
    /// No syncs: fastest, and a power loss can corrupt the database. For throwaway runs.
    Off,
}

/// SQLite's journal: how a commit is made atomic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Journal {
    /// Write-ahead log (the default): readers keep reading while a sync writes.
    #[default]
    Wal,
    /// Rollback journal: new rows are written once instead of twice (WAL, then the file), but
    /// every commit syncs twice and blocks readers while it runs.
    Delete,
}

/// Settings of the SQLite destination.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// The database file; created if missing.
    pub path: PathBuf,
    /// `normal` (default), `full` or `off`; see the crate docs.
    #[serde(default)]
    pub synchronous: Synchronous,
    /// `wal` (default) or `delete`; see [`Journal`].
    #[serde(default)]
    pub journal: Journal,
}

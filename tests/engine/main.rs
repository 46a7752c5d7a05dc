//! The sync engine end to end: incremental runs, failures mid-write, interruptions and resumes.

#[path = "../support/mod.rs"]
mod support;

mod backpressure;
mod durability;
mod incremental;
mod sharing;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use intake::destination::jsonl::{JsonlDestination, STATE_FILE};
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::state::{CursorOrder, StreamState};
use intake::{
    CancellationToken, ConfiguredCatalog, ConnectorSpec, Cursor, Destination, DestinationSyncMode,
    Error, ReadOptions, Result, State, StreamDescriptor, SyncMode, async_trait,
};
use serde_json::{Value, json};
use support::*;
use tokio::sync::mpsc;

fn options(every: u64) -> ReadOptions {
    ReadOptions {
        checkpoint_records: every,
        ..ReadOptions::default()
    }
}

async fn source_catalog(source: &MemorySource) -> ConfiguredCatalog {
    use intake::Source;
    source.discover(&json!({})).await.unwrap().configure_all()
}

/// The committed part of a JSONL file: what a rerun keeps.
fn committed_ids(dir: &Path, file: &str) -> Vec<i64> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(STATE_FILE)).unwrap()).unwrap();
    let len = state["files"][file].as_u64().unwrap_or(0) as usize;
    let bytes = std::fs::read(dir.join(file)).unwrap_or_default();
    let text = String::from_utf8(bytes[..len.min(bytes.len())].to_vec()).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

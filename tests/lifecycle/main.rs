//! A stream's life between source, engine and destination: a table is only ever replaced by a
//! complete read, a cursor only advances past what was read, and a sync stops when told.
//! Each test is named after the scenario of the lifecycle issue it proves.
#[path = "../support/mod.rs"]
mod support;

mod cancel;
mod ends;
mod limits;
mod resume;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use intake::PrimaryKey;
use intake::destination::jsonl::JsonlDestination;
use intake::destination::{Acks, DestinationInput, DestinationMessage, WriteSummary};
use intake::protocol::run_destination_with;
use intake::source::{Skip, SkipOnError};
use intake::state::StreamState;
use intake::{
    ConfiguredCatalog, ConnectorSpec, Cursor, Destination, DestinationSyncMode, Error, PageStream,
    ReadOptions, ReadRequest, Result, Source, State, Stream, StreamDescriptor, StreamStatus,
    async_trait,
};
use serde_json::{Value, json};

use support::*;

/// A source over any streams.
#[derive(Clone)]
struct Streams(Vec<Arc<dyn Stream>>);

#[async_trait]
impl Source for Streams {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({"type": "object", "properties": {}}))
    }
    async fn check(&self, _config: &Value) -> Result<()> {
        Ok(())
    }
    async fn streams(&self, _config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(self.0.clone())
    }
}

fn every(n: u64) -> ReadOptions {
    ReadOptions {
        checkpoint_records: n,
        ..ReadOptions::default()
    }
}

fn d(name: &str) -> StreamDescriptor {
    StreamDescriptor::new(name)
}

fn overwrite_catalog() -> ConfiguredCatalog {
    serde_json::from_value(json!({"streams": [{
        "stream": {"name": "contacts", "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
                   "supported_sync_modes": ["full_refresh"]},
        "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}))
    .unwrap()
}

fn record(id: u64) -> String {
    json!({"type": "RECORD", "record": {"stream": "contacts", "data": {"id": id}, "emitted_at": 1}})
        .to_string()
}

fn status(s: &str) -> String {
    json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 1.0,
        "stream_status": {"stream_descriptor": {"name": "contacts"}, "status": s}}})
    .to_string()
}

fn state(token: Option<u64>) -> String {
    let blob = match token {
        Some(t) => json!({"resume": {"token": t}}),
        None => json!({}),
    };
    json!({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "contacts"}, "stream_state": blob}}})
    .to_string()
}

async fn write(dir: &std::path::Path, lines: &[String]) -> i32 {
    let config = dir.join("config.json");
    let catalog = dir.join("catalog.json");
    let out = dir.join("out");
    std::fs::write(&config, json!({"destination_path": out}).to_string()).unwrap();
    std::fs::write(
        &catalog,
        serde_json::to_string(&overwrite_catalog()).unwrap(),
    )
    .unwrap();
    let input = lines.join("\n") + "\n";
    let mut stdout = Vec::new();
    let args = vec![
        "write".to_string(),
        "--config".into(),
        config.display().to_string(),
        "--catalog".into(),
        catalog.display().to_string(),
    ];
    run_destination_with(
        &JsonlDestination::default(),
        args,
        input.as_bytes(),
        &mut stdout,
    )
    .await
}

fn ids(dir: &std::path::Path) -> Vec<i64> {
    read_jsonl(&dir.join("out/contacts.jsonl"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

//! The HubSpot source against the sandbox (a wiremock model of CRM v3 with generated data):
//! the acceptance suite, then each behaviour the API forces on a connector.

mod limits;
mod protocol;
mod reads;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use intake::destination::jsonl::JsonlDestination;
use intake::source::StreamContext;
use intake::testing::{Fault, acceptance, checks};
use intake::{Partition, ReadRequest, Record, Source, Stream, SyncMode};
use intake_source_hubspot::mock::{CARS_TYPE_ID, Sandbox, SandboxSpec};
use intake_source_hubspot::{HubSpotConfig, HubSpotSource, SEARCH_CAP, api};
use serde_json::{Value, json};

async fn stream(config: &Value, name: &str) -> Arc<dyn Stream> {
    HubSpotSource::new()
        .streams(config)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no stream {name}"))
}

/// Every record of a read of every partition, as JSON.
async fn read_all(stream: &dyn Stream, request: ReadRequest) -> intake::Result<Vec<Value>> {
    let mut out = Vec::new();
    for partition in stream.partitions().await? {
        let mut request = request.clone();
        request.partition = partition;
        let mut pages = stream.read(request);
        while let Some(page) = pages.next().await {
            out.extend(page?.records.iter().map(|r: &Record| r.to_value().unwrap()));
        }
    }
    Ok(out)
}

fn full(name: &str) -> ReadRequest {
    ReadRequest::full_refresh(name, Partition::whole())
}

fn since(name: &str, start: &str) -> ReadRequest {
    full(name).starting_at(Some(json!(start)))
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "intake-hubspot-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

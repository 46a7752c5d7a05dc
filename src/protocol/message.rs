//! Airbyte protocol messages: writing them (one JSON object per line) and reading them.

use std::io::Write;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::catalog::{Catalog, StreamDescriptor};
use crate::error::{Error, FailureType};
use crate::record::{RecordBatch, now_millis};
use crate::source::{Checkpoint, LogLevel, StreamStatus};
use crate::spec::ConnectorSpec;

/// Writes protocol messages, one per line, to any writer (stdout in a connector binary).
pub struct MessageWriter<W: Write> {
    out: W,
    stream_prefix: Vec<u8>,
}

impl<W: Write> MessageWriter<W> {
    /// Wraps a writer. Buffer it (`BufWriter`) for speed; call [`MessageWriter::flush`].
    pub fn new(out: W) -> Self {
        MessageWriter {
            out,
            stream_prefix: Vec::new(),
        }
    }

    /// Writes a JSON value as one line.
    pub fn value(&mut self, message: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, message)?;
        self.out.write_all(b"\n")
    }

    /// `SPEC`.
    pub fn spec(&mut self, spec: &ConnectorSpec) -> std::io::Result<()> {
        self.value(&json!({"type": "SPEC", "spec": spec}))
    }

    /// `CONNECTION_STATUS`: `SUCCEEDED`, or `FAILED` with a message.
    pub fn connection_status(&mut self, failure: Option<&Error>) -> std::io::Result<()> {
        let status = match failure {
            None => json!({"status": "SUCCEEDED"}),
            Some(e) => json!({"status": "FAILED", "message": e.message()}),
        };
        self.value(&json!({"type": "CONNECTION_STATUS", "connectionStatus": status}))
    }

    /// `CATALOG`.
    pub fn catalog(&mut self, catalog: &Catalog) -> std::io::Result<()> {
        self.value(&json!({"type": "CATALOG", "catalog": catalog}))
    }

    /// One `RECORD` line per record of the batch. The record's JSON is copied as it is.
    pub fn records(&mut self, batch: &RecordBatch) -> std::io::Result<()> {
        self.stream_prefix.clear();
        self.stream_prefix
            .extend_from_slice(br#"{"type":"RECORD","record":{"stream":"#);
        serde_json::to_writer(&mut self.stream_prefix, &batch.stream.name)?;
        if let Some(ns) = &batch.stream.namespace {
            self.stream_prefix.extend_from_slice(br#","namespace":"#);
            serde_json::to_writer(&mut self.stream_prefix, ns)?;
        }
        write!(
            self.stream_prefix,
            r#","emitted_at":{},"data":"#,
            batch.emitted_at
        )?;
        for r in &batch.records {
            self.out.write_all(&self.stream_prefix)?;
            self.out.write_all(r.json().as_bytes())?;
            self.out.write_all(b"}}\n")?;
        }
        Ok(())
    }

    /// `STATE` of type `STREAM`, with the record count since the previous state.
    pub fn state(&mut self, checkpoint: &Checkpoint) -> std::io::Result<()> {
        self.value(&state_message(
            &checkpoint.stream,
            &checkpoint.state,
            checkpoint.records,
        ))
    }

    /// `LOG`.
    pub fn log(&mut self, level: LogLevel, message: &str) -> std::io::Result<()> {
        let level = match level {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
        };
        self.value(&json!({"type": "LOG", "log": {"level": level, "message": message}}))
    }

    /// `TRACE` of type `ERROR`, with the failure type and the cause chain.
    pub fn error(
        &mut self,
        error: &Error,
        stream: Option<&StreamDescriptor>,
    ) -> std::io::Result<()> {
        let failure_type: FailureType = error.failure_type();
        let mut e = json!({
            "message": error.message(),
            "internal_message": error.chain(),
            "failure_type": failure_type,
        });
        if let Some(d) = stream {
            e["stream_descriptor"] = json!(d);
        }
        self.value(&json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": now_millis() as f64, "error": e}}))
    }

    /// `TRACE` of type `STREAM_STATUS`.
    pub fn stream_status(
        &mut self,
        stream: &StreamDescriptor,
        status: &StreamStatus,
    ) -> std::io::Result<()> {
        let (name, reasons) = match status {
            StreamStatus::Started => ("STARTED", None),
            StreamStatus::Running => ("RUNNING", None),
            StreamStatus::Complete => ("COMPLETE", None),
            // The protocol has no "skipped": a skipped stream was not read completely.
            StreamStatus::Incomplete | StreamStatus::Skipped => ("INCOMPLETE", None),
            StreamStatus::RateLimited { reset_at_ms } => {
                let mut limited = json!({});
                if let Some(at) = reset_at_ms {
                    limited["quota_reset"] = json!(at);
                }
                (
                    "RUNNING",
                    Some(json!([{"type": "RATE_LIMITED", "rate_limited": limited}])),
                )
            }
        };
        let mut s = json!({"stream_descriptor": stream, "status": name});
        if let Some(r) = reasons {
            s["reasons"] = r;
        }
        self.value(&json!({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": now_millis() as f64, "stream_status": s}}))
    }

    /// `CONTROL` of type `CONNECTOR_CONFIG`: an updated config to persist (a rotated token).
    pub fn connector_config(&mut self, config: &Value) -> std::io::Result<()> {
        self.value(&json!({"type": "CONTROL", "control": {"type": "CONNECTOR_CONFIG", "emitted_at": now_millis() as f64, "connectorConfig": {"config": config}}}))
    }

    /// Flushes the writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A `STATE` message of type `STREAM`. A null blob (a stream without state) leaves
/// `stream_state` out: the protocol makes it optional, but an object when present.
pub fn state_message(stream: &StreamDescriptor, blob: &Value, records: u64) -> Value {
    let mut stream_state = json!({"stream_descriptor": stream});
    if !blob.is_null() {
        stream_state["stream_state"] = blob.clone();
    }
    json!({
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": stream_state,
            "sourceStats": {"recordCount": records as f64}
        }
    })
}

/// A message read from a source's output (a destination's input), with the record's data kept
/// raw. Unknown message types and fields are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct InputMessage {
    /// The message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `RECORD`.
    #[serde(default)]
    pub record: Option<InputRecord>,
    /// For `STATE`.
    #[serde(default)]
    pub state: Option<Value>,
    /// For `TRACE`.
    #[serde(default)]
    pub trace: Option<Value>,
}

/// A `RECORD`'s content.
#[derive(Debug, Deserialize)]
pub struct InputRecord {
    /// The stream.
    pub stream: String,
    /// Its namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The record.
    pub data: Box<RawValue>,
    /// When the source emitted it.
    #[serde(default)]
    pub emitted_at: Option<f64>,
}

//! A destination's commands: `spec`, `check` and `write`, protocol messages read from stdin
//! and turned into the destination's input.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};
use tokio::sync::mpsc;

use super::command::{Command, exit, finish, parse_args, read_catalog, read_json, runtime};
use super::message::{InputMessage, MessageWriter, state_message};
use crate::catalog::{ConfiguredCatalog, StreamDescriptor};
use crate::destination::{Acks, Destination, DestinationMessage, StreamEnd, StreamStart};
use crate::error::{Error, Result, excerpt};
use crate::record::{Record, RecordBatch};
use crate::source::Checkpoint;
use crate::state::StreamStateMessage;

/// Runs a destination connector's command line on stdin/stdout; returns the exit code.
pub fn run_destination<D: Destination>(destination: D) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match runtime() {
        Ok(rt) => rt.block_on(async {
            let stdin = tokio::io::BufReader::with_capacity(1 << 20, tokio::io::stdin());
            run_destination_with(&destination, args, stdin, std::io::stdout()).await
        }),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            1
        }
    };
    exit(code)
}

/// Runs a destination command with the given arguments, reading messages from `input` and
/// writing to `out` (acknowledged STATE messages are echoed). Returns the exit code.
pub async fn run_destination_with<D, R, W>(
    destination: &D,
    args: Vec<String>,
    input: R,
    out: W,
) -> i32
where
    D: Destination + ?Sized,
    R: AsyncBufRead + Unpin + Send,
    W: Write + Send,
{
    let mut w = MessageWriter::new(std::io::BufWriter::with_capacity(1 << 16, out));
    let result = destination_command(destination, args, input, &mut w).await;
    finish(w, result)
}

async fn destination_command<D, R, W>(
    destination: &D,
    args: Vec<String>,
    input: R,
    w: &mut MessageWriter<W>,
) -> Result<()>
where
    D: Destination + ?Sized,
    R: AsyncBufRead + Unpin + Send,
    W: Write + Send,
{
    let io = |e: std::io::Error| Error::system(format!("writing to stdout: {e}"));
    match parse_args(args)? {
        Command::Spec => w.spec(&destination.spec()).map_err(io),
        Command::Check { config } => {
            let config = read_json(&config, "config").await?;
            match destination.check(&config).await {
                Ok(()) => w.connection_status(None).map_err(io),
                Err(e) if e.is_config() => w.connection_status(Some(&e)).map_err(io),
                Err(e) => Err(e),
            }
        }
        Command::Write { config, catalog } => {
            let config = read_json(&config, "config").await?;
            let catalog = read_catalog(&catalog).await?;
            // The state the destination stored is the one an orchestrator hands the source (it
            // is what this command echoed): an overwrite resumes only where it says so.
            let stored = destination.stored_state(&config).await?.unwrap_or_default();
            let resuming: HashSet<StreamDescriptor> = catalog
                .streams
                .iter()
                .map(|s| s.descriptor())
                .filter(|d| stored.resumes(d))
                .collect();
            let (tx, rx) = mpsc::channel(16);
            let (acks, mut ack_rx) = Acks::channel();
            let feed = feed_destination(input, &catalog, &resuming, tx, MAX_MESSAGE_BYTES);
            let write = destination.write(&config, &catalog, rx, acks);
            let echo = async {
                while let Some(cp) = ack_rx.recv().await {
                    w.value(&state_message(&cp.stream, &cp.state, cp.records))
                        .and_then(|_| w.flush())
                        .map_err(io)?;
                }
                Ok::<(), Error>(())
            };
            let (fed, written, echoed) = tokio::join!(feed, write, echo);
            // The destination's error explains a feed that found the channel closed.
            written?;
            echoed?;
            fed
        }
        Command::Discover { .. } | Command::Read { .. } => Err(Error::config(
            "this is a destination; it answers spec, check and write",
        )),
    }
}

const INPUT_BATCH: usize = 1_000;

/// Feeds `input` to a destination that drains it, as `write` would (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) async fn feed_for_fuzzing(input: &[u8], catalog: &ConfiguredCatalog) -> Result<u64> {
    let (tx, mut rx) = mpsc::channel(64);
    let drain = async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    };
    let resuming = HashSet::new();
    let (fed, n) = tokio::join!(
        feed_destination(input, catalog, &resuming, tx, 1 << 20),
        drain
    );
    fed.map(|()| n)
}

/// The longest input line (one message) a destination accepts: a record larger than this is
/// refused with an error instead of growing memory without bound.
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;

/// Reads protocol messages and turns them into destination messages: consecutive records of a
/// stream become batches, STATE messages become checkpoints. A stream starts at its
/// STREAM_STATUS STARTED (or its first record or state), resuming if it is in `resuming`; it
/// ends at COMPLETE or INCOMPLETE. The end of the input is not a stream's end: a stream that
/// started without a COMPLETE was not read completely (its source died), and an overwrite keeps
/// the old table. Only an input without any STREAM_STATUS (a source older than statuses)
/// completes its streams at the end of the input.
async fn feed_destination<R: AsyncBufRead + Unpin>(
    mut input: R,
    catalog: &ConfiguredCatalog,
    resuming: &HashSet<StreamDescriptor>,
    tx: mpsc::Sender<DestinationMessage>,
    max_line: u64,
) -> Result<()> {
    let send = |m: DestinationMessage| {
        let tx = tx.clone();
        async move { tx.send(m).await.map_err(|_| Error::Cancelled) }
    };
    let descriptors: HashMap<StreamDescriptor, Arc<StreamDescriptor>> = catalog
        .streams
        .iter()
        .map(|s| (s.descriptor(), Arc::new(s.descriptor())))
        .collect();
    let mut pending: Option<RecordBatch> = None;
    let mut counts: HashMap<StreamDescriptor, u64> = HashMap::new();
    let mut started: HashSet<StreamDescriptor> = HashSet::new();
    let mut done: HashSet<StreamDescriptor> = HashSet::new();
    let mut statuses_seen = false;
    // Sends a stream's start once, before anything else of it.
    let start = |started: &mut HashSet<StreamDescriptor>, stream: &Arc<StreamDescriptor>| {
        let first = started.insert((**stream).clone());
        let resume = resuming.contains(&**stream);
        first.then(|| DestinationMessage::StreamStart(stream.clone(), StreamStart { resume }))
    };
    let mut seq = 0u64;
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = (&mut input)
            .take(max_line + 1)
            .read_line(&mut line)
            .await
            .map_err(|e| {
                Error::system(format!("reading message {} from stdin: {e}", line_no + 1))
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if n as u64 > max_line {
            return Err(Error::system(format!(
                "input line {line_no} is longer than {max_line} bytes: refused (one message must fit in memory); it starts {}",
                excerpt(&line[..line.floor_char_boundary(200)])
            )));
        }
        if line.trim().is_empty() {
            continue;
        }
        let msg: InputMessage = serde_json::from_str(&line).map_err(|e| {
            Error::system(format!(
                "input line {line_no} is not a protocol message ({e}): {}",
                excerpt(line.trim())
            ))
        })?;
        match msg.kind.as_str() {
            "RECORD" => {
                let r = msg.record.ok_or_else(|| {
                    Error::system(format!("input line {line_no}: RECORD without a record"))
                })?;
                let d = StreamDescriptor {
                    name: r.stream,
                    namespace: r.namespace,
                };
                let stream = descriptors.get(&d).cloned().ok_or_else(|| {
                    Error::system(format!("input line {line_no}: a record for stream \"{d}\", which is not in the catalog"))
                })?;
                let record = Record::from_raw(r.data)
                    .map_err(|e| e.context(format!("input line {line_no}")))?;
                *counts.entry(d).or_default() += 1;
                let same = pending.as_ref().is_some_and(|b| b.stream == stream);
                if !same {
                    if let Some(b) = pending.take() {
                        send(DestinationMessage::Records(b)).await?;
                    }
                    if let Some(m) = start(&mut started, &stream) {
                        send(m).await?;
                    }
                    let mut batch = RecordBatch::new(stream, Vec::with_capacity(INPUT_BATCH));
                    if let Some(at) = r.emitted_at {
                        batch.emitted_at = at as i64;
                    }
                    pending = Some(batch);
                }
                if let Some(b) = pending.as_mut() {
                    b.records.push(record);
                    if b.records.len() >= INPUT_BATCH
                        && let Some(b) = pending.take()
                    {
                        send(DestinationMessage::Records(b)).await?;
                    }
                }
            }
            "STATE" => {
                if let Some(b) = pending.take() {
                    send(DestinationMessage::Records(b)).await?;
                }
                let state = msg.state.unwrap_or(Value::Null);
                for s in
                    stream_states(&state).map_err(|e| e.context(format!("input line {line_no}")))?
                {
                    seq += 1;
                    let records = counts.remove(&s.stream_descriptor).unwrap_or(0);
                    let stream = descriptors
                        .get(&s.stream_descriptor)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(s.stream_descriptor.clone()));
                    if descriptors.contains_key(&*stream)
                        && let Some(m) = start(&mut started, &stream)
                    {
                        send(m).await?;
                    }
                    send(DestinationMessage::Checkpoint(Checkpoint {
                        seq,
                        stream,
                        state: s.stream_state.unwrap_or(Value::Null),
                        records,
                    }))
                    .await?;
                }
            }
            "TRACE" => {
                let trace = msg.trace.unwrap_or(Value::Null);
                if trace.get("type").and_then(Value::as_str) != Some("STREAM_STATUS") {
                    continue;
                }
                let status = &trace["stream_status"];
                let Ok(d) =
                    serde_json::from_value::<StreamDescriptor>(status["stream_descriptor"].clone())
                else {
                    continue;
                };
                statuses_seen = true;
                let Some(stream) = descriptors.get(&d).cloned() else {
                    continue;
                };
                let end = match status["status"].as_str() {
                    Some("COMPLETE") => StreamEnd::Complete,
                    Some("INCOMPLETE") => StreamEnd::Failed,
                    Some("STARTED") => {
                        if let Some(m) = start(&mut started, &stream) {
                            if let Some(b) = pending.take() {
                                send(DestinationMessage::Records(b)).await?;
                            }
                            send(m).await?;
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let Some(b) = pending.take() {
                    send(DestinationMessage::Records(b)).await?;
                }
                if !done.insert(d) {
                    continue;
                }
                if let Some(m) = start(&mut started, &stream) {
                    send(m).await?;
                }
                send(DestinationMessage::StreamEnd(stream, end)).await?;
            }
            // LOG, CONTROL and anything newer carry nothing a destination writes.
            _ => {}
        }
    }
    if let Some(b) = pending.take() {
        send(DestinationMessage::Records(b)).await?;
    }
    if statuses_seen {
        // Streams that started and did not end were not read completely: they get no end.
        return Ok(());
    }
    // A source that sends no statuses at all ends its streams only by ending its output.
    for s in &catalog.streams {
        let d = s.descriptor();
        if let Some(stream) = descriptors.get(&d) {
            if let Some(m) = start(&mut started, stream) {
                send(m).await?;
            }
            send(DestinationMessage::StreamEnd(
                stream.clone(),
                StreamEnd::Complete,
            ))
            .await?;
        }
    }
    Ok(())
}

/// The per-stream states in a STATE message: one for `STREAM`, each stream's for `GLOBAL`.
fn stream_states(state: &Value) -> Result<Vec<StreamStateMessage>> {
    let states = stream_states_any(state)?;
    // The protocol's state blob is an object (or absent): anything else could not be echoed
    // or stored as the protocol defines it.
    if let Some(bad) = states.iter().find(|s| {
        s.stream_state
            .as_ref()
            .is_some_and(|b| !b.is_object() && !b.is_null())
    }) {
        return Err(Error::system(format!(
            "the state of stream \"{}\" is not a JSON object: {}",
            bad.stream_descriptor,
            excerpt(&bad.stream_state.clone().unwrap_or_default().to_string())
        )));
    }
    Ok(states)
}

fn stream_states_any(state: &Value) -> Result<Vec<StreamStateMessage>> {
    match state.get("type").and_then(Value::as_str) {
        Some("STREAM") | None if state.get("stream").is_some() => {
            let s: StreamStateMessage = serde_json::from_value(state["stream"].clone())
                .map_err(|e| Error::system(format!("unreadable STREAM state: {e}")))?;
            Ok(vec![s])
        }
        Some("GLOBAL") => serde_json::from_value(state["global"]["stream_states"].clone())
            .map_err(|e| Error::system(format!("unreadable GLOBAL state: {e}"))),
        _ => Err(Error::system(format!(
            "only STREAM and GLOBAL state messages are supported, got {}",
            excerpt(&state.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_input_line_past_the_limit_is_refused_without_reading_it_all() {
        let catalog: ConfiguredCatalog = serde_json::from_value(serde_json::json!({"streams": [{
            "stream": {"name": "s", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
        .unwrap();
        let ok = r#"{"type":"RECORD","record":{"stream":"s","data":{"id":1},"emitted_at":1}}"#;
        let big = format!(
            r#"{{"type":"RECORD","record":{{"stream":"s","data":{{"x":"{}"}},"emitted_at":1}}}}"#,
            "a".repeat(10_000)
        );
        let input = format!("{ok}\n{big}\n{ok}\n");
        let (tx, mut rx) = mpsc::channel(16);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let err = feed_destination(input.as_bytes(), &catalog, &HashSet::new(), tx, 1_000)
            .await
            .unwrap_err();
        drain.await.unwrap();
        assert!(
            err.to_string()
                .contains("input line 2 is longer than 1000 bytes"),
            "{err}"
        );
        // Invalid UTF-8 is a typed error too.
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let err = feed_destination(
            &b"{\"type\": \"\xff\"}\n"[..],
            &catalog,
            &HashSet::new(),
            tx,
            1_000,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("reading message 1"), "{err}");
    }
}

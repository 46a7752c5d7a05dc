//! What intake stores for one stream: its cursor state, per partition, and where a read stopped.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cursor::Cursor;
use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result, excerpt};

/// Where an interrupted read stopped, so it can continue instead of starting over.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResumePoint {
    /// The stream's token for the next page (a page cursor, an offset, a URL).
    pub token: Value,
    /// The start value the interrupted pass was reading from, so the token stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Value>,
    /// The largest cursor value delivered by the interrupted pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Primary keys of the records at `max`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_keys: Vec<Value>,
    /// The interrupted full refresh read this partition to its end: a resumed read skips it.
    /// Cleared from the state once the whole stream is read, so the next sync reads it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
}

impl ResumePoint {
    /// The mark of a partition a full refresh has read to its end.
    pub fn done() -> Self {
        ResumePoint {
            token: Value::Null,
            done: true,
            ..Default::default()
        }
    }
}

/// The state of one partition (or of an unpartitioned stream).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CursorState {
    /// The largest cursor value delivered by a completed read (or, for ascending streams, by
    /// any read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Value>,
    /// Primary keys of the records whose cursor equals `cursor`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundary_keys: Vec<Value>,
    /// Set while a read is in progress and can be resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumePoint>,
    /// Fields intake does not use, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CursorState {
    /// Combines two states of the same partition: the later cursor wins, with its boundary keys
    /// (both sides' keys when the cursors are equal). Commutative, associative and idempotent,
    /// so acknowledgements applied in any order give the same result.
    pub fn merge(&self, other: &CursorState, cursor: &Cursor) -> CursorState {
        let a = self.cursor.as_ref().and_then(|v| cursor.parse(v));
        let b = other.cursor.as_ref().and_then(|v| cursor.parse(v));
        let ord = match (&a, &b) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        let (winner, mut keys) = match ord {
            Ordering::Greater => (self, self.boundary_keys.clone()),
            Ordering::Less => (other, other.boundary_keys.clone()),
            Ordering::Equal => {
                let mut keys = self.boundary_keys.clone();
                keys.extend(other.boundary_keys.iter().cloned());
                // Equal cursors with different JSON spellings: pick one deterministically.
                let w = if canonical(&self.cursor) >= canonical(&other.cursor) {
                    self
                } else {
                    other
                };
                (w, keys)
            }
        };
        keys.sort_by_key(|k| k.to_string());
        keys.dedup();
        let mut extra = other.extra.clone();
        for (k, v) in &self.extra {
            extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        CursorState {
            cursor: winner.cursor.clone(),
            boundary_keys: keys,
            resume: None,
            extra,
        }
    }
}

fn canonical(v: &Option<Value>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

/// The state of one partition of a partitioned stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The partition's identity, as the stream listed it.
    pub partition: Value,
    /// Its cursor state.
    #[serde(flatten)]
    pub state: CursorState,
}

/// The state intake keeps for one stream (see the module docs for its JSON shape).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StreamState {
    /// The state of the whole stream when it is not partitioned.
    #[serde(flatten)]
    pub root: CursorState,
    /// Per-partition states. Change them through [`StreamState::set_partition`], which keeps
    /// the lookup index current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionState>,
    /// Where each partition sits in `partitions`, by its key's JSON text: a stream with
    /// thousands of partitions is read with one lookup per page, not a scan of the list.
    #[serde(skip)]
    index: PartitionIndex,
}

/// The partition lookup of a [`StreamState`]; not part of its value (always equal).
#[derive(Debug, Clone, Default)]
struct PartitionIndex(std::collections::HashMap<String, usize>);

impl PartialEq for PartitionIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl StreamState {
    /// Reads a stream's state blob; anything that is not an object of the expected shape is a
    /// config error (a corrupt or foreign state file).
    pub fn from_value(stream: &StreamDescriptor, value: &Value) -> Result<StreamState> {
        if value.is_null() {
            return Ok(StreamState::default());
        }
        if !value.is_object() {
            return Err(corrupt(
                stream,
                "a stream state must be a JSON object",
                value,
            ));
        }
        let mut state: StreamState = serde_json::from_value(value.clone())
            .map_err(|e| corrupt(stream, &format!("unreadable stream state ({e})"), value))?;
        state.reindex();
        Ok(state)
    }

    fn reindex(&mut self) {
        self.index.0 = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.partition.to_string(), i))
            .collect();
    }

    fn position(&self, partition: &Value) -> Option<usize> {
        if self.index.0.len() == self.partitions.len() {
            let i = *self.index.0.get(&partition.to_string())?;
            return (self.partitions.get(i)?.partition == *partition).then_some(i);
        }
        // Partitions pushed without the index (a caller editing the list): look them up.
        self.partitions
            .iter()
            .position(|p| &p.partition == partition)
    }

    /// The blob as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Object(Map::new()))
    }

    /// Forgets which partitions an interrupted full refresh had finished
    /// ([`ResumePoint::done`]): the stream was read to its end.
    pub fn clear_done(&mut self) {
        for s in
            std::iter::once(&mut self.root).chain(self.partitions.iter_mut().map(|p| &mut p.state))
        {
            if s.resume.as_ref().is_some_and(|r| r.done) {
                s.resume = None;
            }
        }
    }

    /// The state of a partition (`Value::Null` is the unpartitioned stream).
    pub fn partition(&self, partition: &Value) -> Option<&CursorState> {
        if partition.is_null() {
            return Some(&self.root);
        }
        self.position(partition).map(|i| &self.partitions[i].state)
    }

    /// Replaces a partition's state.
    pub fn set_partition(&mut self, partition: &Value, state: CursorState) {
        if partition.is_null() {
            self.root = state;
            return;
        }
        if self.index.0.len() != self.partitions.len() {
            self.reindex();
        }
        match self.position(partition) {
            Some(i) => self.partitions[i].state = state,
            None => {
                self.index
                    .0
                    .insert(partition.to_string(), self.partitions.len());
                self.partitions.push(PartitionState {
                    partition: partition.clone(),
                    state,
                });
            }
        }
    }
}

fn corrupt(stream: &StreamDescriptor, what: &str, value: &Value) -> Error {
    Error::config(format!(
        "corrupt state for stream \"{stream}\": {what}, got {}; fix or delete the state to start over",
        excerpt(&value.to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_state_round_trips_exactly() {
        let blob = json!({
            "cursor": "2024-01-01T00:00:00Z", "boundary_keys": [["1"]], "custom": {"a": 1},
            "partitions": [{"partition": {"list": "x"}, "cursor": 5, "other": true}]
        });
        let s = StreamState::from_value(&StreamDescriptor::new("s"), &blob).unwrap();
        assert_eq!(s.to_value(), blob);
        assert_eq!(
            s.partition(&json!({"list": "x"})).unwrap().cursor,
            Some(json!(5))
        );
    }
}

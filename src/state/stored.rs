//! The state of a whole connection, in every form the Airbyte protocol carries it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::stream::StreamState;
use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result, excerpt};

/// The state of a whole connection: one blob per stream, plus the shared blob of a `GLOBAL`
/// state when the orchestrator sent one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    streams: BTreeMap<StreamDescriptor, Value>,
    shared: Option<Value>,
}

/// Per-stream state as the protocol's `STATE` message carries it (`type: STREAM`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStateMessage {
    /// The stream.
    pub stream_descriptor: StreamDescriptor,
    /// Its blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_state: Option<Value>,
}

impl State {
    /// An empty state (a first run).
    pub fn new() -> Self {
        State::default()
    }

    /// Parses a state file. Accepts `[]`, an empty file, a list of `STREAM`, `GLOBAL` or
    /// `LEGACY` messages, one such message, or a legacy object keyed by stream name. Anything
    /// else is a config error.
    pub fn parse(text: &str) -> Result<State> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(State::new());
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::config(format!(
                "the state file is not valid JSON ({e}); fix or delete it"
            ))
        })?;
        State::from_value(&value)
    }

    /// Reads a state from its JSON value (see [`State::parse`]).
    pub fn from_value(value: &Value) -> Result<State> {
        let mut state = State::new();
        match value {
            Value::Null => {}
            Value::Array(messages) => {
                for m in messages {
                    state.absorb_message(m)?;
                }
            }
            Value::Object(map)
                if map.contains_key("type")
                    || map.contains_key("stream")
                    || map.contains_key("global") =>
            {
                state.absorb_message(value)?;
            }
            Value::Object(map) => {
                for (name, blob) in map {
                    state.set_stream(StreamDescriptor::new(name), blob.clone());
                }
            }
            other => {
                return Err(Error::config(format!(
                    "the state must be a list of state messages, got {}",
                    excerpt(&other.to_string())
                )));
            }
        }
        Ok(state)
    }

    fn absorb_message(&mut self, m: &Value) -> Result<()> {
        // Accept both a bare AirbyteStateMessage and one wrapped in an AirbyteMessage.
        let m = match (m.get("type").and_then(Value::as_str), m.get("state")) {
            (Some("STATE"), Some(inner)) => inner,
            _ => m,
        };
        let Some(obj) = m.as_object() else {
            return Err(Error::config(format!(
                "a state message must be an object, got {}",
                excerpt(&m.to_string())
            )));
        };
        let kind =
            obj.get("type")
                .and_then(Value::as_str)
                .unwrap_or(if obj.contains_key("stream") {
                    "STREAM"
                } else if obj.contains_key("global") {
                    "GLOBAL"
                } else {
                    "LEGACY"
                });
        let bad = |what: &str| {
            Error::config(format!(
                "unreadable {what} state message: {}",
                excerpt(&m.to_string())
            ))
        };
        match kind {
            "STREAM" => {
                let s: StreamStateMessage =
                    serde_json::from_value(obj.get("stream").cloned().unwrap_or(Value::Null))
                        .map_err(|_| bad("STREAM"))?;
                self.set_stream(s.stream_descriptor, s.stream_state.unwrap_or(Value::Null));
            }
            "GLOBAL" => {
                let g = obj
                    .get("global")
                    .and_then(Value::as_object)
                    .ok_or_else(|| bad("GLOBAL"))?;
                self.shared = g.get("shared_state").cloned().filter(|v| !v.is_null());
                let list: Vec<StreamStateMessage> =
                    serde_json::from_value(g.get("stream_states").cloned().unwrap_or(json!([])))
                        .map_err(|_| bad("GLOBAL"))?;
                for s in list {
                    self.set_stream(s.stream_descriptor, s.stream_state.unwrap_or(Value::Null));
                }
            }
            "LEGACY" => match obj.get("data") {
                Some(Value::Object(map)) => {
                    for (name, blob) in map {
                        self.set_stream(StreamDescriptor::new(name), blob.clone());
                    }
                }
                Some(Value::Null) | None => {}
                Some(_) => return Err(bad("LEGACY")),
            },
            other => {
                return Err(Error::config(format!("unknown state type \"{other}\"")));
            }
        }
        Ok(())
    }

    /// Whether the stored state of `stream` has an interrupted read the source will resume
    /// (a resume token at the root or in any partition): a destination then keeps what it
    /// staged for that stream instead of starting it over.
    pub fn resumes(&self, stream: &StreamDescriptor) -> bool {
        self.stream(stream)
            .and_then(|b| StreamState::from_value(stream, b).ok())
            .is_some_and(|st| {
                st.root.resume.is_some() || st.partitions.iter().any(|p| p.state.resume.is_some())
            })
    }

    /// Drops the resume tokens of `stream` (at its root and in every partition), so its next
    /// read starts over instead of continuing an interrupted one. Cursors are kept.
    pub fn forget_resume(&mut self, stream: &StreamDescriptor) {
        let Some(mut st) = self
            .stream(stream)
            .and_then(|b| StreamState::from_value(stream, b).ok())
        else {
            return;
        };
        st.root.resume = None;
        for p in &mut st.partitions {
            p.state.resume = None;
        }
        self.set_stream(stream.clone(), st.to_value());
    }

    /// The blob of one stream.
    pub fn stream(&self, stream: &StreamDescriptor) -> Option<&Value> {
        self.streams.get(stream)
    }

    /// Sets the blob of one stream.
    pub fn set_stream(&mut self, stream: StreamDescriptor, blob: Value) {
        self.streams.insert(stream, blob);
    }

    /// Removes a stream's blob (a full refresh that starts over).
    pub fn clear_stream(&mut self, stream: &StreamDescriptor) {
        self.streams.remove(stream);
    }

    /// The streams that have state.
    pub fn streams(&self) -> impl Iterator<Item = (&StreamDescriptor, &Value)> {
        self.streams.iter()
    }

    /// Whether no stream has state.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.shared.is_none()
    }

    /// The state as protocol `AirbyteStateMessage`s: one `GLOBAL` message if a shared state was
    /// read, else one `STREAM` message per stream.
    pub fn to_messages(&self) -> Vec<Value> {
        let per_stream: Vec<Value> = self
            .streams
            .iter()
            .map(|(d, blob)| {
                serde_json::to_value(StreamStateMessage {
                    stream_descriptor: d.clone(),
                    stream_state: Some(blob.clone()),
                })
                .unwrap_or(Value::Null)
            })
            .collect();
        match &self.shared {
            Some(shared) => vec![json!({
                "type": "GLOBAL",
                "global": {"shared_state": shared, "stream_states": per_stream}
            })],
            None => per_stream
                .into_iter()
                .map(|s| json!({"type": "STREAM", "stream": s}))
                .collect(),
        }
    }

    /// The state file's JSON text (a list of state messages).
    pub fn to_json(&self) -> String {
        Value::Array(self.to_messages()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_state_form() {
        assert!(State::parse("[]").unwrap().is_empty());
        assert!(State::parse("").unwrap().is_empty());
        let s = State::parse(
            r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"a","namespace":null},"stream_state":{"cursor":1,"x":[1]}}}]"#,
        )
        .unwrap();
        let blob = s.stream(&StreamDescriptor::new("a")).unwrap();
        assert_eq!(blob, &json!({"cursor": 1, "x": [1]}));
        let g = State::parse(
            r#"[{"type":"GLOBAL","global":{"shared_state":{"lsn":5},"stream_states":[{"stream_descriptor":{"name":"b"},"stream_state":{"c":2}}]}}]"#,
        )
        .unwrap();
        assert_eq!(
            g.stream(&StreamDescriptor::new("b")),
            Some(&json!({"c": 2}))
        );
        assert_eq!(
            g.to_messages()[0]["global"]["shared_state"],
            json!({"lsn": 5})
        );
        let legacy = State::parse(r#"{"contacts": {"cursor": "x"}}"#).unwrap();
        assert!(legacy.stream(&StreamDescriptor::new("contacts")).is_some());
        for bad in [
            "42",
            "\"x\"",
            "[1]",
            "{\"type\":\"STREAM\",\"stream\":5}",
            "{bad",
        ] {
            assert!(State::parse(bad).unwrap_err().is_config(), "{bad}");
        }
        let err = StreamState::from_value(&StreamDescriptor::new("a"), &json!([1])).unwrap_err();
        assert!(err.is_config());
        let err = StreamState::from_value(&StreamDescriptor::new("a"), &json!({"partitions": 3}))
            .unwrap_err();
        assert!(err.to_string().contains("corrupt state"), "{err}");
    }
}

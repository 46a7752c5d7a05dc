//! Stream descriptors, the catalog a source discovers, and the configured catalog a sync runs.
//!
//! These types read and write the Airbyte protocol's JSON as it is: `AirbyteStream`,
//! `AirbyteCatalog`, `ConfiguredAirbyteStream` and `ConfiguredAirbyteCatalog`. Reading is
//! tolerant: unknown fields are kept (and written back), and a `null` namespace is no namespace.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Names a stream: its name and optional namespace (`StreamDescriptor` in the protocol).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamDescriptor {
    /// The stream's name.
    pub name: String,
    /// The namespace (a schema, a database); `None` when the source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl StreamDescriptor {
    /// A descriptor without a namespace.
    pub fn new(name: impl Into<String>) -> Self {
        StreamDescriptor {
            name: name.into(),
            namespace: None,
        }
    }
}

impl fmt::Display for StreamDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// How a source reads a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Read everything, every time.
    #[default]
    FullRefresh,
    /// Read what changed since the state's cursor.
    Incremental,
}

/// How a destination writes a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DestinationSyncMode {
    /// Add the records to what is there.
    #[default]
    Append,
    /// Replace what is there with this sync's records (readers never see a half-written table).
    Overwrite,
    /// Merge on the primary key: the newest record per key wins.
    AppendDedup,
    /// Protocol value accepted for compatibility; intake's destinations refuse it.
    Update,
    /// Protocol value accepted for compatibility; intake's destinations refuse it.
    SoftDelete,
}

/// A stream as a source describes it (`AirbyteStream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogStream {
    /// The stream's name.
    pub name: String,
    /// The namespace, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A JSON Schema (an object schema whose `properties` name every field).
    pub json_schema: Value,
    /// The sync modes the source can read this stream with (at least one).
    pub supported_sync_modes: Vec<SyncMode>,
    /// Whether the source decides the cursor field (users cannot choose another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_defined_cursor: Option<bool>,
    /// The cursor field, as a path into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_cursor_field: Option<Vec<String>>,
    /// The primary key: a list of paths into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_defined_primary_key: Option<Vec<Vec<String>>>,
    /// Whether an interrupted read can resume where it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_resumable: Option<bool>,
    /// Fields this version of intake does not model, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CatalogStream {
    /// A full-refresh stream with a schema and nothing else declared.
    pub fn new(name: impl Into<String>, json_schema: Value) -> Self {
        CatalogStream {
            name: name.into(),
            namespace: None,
            json_schema,
            supported_sync_modes: vec![SyncMode::FullRefresh],
            source_defined_cursor: None,
            default_cursor_field: None,
            source_defined_primary_key: None,
            is_resumable: None,
            extra: Map::new(),
        }
    }

    /// This stream's descriptor.
    pub fn descriptor(&self) -> StreamDescriptor {
        StreamDescriptor {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Whether the stream can be read incrementally.
    pub fn supports_incremental(&self) -> bool {
        self.supported_sync_modes.contains(&SyncMode::Incremental)
    }

    /// A configured stream for this stream: incremental + append_dedup when the stream has a
    /// cursor and a primary key, incremental + append with a cursor only, else full refresh +
    /// overwrite. This is what a user who says nothing gets.
    pub fn configure_default(&self) -> ConfiguredStream {
        let has_pk = self
            .source_defined_primary_key
            .as_ref()
            .is_some_and(|k| !k.is_empty());
        let (sync_mode, destination_sync_mode) = if self.supports_incremental() {
            (
                SyncMode::Incremental,
                if has_pk {
                    DestinationSyncMode::AppendDedup
                } else {
                    DestinationSyncMode::Append
                },
            )
        } else {
            (SyncMode::FullRefresh, DestinationSyncMode::Overwrite)
        };
        ConfiguredStream {
            stream: self.clone(),
            sync_mode,
            destination_sync_mode,
            cursor_field: self.default_cursor_field.clone(),
            primary_key: self.source_defined_primary_key.clone(),
            extra: Map::new(),
        }
    }
}

/// What a source discovered (`AirbyteCatalog`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// The streams, in the source's order.
    pub streams: Vec<CatalogStream>,
    /// Fields this version of intake does not model, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Catalog {
    /// Configures every stream with [`CatalogStream::configure_default`].
    pub fn configure_all(&self) -> ConfiguredCatalog {
        ConfiguredCatalog {
            streams: self
                .streams
                .iter()
                .map(CatalogStream::configure_default)
                .collect(),
            extra: Map::new(),
        }
    }

    /// The stream with this name, if any.
    pub fn stream(&self, name: &str) -> Option<&CatalogStream> {
        self.streams.iter().find(|s| s.name == name)
    }
}

/// A stream as a sync is told to read and write it (`ConfiguredAirbyteStream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredStream {
    /// The stream as discovered.
    pub stream: CatalogStream,
    /// How to read it.
    #[serde(default)]
    pub sync_mode: SyncMode,
    /// How to write it.
    #[serde(default)]
    pub destination_sync_mode: DestinationSyncMode,
    /// The cursor field the user chose, for incremental reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_field: Option<Vec<String>>,
    /// The primary key the user chose, for dedup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Vec<Vec<String>>>,
    /// Fields this version of intake does not model (`generation_id`, `sync_id`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConfiguredStream {
    /// The stream's descriptor.
    pub fn descriptor(&self) -> StreamDescriptor {
        self.stream.descriptor()
    }

    /// The primary key to use: the configured one, else the source's.
    pub fn effective_primary_key(&self) -> Vec<Vec<String>> {
        self.primary_key
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| self.stream.source_defined_primary_key.clone())
            .unwrap_or_default()
    }
}

/// The streams one sync reads and writes (`ConfiguredAirbyteCatalog`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfiguredCatalog {
    /// The configured streams.
    pub streams: Vec<ConfiguredStream>,
    /// Fields this version of intake does not model, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConfiguredCatalog {
    /// Parses a configured catalog from JSON, tolerantly. A malformed catalog is a config error.
    pub fn from_json(text: &str) -> Result<Self> {
        let catalog: ConfiguredCatalog = serde_json::from_str(text)
            .map_err(|e| Error::config(format!("invalid configured catalog: {e}")))?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// Checks what the sync relies on: unique stream names, and a primary key for dedup.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.streams {
            let d = s.descriptor();
            if !seen.insert(d.clone()) {
                return Err(Error::config(format!("stream \"{d}\" is configured twice")));
            }
            if s.destination_sync_mode == DestinationSyncMode::AppendDedup
                && s.effective_primary_key().is_empty()
            {
                return Err(Error::config(format!(
                    "stream \"{d}\" uses append_dedup but has no primary key; set primary_key \
                     in the configured catalog"
                )));
            }
        }
        Ok(())
    }

    /// The configured stream with this descriptor, if any.
    pub fn stream(&self, descriptor: &StreamDescriptor) -> Option<&ConfiguredStream> {
        self.streams.iter().find(|s| {
            s.stream.name == descriptor.name && s.stream.namespace == descriptor.namespace
        })
    }

    /// Keeps only the named streams; an unknown name is a config error.
    pub fn select(mut self, names: &[&str]) -> Result<Self> {
        for name in names {
            if !self.streams.iter().any(|s| s.stream.name == *name) {
                let known: Vec<_> = self
                    .streams
                    .iter()
                    .map(|s| s.stream.name.as_str())
                    .collect();
                return Err(Error::config(format!(
                    "unknown stream \"{name}\"; the source has: {}",
                    known.join(", ")
                )));
            }
        }
        self.streams
            .retain(|s| names.contains(&s.stream.name.as_str()));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_orchestrator_catalogs_tolerantly_and_round_trips() {
        let text = json!({
            "streams": [{
                "stream": {
                    "name": "contacts", "namespace": null,
                    "json_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_primary_key": [["id"]],
                    "is_file_based": false
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "cursor_field": ["updatedAt"],
                "generation_id": 3, "minimum_generation_id": 0, "sync_id": 9
            }],
            "some_future_field": {"x": 1}
        });
        let catalog = ConfiguredCatalog::from_json(&text.to_string()).unwrap();
        let s = &catalog.streams[0];
        assert_eq!(s.stream.namespace, None);
        assert_eq!(s.effective_primary_key(), vec![vec!["id".to_string()]]);
        assert_eq!(s.extra["sync_id"], json!(9));
        let back = serde_json::to_value(&catalog).unwrap();
        assert_eq!(back["some_future_field"], json!({"x": 1}));
        assert_eq!(back["streams"][0]["stream"]["is_file_based"], json!(false));
        assert!(back["streams"][0]["stream"].get("namespace").is_none());
    }

    #[test]
    fn dedup_without_key_is_a_config_error() {
        let text = json!({"streams": [{
            "stream": {"name": "a", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "full_refresh", "destination_sync_mode": "append_dedup"
        }]});
        let err = ConfiguredCatalog::from_json(&text.to_string()).unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("no primary key"));
        assert!(
            ConfiguredCatalog::from_json("{not json")
                .unwrap_err()
                .is_config()
        );
    }
}

//! What a crawl remembers across syncs: each URL's validators, hash and last visit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the state remembers of one URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Seen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) m: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) h: Option<String>,
    pub(crate) t: String,
    pub(crate) d: u32,
    pub(crate) s: u16,
}

/// The crawl's memory across syncs.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    pub(crate) urls: HashMap<String, Seen>,
    pub(crate) frontier: Vec<(String, u32)>,
    /// A cursor without URLs (a state from elsewhere): ask with If-Modified-Since from it.
    pub(crate) floor: Option<DateTime<Utc>>,
}

impl Memory {
    pub(crate) fn from_blob(blob: &Value) -> Option<Memory> {
        let urls: HashMap<String, Seen> = blob
            .get("urls")
            .map(|u| serde_json::from_value(u.clone()))
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default();
        let frontier: Vec<(String, u32)> = blob
            .get("frontier")
            .map(|f| serde_json::from_value(f.clone()))
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default();
        let floor = blob
            .get("cursor")
            .and_then(Value::as_str)
            .and_then(intake::state::parse_datetime);
        (!urls.is_empty() || !frontier.is_empty() || floor.is_some()).then_some(Memory {
            urls,
            frontier,
            floor: floor.filter(|_| blob.get("urls").is_none()),
        })
    }
}

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

impl Seen {
    /// When the page held last time was last modified, on the site's clock: its
    /// `Last-Modified` header when it sent one, else when the crawl read it (the crawler's
    /// clock). A sitemap `lastmod` no later than this says the page has not changed: compared
    /// with the site's own header, a clock difference between the site and this machine
    /// cannot hide a change.
    pub(crate) fn modified(&self) -> Option<DateTime<Utc>> {
        self.m
            .as_deref()
            .and_then(|m| DateTime::parse_from_rfc2822(m).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| intake::state::parse_datetime(&self.t))
    }
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

#[cfg(test)]
mod tests {
    use super::Seen;

    fn seen(m: Option<&str>) -> Seen {
        Seen {
            e: None,
            m: m.map(str::to_string),
            h: Some("hash".into()),
            t: "2026-12-08T10:00:00.000Z".into(),
            d: 0,
            s: 200,
        }
    }

    #[test]
    fn a_page_was_modified_when_the_site_said_not_when_it_was_read() {
        // The site's clock is two years behind this machine's: its own header decides.
        let with_header = seen(Some("Sat, 01 Jun 2024 00:00:00 GMT"));
        assert_eq!(
            with_header.modified().unwrap().to_rfc3339(),
            "2024-06-01T00:00:00+00:00"
        );
        let without = seen(None);
        assert_eq!(
            without.modified().unwrap().to_rfc3339(),
            "2026-12-08T10:00:00+00:00"
        );
        // A header that is not an HTTP date falls back to when the page was read.
        assert_eq!(seen(Some("yesterday")).modified(), without.modified());
    }
}

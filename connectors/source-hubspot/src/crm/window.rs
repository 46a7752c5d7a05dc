//! The search window that works around the 10,000-result cap.

use std::collections::HashSet;

use intake::{Error, Result};
use serde_json::Value;

use super::page::{Raw, parse_object};
use super::{SEARCH_CAP, SEARCH_LIMIT};
use crate::properties::rfc3339;
/// A search that restarts its window before the 10,000-result cap: from the last modification
/// time seen, skipping the records at that instant it already returned.
#[derive(Debug)]
pub(crate) struct SearchWindow {
    pub(super) from_ms: i64,
    pub(super) after: u64,
    /// Ids already returned whose modification time is `from_ms`.
    pub(super) at_start: HashSet<String>,
    pub(super) last_ms: Option<i64>,
    pub(super) at_last: HashSet<String>,
    pub(super) done: bool,
}

impl SearchWindow {
    pub(crate) fn new(from_ms: i64) -> Self {
        SearchWindow {
            from_ms,
            after: 0,
            at_start: HashSet::new(),
            last_ms: None,
            at_last: HashSet::new(),
            done: false,
        }
    }

    /// Drops the records an earlier window returned and notes the latest modification time.
    pub(super) fn take(&mut self, objects: Vec<Raw>, modified_property: &str) -> Result<Vec<Raw>> {
        let mut kept = Vec::with_capacity(objects.len());
        for raw in objects {
            let (id, modified) = {
                let object = parse_object(&raw)?;
                (
                    object.id().into_owned(),
                    object.updated_ms(modified_property),
                )
            };
            if let Some(ms) = modified {
                if ms == self.from_ms && self.at_start.contains(&id) {
                    continue;
                }
                match self.last_ms {
                    Some(last) if ms < last => {}
                    Some(last) if ms == last => {
                        self.at_last.insert(id.clone());
                    }
                    _ => {
                        self.last_ms = Some(ms);
                        self.at_last.clear();
                        self.at_last.insert(id.clone());
                    }
                }
            }
            kept.push(raw);
        }
        Ok(kept)
    }

    /// Moves to the next page, or restarts the window when the next page would pass the cap.
    pub(super) fn advance(&mut self, next: Option<u64>, stream: &str) -> Result<()> {
        let Some(next) = next else {
            self.done = true;
            return Ok(());
        };
        if next <= self.after {
            return Err(Error::system(format!(
                "stream \"{stream}\": HubSpot's search answered a next page ({next}) that does not move past this one ({}); stopping instead of reading the same page forever",
                self.after
            )));
        }
        // Saturating: an absurd offset from the API restarts the window rather than wrapping.
        if next.saturating_add(SEARCH_LIMIT as u64) <= SEARCH_CAP {
            self.after = next;
            return Ok(());
        }
        let last = self.last_ms.unwrap_or(self.from_ms);
        if last == self.from_ms {
            // A whole window of records modified in the same millisecond: restarting from it
            // would return the same records forever.
            return Err(Error::system(format!(
                "stream \"{stream}\": more than {SEARCH_CAP} records were modified at the same millisecond ({}); HubSpot's search cannot page past them. Run a full refresh of this stream instead",
                chrono::DateTime::from_timestamp_millis(last)
                    .map(|t| rfc3339(&t))
                    .unwrap_or_default()
            )));
        }
        tracing::debug!(
            "stream \"{stream}\": search reached HubSpot's {SEARCH_CAP}-result cap; restarting from {last} ms"
        );
        self.from_ms = last;
        self.at_start = std::mem::take(&mut self.at_last);
        self.after = 0;
        Ok(())
    }
}

pub(super) fn results(body: &Value) -> Result<Vec<Value>> {
    match body.get("results") {
        Some(Value::Array(list)) => Ok(list.clone()),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(other) => Err(Error::system(format!(
            "HubSpot answered `results` as {}, not a list",
            match other {
                Value::Object(_) => "an object",
                Value::String(_) => "a string",
                _ => "a scalar",
            }
        ))),
    }
}

pub(super) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(id: u64, ms: i64) -> Raw {
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        serde_json::value::to_raw_value(
            &json!({"id": id.to_string(), "updatedAt": rfc3339(&t), "properties": {}}),
        )
        .unwrap()
    }

    #[test]
    fn a_window_restarts_from_the_last_instant_before_the_cap_and_skips_what_it_returned() {
        let mut w = SearchWindow::new(0);
        // 9,800 results in, the last page ends with two records at 5,000 ms.
        w.after = SEARCH_CAP - SEARCH_LIMIT as u64 * 2;
        let kept = w
            .take(
                vec![object(1, 4_000), object(2, 5_000), object(3, 5_000)],
                "x",
            )
            .unwrap();
        assert_eq!(kept.len(), 3);
        w.advance(Some(SEARCH_CAP - SEARCH_LIMIT as u64), "contacts")
            .unwrap();
        assert_eq!((w.from_ms, w.after), (0, SEARCH_CAP - SEARCH_LIMIT as u64));
        w.take(vec![object(4, 5_000)], "x").unwrap();
        w.advance(Some(SEARCH_CAP), "contacts").unwrap();
        assert_eq!((w.from_ms, w.after), (5_000, 0), "restarted");
        // The new window returns the boundary records again: only the new one is kept.
        let kept = w
            .take(
                vec![
                    object(2, 5_000),
                    object(3, 5_000),
                    object(4, 5_000),
                    object(5, 5_000),
                    object(6, 6_000),
                ],
                "x",
            )
            .unwrap();
        let ids: Vec<String> = kept
            .iter()
            .map(|r| parse_object(r).unwrap().id().into_owned())
            .collect();
        assert_eq!(ids, vec!["5", "6"]);
        w.advance(None, "contacts").unwrap();
        assert!(w.done);
    }

    #[test]
    fn a_full_window_at_one_instant_is_an_error_not_a_loop() {
        let mut w = SearchWindow::new(7_000);
        w.take(vec![object(1, 7_000)], "x").unwrap();
        let err = w.advance(Some(SEARCH_CAP), "deals").unwrap_err();
        assert!(err.to_string().contains("same millisecond"), "{err}");
    }
}

//! Cursor tracking during a read: the maximum, the boundary keys and the records to skip.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::{Map, Value};

use super::cursor::{Boundary, Cursor, CursorOrder, MissingCursor};
use super::stream::{CursorState, ResumePoint};
use super::value::{CursorKind, CursorValue, TEXT_RANK};
use crate::error::{Error, Result, excerpt};
use crate::record::Record;

/// How many primary keys at the boundary a state keeps at most. Past this (a bulk import that
/// stamped the same `updated_at` on a million rows) the keys are dropped and the boundary's
/// records are read again on the next run: duplicates, never a loss.
pub const MAX_BOUNDARY_KEYS: usize = 10_000;
/// What [`CursorTracker::observe`] decided about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Deliver it.
    Keep,
    /// Skip it: it sits at the saved boundary and was delivered before.
    Duplicate,
}

/// Tracks the cursor over the records of one partition read, applying the boundary rules.
#[derive(Debug)]
pub struct CursorTracker {
    cursor: Cursor,
    primary_key: Vec<Vec<String>>,
    saved: Option<(CursorValue, Value)>,
    saved_keys: HashSet<String>,
    saved_key_list: Vec<Value>,
    saved_extra: Map<String, Value>,
    pass_start: Option<Value>,
    max: Option<(CursorValue, Value)>,
    max_text: Option<String>,
    saved_text: Option<String>,
    max_keys: Vec<Value>,
    max_keys_overflow: bool,
    missing: u64,
    /// Under [`CursorKind::Auto`], the kind of the stream's cursor values (the rank of the
    /// saved cursor or of the first value seen): a value of another kind (`"N/A"` among dates)
    /// is not a cursor value. A text kind gives way to the first date or number, since text
    /// ranks above both and one stray string would otherwise become the cursor for good.
    established: Option<u8>,
    /// Text values taken while the kind was text (counted as missing if a date or number
    /// re-establishes it).
    text_values: u64,
}

impl CursorTracker {
    /// Starts tracking from a partition's saved state.
    pub fn new(cursor: Cursor, primary_key: Vec<Vec<String>>, state: &CursorState) -> Self {
        let saved = state
            .cursor
            .as_ref()
            .and_then(|v| cursor.parse(v).map(|c| (c, v.clone())));
        let mut saved_key_list = if saved.is_some() {
            state.boundary_keys.clone()
        } else {
            Vec::new()
        };
        saved_key_list.sort_by_key(|k| k.to_string());
        saved_key_list.dedup();
        let saved_keys = saved_key_list.iter().map(|k| k.to_string()).collect();
        let mut tracker = CursorTracker {
            pass_start: cursor.request_start(state.cursor.as_ref()),
            cursor,
            primary_key,
            saved,
            saved_keys,
            saved_key_list,
            saved_extra: state.extra.clone(),
            saved_text: state.cursor.as_ref().map(|v| v.to_string()),
            max: None,
            max_text: None,
            max_keys: Vec::new(),
            max_keys_overflow: false,
            missing: 0,
            established: None,
            text_values: 0,
        };
        tracker.established = tracker.saved.as_ref().map(|(v, _)| v.rank());
        if let Some(resume) = &state.resume {
            tracker.pass_start = resume.start.clone();
            if let Some(v) = &resume.max {
                tracker.max = tracker.cursor.parse(v).map(|c| (c, v.clone()));
                tracker.max_text = tracker.max.as_ref().map(|_| v.to_string());
                tracker.max_keys = resume.max_keys.clone();
                if let Some((m, _)) = &tracker.max {
                    tracker.established.get_or_insert(m.rank());
                }
            }
        }
        tracker
    }

    /// Whether `value` is of the stream's cursor kind (always, except under
    /// [`CursorKind::Auto`]); a first date or number after text values re-establishes the kind
    /// and forgets the text maximum and a text saved cursor.
    fn of_established_kind(&mut self, value: &CursorValue) -> bool {
        if self.cursor.kind != CursorKind::Auto {
            return true;
        }
        let rank = value.rank();
        if rank == TEXT_RANK && matches!(self.established, None | Some(TEXT_RANK)) {
            self.text_values += 1;
        }
        match self.established {
            None => {
                self.established = Some(rank);
                true
            }
            Some(r) if r == rank => true,
            Some(TEXT_RANK) => {
                self.established = Some(rank);
                self.missing += std::mem::take(&mut self.text_values);
                if self
                    .max
                    .as_ref()
                    .is_some_and(|(m, _)| m.rank() == TEXT_RANK)
                {
                    self.max = None;
                    self.max_text = None;
                    self.max_keys.clear();
                    self.max_keys_overflow = false;
                }
                if self
                    .saved
                    .as_ref()
                    .is_some_and(|(v, _)| v.rank() == TEXT_RANK)
                {
                    self.saved = None;
                    self.saved_text = None;
                    self.saved_keys.clear();
                    self.saved_key_list.clear();
                }
                true
            }
            Some(_) => false,
        }
    }

    /// The start value this pass reads from (lookback and configured start applied).
    pub fn pass_start(&self) -> Option<&Value> {
        self.pass_start.as_ref()
    }

    /// How many records had no usable cursor value.
    pub fn missing(&self) -> u64 {
        self.missing
    }

    /// Looks at one record: updates the maximum, and says whether to deliver it.
    pub fn observe(&mut self, record: &Record) -> Result<Observed> {
        let raw = record
            .field_text(self.cursor.field())?
            .filter(|t| *t != "null");
        // Fast paths: a cursor spelled exactly like the current maximum or the saved boundary
        // compares equal without parsing.
        let same_as_max = raw.is_some() && raw == self.max_text.as_deref();
        let parsed = match raw {
            Some(_) if same_as_max => None,
            Some(text) => match CursorValue::parse_json_text(text, self.cursor.kind) {
                Some(v) if self.of_established_kind(&v) => Some(v),
                _ => return self.missing_cursor(record),
            },
            None => return self.missing_cursor(record),
        };
        let text = raw.unwrap_or_default();
        let at_saved = match (&self.saved, &parsed) {
            (None, _) => false,
            (Some(_), None) => self.saved_text.as_deref() == Some(text) || self.max_equals_saved(),
            (Some((saved, _)), Some(p)) => p == saved,
        };
        let ord = match (&parsed, &self.max) {
            (None, _) => Ordering::Equal,
            (Some(p), Some((m, _))) => p.cmp(m),
            (Some(_), None) => Ordering::Greater,
        };
        // The primary key is only needed at the saved boundary or at the running maximum.
        let wants_key = at_saved
            || ord == Ordering::Greater
            || (ord == Ordering::Equal && !self.max_keys_overflow);
        let key = if self.primary_key.is_empty() || !wants_key {
            None
        } else {
            record.primary_key(&self.primary_key)?
        };
        if at_saved
            && self.cursor.boundary == Boundary::Inclusive
            && let Some(key) = &key
            && self.saved_keys.contains(&key.to_string())
        {
            return Ok(Observed::Duplicate);
        }
        match ord {
            Ordering::Greater => {
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| Error::system(format!("malformed cursor value: {e}")))?;
                if let Some(p) = parsed {
                    self.max = Some((p, value));
                }
                self.max_text = Some(text.to_string());
                self.max_keys.clear();
                self.max_keys_overflow = false;
                if let Some(key) = key {
                    self.max_keys.push(key);
                }
            }
            Ordering::Equal => {
                if let Some(key) = key {
                    if self.max_keys.len() < MAX_BOUNDARY_KEYS {
                        self.max_keys.push(key);
                    } else {
                        self.max_keys_overflow = true;
                    }
                }
            }
            Ordering::Less => {}
        }
        Ok(Observed::Keep)
    }

    fn max_equals_saved(&self) -> bool {
        matches!((&self.max, &self.saved), (Some((m, _)), Some((s, _))) if m == s)
    }

    fn missing_cursor(&mut self, record: &Record) -> Result<Observed> {
        match self.cursor.missing {
            MissingCursor::Include => {
                self.missing += 1;
                Ok(Observed::Keep)
            }
            MissingCursor::Fail => Err(Error::system(format!(
                "record has no usable cursor value in field \"{}\" (missing, null, blank, or not of the kind of the stream's other cursor values): {}",
                self.cursor.field().join("."),
                excerpt(record.json())
            ))),
        }
    }

    /// The state to checkpoint now. `finished` means the partition was read to its end;
    /// `resume` is the stream's token for continuing an unfinished pass.
    pub fn checkpoint(&self, finished: bool, resume: Option<&Value>) -> CursorState {
        let may_advance = finished || self.cursor.order == CursorOrder::Ascending;
        let (cursor, boundary_keys) = if may_advance {
            self.advanced()
        } else {
            self.saved_state()
        };
        let resume = match (finished, resume) {
            (false, Some(token)) => Some(ResumePoint {
                token: token.clone(),
                start: self.pass_start.clone(),
                max: self.max.as_ref().map(|(_, v)| v.clone()),
                max_keys: if self.max_keys_overflow {
                    Vec::new()
                } else {
                    self.max_keys.clone()
                },
                done: false,
            }),
            _ => None,
        };
        CursorState {
            cursor,
            boundary_keys,
            resume,
            extra: self.saved_extra.clone(),
        }
    }

    fn saved_state(&self) -> (Option<Value>, Vec<Value>) {
        match &self.saved {
            Some((_, v)) => (Some(v.clone()), self.saved_key_list.clone()),
            None => (None, Vec::new()),
        }
    }

    fn advanced(&self) -> (Option<Value>, Vec<Value>) {
        match (&self.max, &self.saved) {
            (Some((max, v)), Some((saved, _))) if max == saved => {
                // Same boundary as before: keep both the old and the new keys.
                let (_, mut keys) = self.saved_state();
                keys.extend(self.max_keys.iter().cloned());
                keys.sort_by_key(|k| k.to_string());
                keys.dedup();
                if self.max_keys_overflow || keys.len() > MAX_BOUNDARY_KEYS {
                    keys.clear();
                }
                (Some(v.clone()), keys)
            }
            (Some((max, v)), Some((saved, _))) if max < saved => self.saved_state(),
            (Some((_, v)), _) => {
                let mut keys = if self.max_keys_overflow {
                    Vec::new()
                } else {
                    self.max_keys.clone()
                };
                keys.sort_by_key(|k| k.to_string());
                keys.dedup();
                (Some(v.clone()), keys)
            }
            (None, _) => self.saved_state(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(id: u32, at: &str) -> Record {
        Record::from_value(&json!({"id": id, "updatedAt": at})).unwrap()
    }

    fn pk() -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }
    #[test]
    fn boundary_records_are_skipped_once_delivered() {
        let cursor = Cursor::new("updatedAt");
        let mut first = CursorTracker::new(cursor.clone(), pk(), &CursorState::default());
        for r in [
            rec(1, "2024-01-01T00:00:00Z"),
            rec(2, "2024-01-02T00:00:00Z"),
            rec(3, "2024-01-02T00:00:00Z"),
        ] {
            assert_eq!(first.observe(&r).unwrap(), Observed::Keep);
        }
        let state = first.checkpoint(true, None);
        assert_eq!(state.cursor, Some(json!("2024-01-02T00:00:00Z")));
        assert_eq!(state.boundary_keys, vec![json!([2]), json!([3])]);

        // The API returns the boundary again (inclusive), plus a new record at the same instant.
        let mut second = CursorTracker::new(cursor, pk(), &state);
        assert_eq!(second.pass_start(), Some(&json!("2024-01-02T00:00:00Z")));
        assert_eq!(
            second.observe(&rec(2, "2024-01-02T00:00:00Z")).unwrap(),
            Observed::Duplicate
        );
        assert_eq!(
            second.observe(&rec(3, "2024-01-02T00:00:00Z")).unwrap(),
            Observed::Duplicate
        );
        assert_eq!(
            second.observe(&rec(4, "2024-01-02T00:00:00Z")).unwrap(),
            Observed::Keep
        );
        let state = second.checkpoint(true, None);
        assert_eq!(
            state.boundary_keys,
            vec![json!([2]), json!([3]), json!([4])]
        );
    }

    #[test]
    fn unordered_streams_advance_only_at_the_end_of_a_partition() {
        let mut t = CursorTracker::new(Cursor::new("updatedAt"), pk(), &CursorState::default());
        t.observe(&rec(1, "2024-05-01T00:00:00Z")).unwrap();
        assert_eq!(t.checkpoint(false, None).cursor, None);
        let mid = t.checkpoint(false, Some(&json!("page-2")));
        let resume = mid.resume.clone().unwrap();
        assert_eq!(resume.token, json!("page-2"));
        assert_eq!(resume.max, Some(json!("2024-05-01T00:00:00Z")));
        // Resuming keeps the maximum seen before the interruption.
        let mut again = CursorTracker::new(Cursor::new("updatedAt"), pk(), &mid);
        again.observe(&rec(2, "2024-04-01T00:00:00Z")).unwrap();
        assert_eq!(
            again.checkpoint(true, None).cursor,
            Some(json!("2024-05-01T00:00:00Z"))
        );
        let asc = Cursor::new("updatedAt").order(CursorOrder::Ascending);
        let mut t = CursorTracker::new(asc, pk(), &CursorState::default());
        t.observe(&rec(1, "2024-05-01T00:00:00Z")).unwrap();
        assert_eq!(
            t.checkpoint(false, None).cursor,
            Some(json!("2024-05-01T00:00:00Z"))
        );
    }

    #[test]
    fn scenario_5_a_stray_cursor_value_cannot_poison_the_default_cursor_kind() {
        let cursor = Cursor::new("updatedAt");
        for poison in ["", "N/A", "   "] {
            // The stray value first, then dates; and dates, then the stray value.
            for order in [0, 1] {
                let mut t = CursorTracker::new(cursor.clone(), pk(), &CursorState::default());
                let mut rows = vec![
                    rec(1, "2024-01-01T00:00:00Z"),
                    rec(2, poison),
                    rec(3, "2024-03-01T00:00:00Z"),
                ];
                if order == 1 {
                    rows.swap(0, 1);
                }
                for r in &rows {
                    assert_eq!(
                        t.observe(r).unwrap(),
                        Observed::Keep,
                        "delivered all the same"
                    );
                }
                let st = t.checkpoint(true, None);
                assert_eq!(
                    st.cursor,
                    Some(json!("2024-03-01T00:00:00Z")),
                    "{poison:?} {order}"
                );
                assert_eq!(t.missing(), 1, "{poison:?} {order}: counted as a warning");
            }
        }
        // A state poisoned before this fix recovers at the first date.
        let poisoned = CursorState {
            cursor: Some(json!("N/A")),
            ..Default::default()
        };
        let mut t = CursorTracker::new(cursor.clone(), pk(), &poisoned);
        t.observe(&rec(1, "2024-05-01T00:00:00Z")).unwrap();
        assert_eq!(
            t.checkpoint(true, None).cursor,
            Some(json!("2024-05-01T00:00:00Z"))
        );
        // Against an established date cursor a stray value is never stored.
        let saved = CursorState {
            cursor: Some(json!("2024-05-01T00:00:00Z")),
            ..Default::default()
        };
        let mut t = CursorTracker::new(cursor.clone(), pk(), &saved);
        t.observe(&rec(9, "N/A")).unwrap();
        assert_eq!(
            t.checkpoint(true, None).cursor,
            Some(json!("2024-05-01T00:00:00Z"))
        );
        // Under MissingCursor::Fail it is a typed error naming the field.
        let strict = cursor.on_missing(MissingCursor::Fail);
        let mut t = CursorTracker::new(strict, pk(), &saved);
        let err = t.observe(&rec(9, "N/A")).unwrap_err();
        assert!(err.to_string().contains("updatedAt"), "{err}");
        // An all-text cursor still works.
        let mut t = CursorTracker::new(Cursor::new("v"), pk(), &CursorState::default());
        for (i, v) in ["b", "c", "a"].iter().enumerate() {
            t.observe(&Record::from_value(&json!({"id": i, "v": v})).unwrap())
                .unwrap();
        }
        assert_eq!(t.checkpoint(true, None).cursor, Some(json!("c")));
    }

    #[test]
    fn missing_cursor_follows_the_policy() {
        let r = Record::from_value(&json!({"id": 1})).unwrap();
        let mut t = CursorTracker::new(Cursor::new("updatedAt"), pk(), &CursorState::default());
        assert_eq!(t.observe(&r).unwrap(), Observed::Keep);
        assert_eq!(t.missing(), 1);
        let strict = Cursor::new("updatedAt").on_missing(MissingCursor::Fail);
        let mut t = CursorTracker::new(strict, pk(), &CursorState::default());
        let err = t.observe(&r).unwrap_err();
        assert!(err.to_string().contains("updatedAt"), "{err}");
    }
}

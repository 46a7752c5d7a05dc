//! A stream's cursor declaration: which field orders its records and how to read from it.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::value::{CursorKind, CursorValue, Number};

/// What the API's incremental filter returns at the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Boundary {
    /// The filter is `>=`: records at the last cursor come back and are deduplicated by primary
    /// key. The default, and the safe choice.
    #[default]
    Inclusive,
    /// The filter is a strict `>`: use only where the API guarantees no two records that matter
    /// share a cursor value, or records at the boundary will be missed.
    Exclusive,
}

/// The order in which a stream returns records within one read of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CursorOrder {
    /// No order guaranteed: the cursor advances only when a partition is read to its end (or
    /// the stream gives resume tokens). The default.
    #[default]
    Unordered,
    /// Ascending by cursor: every checkpoint may advance the cursor.
    Ascending,
}

/// What to do with a record whose cursor field is missing, null or unparsable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingCursor {
    /// Deliver the record, do not let it move the cursor, and count it in the sync report's
    /// warnings. The default.
    #[default]
    Include,
    /// Fail the stream with a system error naming the record.
    Fail,
}

/// An incremental cursor as a stream declares it.
///
/// Defaults: [`CursorKind::Auto`], [`Boundary::Inclusive`], [`CursorOrder::Unordered`],
/// no lookback, no start value, [`MissingCursor::Include`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub(super) field: Vec<String>,
    pub(super) kind: CursorKind,
    pub(super) boundary: Boundary,
    pub(super) order: CursorOrder,
    pub(super) lookback: Option<Duration>,
    pub(super) start: Option<Value>,
    pub(super) missing: MissingCursor,
}

impl Cursor {
    /// A cursor on a top-level field.
    pub fn new(field: impl Into<String>) -> Self {
        Cursor::path(vec![field.into()])
    }

    /// A cursor on a nested field (`["properties", "hs_lastmodifieddate"]`).
    pub fn path(path: Vec<String>) -> Self {
        Cursor {
            field: path,
            kind: CursorKind::Auto,
            boundary: Boundary::Inclusive,
            order: CursorOrder::Unordered,
            lookback: None,
            start: None,
            missing: MissingCursor::Include,
        }
    }

    /// How values compare. Default [`CursorKind::Auto`].
    pub fn kind(mut self, kind: CursorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Declares a strict `>` filter. Default inclusive.
    pub fn boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }

    /// Declares the API returns records in ascending cursor order. Default unordered.
    pub fn order(mut self, order: CursorOrder) -> Self {
        self.order = order;
        self
    }

    /// Re-reads this much before the saved cursor on every run, for records that arrive late
    /// (applies to date-time and epoch cursors). Default none.
    pub fn lookback(mut self, window: Duration) -> Self {
        self.lookback = Some(window);
        self
    }

    /// The value to start from when there is no state (a config's `start_date`). Default none:
    /// the first run reads everything.
    pub fn start(mut self, value: Option<Value>) -> Self {
        self.start = value;
        self
    }

    /// The policy for records without a usable cursor. Default [`MissingCursor::Include`].
    pub fn on_missing(mut self, policy: MissingCursor) -> Self {
        self.missing = policy;
        self
    }

    /// The cursor field's path.
    pub fn field(&self) -> &[String] {
        &self.field
    }

    /// The declared boundary.
    pub fn boundary_kind(&self) -> Boundary {
        self.boundary
    }

    /// The declared order.
    pub fn order_kind(&self) -> CursorOrder {
        self.order
    }

    /// Parses a JSON value into a comparable cursor value; `None` if it cannot be.
    pub fn parse(&self, value: &Value) -> Option<CursorValue> {
        CursorValue::parse(value, self.kind)
    }

    /// Where a read should start: the saved cursor minus the lookback window, or the configured
    /// start value, whichever is later; `None` means from the beginning.
    pub fn request_start(&self, saved: Option<&Value>) -> Option<Value> {
        let from_state = saved.map(|v| self.apply_lookback(v));
        match (from_state, &self.start) {
            (Some(s), Some(start)) => match (self.parse(&s), self.parse(start)) {
                (Some(a), Some(b)) if b > a => Some(start.clone()),
                _ => Some(s),
            },
            (Some(s), None) => Some(s),
            (None, start) => start.clone(),
        }
    }

    fn apply_lookback(&self, saved: &Value) -> Value {
        let Some(window) = self.lookback else {
            return saved.clone();
        };
        match self.parse(saved) {
            Some(CursorValue::DateTime(t)) => {
                let back = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
                let at = t
                    .checked_sub_signed(back)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                Value::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            Some(CursorValue::Number(n)) => {
                let amount = match self.kind {
                    CursorKind::EpochSeconds => window.as_secs_f64(),
                    CursorKind::EpochMillis => window.as_millis() as f64,
                    _ => return saved.clone(),
                };
                let back = n.as_f64() - amount;
                match (saved, n) {
                    (Value::String(_), _) => Value::String(format_number(back)),
                    (_, Number::Int(_)) => json!(back as i64),
                    _ => json!(back),
                }
            }
            _ => saved.clone(),
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datetime_cursors_compare_as_instants() {
        let c = Cursor::new("t");
        let a = c.parse(&json!("2024-01-01T10:00:00+02:00")).unwrap();
        let b = c.parse(&json!("2024-01-01T09:00:00Z")).unwrap();
        assert!(a < b, "08:00Z is before 09:00Z");
        assert!(c.parse(&json!("2024-01-01")).unwrap() < b);
        assert!(c.parse(&json!(null)).is_none());
        assert_eq!(
            Cursor::new("n")
                .kind(CursorKind::Number)
                .parse(&json!("10")),
            Some(CursorValue::Number(Number::Int(10)))
        );
    }

    #[test]
    fn request_start_applies_lookback_and_start_date() {
        let c = Cursor::new("t").lookback(Duration::from_secs(3600));
        assert_eq!(
            c.request_start(Some(&json!("2024-01-01T10:00:00Z"))),
            Some(json!("2024-01-01T09:00:00Z"))
        );
        let c = Cursor::new("t").start(Some(json!("2024-06-01T00:00:00Z")));
        assert_eq!(c.request_start(None), Some(json!("2024-06-01T00:00:00Z")));
        assert_eq!(
            c.request_start(Some(&json!("2024-01-01T00:00:00Z"))),
            Some(json!("2024-06-01T00:00:00Z"))
        );
        assert_eq!(
            c.request_start(Some(&json!("2024-07-01T00:00:00Z"))),
            Some(json!("2024-07-01T00:00:00Z"))
        );
        let e = Cursor::new("t")
            .kind(CursorKind::EpochMillis)
            .lookback(Duration::from_secs(1));
        assert_eq!(e.request_start(Some(&json!(5000))), Some(json!(4000)));
    }
}

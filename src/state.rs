//! Per-stream state, incremental cursors and checkpoints.
//!
//! # The state a connection keeps
//! [`State`] maps each stream to a JSON blob, exactly as the Airbyte protocol's per-stream
//! `STATE` messages carry it. It reads every form orchestrators send (an empty array on a first
//! run, a list of `STREAM` or `GLOBAL` messages, a legacy object) and writes `STREAM` messages.
//!
//! # What intake stores for a stream
//! For the streams intake drives, the blob is a [`StreamState`]:
//! ```json
//! {"cursor": "2024-03-01T10:00:00Z", "boundary_keys": [["42"]],
//!  "partitions": [{"partition": {"list_id": "a1"}, "cursor": "2024-02-01T00:00:00Z"}]}
//! ```
//! - `cursor` is the maximum cursor value of the records delivered so far. The next read asks
//!   the API for records at or after it (minus the [`Cursor::lookback`] window);
//! - `boundary_keys` are the primary keys of the records whose cursor equals `cursor`. Reading
//!   from an inclusive start returns them again, and they are skipped, so the boundary never
//!   loses a record (two records updated in the same second) and never duplicates one;
//! - `resume` marks a read that stopped mid-way: the page token to continue from, the start of
//!   that pass and the maximum seen so far;
//! - `partitions` holds the same fields per partition (a parent record, a date slice).
//!
//! Unknown fields are kept, so a blob round-trips exactly.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::catalog::StreamDescriptor;
use crate::error::{Error, Result};
use crate::record::{Record, excerpt};

/// How many primary keys at the boundary a state keeps at most. Past this (a bulk import that
/// stamped the same `updated_at` on a million rows) the keys are dropped and the boundary's
/// records are read again on the next run: duplicates, never a loss.
pub const MAX_BOUNDARY_KEYS: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Cursor declaration
// ---------------------------------------------------------------------------------------------

/// How cursor values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CursorKind {
    /// Date-time strings (RFC 3339, `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD`) as instants, numbers as
    /// numbers, other strings as text. The default.
    #[default]
    Auto,
    /// Date-time strings; anything else is unparsable.
    DateTime,
    /// Seconds since the Unix epoch (a number or a numeric string).
    EpochSeconds,
    /// Milliseconds since the Unix epoch (a number or a numeric string).
    EpochMillis,
    /// Numbers (a number or a numeric string), such as an auto-increment id.
    Number,
    /// Strings compared byte by byte.
    Text,
}

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
    field: Vec<String>,
    kind: CursorKind,
    boundary: Boundary,
    order: CursorOrder,
    lookback: Option<Duration>,
    start: Option<Value>,
    missing: MissingCursor,
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

// ---------------------------------------------------------------------------------------------
// Cursor values
// ---------------------------------------------------------------------------------------------

/// A number that orders totally (JSON has no NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// Anything else.
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A parsed cursor value that compares the way the API means it.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorValue {
    /// An instant.
    DateTime(DateTime<Utc>),
    /// A number.
    Number(Number),
    /// Text.
    Text(String),
}

impl CursorValue {
    /// Parses a JSON value under a kind; `None` if it is missing, null or unparsable.
    pub fn parse(value: &Value, kind: CursorKind) -> Option<CursorValue> {
        match value {
            Value::String(s) => CursorValue::parse_str(s, kind),
            Value::Number(n) => CursorValue::parse_number(n, kind),
            _ => None,
        }
    }

    /// Parses the JSON text of a value (as found in a raw record) without building a [`Value`].
    pub fn parse_json_text(text: &str, kind: CursorKind) -> Option<CursorValue> {
        match text.as_bytes().first()? {
            b'"' => CursorValue::parse_str(&crate::record::json_str(text)?, kind),
            b'-' | b'0'..=b'9' => {
                CursorValue::parse_number(&serde_json::from_str(text).ok()?, kind)
            }
            _ => None,
        }
    }

    fn parse_str(s: &str, kind: CursorKind) -> Option<CursorValue> {
        match kind {
            // A blank string is no value at all (APIs send "" for "never").
            CursorKind::Auto if s.trim().is_empty() => None,
            CursorKind::Auto => Some(
                parse_datetime(s)
                    .map(CursorValue::DateTime)
                    .unwrap_or_else(|| CursorValue::Text(s.to_string())),
            ),
            CursorKind::DateTime => parse_datetime(s).map(CursorValue::DateTime),
            CursorKind::Text => Some(CursorValue::Text(s.to_string())),
            CursorKind::EpochSeconds | CursorKind::EpochMillis | CursorKind::Number => {
                let n: serde_json::Number = s.trim().parse().ok()?;
                number(&n).map(CursorValue::Number)
            }
        }
    }

    fn parse_number(n: &serde_json::Number, kind: CursorKind) -> Option<CursorValue> {
        match kind {
            CursorKind::DateTime => None,
            CursorKind::Text => Some(CursorValue::Text(n.to_string())),
            _ => number(n).map(CursorValue::Number),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            CursorValue::Number(_) => 0,
            CursorValue::DateTime(_) => 1,
            CursorValue::Text(_) => TEXT_RANK,
        }
    }
}

fn number(n: &serde_json::Number) -> Option<Number> {
    if let Some(i) = n.as_i64() {
        Some(Number::Int(i))
    } else {
        n.as_f64().filter(|f| f.is_finite()).map(Number::Float)
    }
}

const TEXT_RANK: u8 = 2;

/// Parses the date-time formats APIs use: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (taken as UTC),
/// and `YYYY-MM-DD` (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 10 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Some(t) = parse_utc_z(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    None
}

/// The common form, read without a general parser: `2024-01-15T14:22:10Z` with an optional
/// fraction of 1 to 9 digits. Anything else (offsets, leap seconds, other layouts) is `None`
/// and left to the full parsers.
fn parse_utc_z(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        b.get(from..from + len)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, digits.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    // A second of 60 (a leap second) makes no time here: the full parser handles it.
    let time = date.and_hms_nano_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?, nanos)?;
    Some(time.and_utc())
}

impl PartialOrd for CursorValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Eq for CursorValue {}

impl Ord for CursorValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (CursorValue::DateTime(a), CursorValue::DateTime(b)) => a.cmp(b),
            (CursorValue::Text(a), CursorValue::Text(b)) => a.cmp(b),
            (CursorValue::Number(Number::Int(a)), CursorValue::Number(Number::Int(b))) => a.cmp(b),
            (CursorValue::Number(a), CursorValue::Number(b)) => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stored state
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Cursor tracking during a read
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Connection state
// ---------------------------------------------------------------------------------------------

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

    #[test]
    fn the_fast_utc_reading_agrees_with_the_rfc_3339_parser() {
        let cases = [
            "2024-01-15T14:22:10Z",
            "2024-01-15T14:22:10.4Z",
            "2024-01-15T14:22:10.456Z",
            "2024-01-15T14:22:10.123456789Z",
            "2024-01-15T14:22:10.1234567891Z",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "2016-12-31T23:59:60Z",
            "2024-01-15T24:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-15 14:22:10Z",
            "2024-01-15T14:22:10.Z",
            "2024-01-15T14:22:1xZ",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ];
        for c in cases {
            let full = DateTime::parse_from_rfc3339(c)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            // When the fast reading answers, it is the parser's answer; when it declines, the
            // full parsers decide, as before.
            if let Some(fast) = parse_utc_z(c.as_bytes()) {
                assert_eq!(Some(fast), full, "{c}");
            }
            assert_eq!(
                parse_datetime(c).is_some(),
                full.is_some() || c.contains(' '),
                "{c}"
            );
        }
    }

    fn rec(id: u32, at: &str) -> Record {
        Record::from_value(&json!({"id": id, "updatedAt": at})).unwrap()
    }

    fn pk() -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }

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

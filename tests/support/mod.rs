//! Test support: an in-memory source with incremental filters, resume tokens and injectable
//! failures, and helpers to read JSONL output back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use intake::PrimaryKey;
use intake::state::{CursorOrder, CursorValue};
use intake::{
    ConnectorSpec, Cursor, Error, Page, PageStream, ReadRequest, Record, Result, Source, Stream,
    SyncMode, async_trait,
};
use serde_json::{Value, json};

/// One stream of records held in memory.
pub struct MemoryStream {
    pub name: String,
    pub records: Arc<Mutex<Vec<Value>>>,
    pub page_size: usize,
    pub cursor: Option<Cursor>,
    pub resumable: bool,
    /// Records left before the source fails with a transient error; negative = never.
    pub fail_after: Arc<AtomicI64>,
    /// When set, reaching zero cancels this token instead of failing.
    pub cancel: Option<intake::CancellationToken>,
}

impl MemoryStream {
    pub fn new(name: &str, records: Vec<Value>) -> Self {
        MemoryStream {
            name: name.into(),
            records: Arc::new(Mutex::new(records)),
            page_size: 100,
            cursor: None,
            resumable: false,
            fail_after: Arc::new(AtomicI64::new(-1)),
            cancel: None,
        }
    }

    pub fn cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    pub fn fail_after(mut self, counter: Arc<AtomicI64>) -> Self {
        self.fail_after = counter;
        self
    }

    pub fn cancel_at_zero(mut self, token: intake::CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The records this read returns, in the order the "API" returns them.
    fn select(&self, request: &ReadRequest) -> Vec<Value> {
        let all = self.records.lock().unwrap().clone();
        let Some(cursor) = &self.cursor else {
            return all;
        };
        let value_of = |r: &Value| -> Option<CursorValue> {
            let mut v = r;
            for p in cursor.field() {
                v = v.get(p)?;
            }
            cursor.parse(v)
        };
        let start = match (request.sync_mode, &request.start) {
            (SyncMode::Incremental, Some(s)) => cursor.parse(s),
            _ => None,
        };
        let mut out: Vec<Value> = all
            .into_iter()
            .filter(|r| match (&start, value_of(r)) {
                (Some(s), Some(v)) => v >= *s,
                _ => true,
            })
            .collect();
        if cursor.order_kind() == CursorOrder::Ascending {
            out.sort_by_key(|r| value_of(r));
        }
        out
    }
}

#[async_trait]
impl Stream for MemoryStream {
    fn name(&self) -> &str {
        &self.name
    }

    async fn json_schema(&self) -> Result<Value> {
        Ok(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "updatedAt": {"type": "string", "format": "date-time"},
                "name": {"type": ["string", "null"]}
            }
        }))
    }

    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }

    fn cursor(&self) -> Option<Cursor> {
        self.cursor.clone()
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let rows = self.select(&request);
        let offset = request.resume.as_ref().and_then(Value::as_u64).unwrap_or(0) as usize;
        let page_size = self.page_size.max(1);
        let resumable = self.resumable;
        let fail = self.fail_after.clone();
        let cancel = self.cancel.clone();
        futures::stream::unfold(offset, move |at| {
            let rows = rows.clone();
            let fail = fail.clone();
            let cancel = cancel.clone();
            async move {
                if at >= rows.len() {
                    return None;
                }
                let end = (at + page_size).min(rows.len());
                let mut records = Vec::with_capacity(end - at);
                for r in &rows[at..end] {
                    if fail.load(Ordering::SeqCst) == 0 {
                        match &cancel {
                            Some(token) => token.cancel(),
                            None => {
                                return Some((
                                    Err(Error::transient("injected failure")),
                                    usize::MAX,
                                ));
                            }
                        }
                    }
                    if fail.load(Ordering::SeqCst) > 0 {
                        fail.fetch_sub(1, Ordering::SeqCst);
                    }
                    match Record::from_value(r) {
                        Ok(rec) => records.push(rec),
                        Err(e) => return Some((Err(e), usize::MAX)),
                    }
                }
                let mut page = Page::new(records);
                if resumable && end < rows.len() {
                    page = page.resume_from(json!(end));
                }
                Some((Ok(page), end))
            }
        })
        .boxed()
    }
}

/// A source over memory streams.
#[derive(Clone)]
pub struct MemorySource {
    pub streams: Vec<Arc<MemoryStream>>,
}

#[async_trait]
impl Source for MemorySource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_schema(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {}
        }))
    }

    async fn check(&self, _config: &Value) -> Result<()> {
        Ok(())
    }

    async fn streams(&self, _config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(self
            .streams
            .iter()
            .map(|s| s.clone() as Arc<dyn Stream>)
            .collect())
    }
}

/// `n` records with ids from 1, `updatedAt` spread over days (several records share each
/// instant, to exercise the boundary), in an order shuffled by `seed`.
pub fn records(n: usize, seed: u64) -> Vec<Value> {
    let mut rows: Vec<Value> = (1..=n)
        .map(|i| {
            let day = 1 + (i / 7) % 28;
            let hour = (i / 3) % 24;
            json!({"id": i, "updatedAt": format!("2024-01-{day:02}T{hour:02}:00:00Z"), "name": format!("row {i}")})
        })
        .collect();
    shuffle(&mut rows, seed);
    rows
}

/// A small deterministic shuffle (xorshift), so tests need no RNG crate.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// A deterministic pseudo-random number in `0..n`.
pub fn pick(seed: u64, n: u64) -> u64 {
    let mut x = seed.wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % n.max(1)
}

/// The records of a JSONL file, parsed.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON line"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Ids in a JSONL file, counted.
pub fn id_counts(path: &Path) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for r in read_jsonl(path) {
        *out.entry(r["id"].as_i64().expect("id")).or_default() += 1;
    }
    out
}
pub mod mock;
pub mod protocol;

/// Standard base64 (RFC 4648, padded), as a connector would encode a credential.
pub fn base64_of(text: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

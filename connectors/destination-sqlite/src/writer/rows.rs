//! Converting a batch to insert chunks: typed parameters, borrowed from the records' text.

use std::collections::HashMap;

use intake::destination::table::{Cell, Fields};
use intake::record::RecordBatch;
use intake::{Error, Result, StreamDescriptor};

use super::table::{CHUNK_ROWS, META, Table, add_column_sql, rebuild_sql};
use super::{Group, send};
use crate::raw;

/// `2024-01-02T03:04:05.000000Z`: fixed width, so text order is time order. Written by hand
/// into a fixed buffer: chrono's formatter (and an allocation per value) cost more than the
/// insert on the hot path.
pub(super) fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> [u8; STAMP] {
    use chrono::{Datelike, Timelike};
    // The fields of the UTC time itself (a `DateTime`'s accessors apply the offset each call).
    let t = t.naive_utc();
    let mut out = [b'0'; STAMP];
    let mut put = |at: usize, mut n: u32, width: usize| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, t.year().clamp(0, 9999) as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    put(20, t.nanosecond().min(999_999_999) / 1000, 6);
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        out[at] = sep;
    }
    out[26] = b'Z';
    out
}

/// The length of a [`timestamp`].
pub(super) const STAMP: usize = 27;

/// One value to bind, computed on the converting thread. Text borrowed from a record is a byte
/// range into it, so the records travel to the SQLite thread without copying their strings.
pub(super) enum Param {
    Null,
    Integer(i64),
    Real(f64),
    /// `records[record].json()[start..end]`.
    Slice {
        record: u32,
        start: u32,
        end: u32,
    },
    Owned(String),
    /// A [`timestamp`] (ASCII).
    Stamp([u8; STAMP]),
}

impl Param {
    /// Where `text` lies inside `json` (it was borrowed from it), or a copy if it does not.
    #[inline]
    pub(super) fn text(record: usize, json: &str, text: std::borrow::Cow<'_, str>) -> Param {
        if let std::borrow::Cow::Borrowed(s) = &text {
            let base = json.as_ptr() as usize;
            let at = s.as_ptr() as usize;
            if at >= base
                && at + s.len() <= base + json.len()
                && let (Ok(record), Ok(start), Ok(end)) = (
                    u32::try_from(record),
                    u32::try_from(at - base),
                    u32::try_from(at - base + s.len()),
                )
            {
                return Param::Slice { record, start, end };
            }
        }
        Param::Owned(text.into_owned())
    }

    // Inlined into the loop that fills a chunk: called, it returned each 32-byte value through
    // the stack in narrower stores than the caller read it back with, and that stall was the
    // converting thread's largest cost (a fifth of its samples).
    #[inline(always)]
    pub(super) fn of(record: usize, json: &str, cell: Cell<'_>) -> Param {
        match cell {
            Cell::Null => Param::Null,
            Cell::Text(s) => Param::text(record, json, s),
            Cell::Json(s) => Param::text(record, json, std::borrow::Cow::Borrowed(s)),
            Cell::Integer(i) => Param::Integer(i),
            Cell::Number(f) => Param::Real(f),
            Cell::Boolean(b) => Param::Integer(i64::from(b)),
            Cell::DateTime(t) => Param::Stamp(timestamp(&t)),
            Cell::Date(d) => Param::Owned(d.format("%Y-%m-%d").to_string()),
        }
    }
}

impl Param {
    /// The value to bind, its text borrowed from the batch it came from.
    pub(super) fn value<'a>(&'a self, batch: &'a RecordBatch) -> rusqlite::Result<raw::Value<'a>> {
        Ok(match self {
            Param::Null => raw::Value::Null,
            Param::Integer(i) => raw::Value::Integer(*i),
            Param::Real(f) => raw::Value::Real(*f),
            Param::Owned(s) => raw::Value::Text(s.as_bytes()),
            Param::Stamp(s) => raw::Value::Text(s),
            Param::Slice { record, start, end } => raw::Value::Text(
                batch
                    .records
                    .get(*record as usize)
                    .and_then(|r| r.json().as_bytes().get(*start as usize..*end as usize))
                    .ok_or_else(|| {
                        rusqlite::Error::ToSqlConversionFailure("a value outside its record".into())
                    })?,
            ),
        })
    }
}

/// A batch and the insert chunks it became.
pub(super) struct Converted {
    pub(super) batch: RecordBatch,
    pub(super) chunks: Vec<(std::sync::Arc<str>, Vec<Param>)>,
}

/// The rows of one insert chunk while a batch is converted.
pub(super) struct Pending {
    pub(super) emitted_at: i64,
    /// The extraction time, then each row's column values (empty until the first row).
    pub(super) params: Vec<Param>,
    pub(super) rows: usize,
    /// Rows that keep their raw JSON: (row, raw JSON, error).
    pub(super) raw: Vec<(usize, Param, Param)>,
}

impl Pending {
    /// An empty chunk: its parameters are allocated with its first row, so a batch's last
    /// chunk leaves nothing allocated behind.
    pub(super) fn new(emitted_at: i64) -> Pending {
        Pending {
            emitted_at,
            params: Vec::new(),
            rows: 0,
            raw: Vec::new(),
        }
    }

    /// Makes room for a chunk of `rows` rows of `width` columns before its first row.
    pub(super) fn start(&mut self, rows: usize, width: usize) {
        if self.rows == 0 && self.params.is_empty() {
            self.params.reserve(1 + rows * width);
            self.params.push(Param::Integer(self.emitted_at));
        }
    }

    /// The chunk's statement and parameters, leaving an empty chunk behind.
    pub(super) fn take(&mut self, t: &mut Table) -> (std::sync::Arc<str>, Vec<Param>) {
        let done = std::mem::replace(self, Pending::new(self.emitted_at));
        if done.raw.is_empty() {
            return (t.chunk_sql(done.rows, false), done.params);
        }
        // Rare: a record of the chunk did not fit, so every row binds its raw pair.
        let width = t.schema.len();
        let mut params = Vec::with_capacity(1 + done.rows * (width + 2));
        let mut values = done.params.into_iter();
        params.extend(values.next());
        let mut raw = done.raw.into_iter().peekable();
        for row in 0..done.rows {
            params.extend(values.by_ref().take(width));
            match raw.next_if(|(r, _, _)| *r == row) {
                Some((_, json, error)) => params.extend([json, error]),
                None => params.extend([Param::Null, Param::Null]),
            }
        }
        (t.chunk_sql(done.rows, true), params)
    }
}

/// Converts a batch to insert chunks, sending any schema change it needs ahead of it.
pub(super) fn convert(
    tables: &mut HashMap<StreamDescriptor, Table>,
    batch: RecordBatch,
    group: &mut Group,
    tx: &std::sync::mpsc::SyncSender<Op>,
) -> Result<()> {
    let t = tables.get_mut(&*batch.stream).ok_or_else(|| {
        Error::system(format!(
            "records arrived for stream \"{}\", which the catalog does not configure",
            batch.stream
        ))
    })?;
    let emitted_at = batch.emitted_at;
    let mut chunks = Vec::with_capacity(batch.records.len().div_ceil(CHUNK_ROWS));
    let mut pending = Pending::new(emitted_at);
    for (i, record) in batch.records.iter().enumerate() {
        let fields = Fields::of(record)?;
        let fitted = t.schema.cells_if_unchanged(&fields, META);
        let changes = match fitted {
            Some(_) => Vec::new(),
            None => t.schema.changes_for(&fields, META),
        };
        if !changes.is_empty() {
            // Rows converted so far go in before the table changes.
            if pending.rows > 0 {
                chunks.push(pending.take(t));
            }
            let mut widened = false;
            let mut sql = String::new();
            for column in changes {
                tracing::info!(
                    "stream \"{}\": column {} is now {}",
                    t.stream,
                    column.name,
                    column.kind
                );
                if t.schema.position(&column.name).is_some() {
                    widened = true;
                } else {
                    sql.push_str(&add_column_sql(&t.target, &column));
                }
                t.schema.push(column);
            }
            if widened {
                sql.push_str(&rebuild_sql(t));
            }
            t.build_insert();
            pending = Pending::new(emitted_at);
            // Earlier batches, and the chunks of this one built for the old columns, go in
            // first.
            if !chunks.is_empty() {
                let head = RecordBatch {
                    stream: batch.stream.clone(),
                    records: batch.records.clone(),
                    emitted_at,
                    held: batch.held.clone(),
                    partition: batch.partition.clone(),
                };
                group.batches.push(Converted {
                    batch: head,
                    chunks: std::mem::take(&mut chunks),
                });
            }
            group.flush(tx)?;
            send(tx, Op::Sql(sql, "changing a table's columns"))?;
        }
        let (cells, misfits) = match fitted {
            Some(fitted) => fitted,
            None => t.schema.cells(&fields),
        };
        for m in &misfits {
            *t.misfits.entry(m.to_string()).or_default() += 1;
        }
        t.records += 1;
        t.bytes += record.len() as u64;
        let json = record.json();
        let width = t.schema.len();
        // The rows this chunk will hold: up to a full chunk of what is left of the batch.
        pending.start(CHUNK_ROWS.min(batch.records.len() - i), width);
        let n = cells.len();
        pending
            .params
            .extend(cells.into_iter().map(|c| Param::of(i, json, c)));
        pending.params.extend((n..width).map(|_| Param::Null));
        if let Some(first) = misfits.first() {
            t.rejected += 1;
            pending.raw.push((
                pending.rows,
                Param::text(i, json, std::borrow::Cow::Borrowed(json)),
                Param::Owned(first.to_string()),
            ));
        }
        pending.rows += 1;
        if pending.rows == CHUNK_ROWS {
            chunks.push(pending.take(t));
        }
    }
    if pending.rows > 0 {
        chunks.push(pending.take(t));
    }
    group.batches.push(Converted { batch, chunks });
    Ok(())
}

/// What the converting thread asks the SQLite thread to do, in order.
pub(super) enum Op {
    /// Statements that change tables (new or widened columns), inside the open transaction.
    Sql(String, &'static str),
    /// Insert batches, in order: each with its chunks (an INSERT and its parameters). Batches
    /// that arrive together travel together: one hand-over between the threads for several.
    Insert(Vec<Converted>),
    /// Store the state, commit, then acknowledge.
    Checkpoint(intake::Checkpoint),
    /// Statements run in a transaction of their own (an overwrite's swap).
    Commit(String, &'static str),
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_fixed_width_utc() {
        let t = intake::state::parse_datetime("2024-01-02T03:04:05.5+01:00").unwrap();
        assert_eq!(&super::timestamp(&t), b"2024-01-02T02:04:05.500000Z");
    }
}

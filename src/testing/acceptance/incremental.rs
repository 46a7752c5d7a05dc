//! The incremental checks: a second read from the saved state, changes, a state in the
//! future, a resumed read.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use super::{Acceptance, Outcome, identity};
use crate::catalog::{Catalog, ConfiguredCatalog, DestinationSyncMode, SyncMode};
use crate::record::Record;
use crate::source::ReadOptions;
use crate::state::{Cursor, CursorValue, State, StreamState};
use crate::testing::mock::Served;

impl Acceptance<'_> {
    /// What a check that needs the incremental check's state says without it: nothing to
    /// check when no stream is incremental, otherwise that the incremental check failed.
    fn without_incremental_state(&self, catalog: &Catalog) -> Outcome {
        if incremental(catalog).streams.is_empty() {
            Outcome::NotApplicable("no stream supports incremental reads".into())
        } else {
            Outcome::Unchecked("needs a state from the incremental check, which failed".into())
        }
    }

    pub(super) async fn check_incremental(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<(State, String), Outcome> {
        let configured = incremental(catalog);
        if configured.streams.is_empty() {
            return Err(Outcome::NotApplicable(
                "no stream supports incremental reads".into(),
            ));
        }
        let first = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the first incremental read failed: {e}")))?;
        let state = first.state();
        *self.first_state.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
        let second = self
            .read(&configured, &state, ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the second incremental read failed: {e}")))?;
        let streams = self.streams().await?;
        let mut problems = Vec::new();
        let mut summary = Vec::new();
        for c in &configured.streams {
            let name = &c.stream.name;
            let Some(cursor) = streams.get(name).and_then(|s| s.cursor()) else {
                continue;
            };
            let d = c.stream.descriptor();
            let saved = state
                .stream(&d)
                .map(|b| StreamState::from_value(&d, b))
                .transpose()
                .map_err(|e| Outcome::Failed(format!("{name}: unreadable state: {e}")))?
                .unwrap_or_default();
            let read_first = first.of(name).len();
            let has_cursor = saved.root.cursor.is_some()
                || saved.partitions.iter().any(|p| p.state.cursor.is_some());
            if read_first > 0 && !has_cursor {
                problems.push(format!(
                    "{name}: declares the cursor {:?}, but after reading {read_first} record(s) its state holds no cursor: no record carries the field, or the stream never reports its records' cursor",
                    cursor.field().join(".")
                ));
                continue;
            }
            let records = second.of_partitioned(name);
            summary.push(format!(
                "{name} {} then {}",
                first.of(name).len(),
                records.len()
            ));
            // Each record against its own partition's saved cursor: a partition read from
            // another partition's (lower) cursor re-reads what it already had.
            let early: Vec<String> = records
                .iter()
                .filter_map(|(partition, r)| {
                    let bound = bound_for(&saved, &cursor, *partition)?;
                    let v = r.field_path(cursor.field()).ok().flatten()?;
                    let v: Value = serde_json::from_str(v.get()).ok()?;
                    let parsed = cursor.parse(&v)?;
                    (parsed < bound).then(|| match partition {
                        Some(p) => format!("{v} in partition {p}"),
                        None => v.to_string(),
                    })
                })
                .collect();
            if !early.is_empty() {
                problems.push(format!(
                    "{name}: the second read returned {} record(s) before their partition's saved cursor (first: {})",
                    early.len(),
                    early[0]
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        let mut after = state.clone();
        for (d, blob) in second.state().streams() {
            after.set_stream(d.clone(), blob.clone());
        }
        Ok((
            after,
            format!("records, first then second read: {}", summary.join(", ")),
        ))
    }

    pub(super) async fn check_changes(
        &self,
        catalog: &Catalog,
        base: Option<&State>,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(base) = base else {
            return Err(self.without_incremental_state(catalog));
        };
        let Some(change) = &self.change else {
            return Err(Outcome::Unchecked(
                "no change between reads was declared (Acceptance::change_between_reads)".into(),
            ));
        };
        let configured = incremental(catalog);
        let mut expected = change().await;
        if let Some(replay) = &self.replay {
            // Keys that are URLs (a crawled page's) name the live site; the replay read them
            // at its own origin, as it reads the config's URLs.
            for (_, key) in &mut expected {
                *key = replay.point_config(key);
            }
        }
        let second = self
            .read(&configured, base, ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the second incremental read failed: {e}")))?;
        let mut missing = Vec::new();
        for (stream, key) in &expected {
            let pk = catalog
                .stream(stream)
                .and_then(|s| s.source_defined_primary_key.clone())
                .unwrap_or_default();
            let found = second.of(stream).iter().any(|r| match r.primary_key(&pk) {
                Ok(Some(Value::Array(parts))) => {
                    &Value::Array(parts.clone()) == key || (parts.len() == 1 && &parts[0] == key)
                }
                _ => false,
            });
            if !found {
                missing.push(format!("{stream} {key}"));
            }
        }
        if !missing.is_empty() {
            return Err(Outcome::Failed(format!(
                "changed records missing from the second read: {}",
                missing.join(", ")
            )));
        }
        Ok((
            (),
            format!("{} changed record(s) picked up", expected.len()),
        ))
    }

    pub(super) async fn check_future(
        &self,
        catalog: &Catalog,
        state: Option<&State>,
    ) -> std::result::Result<((), String), Outcome> {
        let Some(state) = state else {
            return Err(self.without_incremental_state(catalog));
        };
        let configured = incremental(catalog);
        let mut future = State::new();
        let mut covered = Vec::new();
        for c in &configured.streams {
            let d = c.stream.descriptor();
            let Some(blob) = state.stream(&d) else {
                continue;
            };
            let Ok(mut saved) = StreamState::from_value(&d, blob) else {
                continue;
            };
            let mut any = false;
            for cs in std::iter::once(&mut saved.root)
                .chain(saved.partitions.iter_mut().map(|p| &mut p.state))
            {
                if let Some(v) = cs.cursor.as_ref().and_then(far_future) {
                    cs.cursor = Some(v);
                    cs.boundary_keys.clear();
                    cs.resume = None;
                    any = true;
                }
            }
            if any {
                covered.push(c.stream.name.clone());
                future.set_stream(d, saved.to_value());
            }
        }
        if covered.is_empty() {
            return Err(Outcome::Failed(
                "no incremental stream saved a cursor in the first read, so no state can be moved into the future: the streams' records do not carry their cursor field".into(),
            ));
        }
        let configured = ConfiguredCatalog {
            streams: configured
                .streams
                .into_iter()
                .filter(|c| covered.contains(&c.stream.name))
                .collect(),
            extra: Default::default(),
        };
        let read = self
            .read(&configured, &future, ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the read from a future state failed: {e}")))?;
        if !read.records.is_empty() {
            let by: BTreeMap<&str, usize> =
                read.records.iter().fold(BTreeMap::new(), |mut m, (s, _)| {
                    *m.entry(s.as_str()).or_default() += 1;
                    m
                });
            return Err(Outcome::Failed(format!(
                "a state in the year 9999 still returned records: {by:?}"
            )));
        }
        Ok(((), format!("no records for {}", covered.join(", "))))
    }

    /// Reads everything with a checkpoint after every page, then resumes each stream with
    /// more than one page from a checkpoint in its middle: once as a full refresh (resuming
    /// from page tokens), once incrementally (resuming a pass from its cursor). Together the
    /// two reads must hold every record; the resumed read must read again no record from
    /// before the checkpoint and, with a mock, send no request whose answer the checkpoint
    /// already covered (an endpoint's page whose records were all emitted before it).
    pub(super) async fn check_resume(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<((), String), Outcome> {
        let mut problems = Vec::new();
        let mut resumed_streams = Vec::new();
        for (mode, configured) in [
            ("full refresh", full_refresh(catalog)),
            ("incremental", incremental(catalog)),
        ] {
            if configured.streams.is_empty() {
                continue;
            }
            let (p, r) = self.resume_in(mode, configured).await?;
            problems.extend(p);
            resumed_streams.extend(r.into_iter().map(|s| format!("{s} ({mode})")));
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        if resumed_streams.is_empty() {
            return Err(Outcome::Unchecked(
                "no stream has more than one page to resume within: give the mock more records than a page".into(),
            ));
        }
        let proof = if self.api().is_some() {
            "no covered record or request repeated, nothing lost"
        } else {
            "no covered record repeated, nothing lost"
        };
        Ok((
            (),
            format!("resumed {} mid-way: {proof}", resumed_streams.join(", ")),
        ))
    }

    /// One mode of [`Acceptance::check_resume`]: the problems found and the streams resumed.
    async fn resume_in(
        &self,
        mode: &str,
        configured: ConfiguredCatalog,
    ) -> std::result::Result<(Vec<String>, Vec<String>), Outcome> {
        // One partition at a time: which checkpoint is "the middle" and what it holds then
        // depend on nothing but the data, so the check makes the same requests in every run
        // (a recorded cassette replays it).
        let options = ReadOptions {
            checkpoint_records: 1,
            max_concurrency: 1,
            ..ReadOptions::default()
        };
        let streams = self.streams().await?;
        let mark = self.api().map(|m| m.log_len());
        let whole = self
            .read(&configured, &State::new(), options.clone())
            .await
            .map_err(|e| Outcome::Failed(format!("the checkpointed {mode} read failed: {e}")))?;
        let first_log = match (self.api(), mark) {
            (Some(m), Some(mark)) => m.log_since(mark),
            _ => Vec::new(),
        };
        let mut problems = Vec::new();
        let mut resumed_streams = Vec::new();
        for c in &configured.streams {
            let name = &c.stream.name;
            let cps: Vec<&(usize, String, Value)> = whole
                .checkpoints
                .iter()
                .filter(|(_, s, _)| s == name)
                .collect();
            if cps.len() < 3 {
                continue; // one page and the final checkpoint: nothing to resume in the middle
            }
            // The middle of those with a page still to read after them (the last two are
            // the last page's, which marks the stream done, and the stream's end).
            let (before, _, blob) = cps[(cps.len() - 2) / 2];
            let key = c
                .stream
                .source_defined_primary_key
                .clone()
                .unwrap_or_default();
            let had: HashSet<String> = whole.records[..*before]
                .iter()
                .filter(|(s, _)| s == name)
                .map(|(_, r)| identity(r, &key))
                .collect();
            // The requests whose every record was emitted before the checkpoint.
            let covered: Vec<&Served> = first_log
                .iter()
                .filter(|s| {
                    !s.records.is_empty()
                        && s.records.iter().all(|v| {
                            Record::from_value(v).is_ok_and(|r| had.contains(&identity(&r, &key)))
                        })
                })
                .collect();
            let mut state = State::new();
            state.set_stream(c.stream.descriptor(), blob.clone());
            let one = ConfiguredCatalog {
                streams: vec![c.clone()],
                extra: Default::default(),
            };
            let mark = self.api().map(|m| m.log_len());
            let rest = self
                .read(&one, &state, options.clone())
                .await
                .map_err(|e| {
                    Outcome::Failed(format!("{name}: the resumed {mode} read failed: {e}"))
                })?;
            // An incremental pass resumed from its saved cursor re-reads the cursor's lookback
            // by design: only records before that are read again wrongly.
            let cursor = match mode {
                "incremental" => streams.get(name).and_then(|s| s.cursor()),
                _ => None,
            };
            let d = c.stream.descriptor();
            let saved = StreamState::from_value(&d, blob).unwrap_or_default();
            let again: Vec<String> = rest
                .of_partitioned(name)
                .into_iter()
                .filter(|(partition, r)| {
                    let Some(cursor) = &cursor else { return true };
                    let Some(bound) = bound_for(&saved, cursor, *partition) else {
                        return true;
                    };
                    record_cursor(r, cursor).is_none_or(|v| v < bound)
                })
                .map(|(_, r)| identity(r, &key))
                .filter(|id| had.contains(id))
                .collect();
            if !again.is_empty() {
                problems.push(format!(
                    "{name}: the resumed {mode} read returned {} record(s) the checkpoint already covered (first: {}): it started over instead of resuming",
                    again.len(),
                    again[0]
                ));
            }
            if let (Some(m), Some(mark)) = (self.api(), mark) {
                let repeated: Vec<String> = m
                    .log_since(mark)
                    .iter()
                    .filter(|s| covered.iter().any(|c| c.same_request(s)))
                    .map(Served::line)
                    .collect();
                if !repeated.is_empty() {
                    problems.push(format!(
                        "{name}: the resumed {mode} read sent {} request(s) whose answers the checkpoint already covered (first: {})",
                        repeated.len(),
                        repeated[0]
                    ));
                }
            }
            let mut got = had;
            got.extend(rest.of(name).iter().map(|r| identity(r, &key)));
            let lost = whole
                .of(name)
                .iter()
                .filter(|r| !got.contains(&identity(r, &key)))
                .count();
            if lost > 0 {
                problems.push(format!(
                    "{name}: {lost} record(s) lost when resuming a {mode} from a mid-sync checkpoint"
                ));
            }
            resumed_streams.push(name.clone());
        }
        Ok((problems, resumed_streams))
    }
}

pub(super) fn full_refresh(catalog: &Catalog) -> ConfiguredCatalog {
    let mut c = catalog.configure_all();
    for s in &mut c.streams {
        s.sync_mode = SyncMode::FullRefresh;
        s.destination_sync_mode = DestinationSyncMode::Overwrite;
    }
    c
}

pub(super) fn incremental(catalog: &Catalog) -> ConfiguredCatalog {
    let mut c = catalog.configure_all();
    c.streams.retain(|s| s.sync_mode == SyncMode::Incremental);
    c
}

/// A record's cursor value, parsed as the cursor's kind.
fn record_cursor(record: &Record, cursor: &Cursor) -> Option<CursorValue> {
    let v = record.field_path(cursor.field()).ok().flatten()?;
    let v: Value = serde_json::from_str(v.get()).ok()?;
    cursor.parse(&v)
}

/// The cursor no record of `partition` may be before in a later read: that partition's own
/// saved cursor (none for a partition the first read did not save), or, for a record whose
/// partition is not known, the lowest of all; with the cursor's lookback applied.
fn bound_for(
    saved: &StreamState,
    cursor: &Cursor,
    partition: Option<&Value>,
) -> Option<CursorValue> {
    match partition {
        Some(key) => {
            let v = saved.partition(key)?.cursor.as_ref()?;
            cursor.parse(&cursor.request_start(Some(v))?)
        }
        None => lowest_cursor(saved, cursor),
    }
}

/// The lowest saved cursor of a stream (over its partitions), with the cursor's lookback
/// applied.
pub(super) fn lowest_cursor(saved: &StreamState, cursor: &Cursor) -> Option<CursorValue> {
    std::iter::once(&saved.root)
        .chain(saved.partitions.iter().map(|p| &p.state))
        .filter_map(|s| s.cursor.as_ref())
        .filter_map(|v| cursor.request_start(Some(v)))
        .filter_map(|v| cursor.parse(&v))
        .min()
}

/// A cursor value of the same kind as `v`, far in the future.
pub(super) fn far_future(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) => {
            let x = n.as_f64()?;
            // Epoch milliseconds or seconds: the end of year 9999; a plain counter: far past it.
            let far = if x.abs() >= 1e11 {
                253_402_300_799_000i64
            } else if x.abs() >= 1e8 {
                253_402_300_799i64
            } else {
                (x.abs() * 1000.0) as i64 + 1_000_000_000
            };
            Some(json!(far))
        }
        Value::String(s) => Some(match crate::state::parse_datetime(s) {
            Some(_) if s.len() == 10 => json!("9999-12-31"),
            Some(_) => json!("9999-12-31T23:59:59Z"),
            None => match s.parse::<f64>() {
                Ok(_) => json!("253402300799000"),
                Err(_) => json!(format!("{s}\u{10FFFF}")),
            },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_future_matches_the_cursor_kind() {
        assert_eq!(
            far_future(&json!("2024-01-01T00:00:00Z")),
            Some(json!("9999-12-31T23:59:59Z"))
        );
        assert_eq!(far_future(&json!("2024-01-01")), Some(json!("9999-12-31")));
        assert_eq!(
            far_future(&json!(1_704_067_200_000i64)),
            Some(json!(253_402_300_799_000i64))
        );
        assert_eq!(
            far_future(&json!(1_704_067_200)),
            Some(json!(253_402_300_799i64))
        );
    }
}

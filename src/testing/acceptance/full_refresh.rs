//! The full refresh checks: every record read, primary keys present and unique.

use std::collections::HashSet;

use serde_json::Value;

use super::incremental::full_refresh;
use super::{Acceptance, Outcome, Read, identity};
use crate::catalog::Catalog;
use crate::record::Record;
use crate::source::ReadOptions;
use crate::state::State;
use crate::testing::mock::MockApi;

impl Acceptance<'_> {
    pub(super) async fn check_full_refresh(
        &self,
        catalog: &Catalog,
    ) -> std::result::Result<(Read, String), Outcome> {
        let configured = full_refresh(catalog);
        let read = self
            .read(&configured, &State::new(), ReadOptions::default())
            .await
            .map_err(|e| Outcome::Failed(format!("the full refresh failed: {e}")))?;
        let mut problems = Vec::new();
        let mut summary = Vec::new();
        for s in &catalog.streams {
            let records = read.of(&s.name);
            summary.push(format!("{} {}", s.name, records.len()));
            match jsonschema::validator_for(&s.json_schema) {
                Ok(validator) => {
                    let mut bad = 0;
                    let mut first = None;
                    for r in &records {
                        let value = r.to_value().unwrap_or(Value::Null);
                        if let Some(e) = validator.iter_errors(&value).next() {
                            bad += 1;
                            first.get_or_insert_with(|| format!("{e} at {}", e.instance_path()));
                        }
                    }
                    if let Some(first) = first {
                        problems.push(format!(
                            "{}: {bad} record(s) do not match the schema, first: {first}",
                            s.name
                        ));
                    }
                }
                Err(e) => problems.push(format!("{}: invalid schema: {e}", s.name)),
            }
            let key = s.source_defined_primary_key.clone().unwrap_or_default();
            let distinct: HashSet<String> = records.iter().map(|r| identity(r, &key)).collect();
            if distinct.len() != records.len() {
                problems.push(format!(
                    "{}: {} record(s) read more than once",
                    s.name,
                    records.len() - distinct.len()
                ));
            }
            if let Some(want) = self.expected.get(&s.name)
                && *want != records.len() as u64
            {
                problems.push(format!(
                    "{}: read {} records, expected {want}",
                    s.name,
                    records.len()
                ));
            }
        }
        if let Some(mock) = self.api() {
            problems.extend(self.missing_from_mock(catalog, &read, mock));
        }
        for name in self.expected.keys() {
            if catalog.stream(name).is_none() {
                problems.push(format!(
                    "expected records for \"{name}\", which discover did not return"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        let detail = format!("records: {}", summary.join(", "));
        Ok((read, detail))
    }

    pub(super) async fn check_primary_keys(
        &self,
        catalog: &Catalog,
        read: &Read,
    ) -> std::result::Result<((), String), Outcome> {
        let mut problems = Vec::new();
        let mut checked = 0;
        for s in &catalog.streams {
            let Some(key) = s
                .source_defined_primary_key
                .clone()
                .filter(|k| !k.is_empty())
            else {
                continue;
            };
            checked += 1;
            let mut seen = HashSet::new();
            let (mut missing, mut dupes) = (0, 0);
            for r in read.of(&s.name) {
                match r.primary_key(&key) {
                    Ok(Some(k)) => {
                        if !seen.insert(k.to_string()) {
                            dupes += 1;
                        }
                    }
                    _ => missing += 1,
                }
            }
            if missing > 0 || dupes > 0 {
                problems.push(format!(
                    "{}: {missing} record(s) without a key, {dupes} duplicate key(s)",
                    s.name
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Outcome::Failed(problems.join("; ")));
        }
        if checked == 0 {
            return Err(Outcome::NotApplicable(
                "no stream declares a primary key".into(),
            ));
        }
        Ok(((), format!("{checked} stream(s) with unique, present keys")))
    }

    /// What the mock holds that the read did not deliver: each endpoint's records must all
    /// be in the stream that read them (the one whose keys overlap its records' most), matched
    /// by that stream's primary key. A stream that reads one page of three fails here even
    /// when the test set no expected count.
    fn missing_from_mock(&self, catalog: &Catalog, read: &Read, mock: &MockApi) -> Vec<String> {
        let mut problems = Vec::new();
        for (route, records) in mock.datasets() {
            if records.is_empty() {
                continue;
            }
            // Parsed once, matched against each stream.
            let held: Vec<Record> = records
                .iter()
                .filter_map(|v| Record::from_value(v).ok())
                .collect();
            let mut best: Option<(&str, usize, Vec<String>)> = None;
            for s in &catalog.streams {
                let Some(key) = s
                    .source_defined_primary_key
                    .as_ref()
                    .filter(|k| !k.is_empty())
                else {
                    continue;
                };
                let got: HashSet<String> =
                    read.of(&s.name).iter().map(|r| identity(r, key)).collect();
                let mut found = 0;
                let mut missing = Vec::new();
                for r in &held {
                    let id = identity(r, key);
                    if got.contains(&id) {
                        found += 1;
                    } else {
                        missing.push(id);
                    }
                }
                if found > 0 && best.as_ref().is_none_or(|b| found > b.1) {
                    best = Some((&s.name, found, missing));
                }
            }
            match best {
                None => problems.push(format!(
                    "the mock's {route} holds {} record(s) and no stream read any of them (matched by each stream's primary key)",
                    records.len()
                )),
                Some((stream, found, missing)) if !missing.is_empty() => problems.push(format!(
                    "{stream}: read {found} of the {} record(s) the mock's {route} holds; missing {} (first: {}): does it follow every page?",
                    records.len(),
                    missing.len(),
                    missing[0]
                )),
                Some(_) => {}
            }
        }
        problems
    }
}

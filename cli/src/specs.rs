//! `intake specs`: every connector's spec as a checked-in file (`spec/<connector>.json`), so
//! users and reviewers read the config schemas without building, and a test fails when the
//! code's spec drifts from the file.

use std::path::Path;

use anyhow::Context;
use intake::spec::ConnectorSpec;

use crate::SOURCES;

/// Every connector's spec, by file name (`source-hubspot.json`), in a stable order.
pub fn all() -> Vec<(String, ConnectorSpec)> {
    let mut specs: Vec<(String, ConnectorSpec)> = SOURCES
        .iter()
        .map(|s| (format!("source-{}.json", s.name), (s.make)().spec()))
        .collect();
    for (name, destination) in [
        ("sqlite", crate::destination("sqlite:unused")),
        ("postgres", crate::destination("postgres:postgres://unused")),
        ("parquet", crate::destination("parquet:unused")),
        ("jsonl", crate::destination("jsonl:unused")),
    ] {
        if let Ok(d) = destination {
            specs.push((format!("destination-{name}.json"), d.spec()));
        }
    }
    specs
}

/// The file's text for a spec: pretty JSON and a final newline.
fn text(spec: &ConnectorSpec) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(spec)? + "\n")
}

/// Writes every spec into `dir`.
pub fn write(dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let specs = all();
    for (name, spec) in &specs {
        let path = dir.join(name);
        std::fs::write(&path, text(spec)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(specs.len())
}

/// The files in `dir` that differ from the code's specs (missing ones included).
pub fn drift(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut drifted = Vec::new();
    for (name, spec) in all() {
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        if on_disk != text(&spec)? {
            drifted.push(name);
        }
    }
    Ok(drifted)
}

//! Compiles every Jinja template of a manifest (after preprocessing) and prints the ones that
//! do not parse, with their manifest path:
//! `cargo run -p intake-source-declarative --example templates -- M...`.

use intake_source_declarative::Manifest;
use intake_source_declarative::interpolation::Interpolated;
use serde_json::Value;

fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            out.push((path.into(), s.clone()))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                if k.contains("{{") {
                    out.push((format!("{path}.<key>"), k.clone()));
                }
                walk(item, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn main() -> anyhow::Result<()> {
    let mut failed = 0;
    for path in std::env::args().skip(1) {
        let manifest = Manifest::from_yaml(&std::fs::read_to_string(&path)?)?;
        let mut templates = Vec::new();
        walk(manifest.root(), "", &mut templates);
        let mut distinct: Vec<&String> = templates.iter().map(|t| &t.1).collect();
        distinct.sort();
        distinct.dedup();
        let bad: Vec<_> = templates
            .iter()
            .filter_map(|(p, t)| Interpolated::new(t, p).err())
            .collect();
        println!(
            "{path}: {} templates ({} distinct), {} do not parse",
            templates.len(),
            distinct.len(),
            bad.len()
        );
        for e in bad.iter().take(5) {
            println!("  {e}");
        }
        failed += bad.len();
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

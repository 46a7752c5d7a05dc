//! Evaluates templates as the manifest runtime does, one JSON document per input line,
//! `{"template": "...", "context": {"config": {...}, "stream_slice": {...}}}`, printing
//! `{"value": ...}` or `{"error": "..."}` per line. `scripts/manifest-parity/templates.py`
//! feeds it and airbyte-cdk the same lines and compares.

use std::io::BufRead;

use intake_source_declarative::interpolation::{Context, Interpolated};
use serde_json::{Value, json};

fn main() -> anyhow::Result<()> {
    for line in std::io::stdin().lock().lines() {
        let doc: Value = serde_json::from_str(&line?)?;
        let template = doc["template"].as_str().unwrap_or_default();
        let vars = doc["context"].as_object().cloned().unwrap_or_default();
        let mut ctx = Context::new(vars.get("config").unwrap_or(&Value::Null));
        for (k, v) in &vars {
            if k != "config" {
                ctx.set(k, v);
            }
        }
        let out = match Interpolated::new(template, "").and_then(|t| t.eval(&ctx)) {
            Ok(v) => json!({"value": v}),
            Err(e) => json!({"error": e.to_string()}),
        };
        println!("{out}");
    }
    Ok(())
}

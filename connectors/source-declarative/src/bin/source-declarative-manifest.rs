//! `source-declarative-manifest`: a manifest run as an Airbyte-protocol source, like
//! airbyte-cdk's command of the same name:
//! `source-declarative-manifest read --manifest-path manifest.yaml --config c.json --catalog cat.json`.
//! A manifest that cannot be loaded (not YAML, a reference to nothing, a component this runtime
//! does not implement) is a TRACE error naming the manifest path of the fault, exit status 1.

use std::process::ExitCode;

use intake_source_declarative::DeclarativeSource;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let manifest = match args.iter().position(|a| a == "--manifest-path") {
        Some(i) if i + 1 < args.len() => {
            let path = args.remove(i + 1);
            args.remove(i);
            path
        }
        _ => "manifest.yaml".to_string(),
    };
    let source = std::fs::read_to_string(&manifest)
        .map_err(|e| {
            format!("cannot read the manifest {manifest}: {e} (give it with --manifest-path)")
        })
        .and_then(|text| {
            DeclarativeSource::from_yaml(&text).map_err(|e| format!("{manifest}: {e}"))
        });
    match source {
        Ok(source) => intake::protocol::run_source_with_args(source, args),
        Err(message) => {
            let emitted_at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let trace = serde_json::json!({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": emitted_at,
                "error": {"message": message, "failure_type": "config_error"}}});
            println!("{trace}");
            ExitCode::FAILURE
        }
    }
}

//! `source-declarative-manifest`: a manifest run as an Airbyte-protocol source, like
//! airbyte-cdk's command of the same name:
//! `source-declarative-manifest read --manifest-path manifest.yaml --config c.json --catalog cat.json`
//! (`--url-base URL` sends every request to URL instead of the manifest's `url_base`).
//! A manifest that cannot be loaded (not YAML, a reference to nothing, a component this runtime
//! does not implement) is a TRACE error naming the manifest path of the fault, exit status 1.

use std::process::ExitCode;

use intake_source_declarative::DeclarativeSource;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut take = |flag: &str| match args.iter().position(|a| a == flag) {
        Some(i) if i + 1 < args.len() => {
            let value = args.remove(i + 1);
            args.remove(i);
            Some(value)
        }
        _ => None,
    };
    let manifest = take("--manifest-path").unwrap_or_else(|| "manifest.yaml".to_string());
    // Every request to this URL instead of the manifest's url_base (a mock, when the spec
    // allows only the vendor's hosts).
    let url_base = take("--url-base");
    let source = std::fs::read_to_string(&manifest)
        .map_err(|e| {
            format!("cannot read the manifest {manifest}: {e} (give it with --manifest-path)")
        })
        .and_then(|text| {
            DeclarativeSource::from_yaml(&text).map_err(|e| format!("{manifest}: {e}"))
        })
        .map(|s| match &url_base {
            Some(url) => s.with_url_base(url),
            None => s,
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

//! Prints a manifest as intake preprocesses it (references resolved, types and `$parameters`
//! propagated), as JSON: `cargo run -p intake-source-declarative --example preprocess -- M`.
//! `scripts/manifest-parity/preprocess.py` compares it with airbyte-cdk's preprocessing.

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: preprocess MANIFEST"))?;
    let text = std::fs::read_to_string(&path)?;
    let manifest = intake_source_declarative::Manifest::from_yaml(&text)?;
    println!("{}", serde_json::to_string(manifest.root())?);
    Ok(())
}

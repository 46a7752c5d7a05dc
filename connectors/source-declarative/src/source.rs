//! [`DeclarativeSource`]: a manifest as an intake [`Source`].
//!
//! Loading refuses, naming the component and its manifest path, any component this runtime
//! does not implement, before any config is seen: a manifest runs whole or not at all.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use intake::{ConnectorSpec, Partition, ReadRequest, Source, Stream};
use serde_json::{Value, json};

use crate::error::{ManifestError, Result};
use crate::manifest::Manifest;
use crate::stream::DeclarativeStream;

/// A declarative (low-code) source.
#[derive(Debug, Clone)]
pub struct DeclarativeSource {
    manifest: Manifest,
    spec: ConnectorSpec,
    check_streams: Vec<String>,
}

impl DeclarativeSource {
    /// Loads a manifest's text (YAML or JSON).
    pub fn from_yaml(text: &str) -> Result<Self> {
        Self::from_manifest(Manifest::from_yaml(text)?)
    }

    /// Loads a preprocessed manifest.
    pub fn from_manifest(manifest: Manifest) -> Result<Self> {
        let root = manifest.root();
        let spec = match root
            .get("spec")
            .and_then(|s| s.get("connection_specification"))
        {
            Some(schema) => {
                let mut spec = ConnectorSpec::from_schema(schema.clone());
                if let Some(url) = root
                    .get("spec")
                    .and_then(|s| s.get("documentation_url"))
                    .and_then(Value::as_str)
                {
                    spec = spec.documentation_url(url);
                }
                spec
            }
            None => ConnectorSpec::from_schema(json!({"type": "object", "properties": {}})),
        };
        let check_streams = root
            .get("check")
            .and_then(|c| c.get("stream_names"))
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(check) = root.get("check").and_then(Value::as_object) {
            let kind = check.get("type").and_then(Value::as_str).unwrap_or("");
            if kind != "CheckStream" {
                return Err(ManifestError::Unsupported {
                    path: "check".into(),
                    kind: kind.into(),
                    why: Some("only CheckStream is implemented yet".into()),
                });
            }
        }
        if manifest.streams().is_empty() {
            let why = if root.get("dynamic_streams").is_some() {
                "dynamic_streams are not implemented yet"
            } else {
                "the manifest declares no streams"
            };
            return Err(ManifestError::invalid("streams", why));
        }
        let source = DeclarativeSource {
            manifest,
            spec,
            check_streams,
        };
        source.refuse_unsupported()?;
        Ok(source)
    }

    /// Uses `spec` (a `connectionSpecification`) for a manifest without a `spec:` section
    /// (a Python connector that keeps it in `spec.json`).
    pub fn with_connection_specification(mut self, schema: Value) -> Self {
        self.spec = ConnectorSpec::from_schema(schema);
        self
    }

    /// Sends every request to `url` instead of the manifest's `url_base`s (a mock standing in
    /// for the API, when the spec allows only the vendor's hosts).
    pub fn with_url_base(mut self, url: &str) -> Self {
        self.manifest.override_url_base(url);
        self
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Builds every stream with an empty config: only a component this runtime does not
    /// implement fails here (everything config-dependent is checked with the real config).
    fn refuse_unsupported(&self) -> Result<()> {
        for (path, node) in self.manifest.streams() {
            if let Err(e @ ManifestError::Unsupported { .. }) =
                DeclarativeStream::build(node, &path, &json!({}))
            {
                return Err(e);
            }
        }
        Ok(())
    }

    fn build(&self, config: &Value) -> Result<Vec<DeclarativeStream>> {
        self.manifest
            .streams()
            .into_iter()
            .map(|(path, node)| DeclarativeStream::build(node, &path, config))
            .collect()
    }
}

#[async_trait]
impl Source for DeclarativeSource {
    fn spec(&self) -> ConnectorSpec {
        self.spec.clone()
    }

    /// The CDK's `CheckStream`: each named stream's first page reads without an error.
    async fn check(&self, config: &Value) -> intake::Result<()> {
        let streams = self.build(config)?;
        for name in &self.check_streams {
            let stream = streams.iter().find(|s| s.name() == name).ok_or_else(|| {
                intake::Error::config(format!(
                    "check.stream_names: the manifest has no stream {name:?} to check"
                ))
            })?;
            let mut pages = stream.read(ReadRequest::full_refresh(name, Partition::whole()));
            if let Some(Err(e)) = pages.next().await {
                return Err(e.context(format!("checking the stream {name:?}")));
            }
        }
        Ok(())
    }

    async fn streams(&self, config: &Value) -> intake::Result<Vec<Arc<dyn Stream>>> {
        Ok(self
            .build(config)?
            .into_iter()
            .map(|s| Arc::new(s) as Arc<dyn Stream>)
            .collect())
    }
}

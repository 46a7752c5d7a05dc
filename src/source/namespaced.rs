//! [`Namespaced`]: puts every stream of a source in a namespace, so several sources can sync
//! into one destination without their tables (or their states) colliding.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::catalog::{Catalog, ConfiguredCatalog, StreamDescriptor};
use crate::error::Result;
use crate::source::{DeclaredLimits, PrimaryKey};
use crate::source::{
    EventSender, PageStream, Partition, ReadOptions, ReadRequest, Source, SourceEvent, Stream,
};
use crate::spec::ConnectorSpec;
use crate::state::{Cursor, State};

/// A source whose streams all live in `namespace`: HubSpot's `contacts` becomes
/// `hubspot.contacts` (a `hubspot__contacts` table in SQLite, a `hubspot` schema in
/// PostgreSQL). Streams that already have a namespace keep theirs.
///
/// ```
/// use intake::source::Namespaced;
/// # struct S; #[intake::async_trait] impl intake::Source for S {
/// #   fn spec(&self) -> intake::ConnectorSpec { intake::ConnectorSpec::from_schema(serde_json::json!({})) }
/// #   async fn check(&self, _: &serde_json::Value) -> intake::Result<()> { Ok(()) }
/// #   async fn streams(&self, _: &serde_json::Value) -> intake::Result<Vec<std::sync::Arc<dyn intake::Stream>>> { Ok(vec![]) } }
/// let source = Namespaced::new(S, "crm");
/// # let _ = source;
/// ```
#[derive(Debug, Clone)]
pub struct Namespaced<S> {
    inner: S,
    namespace: String,
}

impl<S> Namespaced<S> {
    /// Wraps `source`.
    pub fn new(source: S, namespace: impl Into<String>) -> Self {
        Namespaced {
            inner: source,
            namespace: namespace.into(),
        }
    }
}

struct NamespacedStream {
    inner: Arc<dyn Stream>,
    namespace: String,
}

#[async_trait]
impl Stream for NamespacedStream {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn namespace(&self) -> Option<&str> {
        Some(self.inner.namespace().unwrap_or(&self.namespace))
    }
    async fn json_schema(&self) -> Result<Value> {
        self.inner.json_schema().await
    }
    fn primary_key(&self) -> PrimaryKey {
        self.inner.primary_key()
    }
    fn cursor(&self) -> Option<Cursor> {
        self.inner.cursor()
    }
    async fn partitions(&self) -> Result<Vec<Partition>> {
        self.inner.partitions().await
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        self.inner.read(request)
    }
    fn declared_limits(&self) -> DeclaredLimits {
        self.inner.declared_limits()
    }
}

impl<S> Namespaced<S> {
    /// The descriptor the inner source knows for one of ours.
    fn inner_descriptor(&self, d: &StreamDescriptor) -> StreamDescriptor {
        match &d.namespace {
            Some(ns) if *ns == self.namespace => StreamDescriptor {
                name: d.name.clone(),
                namespace: None,
            },
            _ => d.clone(),
        }
    }

    fn outer(&self, d: &Arc<StreamDescriptor>) -> Arc<StreamDescriptor> {
        if d.namespace.is_some() {
            return d.clone();
        }
        Arc::new(StreamDescriptor {
            name: d.name.clone(),
            namespace: Some(self.namespace.clone()),
        })
    }
}

#[async_trait]
impl<S: Source> Source for Namespaced<S> {
    fn spec(&self) -> ConnectorSpec {
        self.inner.spec()
    }

    async fn check(&self, config: &Value) -> Result<()> {
        self.inner.check(config).await
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(self
            .inner
            .streams(config)
            .await?
            .into_iter()
            .map(|inner| {
                Arc::new(NamespacedStream {
                    inner,
                    namespace: self.namespace.clone(),
                }) as Arc<dyn Stream>
            })
            .collect())
    }

    async fn discover(&self, config: &Value) -> Result<Catalog> {
        let mut catalog = self.inner.discover(config).await?;
        for s in &mut catalog.streams {
            s.namespace.get_or_insert_with(|| self.namespace.clone());
        }
        Ok(catalog)
    }

    /// Reads through the inner source (its own `read`, whatever it does) with the namespace
    /// taken off the catalog and the state, and put back on every event.
    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        let mut inner_catalog = catalog.clone();
        let mut inner_state = State::new();
        for s in &mut inner_catalog.streams {
            let outer = s.stream.descriptor();
            let inner = self.inner_descriptor(&outer);
            if let Some(blob) = state.stream(&outer) {
                inner_state.set_stream(inner.clone(), blob.clone());
            }
            s.stream.namespace = inner.namespace;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let reading = self.inner.read(
            config,
            &inner_catalog,
            &inner_state,
            options,
            EventSender::new(tx),
        );
        let forwarding = async {
            while let Some(event) = rx.recv().await {
                let event = match event {
                    SourceEvent::Records(mut batch) => {
                        batch.stream = self.outer(&batch.stream);
                        SourceEvent::Records(batch)
                    }
                    SourceEvent::Checkpoint(mut cp) => {
                        cp.stream = self.outer(&cp.stream);
                        SourceEvent::Checkpoint(cp)
                    }
                    SourceEvent::Status(d, status) => SourceEvent::Status(self.outer(&d), status),
                    SourceEvent::Metrics(d, m) => SourceEvent::Metrics(self.outer(&d), m),
                    other => other,
                };
                out.send(event).await?;
            }
            Ok::<(), crate::Error>(())
        };
        let (read, forwarded) = tokio::join!(reading, forwarding);
        read?;
        forwarded
    }
}

//! [`HttpSource`]: a whole REST source from a typed config and a function that declares its
//! streams.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::stream::HttpStream;
use crate::error::{Error, Result};
use crate::source::{Partition, ReadRequest, Source, Stream};
use crate::spec::{ConnectorSpec, parse_config};

type StreamsFn<C> = Arc<dyn Fn(&C) -> Result<Vec<HttpStream>> + Send + Sync>;

/// A source made of [`HttpStream`]s: the spec comes from the config type `C`, `check` reads
/// the first page of one stream, `discover` describes every stream.
///
/// # Example
/// ```
/// use intake::http::{Auth, HttpApi, HttpSource, HttpStream, Paginator};
/// use schemars::JsonSchema;
/// use intake::Secret;
/// use serde::Deserialize;
///
/// /// Connection settings for the Acme API.
/// #[derive(Deserialize, JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct AcmeConfig {
///     /// API token from Settings -> API.
///     api_token: Secret,
///     /// Override the API host (tests, proxies).
///     base_url: Option<String>,
/// }
///
/// fn streams(cfg: &AcmeConfig) -> intake::Result<Vec<HttpStream>> {
///     let api = HttpApi::parse(cfg.base_url.as_deref().unwrap_or("https://api.acme.test"))?
///         .auth(Auth::bearer(cfg.api_token.clone()));
///     Ok(vec![
///         api.stream("customers")
///             .get("/v1/customers")
///             .records_at("/data")
///             .paginate(Paginator::cursor_from_body("/next").into_query("cursor"))
///             .primary_key("id"),
///     ])
/// }
///
/// let source = HttpSource::new("acme", streams);
/// assert_eq!(intake::Source::spec(&source).secret_fields(), vec!["/api_token"]);
/// ```
///
/// The streams built for a config are kept and reused while the config stays the same, so
/// `check`, `discover` and `read` on one source share one [`super::HttpApi`] — one rate
/// limiter, one token cache — as one connector instance should.
pub struct HttpSource<C> {
    name: String,
    spec: ConnectorSpec,
    streams: StreamsFn<C>,
    check_stream: Option<String>,
    built: Mutex<Option<(Value, Vec<HttpStream>)>>,
    _config: PhantomData<fn() -> C>,
}

impl<C> HttpSource<C>
where
    C: DeserializeOwned + JsonSchema + 'static,
{
    /// A source named `name` whose streams `streams` declares from the parsed config.
    pub fn new(
        name: impl Into<String>,
        streams: impl Fn(&C) -> Result<Vec<HttpStream>> + Send + Sync + 'static,
    ) -> Self {
        HttpSource {
            name: name.into(),
            spec: ConnectorSpec::from_config::<C>().supports_incremental(true),
            streams: Arc::new(streams),
            check_stream: None,
            built: Mutex::new(None),
            _config: PhantomData,
        }
    }

    /// Adjusts the spec (documentation URL, sync modes).
    pub fn spec_with(mut self, f: impl FnOnce(ConnectorSpec) -> ConnectorSpec) -> Self {
        self.spec = f(self.spec);
        self
    }

    /// The stream whose first page `check` reads. Default: the first stream.
    pub fn check_with(mut self, stream: &str) -> Self {
        self.check_stream = Some(stream.to_string());
        self
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn build(&self, config: &Value) -> Result<Vec<HttpStream>> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached, streams)) = built.as_ref()
            && cached == config
        {
            return Ok(streams.clone());
        }
        let typed: C = parse_config(config)?;
        let streams = (self.streams)(&typed)?;
        *built = Some((config.clone(), streams.clone()));
        Ok(streams)
    }
}

#[async_trait]
impl<C> Source for HttpSource<C>
where
    C: DeserializeOwned + JsonSchema + 'static,
{
    fn spec(&self) -> ConnectorSpec {
        self.spec.clone()
    }

    async fn check(&self, config: &Value) -> Result<()> {
        let streams = self.build(config)?;
        let stream = match &self.check_stream {
            Some(name) => streams.into_iter().find(|s| s.name() == name),
            None => streams.into_iter().next(),
        }
        .ok_or_else(|| Error::system(format!("source \"{}\" has no stream to check", self.name)))?;
        let partition = Stream::partitions(&stream)
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(Partition::whole);
        let probe = stream.max_pages(1);
        let mut pages = probe.read(ReadRequest::full_refresh(probe.name(), partition));
        while let Some(page) = pages.next().await {
            page?;
        }
        Ok(())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(self
            .build(config)?
            .into_iter()
            .map(|s| Arc::new(s) as Arc<dyn Stream>)
            .collect())
    }
}

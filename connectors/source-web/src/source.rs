//! [`WebSource`]: the connector as an intake [`Source`].

use std::sync::Arc;

use intake::source::EventSender;
use intake::{
    ConfiguredCatalog, ConnectorSpec, ReadOptions, Result, Source, State, Stream, async_trait,
};
use serde_json::Value;

use crate::config::{PAGES, WebConfig};
use crate::crawl;
use crate::streams::{WebStream, cursor};

/// The web source.
#[derive(Debug, Default, Clone)]
pub struct WebSource {
    _private: (),
}

impl WebSource {
    /// The source.
    pub fn new() -> Self {
        WebSource::default()
    }
}

#[async_trait]
impl Source for WebSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<WebConfig>()
            .supports_incremental(true)
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/source-web",
            )
    }

    /// Validates the config (patterns, selectors, URLs, addresses) and fetches the start
    /// URLs' robots.txt.
    async fn check(&self, config: &Value) -> Result<()> {
        let settings = crate::settings::Settings::from_config(config)?;
        crate::client::check(&settings).await
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let settings = crate::settings::Settings::from_config(config)?;
        let mut out: Vec<Arc<dyn Stream>> = vec![Arc::new(WebStream {
            name: PAGES.into(),
            schema: crate::settings::pages_schema(),
            key: vec![vec!["url".into()]],
            cursor: cursor(),
            config: config.clone(),
        })];
        for r in &settings.rules {
            out.push(Arc::new(WebStream {
                name: r.name.clone(),
                schema: r.schema(),
                key: vec![vec!["url".into()], vec!["_index".into()]],
                cursor: cursor(),
                config: config.clone(),
            }));
        }
        Ok(out)
    }

    async fn read(
        &self,
        config: &Value,
        catalog: &ConfiguredCatalog,
        state: &State,
        options: &ReadOptions,
        out: EventSender,
    ) -> Result<()> {
        let settings = crate::settings::Settings::from_config(config)?;
        crawl::run(&settings, catalog, state, options, out).await
    }
}

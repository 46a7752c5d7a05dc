//! [`SheetsSource`]: the connector as an intake [`Source`].

use std::sync::Arc;

use intake::source::{LogLevel, StreamContext};
use intake::spec::parse_config;
use intake::{ConnectorSpec, Result, Source, Stream, async_trait};
use serde_json::Value;

use crate::client::{Client, client};
use crate::config::SheetsConfig;
use crate::streams::SheetStream;
/// The Google Sheets source. One value keeps one API client per config (its quota and token
/// are shared by every call made through it).
#[derive(Debug, Default, Clone)]
pub struct SheetsSource {
    client: Arc<std::sync::Mutex<Option<(String, Client)>>>,
}

impl SheetsSource {
    /// The source.
    pub fn new() -> Self {
        SheetsSource::default()
    }

    fn client(&self, config: &Value) -> Result<Client> {
        let cfg: SheetsConfig = parse_config(config)?;
        let key = config.to_string();
        let mut cached = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = cached.as_ref()
            && *k == key
        {
            return Ok(c.clone());
        }
        let c = client(&cfg)?;
        *cached = Some((key, c.clone()));
        Ok(c)
    }
}

#[async_trait]
impl Source for SheetsSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<SheetsConfig>().documentation_url(
            "https://github.com/intake-rs/intake/tree/main/connectors/source-google-sheets",
        )
    }

    /// Reads the spreadsheet's tab list.
    async fn check(&self, config: &Value) -> Result<()> {
        let client = self.client(config)?;
        client
            .sheets(&StreamContext::detached("check"))
            .await
            .map(|_| ())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let client = self.client(config)?;
        let ctx = StreamContext::detached("discover");
        let tabs = client.tabs(&ctx).await?;
        let _ = ctx
            .log(LogLevel::Debug, format!("{} tabs", tabs.len()))
            .await;
        Ok(tabs
            .into_iter()
            .map(|tab| {
                Arc::new(SheetStream {
                    client: client.clone(),
                    tab,
                }) as Arc<dyn Stream>
            })
            .collect())
    }
}

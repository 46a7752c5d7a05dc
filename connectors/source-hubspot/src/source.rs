//! [`HubSpotSource`]: the connector as an intake [`Source`].

use std::sync::Arc;

use intake::http::HttpApi;
use intake::source::StreamContext;
use intake::spec::parse_config;
use intake::{ConnectorSpec, Result, Source, Stream, async_trait};
use serde_json::Value;

use crate::client::api;
use crate::config::HubSpotConfig;
/// The HubSpot source.
///
/// One source value keeps one API client per config: its rate limiter and access token are
/// shared by every check, discover and read made through it, as HubSpot counts them per portal.
#[derive(Debug, Default, Clone)]
pub struct HubSpotSource {
    client: Arc<std::sync::Mutex<Option<(String, HttpApi)>>>,
}

impl HubSpotSource {
    /// The source.
    pub fn new() -> Self {
        HubSpotSource::default()
    }

    /// The parsed config and the API client for it (reused while the config is the same).
    fn client(&self, config: &Value) -> Result<(HubSpotConfig, HttpApi)> {
        let cfg: HubSpotConfig = parse_config(config)?;
        let key = config.to_string();
        let mut cached = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, api)) = cached.as_ref()
            && *k == key
        {
            return Ok((cfg, api.clone()));
        }
        let api = api(&cfg)?;
        *cached = Some((key, api.clone()));
        Ok((cfg, api))
    }
}

#[async_trait]
impl Source for HubSpotSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<HubSpotConfig>().documentation_url(
            "https://github.com/intake-rs/intake/tree/main/connectors/source-hubspot",
        )
    }

    /// One cheap authenticated call: the account's details.
    async fn check(&self, config: &Value) -> Result<()> {
        let (_, api) = self.client(config)?;
        api.get_json(
            "/account-info/v3/details",
            &StreamContext::detached("check"),
        )
        .await
        .map(|_| ())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        let (cfg, api) = self.client(config)?;
        crate::streams::streams(&cfg, api).await
    }
}

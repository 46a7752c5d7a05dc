//! [`MailchimpSource`]: the connector as an intake [`Source`].

use std::sync::Arc;

use intake::source::StreamContext;
use intake::spec::parse_config;
use intake::{ConnectorSpec, Error, Result, Source, Stream, async_trait};
use serde_json::Value;

use crate::client::{Client, connect};
use crate::config::MailchimpConfig;
use crate::streams::streams;
/// The Mailchimp source. One value keeps one API client per config, so the concurrency cap
/// holds across every read made through it.
#[derive(Debug, Default, Clone)]
pub struct MailchimpSource {
    client: Arc<tokio::sync::Mutex<Option<(String, Client)>>>,
}

impl MailchimpSource {
    /// The source.
    pub fn new() -> Self {
        MailchimpSource::default()
    }

    async fn client(&self, config: &Value) -> Result<Client> {
        let cfg: MailchimpConfig = parse_config(config)?;
        let key = config.to_string();
        let mut cached = self.client.lock().await;
        if let Some((k, c)) = cached.as_ref()
            && *k == key
        {
            return Ok(c.clone());
        }
        let client = connect(&cfg).await?;
        *cached = Some((key, client.clone()));
        Ok(client)
    }
}

#[async_trait]
impl Source for MailchimpSource {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec::from_config::<MailchimpConfig>()
            .supports_incremental(true)
            .documentation_url(
                "https://github.com/intake-rs/intake/tree/main/connectors/source-mailchimp",
            )
    }

    /// `GET /ping`.
    async fn check(&self, config: &Value) -> Result<()> {
        let client = self.client(config).await?;
        let pong = client
            .api
            .get_json("/ping", &StreamContext::detached("check"))
            .await?;
        if pong.get("health_status").is_none() {
            return Err(Error::system(format!(
                "Mailchimp's /ping answered without a health_status: {pong}"
            )));
        }
        Ok(())
    }

    async fn streams(&self, config: &Value) -> Result<Vec<Arc<dyn Stream>>> {
        Ok(streams(&self.client(config).await?))
    }
}

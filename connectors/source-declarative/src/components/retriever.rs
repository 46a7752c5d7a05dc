//! `SimpleRetriever`: one partition's pages, requested, decoded, extracted, filtered and
//! paginated as airbyte-cdk does:
//! 1. the first request carries the paginator's initial token (if any);
//! 2. each response's bodies are decoded (`decoder.rs`), records extracted and filtered;
//! 3. the next token is decided from the response, headers, the last record kept, how many
//!    records were kept (`last_page_size`) and how many were extracted (what the offset and
//!    page strategies count), and the token of the page just read;
//! 4. no token ends the partition.

use std::sync::Arc;

use intake::http::HttpApi;
use intake::source::StreamContext;
use serde_json::{Map, Value, json};

use super::decoder::decode_json;
use super::extractor::{DpathExtractor, RecordFilter};
use super::headers::Headers;
use super::pagination::PageRead;
use super::paginator::Paginator;
use super::partitions::Router;
use super::requester::Requester;
use crate::error::ManifestError;
use crate::interpolation::Context;

/// A `SimpleRetriever`, built for one config.
#[derive(Debug)]
pub struct Retriever {
    /// Sends the requests (retries, rate limit, auth).
    pub api: HttpApi,
    /// Builds them.
    pub requester: Requester,
    /// Finds records.
    pub extractor: DpathExtractor,
    /// Keeps some.
    pub filter: Option<RecordFilter>,
    /// Decides the next page.
    pub paginator: Paginator,
    /// The partitions, if the stream has them.
    pub router: Option<Router>,
    /// `config` and the retriever's `parameters`.
    pub ctx: Context,
}

/// One page read: its records, and the token of the next page (`None`: the last page).
pub struct Fetched {
    /// The records kept.
    pub records: Vec<Value>,
    /// The next page's token.
    pub next: Option<Value>,
}

impl Retriever {
    /// The first page's token.
    pub fn first_token(&self) -> Option<Value> {
        self.paginator.initial_token()
    }

    /// Reads the page for `token` of the partition `slice`.
    pub async fn page(
        self: &Arc<Self>,
        slice: &Value,
        token: Option<&Value>,
        stream: &StreamContext,
    ) -> intake::Result<Fetched> {
        let mut ctx = self.ctx.clone();
        ctx.set("stream_slice", slice);
        ctx.set(
            "next_page_token",
            &token
                .map(|t| json!({"next_page_token": t}))
                .unwrap_or(Value::Object(Map::new())),
        );
        let mut options = self.paginator.options(token, &ctx)?;
        if let (Some(router), Value::Object(partition)) = (&self.router, slice) {
            options = options.combine(router.options(partition, &ctx)?)?;
        }
        let built = self.requester.build(&ctx, &options)?;
        let response = self.api.send(built.request, None, stream).await?;
        let bodies = decode_json(response.body());
        let extracted = self.extractor.extract(&bodies, &ctx)?;
        let extracted_count = extracted.len();
        let mut records = Vec::with_capacity(extracted.len());
        let mut filter_ctx = ctx.clone();
        for record in extracted {
            if !record.is_object() {
                return Err(ManifestError::invalid(
                    "record_selector.extractor",
                    format!(
                        "{} answered a record that is not an object: {record}",
                        built.url
                    ),
                )
                .into());
            }
            let keep = match &self.filter {
                Some(f) => f.keeps(&record, &mut filter_ctx)?,
                None => true,
            };
            if keep {
                records.push(record);
            }
        }
        let headers = Headers::new(
            response
                .headers()
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v))),
        )
        .into_value();
        let page = PageRead {
            bodies: &bodies,
            headers,
            last_record: records.last(),
            last_page_size: records.len(),
            extracted: extracted_count,
            stream_slice: slice,
        };
        let next = self.paginator.next_token(&page, token, &self.ctx)?;
        Ok(Fetched { records, next })
    }
}

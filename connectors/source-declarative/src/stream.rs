//! `DeclarativeStream` as an intake [`Stream`]: its name, primary key, schema and a reader of
//! its pages through the `SimpleRetriever`.
//!
//! What this runtime does not implement yet is refused when the stream is built, naming the
//! component and its manifest path (`incremental_sync`, `partition_router`,
//! `transformations`, `state_migrations`, error handlers, other retrievers, partition routers
//! other than lists): a stream is never
//! read with part of its manifest ignored.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use intake::http::HttpApi;
use intake::{Page, PageStream, Partition, PrimaryKey, ReadRequest, Record, Stream};
use serde_json::{Map, Value};

use crate::components::auth;
use crate::components::extractor::{DpathExtractor, RecordFilter};
use crate::components::paginator::Paginator;
use crate::components::partitions::Router;
use crate::components::requester::Requester;
use crate::components::retriever::Retriever;
use crate::error::{ManifestError, Result};
use crate::interpolation::Context;

/// Stream fields this runtime does not implement yet; present and non-empty, they refuse the
/// stream.
const NOT_YET: &[(&str, &str)] = &[
    ("incremental_sync", "incremental reads"),
    ("transformations", "record transformations"),
    ("state_migrations", "state migrations"),
];

/// A manifest's stream, built for one config.
pub struct DeclarativeStream {
    name: String,
    primary_key: PrimaryKey,
    schema: Value,
    retriever: Arc<Retriever>,
}

fn object<'a>(node: &'a Map<String, Value>, field: &str) -> Option<&'a Map<String, Value>> {
    node.get(field).and_then(Value::as_object)
}

fn kind(node: &Map<String, Value>) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn unsupported(path: String, kind: &str, why: &str) -> ManifestError {
    ManifestError::Unsupported {
        path,
        kind: kind.into(),
        why: Some(why.into()),
    }
}

impl DeclarativeStream {
    /// Builds the stream of manifest node `node` (at `path`) for `config`.
    pub fn build(node: &Map<String, Value>, path: &str, config: &Value) -> Result<Self> {
        if kind(node) != "DeclarativeStream" {
            return Err(unsupported(
                path.into(),
                kind(node),
                "only DeclarativeStream streams are supported",
            ));
        }
        for (field, what) in NOT_YET {
            if node.get(*field).is_some_and(crate::manifest::truthy) {
                let k = node
                    .get(*field)
                    .and_then(Value::as_object)
                    .map(|o| kind(o).to_string())
                    .unwrap_or_else(|| (*field).to_string());
                return Err(unsupported(
                    format!("{path}.{field}"),
                    &k,
                    &format!("{what} are not implemented yet"),
                ));
            }
        }
        let name = node
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ManifestError::invalid(path, "a stream needs a name"))?
            .to_string();
        let schema = schema(node, path)?;
        let primary_key = primary_key(node.get("primary_key"), &format!("{path}.primary_key"))?;
        let rpath = format!("{path}.retriever");
        let retriever_node = object(node, "retriever")
            .ok_or_else(|| ManifestError::invalid(&rpath, "a stream needs a retriever"))?;
        if kind(retriever_node) != "SimpleRetriever" {
            return Err(unsupported(
                rpath,
                kind(retriever_node),
                "only SimpleRetriever is implemented yet",
            ));
        }
        let retriever = retriever(retriever_node, &rpath, config)?;
        Ok(DeclarativeStream {
            name,
            primary_key,
            schema,
            retriever: Arc::new(retriever),
        })
    }
}

fn retriever(node: &Map<String, Value>, path: &str, config: &Value) -> Result<Retriever> {
    let params = node
        .get("$parameters")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let ctx = Context::new(config).with("parameters", &params);
    let router = node
        .get("partition_router")
        .filter(|r| crate::manifest::truthy(r))
        .map(|r| Router::from_value(r, &format!("{path}.partition_router"), &ctx))
        .transpose()?;
    let qpath = format!("{path}.requester");
    let requester_node = object(node, "requester")
        .ok_or_else(|| ManifestError::invalid(&qpath, "a retriever needs a requester"))?;
    if kind(requester_node) != "HttpRequester" {
        return Err(unsupported(
            qpath,
            kind(requester_node),
            "only HttpRequester is implemented yet",
        ));
    }
    if let Some(handler) = object(requester_node, "error_handler") {
        return Err(unsupported(
            format!("{qpath}.error_handler"),
            kind(handler),
            "error handlers are not implemented yet (intake's own retry policy would replace it)",
        ));
    }
    let rctx = Context::new(config).with(
        "parameters",
        requester_node
            .get("$parameters")
            .unwrap_or(&Value::Object(Map::new())),
    );
    let requester = Requester::from_node(requester_node, &qpath)?;
    let spath = format!("{path}.record_selector");
    let selector = object(node, "record_selector")
        .ok_or_else(|| ManifestError::invalid(&spath, "a retriever needs a record_selector"))?;
    let epath = format!("{spath}.extractor");
    let extractor_node = object(selector, "extractor")
        .ok_or_else(|| ManifestError::invalid(&epath, "a record selector needs an extractor"))?;
    if kind(extractor_node) != "DpathExtractor" {
        return Err(unsupported(
            epath,
            kind(extractor_node),
            "only DpathExtractor is implemented yet (a Custom component names Python code)",
        ));
    }
    let extractor = DpathExtractor::from_node(extractor_node, &epath)?;
    let filter = object(selector, "record_filter")
        .map(|f| RecordFilter::from_node(f, &format!("{spath}.record_filter")))
        .transpose()?;
    if let Some(n) = selector
        .get("schema_normalization")
        .and_then(Value::as_str)
        .filter(|n| *n != "None")
    {
        return Err(unsupported(
            format!("{spath}.schema_normalization"),
            n,
            "schema normalization is not implemented yet",
        ));
    }
    let pctx = Context::new(config).with(
        "parameters",
        object(node, "paginator")
            .and_then(|p| p.get("$parameters"))
            .unwrap_or(&Value::Object(Map::new())),
    );
    let paginator = Paginator::from_node(
        object(node, "paginator"),
        &format!("{path}.paginator"),
        &pctx,
    )?;
    // Last: what depends on the config's values (the authenticator's secrets, the base URL),
    // so that a manifest is checked for what it uses before any config is given.
    let auth = auth::from_node(
        object(requester_node, "authenticator"),
        &format!("{qpath}.authenticator"),
        &rctx,
    )?;
    let base = requester.url_base(&rctx)?;
    let api = HttpApi::parse(&base)
        .map_err(|e| ManifestError::invalid(format!("{qpath}.url_base"), e.to_string()))?
        .auth(auth);
    Ok(Retriever {
        api,
        requester,
        extractor,
        filter,
        paginator,
        router,
        ctx,
    })
}

/// `InlineSchemaLoader` only, for now.
fn schema(node: &Map<String, Value>, path: &str) -> Result<Value> {
    let spath = format!("{path}.schema_loader");
    let Some(loader) = object(node, "schema_loader") else {
        return Err(unsupported(
            spath,
            "JsonFileSchemaLoader",
            "schemas in files are not implemented yet; put the schema inline (InlineSchemaLoader)",
        ));
    };
    match kind(loader) {
        "InlineSchemaLoader" => Ok(loader
            .get("schema")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}))),
        other => Err(unsupported(
            spath,
            other,
            "only InlineSchemaLoader is implemented yet",
        )),
    }
}

/// A primary key as the CDK reads one: `id`, `[a, b]` (two fields), `[[a, b]]` (a path).
fn primary_key(v: Option<&Value>, path: &str) -> Result<PrimaryKey> {
    let bad = || {
        ManifestError::invalid(
            path,
            "primary_key is a field, a list of fields or a list of field paths",
        )
    };
    Ok(match v {
        None | Some(Value::Null) => PrimaryKey::none(),
        Some(Value::String(s)) if s.is_empty() => PrimaryKey::none(),
        Some(Value::String(s)) => PrimaryKey::from(s.as_str()),
        Some(Value::Array(items)) if items.is_empty() => PrimaryKey::none(),
        Some(Value::Array(items)) => PrimaryKey::paths(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(vec![s.clone()]),
                    Value::Array(parts) => parts
                        .iter()
                        .map(|p| p.as_str().map(str::to_string).ok_or_else(bad))
                        .collect(),
                    _ => Err(bad()),
                })
                .collect::<Result<_>>()?,
        ),
        Some(_) => return Err(bad()),
    })
}

#[async_trait]
impl Stream for DeclarativeStream {
    fn name(&self) -> &str {
        &self.name
    }

    async fn json_schema(&self) -> intake::Result<Value> {
        Ok(self.schema.clone())
    }

    fn primary_key(&self) -> PrimaryKey {
        self.primary_key.clone()
    }

    async fn partitions(&self) -> intake::Result<Vec<Partition>> {
        Ok(match &self.retriever.router {
            None => vec![Partition::whole()],
            Some(router) => router
                .partitions()
                .into_iter()
                .map(|p| Partition::new(Value::Object(p)))
                .collect(),
        })
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let ctx = request.context.clone();
        let retriever = self.retriever.clone();
        // The CDK's stream_slice: the partition's fields (none for a stream read whole).
        let slice = match request.partition.key() {
            Value::Object(m) => Value::Object(m.clone()),
            _ => Value::Object(Map::new()),
        };
        // An interrupted read resumes from the token of the page it had not read yet (what
        // airbyte-cdk's resumable full refresh keeps too).
        let first = match request
            .resume
            .as_ref()
            .and_then(|r| r.get("next_page_token"))
        {
            Some(token) => Some(token.clone()),
            None => retriever.first_token(),
        };
        // State: (token, done).
        futures::stream::try_unfold((first, false), move |(token, done)| {
            let (retriever, ctx, slice) = (retriever.clone(), ctx.clone(), slice.clone());
            async move {
                if done {
                    return Ok(None);
                }
                let fetched = retriever.page(&slice, token.as_ref(), &ctx).await?;
                let records = fetched
                    .records
                    .iter()
                    .map(Record::from_value)
                    .collect::<intake::Result<Vec<_>>>()?;
                let last = fetched.next.is_none();
                let mut page = Page::new(records);
                page.last = last;
                page.resume = fetched
                    .next
                    .as_ref()
                    .map(|t| serde_json::json!({"next_page_token": t}));
                Ok(Some((page, (fetched.next, last))))
            }
        })
        .boxed()
    }
}

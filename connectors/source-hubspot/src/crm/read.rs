//! Reading a CRM object: the list pass (property chunks, archived records) and the search
//! pass (incremental), then associations.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use intake::http::reqwest::{Method, Request};
use intake::source::StreamContext;
use intake::{Error, Page, PageStream, ReadRequest, Record, RecordBuilder, Result};
use serde_json::{Value, json};

use super::page::{ApiObject, Raw, RawPage, next_after, parse_chunk, parse_object};
use super::window::{SearchWindow, id_text, results};
use super::write::{KindCache, OutRecord, write_record};
use super::{ASSOCIATION_BATCH, Inner, LIST_LIMIT, SEARCH_CLASS, SEARCH_LIMIT};
use crate::properties::{
    MAX_PROPERTIES_CHARS, Property, chunk_properties, instant, parse_properties,
};
impl Inner {
    /// The object's property definitions, loaded once.
    pub(super) async fn properties(&self, ctx: &StreamContext) -> Result<Arc<Vec<Property>>> {
        self.properties
            .get_or_try_init(|| async {
                let path = format!("/crm/v3/properties/{}", self.object.object_type);
                let body = self.hub.api.get_json(&path, ctx).await?;
                Ok::<_, Error>(Arc::new(parse_properties(&body)))
            })
            .await
            .cloned()
    }

    pub(super) fn objects_path(&self) -> String {
        format!("/crm/v3/objects/{}", self.object.object_type)
    }

    /// One page of the list endpoint: every property chunk requested for the same `after`.
    /// Returns each chunk's answer (checked to be JSON; the first lists the records, the others
    /// add properties to them) and the next `after`.
    pub(super) async fn list_page(
        &self,
        chunks: &[Vec<String>],
        archived: bool,
        after: Option<&str>,
        ctx: &StreamContext,
    ) -> Result<(Vec<Bytes>, Option<String>)> {
        let no_properties = [Vec::new()];
        let chunks = if chunks.is_empty() {
            &no_properties[..]
        } else {
            chunks
        };
        let mut bodies = Vec::with_capacity(chunks.len());
        let mut next = None;
        for (i, chunk) in chunks.iter().enumerate() {
            let mut url = self.hub.api.url(&self.objects_path())?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", &LIST_LIMIT.to_string());
                q.append_pair("archived", if archived { "true" } else { "false" });
                if !chunk.is_empty() {
                    q.append_pair("properties", &chunk.join(","));
                }
                if let Some(after) = after {
                    q.append_pair("after", after);
                }
            }
            let (body, after) = self
                .hub
                .api
                .send_with(Request::new(Method::GET, url), None, ctx, |r| {
                    // Only the cursor now, so the next request leaves at once: the body is
                    // followed structurally (a truncated one is refused and retried here); the
                    // records are parsed, and checked, once, by `parse_chunk`.
                    let paging: Option<Value> = r.json_member("paging")?;
                    Ok((r.body_bytes(), paging))
                })
                .await?;
            let after = next_after(after.as_ref())?;
            if i == 0 {
                next = after;
            }
            bodies.push(body);
        }
        Ok((bodies, next))
    }

    /// One search page from `window_ms` on, `after` results in.
    pub(super) async fn search_page(
        &self,
        properties: &[Property],
        window_ms: i64,
        after: u64,
        ctx: &StreamContext,
    ) -> Result<(Vec<Raw>, Option<u64>)> {
        let mut body = json!({
            "filterGroups": [{"filters": [{
                "propertyName": self.object.modified_property,
                "operator": "GTE",
                "value": window_ms.to_string(),
            }]}],
            "sorts": [{"propertyName": self.object.modified_property, "direction": "ASCENDING"}],
            "properties": properties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            "limit": SEARCH_LIMIT,
        });
        if after > 0 {
            body["after"] = json!(after.to_string());
        }
        let url = self
            .hub
            .api
            .url(&format!("{}/search", self.objects_path()))?;
        let mut request = Request::new(Method::POST, url);
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::system(format!("cannot encode a search: {e}")))?;
        request.headers_mut().insert(
            intake::http::reqwest::header::CONTENT_TYPE,
            intake::http::reqwest::header::HeaderValue::from_static("application/json"),
        );
        *request.body_mut() = Some(bytes.into());
        let page: RawPage = self
            .hub
            .api
            .send_with(request, Some(SEARCH_CLASS), ctx, |r| {
                // A struct also reads from a JSON array (its fields by position): a page that
                // is not an object must be refused, not read as a short last page.
                if r.body().iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                    return Err(intake::http::HttpErrorKind::Decode {
                        detail: "the search page is not a JSON object".into(),
                        truncated: false,
                    });
                }
                r.json()
            })
            .await?;
        let next = match next_after(page.paging.as_ref())? {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                Error::system(format!(
                    "HubSpot's search answered a next page \"{text}\" that is not an offset"
                ))
            })?),
        };
        match page.results {
            Some(results) => Ok((results, next)),
            None if next.is_none() => Ok((Vec::new(), None)),
            None => Err(Error::system(
                "HubSpot sent a search page without results (null or absent) but with a next-page cursor; refusing it rather than skipping its records",
            )),
        }
    }

    /// The ids associated with each of `ids`, per associated object type.
    pub(super) async fn associations(
        &self,
        ids: &[String],
        ctx: &StreamContext,
    ) -> Result<HashMap<String, HashMap<String, Vec<String>>>> {
        let mut out: HashMap<String, HashMap<String, Vec<String>>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        for to in &self.object.associations {
            let by_id = out.entry(to.clone()).or_default();
            for batch in ids.chunks(ASSOCIATION_BATCH) {
                let path = format!(
                    "/crm/v4/associations/{}/{}/batch/read",
                    self.object.object_type, to
                );
                let mut request = Request::new(Method::POST, self.hub.api.url(&path)?);
                let inputs: Vec<Value> = batch.iter().map(|id| json!({"id": id})).collect();
                let bytes = serde_json::to_vec(&json!({ "inputs": inputs }))
                    .map_err(|e| Error::system(format!("cannot encode a batch read: {e}")))?;
                request.headers_mut().insert(
                    intake::http::reqwest::header::CONTENT_TYPE,
                    intake::http::reqwest::header::HeaderValue::from_static("application/json"),
                );
                *request.body_mut() = Some(bytes.into());
                let body: Value = self
                    .hub
                    .api
                    .send_with(request, None, ctx, |r| r.json())
                    .await?;
                for result in results(&body)? {
                    let Some(from) = result.pointer("/from/id").and_then(id_text) else {
                        continue;
                    };
                    let to_ids: Vec<String> = result
                        .get("to")
                        .and_then(Value::as_array)
                        .map(|list| {
                            list.iter()
                                .filter_map(|t| t.get("toObjectId").and_then(id_text))
                                .collect()
                        })
                        .unwrap_or_default();
                    let entry = by_id.entry(from).or_default();
                    for id in to_ids {
                        if !entry.contains(&id) {
                            entry.push(id);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Turns a fetched page into records: properties cast and flattened into
    /// `properties_<name>`, later chunks' properties merged, associations attached. The API's
    /// JSON is parsed once, borrowed, and each record's JSON written directly, not built as a
    /// tree.
    pub(super) async fn finish(&self, page: Fetched, ctx: &StreamContext) -> Result<Vec<Record>> {
        let lists: Vec<Vec<ApiObject<'_>>> = match &page.objects {
            Objects::Chunks(bodies) => bodies
                .iter()
                .map(|b| parse_chunk(b, page.has_next))
                .collect::<Result<_>>()?,
            Objects::Raw(raws) => vec![
                raws.iter()
                    .map(|r| parse_object(r))
                    .collect::<Result<_>>()?,
            ],
        };
        let (objects, later) = lists
            .split_first()
            .map(|(first, rest)| (first.as_slice(), rest))
            .unwrap_or_default();
        // Later chunks add their properties to the records the first chunk listed.
        let mut extras: HashMap<Cow<'_, str>, Vec<&ApiObject<'_>>> = HashMap::new();
        for o in later.iter().flatten() {
            extras.entry(o.id()).or_default().push(o);
        }
        let ids: Vec<Cow<'_, str>> = objects.iter().map(ApiObject::id).collect();
        let associations = if page.associations {
            let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            Some(self.associations(&ids, ctx).await?)
        } else {
            None
        };
        let mut kinds = KindCache::default();
        let mut builder = RecordBuilder::new();
        let mut out = Vec::with_capacity(objects.len());
        for (object, id) in objects.iter().zip(&ids) {
            let record = OutRecord {
                id,
                object,
                more: extras.get(id).map(Vec::as_slice).unwrap_or_default(),
                properties: &page.properties,
                associations: associations
                    .as_ref()
                    .map(|a| (a, self.object.associations.as_slice())),
            };
            out.push(write_record(&mut builder, &record, &mut kinds)?);
        }
        Ok(out)
    }

    /// Full refresh: list pages are fetched on one task (a page ahead) while the records of
    /// the previous page are cast and written on another.
    pub(super) fn list(self: Arc<Self>, request: ReadRequest) -> PageStream<'static> {
        let ctx = request.context.clone();
        let start = ListPosition::from_token(request.resume.as_ref());
        let fetcher = self.clone();
        let fetch_ctx = ctx.clone();
        let seen: std::collections::HashSet<(bool, String)> = Default::default();
        let fetched = futures::stream::try_unfold((Some(start), seen), move |(position, mut seen)| {
            let (ctx, this) = (fetch_ctx.clone(), fetcher.clone());
            async move {
                let Some(position) = position else {
                    return Ok(None);
                };
                let properties = this.properties(&ctx).await?;
                let chunks = chunk_properties(&properties, MAX_PROPERTIES_CHARS);
                let (bodies, next) = this
                    .list_page(&chunks, position.archived, position.after.as_deref(), &ctx)
                    .await?;
                let following = match next.clone() {
                    Some(after) => {
                        // An API that repeats a cursor would have us read the same pages forever.
                        if !seen.insert((position.archived, after.clone())) {
                            return Err(Error::system(format!(
                                "stream \"{}\": HubSpot sent the paging cursor \"{after}\" a second time; stopping instead of reading the same pages forever",
                                this.object.stream
                            )));
                        }
                        Some(ListPosition {
                            archived: position.archived,
                            after: Some(after),
                        })
                    }
                    None if !position.archived => Some(ListPosition {
                        archived: true,
                        after: None,
                    }),
                    None => None,
                };
                let fetched = Fetched {
                    has_next: next.is_some(),
                    objects: Objects::Chunks(bodies),
                    properties,
                    // Archived records carry no associations worth reading.
                    associations: !position.archived,
                    resume: following.as_ref().map(ListPosition::token),
                };
                Ok(Some((fetched, (following, seen))))
            }
        })
        .boxed();
        self.finish_pages(intake::source::prefetch(fetched), ctx)
    }

    /// Incremental: search pages are fetched on one task (the window advancing past the cap)
    /// while the previous page's records are cast and written on another.
    pub(super) fn search(self: Arc<Self>, request: ReadRequest) -> PageStream<'static> {
        let ctx = request.context.clone();
        let from = request
            .start
            .as_ref()
            .and_then(Value::as_str)
            .and_then(instant)
            .or(self.hub.start)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let state = SearchWindow::new(from);
        let fetcher = self.clone();
        let fetch_ctx = ctx.clone();
        let fetched = futures::stream::try_unfold(state, move |mut window| {
            let (ctx, this) = (fetch_ctx.clone(), fetcher.clone());
            async move {
                if window.done {
                    return Ok(None);
                }
                let properties = this.properties(&ctx).await?;
                let (objects, next) = this
                    .search_page(&properties, window.from_ms, window.after, &ctx)
                    .await?;
                let objects = window.take(objects, &this.object.modified_property)?;
                window.advance(next, &this.object.stream)?;
                let fetched = Fetched {
                    // Checked by `search_page` already.
                    has_next: false,
                    objects: Objects::Raw(objects),
                    properties,
                    associations: true,
                    resume: None,
                };
                Ok(Some((fetched, window)))
            }
        })
        .boxed();
        self.finish_pages(intake::source::prefetch(fetched), ctx)
    }

    pub(super) fn finish_pages(
        self: Arc<Self>,
        fetched: futures::stream::BoxStream<'static, Result<Fetched>>,
        ctx: StreamContext,
    ) -> PageStream<'static> {
        fetched
            .and_then(move |mut f| {
                let (this, ctx) = (self.clone(), ctx.clone());
                async move {
                    let resume = f.resume.take();
                    let records = this.finish(f, &ctx).await?;
                    Ok(match resume {
                        Some(token) => Page::new(records).resume_from(token),
                        None => Page::new(records),
                    })
                }
            })
            .boxed()
    }
}

/// A page as fetched, before its records are written.
pub(super) struct Fetched {
    pub(super) objects: Objects,
    /// The API named a next page (a page without results beside one is broken).
    pub(super) has_next: bool,
    pub(super) properties: Arc<Vec<Property>>,
    pub(super) associations: bool,
    pub(super) resume: Option<Value>,
}

/// A fetched page's records, not yet parsed.
pub(super) enum Objects {
    /// The list endpoint's answer for each property chunk: the first lists the records, the
    /// others add properties to them.
    Chunks(Vec<Bytes>),
    /// Search results, split out of their page.
    Raw(Vec<Raw>),
}

/// Where a full refresh is: the active pass, then the archived one.
pub(super) struct ListPosition {
    pub(super) archived: bool,
    pub(super) after: Option<String>,
}

impl ListPosition {
    pub(super) fn from_token(token: Option<&Value>) -> Self {
        ListPosition {
            archived: token
                .and_then(|t| t.get("archived"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            after: token
                .and_then(|t| t.get("after"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    pub(super) fn token(&self) -> Value {
        json!({"archived": self.archived, "after": self.after})
    }
}

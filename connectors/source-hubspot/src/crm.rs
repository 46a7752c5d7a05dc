//! CRM object streams (contacts, companies, deals, tickets, products, line items, engagements
//! and custom objects): full refresh through the list endpoint with property chunking and an
//! archived pass, incremental through search with the 10,000-result cap worked around, and
//! associations as arrays of ids.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use intake::http::HttpApi;
use intake::http::reqwest::{Method, Request};
use intake::source::{LogLevel, StreamContext};
use intake::{
    Cursor, Error, Page, PageStream, ReadRequest, Record, Result, Stream, SyncMode, async_trait,
};
use serde_json::{Map, Value, json};

use crate::properties::{
    MAX_PROPERTIES_CHARS, PREFIX, Property, PropertyType, cast, chunk_properties, instant,
    object_schema, parse_properties, rfc3339,
};

/// Records per list page (the API's maximum).
pub const LIST_LIMIT: usize = 100;
/// Records per search page (the API's maximum).
pub const SEARCH_LIMIT: usize = 200;
/// The search API answers 400 past this many results of one query.
pub const SEARCH_CAP: u64 = 10_000;
/// Ids per associations batch read.
pub const ASSOCIATION_BATCH: usize = 100;
/// The rate class of search requests (their own, lower limit).
pub const SEARCH_CLASS: &str = "search";

/// What the streams of one config share: the API and the sync window.
#[derive(Debug)]
pub(crate) struct Hub {
    pub api: HttpApi,
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub lookback: Duration,
}

/// One CRM object type as a stream.
#[derive(Debug, Clone)]
pub struct CrmObject {
    /// The stream's name (`contacts`, `engagements_calls`, a custom object's name).
    pub stream: String,
    /// The object type in the API's paths (`contacts`, `calls`, `2-1234567`).
    pub object_type: String,
    /// The property search filters and sorts on (`lastmodifieddate` for contacts,
    /// `hs_lastmodifieddate` for the rest).
    pub modified_property: String,
    /// Object types whose associated ids the records carry, each as an array field.
    pub associations: Vec<String>,
}

pub(crate) struct CrmStream {
    hub: Arc<Hub>,
    object: CrmObject,
    cursor: Cursor,
    properties: tokio::sync::OnceCell<Arc<Vec<Property>>>,
}

impl CrmStream {
    pub(crate) fn new(hub: Arc<Hub>, object: CrmObject) -> Self {
        let start = hub.start.map(|t| json!(rfc3339(&t)));
        let cursor = Cursor::new("updatedAt")
            .kind(intake::CursorKind::DateTime)
            .boundary(intake::state::Boundary::Inclusive)
            .order(intake::state::CursorOrder::Ascending)
            .lookback(hub.lookback)
            .start(start);
        CrmStream {
            hub,
            object,
            cursor,
            properties: tokio::sync::OnceCell::new(),
        }
    }

    /// The object's property definitions, loaded once.
    async fn properties(&self, ctx: &StreamContext) -> Result<Arc<Vec<Property>>> {
        self.properties
            .get_or_try_init(|| async {
                let path = format!("/crm/v3/properties/{}", self.object.object_type);
                let body = self.hub.api.get_json(&path, ctx).await?;
                Ok::<_, Error>(Arc::new(parse_properties(&body)))
            })
            .await
            .cloned()
    }

    fn objects_path(&self) -> String {
        format!("/crm/v3/objects/{}", self.object.object_type)
    }

    /// One page of the list endpoint: every property chunk requested for the same `after`,
    /// merged per record id. Returns the records and the next `after`.
    async fn list_page(
        &self,
        chunks: &[Vec<String>],
        archived: bool,
        after: Option<&str>,
        ctx: &StreamContext,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let mut records: Vec<Value> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut next = None;
        let no_properties = [Vec::new()];
        let chunks = if chunks.is_empty() {
            &no_properties[..]
        } else {
            chunks
        };
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
            let body: Value = self
                .hub
                .api
                .send_with(Request::new(Method::GET, url), None, ctx, |r| r.json())
                .await?;
            let results = results(&body)?;
            if i == 0 {
                next = next_after(&body);
                for r in results {
                    if let Some(id) = record_id(&r) {
                        index.insert(id, records.len());
                        records.push(r);
                    }
                }
            } else {
                // Later chunks add their properties to the records the first chunk listed; a
                // record that appeared in between is left for the next sync.
                for r in results {
                    let Some(&at) = record_id(&r).and_then(|id| index.get(&id)) else {
                        continue;
                    };
                    if let (Some(Value::Object(extra)), Some(Value::Object(props))) = (
                        r.get("properties").cloned(),
                        records[at].get_mut("properties"),
                    ) {
                        props.extend(extra);
                    }
                }
            }
        }
        Ok((records, next))
    }

    /// One search page from `window_ms` on, `after` results in.
    async fn search_page(
        &self,
        properties: &[Property],
        window_ms: i64,
        after: u64,
        ctx: &StreamContext,
    ) -> Result<(Vec<Value>, Option<u64>)> {
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
        let body: Value = self
            .hub
            .api
            .send_with(request, Some(SEARCH_CLASS), ctx, |r| r.json())
            .await?;
        let next = match next_after(&body) {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                Error::system(format!(
                    "HubSpot's search answered a next page \"{text}\" that is not an offset"
                ))
            })?),
        };
        Ok((results(&body)?, next))
    }

    /// The ids associated with each of `ids`, per associated object type.
    async fn associations(
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

    /// Turns API objects into records: properties cast and flattened, associations attached.
    async fn finish(
        &self,
        objects: Vec<Value>,
        properties: &[Property],
        with_associations: bool,
        ctx: &StreamContext,
    ) -> Result<Vec<Record>> {
        let ids: Vec<String> = objects.iter().filter_map(record_id).collect();
        let associations = if with_associations {
            Some(self.associations(&ids, ctx).await?)
        } else {
            None
        };
        let kinds: HashMap<&str, PropertyType> = properties
            .iter()
            .map(|p| (p.name.as_str(), p.kind))
            .collect();
        let mut out = Vec::with_capacity(objects.len());
        for object in objects {
            let Value::Object(mut object) = object else {
                continue;
            };
            let mut record = Map::new();
            let id = object.get("id").and_then(id_text).unwrap_or_default();
            record.insert("id".into(), Value::String(id.clone()));
            for field in ["createdAt", "updatedAt", "archivedAt"] {
                if let Some(v) = object.remove(field) {
                    record.insert(field.into(), cast(PropertyType::DateTime, v));
                }
            }
            let archived = object
                .remove("archived")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            record.insert("archived".into(), Value::Bool(archived));
            if let Some(Value::Object(props)) = object.remove("properties") {
                for (name, value) in props {
                    let kind = kinds
                        .get(name.as_str())
                        .copied()
                        .unwrap_or(PropertyType::String);
                    record.insert(format!("{PREFIX}{name}"), cast(kind, value));
                }
            }
            if let Some(associations) = &associations {
                for to in &self.object.associations {
                    let list = associations
                        .get(to)
                        .and_then(|m| m.get(&id))
                        .cloned()
                        .unwrap_or_default();
                    record.insert(to.clone(), json!(list));
                }
            }
            out.push(Record::from_value(&Value::Object(record))?);
        }
        Ok(out)
    }

    fn list(&self, request: ReadRequest) -> PageStream<'_> {
        let ctx = request.context.clone();
        let start = ListPosition::from_token(request.resume.as_ref());
        futures::stream::try_unfold(Some(start), move |position| {
            let ctx = ctx.clone();
            async move {
                let Some(position) = position else {
                    return Ok(None);
                };
                let properties = self.properties(&ctx).await?;
                let chunks = chunk_properties(&properties, MAX_PROPERTIES_CHARS);
                let (objects, next) = self
                    .list_page(&chunks, position.archived, position.after.as_deref(), &ctx)
                    .await?;
                // Archived records carry no associations worth reading.
                let records = self
                    .finish(objects, &properties, !position.archived, &ctx)
                    .await?;
                let following = match next {
                    Some(after) => Some(ListPosition {
                        archived: position.archived,
                        after: Some(after),
                    }),
                    None if !position.archived => Some(ListPosition {
                        archived: true,
                        after: None,
                    }),
                    None => None,
                };
                let page = match &following {
                    Some(p) => Page::new(records).resume_from(p.token()),
                    None => Page::new(records),
                };
                Ok(Some((page, following)))
            }
        })
        .boxed()
    }

    fn search(&self, request: ReadRequest) -> PageStream<'_> {
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
        futures::stream::try_unfold(state, move |mut window| {
            let ctx = ctx.clone();
            async move {
                if window.done {
                    return Ok(None);
                }
                let properties = self.properties(&ctx).await?;
                let (objects, next) = self
                    .search_page(&properties, window.from_ms, window.after, &ctx)
                    .await?;
                let objects = window.take(objects, &self.object.modified_property);
                window.advance(next, &self.object.stream)?;
                let records = self.finish(objects, &properties, true, &ctx).await?;
                Ok(Some((Page::new(records), window)))
            }
        })
        .boxed()
    }
}

/// Where a full refresh is: the active pass, then the archived one.
struct ListPosition {
    archived: bool,
    after: Option<String>,
}

impl ListPosition {
    fn from_token(token: Option<&Value>) -> Self {
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

    fn token(&self) -> Value {
        json!({"archived": self.archived, "after": self.after})
    }
}

/// A search that restarts its window before the 10,000-result cap: from the last modification
/// time seen, skipping the records at that instant it already returned.
#[derive(Debug)]
pub(crate) struct SearchWindow {
    from_ms: i64,
    after: u64,
    /// Ids already returned whose modification time is `from_ms`.
    at_start: HashSet<String>,
    last_ms: Option<i64>,
    at_last: HashSet<String>,
    done: bool,
}

impl SearchWindow {
    pub(crate) fn new(from_ms: i64) -> Self {
        SearchWindow {
            from_ms,
            after: 0,
            at_start: HashSet::new(),
            last_ms: None,
            at_last: HashSet::new(),
            done: false,
        }
    }

    /// Drops the records an earlier window returned and notes the latest modification time.
    fn take(&mut self, objects: Vec<Value>, modified_property: &str) -> Vec<Value> {
        let mut kept = Vec::with_capacity(objects.len());
        for object in objects {
            let Some(id) = record_id(&object) else {
                continue;
            };
            let modified = object
                .get("updatedAt")
                .and_then(Value::as_str)
                .and_then(instant)
                .or_else(|| {
                    object
                        .pointer(&format!("/properties/{modified_property}"))
                        .and_then(Value::as_str)
                        .and_then(instant)
                })
                .map(|t| t.timestamp_millis());
            if let Some(ms) = modified {
                if ms == self.from_ms && self.at_start.contains(&id) {
                    continue;
                }
                match self.last_ms {
                    Some(last) if ms < last => {}
                    Some(last) if ms == last => {
                        self.at_last.insert(id.clone());
                    }
                    _ => {
                        self.last_ms = Some(ms);
                        self.at_last.clear();
                        self.at_last.insert(id.clone());
                    }
                }
            }
            kept.push(object);
        }
        kept
    }

    /// Moves to the next page, or restarts the window when the next page would pass the cap.
    fn advance(&mut self, next: Option<u64>, stream: &str) -> Result<()> {
        let Some(next) = next else {
            self.done = true;
            return Ok(());
        };
        if next + SEARCH_LIMIT as u64 <= SEARCH_CAP {
            self.after = next;
            return Ok(());
        }
        let last = self.last_ms.unwrap_or(self.from_ms);
        if last == self.from_ms {
            // A whole window of records modified in the same millisecond: restarting from it
            // would return the same records forever.
            return Err(Error::system(format!(
                "stream \"{stream}\": more than {SEARCH_CAP} records were modified at the same millisecond ({}); HubSpot's search cannot page past them. Run a full refresh of this stream instead",
                chrono::DateTime::from_timestamp_millis(last)
                    .map(|t| rfc3339(&t))
                    .unwrap_or_default()
            )));
        }
        tracing::debug!(
            "stream \"{stream}\": search reached HubSpot's {SEARCH_CAP}-result cap; restarting from {last} ms"
        );
        self.from_ms = last;
        self.at_start = std::mem::take(&mut self.at_last);
        self.after = 0;
        Ok(())
    }
}

fn results(body: &Value) -> Result<Vec<Value>> {
    match body.get("results") {
        Some(Value::Array(list)) => Ok(list.clone()),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(other) => Err(Error::system(format!(
            "HubSpot answered `results` as {}, not a list",
            match other {
                Value::Object(_) => "an object",
                Value::String(_) => "a string",
                _ => "a scalar",
            }
        ))),
    }
}

fn next_after(body: &Value) -> Option<String> {
    match body.pointer("/paging/next/after")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn record_id(object: &Value) -> Option<String> {
    object.get("id").and_then(id_text)
}

#[async_trait]
impl Stream for CrmStream {
    fn name(&self) -> &str {
        &self.object.stream
    }

    async fn json_schema(&self) -> Result<Value> {
        let ctx = StreamContext::detached(&self.object.stream);
        match self.properties(&ctx).await {
            Ok(properties) => Ok(object_schema(&properties, &self.object.associations)),
            Err(e) => match crate::missing_scopes(&e) {
                // The catalog still lists the stream; reading it will be skipped the same way.
                Some(scopes) => {
                    tracing::warn!(
                        "stream \"{}\": cannot read its properties without the scope(s) {scopes}; it is listed without them",
                        self.object.stream
                    );
                    Ok(object_schema(&[], &self.object.associations))
                }
                None => Err(e),
            },
        }
    }

    fn primary_key(&self) -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }

    fn cursor(&self) -> Option<&Cursor> {
        Some(&self.cursor)
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        if request.sync_mode == SyncMode::Incremental {
            self.search(request)
        } else {
            self.list(request)
        }
    }
}

/// A warning through the stream's context: the sync logs it and lists it in its report.
pub(crate) async fn warn(ctx: &StreamContext, message: String) {
    tracing::debug!("{message}");
    let _ = ctx.log(LogLevel::Warn, message).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(id: u64, ms: i64) -> Value {
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        json!({"id": id.to_string(), "updatedAt": rfc3339(&t), "properties": {}})
    }

    #[test]
    fn a_window_restarts_from_the_last_instant_before_the_cap_and_skips_what_it_returned() {
        let mut w = SearchWindow::new(0);
        // 9,800 results in, the last page ends with two records at 5,000 ms.
        w.after = SEARCH_CAP - SEARCH_LIMIT as u64 * 2;
        let kept = w.take(
            vec![object(1, 4_000), object(2, 5_000), object(3, 5_000)],
            "x",
        );
        assert_eq!(kept.len(), 3);
        w.advance(Some(SEARCH_CAP - SEARCH_LIMIT as u64), "contacts")
            .unwrap();
        assert_eq!((w.from_ms, w.after), (0, SEARCH_CAP - SEARCH_LIMIT as u64));
        w.take(vec![object(4, 5_000)], "x");
        w.advance(Some(SEARCH_CAP), "contacts").unwrap();
        assert_eq!((w.from_ms, w.after), (5_000, 0), "restarted");
        // The new window returns the boundary records again: only the new one is kept.
        let kept = w.take(
            vec![
                object(2, 5_000),
                object(3, 5_000),
                object(4, 5_000),
                object(5, 5_000),
                object(6, 6_000),
            ],
            "x",
        );
        let ids: Vec<String> = kept.iter().filter_map(record_id).collect();
        assert_eq!(ids, vec!["5", "6"]);
        w.advance(None, "contacts").unwrap();
        assert!(w.done);
    }

    #[test]
    fn a_full_window_at_one_instant_is_an_error_not_a_loop() {
        let mut w = SearchWindow::new(7_000);
        w.take(vec![object(1, 7_000)], "x");
        let err = w.advance(Some(SEARCH_CAP), "deals").unwrap_err();
        assert!(err.to_string().contains("same millisecond"), "{err}");
    }
}

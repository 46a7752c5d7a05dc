//! CRM object streams (contacts, companies, deals, tickets, products, line items, engagements
//! and custom objects): full refresh through the list endpoint with property chunking and an
//! archived pass, incremental through search with the 10,000-result cap worked around, and
//! associations as arrays of ids.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use intake::http::HttpApi;
use intake::http::reqwest::{Method, Request};
use intake::json::{JsonError, RawJson, Reader};
use intake::record::EscapedName;
use intake::source::StreamContext;
use intake::{
    Cursor, Error, Page, PageStream, ReadRequest, Record, RecordBuilder, Result, Stream, SyncMode,
    async_trait,
};
use serde_json::{Value, json};

use crate::properties::{
    MAX_PROPERTIES_CHARS, PREFIX, Property, PropertyType, cast_raw, chunk_properties, instant,
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
    inner: Arc<Inner>,
}

struct Inner {
    hub: Arc<Hub>,
    object: CrmObject,
    cursor: Cursor,
    properties: tokio::sync::OnceCell<Arc<Vec<Property>>>,
}

/// A search page as the endpoint sends it: the records kept as raw JSON (one pass over the
/// body, no tree), the paging read.
#[derive(serde::Deserialize)]
struct RawPage {
    #[serde(default)]
    results: Option<Vec<Box<serde_json::value::RawValue>>>,
    #[serde(default)]
    paging: Option<Value>,
}

/// `paging.next.after`: the next page's cursor, if any. No `paging` (or no `paging.next`)
/// is the last page; a `paging.next.after` that is not a non-empty string or a number is a
/// broken page, never the end of the data (taking it for the end loses every page after it).
fn next_after(paging: Option<&Value>) -> Result<Option<String>> {
    let next = match paging {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(p)) => match p.get("next") {
            None | Some(Value::Null) => return Ok(None),
            Some(next) => next,
        },
        Some(other) => return Err(bad_paging("paging", other)),
    };
    match next.get("after") {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(bad_paging("paging.next.after", other)),
        None => Err(bad_paging("paging.next.after", &Value::Null)),
    }
}

fn bad_paging(field: &str, value: &Value) -> Error {
    Error::system(format!(
        "HubSpot sent a page whose {field} is {}, not a paging cursor; stopping rather than taking it for the last page",
        intake::error::excerpt(&value.to_string())
    ))
}

/// A list page's records, read from its body with intake's checking reader: every byte is
/// checked, the values the records need are borrowed, nothing else is built (measured: serde's
/// borrowed parse of a page was the connector's largest cost, about 16% of an end-to-end sync's
/// CPU samples).
///
/// A page without results (`null` or absent) is the empty last page; beside a next-page
/// cursor (`has_next`) it is a broken page, refused rather than skipped.
fn parse_chunk(body: &[u8], has_next: bool) -> Result<Vec<ApiObject<'_>>> {
    // Checked as UTF-8 once here (the reader works on text).
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::system(format!("HubSpot sent a list page that is not UTF-8 ({e})")))?;
    let page = |e: JsonError| {
        Error::system(format!(
            "HubSpot sent a list page that is not valid JSON ({e})"
        ))
    };
    let mut r = Reader::new(text);
    let mut objects = Vec::new();
    let mut listed = false;
    let mut top = r.object().map_err(page)?;
    while let Some(key) = top.next_key(&mut r).map_err(page)? {
        if key != "results" || r.peek() == Some(b'n') {
            r.value().map_err(page)?;
            continue;
        }
        listed = true;
        let mut results = r.array().map_err(|e| {
            Error::system(format!(
                "HubSpot sent a list page whose results are not CRM objects ({e})"
            ))
        })?;
        while results.next(&mut r).map_err(page)? {
            let start = r.offset();
            let object = read_object(&mut r).map_err(|e| not_an_object(&text[start..], &e))?;
            objects.push(object);
        }
    }
    r.finish().map_err(page)?;
    if !listed && has_next {
        return Err(Error::system(
            "HubSpot sent a list page without results (null or absent) but with a next-page cursor; refusing it rather than skipping its records",
        ));
    }
    Ok(objects)
}

/// Why a result is not a CRM object: its JSON, or its shape.
#[derive(Debug, thiserror::Error)]
enum ObjectError {
    #[error("{0}")]
    Json(#[from] JsonError),
    #[error("{0}")]
    Shape(&'static str),
}

fn not_an_object(from: &str, e: &ObjectError) -> Error {
    Error::system(format!(
        "HubSpot sent a record that is not a CRM object ({e}): {}",
        intake::error::excerpt(from)
    ))
}

/// The CRM object that comes next in `r`: the members this connector reads, borrowed; the
/// rest checked and stepped over.
fn read_object<'a>(r: &mut Reader<'a>) -> std::result::Result<ApiObject<'a>, ObjectError> {
    fn unless_null(v: RawJson<'_>) -> Option<RawJson<'_>> {
        (!v.is_null()).then_some(v)
    }
    let mut object = r.object()?;
    let (mut id, mut properties, mut archived) = (None, None, None);
    let (mut created_at, mut updated_at, mut archived_at) = (None, None, None);
    while let Some(key) = object.next_key(r)? {
        match key.as_ref() {
            "id" => id = Some(r.value()?),
            "properties" if r.peek() == Some(b'{') => {
                let mut members = r.object()?;
                let mut props = Vec::with_capacity(16);
                while let Some(name) = members.next_key(r)? {
                    props.push((name, r.value()?));
                }
                properties = Some(RawProps(props));
            }
            "properties" => {
                if !r.value()?.is_null() {
                    return Err(ObjectError::Shape("its properties are not an object"));
                }
                properties = None;
            }
            "createdAt" => created_at = unless_null(r.value()?),
            "updatedAt" => updated_at = unless_null(r.value()?),
            "archivedAt" => archived_at = unless_null(r.value()?),
            "archived" => {
                let v = r.value()?;
                archived = match v.as_bool() {
                    Some(b) => Some(b),
                    None if v.is_null() => None,
                    None => return Err(ObjectError::Shape("its archived flag is not a boolean")),
                };
            }
            _ => {
                r.value()?;
            }
        }
    }
    let id = id.ok_or(ObjectError::Shape("it has no id"))?;
    // The id names the record in every table: null, "", an object or a list would write the
    // record under an id the source does not have.
    let usable = match id.get().as_bytes().first() {
        Some(b'"') => id.get() != "\"\"",
        Some(b'-' | b'0'..=b'9') => true,
        _ => false,
    };
    if !usable {
        return Err(ObjectError::Shape(
            "its id is not a non-empty string or a number",
        ));
    }
    Ok(ApiObject {
        id,
        properties,
        created_at,
        updated_at,
        archived_at,
        archived,
    })
}

type Raw = Box<serde_json::value::RawValue>;

/// The parts of a CRM object this connector reads, borrowed from its JSON.
struct ApiObject<'a> {
    id: RawJson<'a>,
    properties: Option<RawProps<'a>>,
    created_at: Option<RawJson<'a>>,
    updated_at: Option<RawJson<'a>>,
    archived_at: Option<RawJson<'a>>,
    archived: Option<bool>,
}

impl<'a> ApiObject<'a> {
    /// The id as text (HubSpot sends a string; a number is taken as its digits), borrowed from
    /// the JSON when it has no escapes.
    fn id(&self) -> Cow<'a, str> {
        let text: &'a str = self.id.get();
        intake::json::json_str(text).unwrap_or(Cow::Borrowed(text))
    }

    fn updated_ms(&self, modified_property: &str) -> Option<i64> {
        self.updated_at
            .and_then(RawJson::as_str)
            .and_then(|t| instant(&t))
            .or_else(|| {
                self.properties
                    .as_ref()?
                    .0
                    .iter()
                    .find(|(k, _)| k == modified_property)
                    .and_then(|(_, v)| v.as_str())
                    .and_then(|t| instant(&t))
            })
            .map(|t| t.timestamp_millis())
    }
}

/// An object's properties as (name, raw value) pairs, in the order sent.
struct RawProps<'a>(Vec<(Cow<'a, str>, RawJson<'a>)>);

fn parse_object(raw: &serde_json::value::RawValue) -> Result<ApiObject<'_>> {
    let mut r = Reader::new(raw.get());
    read_object(&mut r)
        .and_then(|o| r.finish().map(|()| o).map_err(ObjectError::from))
        .map_err(|e| not_an_object(raw.get(), &e))
}

/// Associated ids: by associated object type, by record id.
type Associations = HashMap<String, HashMap<String, Vec<String>>>;

/// One output record, written straight from the API's JSON by [`write_record`].
struct OutRecord<'a, 'b> {
    id: &'a str,
    object: &'a ApiObject<'b>,
    /// The same record in later property chunks' answers.
    more: &'a [&'a ApiObject<'b>],
    /// Sorted by name (as [`parse_properties`] returns them).
    properties: &'a [Property],
    associations: Option<(&'a Associations, &'a [String])>,
}

/// Writes one output record: `id`, the timestamps, `archived`, `properties_<name>` for every
/// property of every chunk (each once), and an array of ids per association. The API's JSON is
/// copied where it is already final (string values, canonical instants), so a record costs
/// about one pass over its bytes.
fn write_record(
    out: &mut RecordBuilder,
    record: &OutRecord<'_, '_>,
    kinds: &mut KindCache,
) -> Result<Record> {
    let object = record.object;
    if object.id.get().starts_with('"') {
        out.raw("id", object.id);
    } else {
        out.str("id", record.id);
    }
    for (name, value) in [
        ("createdAt", object.created_at),
        ("updatedAt", object.updated_at),
        ("archivedAt", object.archived_at),
    ] {
        if let Some(raw) = value {
            write_out(out, name, cast_raw(PropertyType::DateTime, raw))?;
        }
    }
    out.bool("archived", object.archived.unwrap_or(false));
    let mut written: Option<HashSet<&str>> = (!record.more.is_empty()).then(Default::default);
    let all = std::iter::once(object)
        .chain(record.more.iter().copied())
        .filter_map(|o| o.properties.as_ref())
        .flat_map(|p| p.0.iter());
    for (position, (name, raw)) in all.enumerate() {
        if let Some(w) = written.as_mut()
            && !w.insert(name.as_ref())
        {
            continue;
        }
        match kinds.kind(record.properties, position, name) {
            (kind, Some(column)) => write_out(out, column, cast_raw(kind, *raw))?,
            (kind, None) => write_out(out, (PREFIX, name.as_ref()), cast_raw(kind, *raw))?,
        }
    }
    if let Some((by_type, types)) = record.associations {
        let none = Vec::new();
        for to in types {
            let ids = by_type
                .get(to)
                .and_then(|m| m.get(record.id))
                .unwrap_or(&none);
            out.serialize(to, ids)?;
        }
    }
    Ok(out.build())
}

fn write_out(
    out: &mut RecordBuilder,
    name: impl intake::record::FieldName,
    value: crate::properties::Out<'_>,
) -> Result<()> {
    match value {
        crate::properties::Out::Raw(r) => {
            out.raw(name, r);
        }
        crate::properties::Out::Value(v) => {
            out.serialize(name, &v)?;
        }
    }
    Ok(())
}

/// Property types by name, remembering where each position's name was found last: the records
/// of a page list their properties in the same order, so a lookup is usually one comparison.
/// Each known property's column name is escaped once, not per record.
#[derive(Default)]
struct KindCache {
    guesses: Vec<usize>,
    /// `properties_<name>` of each property, made on first use; for the list at `names_of`.
    names: Vec<Option<EscapedName>>,
    names_of: (usize, usize),
}

impl KindCache {
    /// The type of property `name`, the `position`-th of its record (`String` if unknown), and
    /// its column name when the property is known.
    fn kind(
        &mut self,
        properties: &[Property],
        position: usize,
        name: &str,
    ) -> (PropertyType, Option<&EscapedName>) {
        let found = match self.guesses.get(position) {
            Some(&g) if properties.get(g).is_some_and(|p| p.name == name) => Some(g),
            _ => match properties.binary_search_by(|p| p.name.as_str().cmp(name)) {
                Ok(i) => {
                    if self.guesses.len() <= position {
                        self.guesses.resize(position + 1, usize::MAX);
                    }
                    self.guesses[position] = i;
                    Some(i)
                }
                Err(_) => None,
            },
        };
        let Some(i) = found else {
            return (PropertyType::String, None);
        };
        // A different property list (another object): start the names over.
        let list = (properties.as_ptr() as usize, properties.len());
        if self.names_of != list {
            self.names_of = list;
            self.names.clear();
            self.names.resize(properties.len(), None);
        }
        let column = self.names.get_mut(i).map(|slot| {
            &*slot.get_or_insert_with(|| EscapedName::new((PREFIX, properties[i].name.as_str())))
        });
        (properties[i].kind, column)
    }
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
            inner: Arc::new(Inner {
                hub,
                object,
                cursor,
                properties: tokio::sync::OnceCell::new(),
            }),
        }
    }
}

impl Inner {
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

    /// One page of the list endpoint: every property chunk requested for the same `after`.
    /// Returns each chunk's answer (checked to be JSON; the first lists the records, the others
    /// add properties to them) and the next `after`.
    async fn list_page(
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
    async fn search_page(
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

    /// Turns a fetched page into records: properties cast and flattened into
    /// `properties_<name>`, later chunks' properties merged, associations attached. The API's
    /// JSON is parsed once, borrowed, and each record's JSON written directly, not built as a
    /// tree.
    async fn finish(&self, page: Fetched, ctx: &StreamContext) -> Result<Vec<Record>> {
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
    fn list(self: Arc<Self>, request: ReadRequest) -> PageStream<'static> {
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
    fn search(self: Arc<Self>, request: ReadRequest) -> PageStream<'static> {
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

    fn finish_pages(
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
struct Fetched {
    objects: Objects,
    /// The API named a next page (a page without results beside one is broken).
    has_next: bool,
    properties: Arc<Vec<Property>>,
    associations: bool,
    resume: Option<Value>,
}

/// A fetched page's records, not yet parsed.
enum Objects {
    /// The list endpoint's answer for each property chunk: the first lists the records, the
    /// others add properties to them.
    Chunks(Vec<Bytes>),
    /// Search results, split out of their page.
    Raw(Vec<Raw>),
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
    fn take(&mut self, objects: Vec<Raw>, modified_property: &str) -> Result<Vec<Raw>> {
        let mut kept = Vec::with_capacity(objects.len());
        for raw in objects {
            let (id, modified) = {
                let object = parse_object(&raw)?;
                (
                    object.id().into_owned(),
                    object.updated_ms(modified_property),
                )
            };
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
            kept.push(raw);
        }
        Ok(kept)
    }

    /// Moves to the next page, or restarts the window when the next page would pass the cap.
    fn advance(&mut self, next: Option<u64>, stream: &str) -> Result<()> {
        let Some(next) = next else {
            self.done = true;
            return Ok(());
        };
        if next <= self.after {
            return Err(Error::system(format!(
                "stream \"{stream}\": HubSpot's search answered a next page ({next}) that does not move past this one ({}); stopping instead of reading the same page forever",
                self.after
            )));
        }
        // Saturating: an absurd offset from the API restarts the window rather than wrapping.
        if next.saturating_add(SEARCH_LIMIT as u64) <= SEARCH_CAP {
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

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[async_trait]
impl Stream for CrmStream {
    fn name(&self) -> &str {
        &self.inner.object.stream
    }

    async fn json_schema(&self) -> Result<Value> {
        let inner = &self.inner;
        let ctx = StreamContext::detached(&inner.object.stream);
        match inner.properties(&ctx).await {
            Ok(properties) => Ok(object_schema(&properties, &inner.object.associations)),
            Err(e) => match crate::missing_scopes(&e) {
                // The catalog still lists the stream; reading it will be skipped the same way.
                Some(scopes) => {
                    tracing::warn!(
                        "stream \"{}\": cannot read its properties without the scope(s) {scopes}; it is listed without them",
                        inner.object.stream
                    );
                    Ok(object_schema(&[], &inner.object.associations))
                }
                None => Err(e),
            },
        }
    }

    fn primary_key(&self) -> Vec<Vec<String>> {
        vec![vec!["id".into()]]
    }

    fn cursor(&self) -> Option<&Cursor> {
        Some(&self.inner.cursor)
    }

    /// Pages are produced one ahead of the reader: the next request overlaps the processing
    /// of this page.
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let inner = self.inner.clone();
        intake::source::prefetch(if request.sync_mode == SyncMode::Incremental {
            inner.search(request)
        } else {
            inner.list(request)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(id: u64, ms: i64) -> Raw {
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        serde_json::value::to_raw_value(
            &json!({"id": id.to_string(), "updatedAt": rfc3339(&t), "properties": {}}),
        )
        .unwrap()
    }

    #[test]
    fn a_window_restarts_from_the_last_instant_before_the_cap_and_skips_what_it_returned() {
        let mut w = SearchWindow::new(0);
        // 9,800 results in, the last page ends with two records at 5,000 ms.
        w.after = SEARCH_CAP - SEARCH_LIMIT as u64 * 2;
        let kept = w
            .take(
                vec![object(1, 4_000), object(2, 5_000), object(3, 5_000)],
                "x",
            )
            .unwrap();
        assert_eq!(kept.len(), 3);
        w.advance(Some(SEARCH_CAP - SEARCH_LIMIT as u64), "contacts")
            .unwrap();
        assert_eq!((w.from_ms, w.after), (0, SEARCH_CAP - SEARCH_LIMIT as u64));
        w.take(vec![object(4, 5_000)], "x").unwrap();
        w.advance(Some(SEARCH_CAP), "contacts").unwrap();
        assert_eq!((w.from_ms, w.after), (5_000, 0), "restarted");
        // The new window returns the boundary records again: only the new one is kept.
        let kept = w
            .take(
                vec![
                    object(2, 5_000),
                    object(3, 5_000),
                    object(4, 5_000),
                    object(5, 5_000),
                    object(6, 6_000),
                ],
                "x",
            )
            .unwrap();
        let ids: Vec<String> = kept
            .iter()
            .map(|r| parse_object(r).unwrap().id().into_owned())
            .collect();
        assert_eq!(ids, vec!["5", "6"]);
        w.advance(None, "contacts").unwrap();
        assert!(w.done);
    }

    #[test]
    fn a_full_window_at_one_instant_is_an_error_not_a_loop() {
        let mut w = SearchWindow::new(7_000);
        w.take(vec![object(1, 7_000)], "x").unwrap();
        let err = w.advance(Some(SEARCH_CAP), "deals").unwrap_err();
        assert!(err.to_string().contains("same millisecond"), "{err}");
    }

    #[test]
    fn list_pages_are_read_as_the_api_sends_them() {
        let page = br#"{"results": [
            {"id": "1", "properties": {"email": "a\"b@example.com", "n\u00e4me": null,
              "hs_object_id": "1"}, "createdAt": "2024-01-01T00:00:00Z", "updatedAt": null,
              "archived": false, "associations": {"deals": {"results": []}}, "url": "x"},
            {"id": 2, "properties": null, "archived": null}
          ], "paging": {"next": {"after": "2", "link": "?after=2"}}}"#;
        let objects = parse_chunk(page, true).unwrap();
        assert_eq!(objects.len(), 2);
        let (a, b) = (&objects[0], &objects[1]);
        assert_eq!((a.id(), b.id()), ("1".into(), "2".into()));
        let props: Vec<(&str, &str)> = a
            .properties
            .as_ref()
            .unwrap()
            .0
            .iter()
            .map(|(k, v)| (k.as_ref(), v.get()))
            .collect();
        assert_eq!(
            props,
            [
                ("email", r#""a\"b@example.com""#),
                ("näme", "null"),
                ("hs_object_id", r#""1""#)
            ]
        );
        assert_eq!(a.created_at.unwrap().get(), r#""2024-01-01T00:00:00Z""#);
        assert!(a.updated_at.is_none() && a.archived_at.is_none());
        assert_eq!((a.archived, b.archived), (Some(false), None));
        assert!(b.properties.is_none());
        assert!(
            parse_chunk(br#"{"results": null}"#, false)
                .unwrap()
                .is_empty()
        );
        assert!(parse_chunk(br#"{"paging": {}}"#, false).unwrap().is_empty());
        // Beside a next page, a page without results is broken, not empty.
        let err = parse_chunk(
            br#"{"results": null, "paging": {"next": {"after": "9"}}}"#,
            true,
        );
        assert!(err.is_err());
    }

    #[test]
    fn broken_list_pages_are_refused_wherever_the_fault_is() {
        for (page, expect) in [
            // In a member the connector does not read: still checked.
            (
                &br#"{"results": [{"id": "1", "url": [1, tru]}]}"#[..],
                "not a CRM object",
            ),
            (
                br#"{"results": [{"id": "1", "properties": {"a": "x\qy"}}]}"#,
                "not a CRM object",
            ),
            (br#"{"results": [{"properties": {}}]}"#, "it has no id"),
            (
                br#"{"results": [{"id": "1", "properties": "x"}]}"#,
                "not an object",
            ),
            (
                br#"{"results": [{"id": "1", "archived": "no"}]}"#,
                "not a boolean",
            ),
            (br#"{"results": ["x"]}"#, "not a CRM object"),
            (br#"{"results": {}}"#, "results are not CRM objects"),
            (
                br#"{"results": [], "paging": {"next": {"after": "2"}}"#,
                "not valid JSON",
            ),
            (br#"{"results": []} <html>"#, "not valid JSON"),
            (b"<html>maintenance</html>", "not valid JSON"),
            (b"{\"results\": [{\"id\": \"\xff\"}]}", "not UTF-8"),
        ] {
            let err = match parse_chunk(page, false) {
                Ok(_) => panic!("accepted {}", String::from_utf8_lossy(page)),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(expect), "{err}");
        }
        // The excerpt of a long record stops at a character boundary, not inside one.
        let long = format!(
            r#"{{"results": [{{"x": "{}", "id": tru}}]}}"#,
            "é".repeat(150)
        );
        let err = parse_chunk(long.as_bytes(), false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a CRM object"), "{err}");
    }
}

//! [`HttpStream`]: a REST stream declared, not written.
//!
//! The stream fetches pages on a task of its own, one page ahead of the consumer: while the
//! sync hands page N to the destination, page N+1 is already on the wire (the next cursor is
//! known as soon as page N is parsed). Records are never parsed into `serde_json::Value`
//! unless a transform asks for it: each is a slice of the response, copied once.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Request, Url};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::instrument::WithSubscriber;

use super::client::HttpApi;
use super::paginate::{PageInfo, PageRequest, Paginator};
use super::response::{Pointer, extract};
use super::template::{Escape, Vars, render, render_json};
use crate::error::{Error, Result};
use crate::record::Record;
use crate::source::{Page, PageStream, Partition, PartitionEnd, ReadRequest, Stream};
use crate::state::Cursor;

/// A per-record transform: gets the record as JSON, returns the record to keep (`None`
/// drops it).
pub type Transform = Arc<dyn Fn(Value) -> Result<Option<Value>> + Send + Sync>;
type BodyFn = Arc<dyn Fn(&RequestVars<'_>) -> Value + Send + Sync>;
/// A per-record expansion: the record and the partition key in, zero or more records out.
type Expand = Arc<dyn Fn(Value, &Value) -> Result<Vec<Value>> + Send + Sync>;
type SchemaLoader = Arc<dyn Fn(HttpApi) -> BoxFuture<'static, Result<Value>> + Send + Sync>;
type PartitionKey = Arc<dyn Fn(&Record) -> Result<Option<Value>> + Send + Sync>;

/// What a [`HttpStream::body_with`] closure sees.
#[derive(Debug)]
pub struct RequestVars<'a> {
    /// The incremental start, if any.
    pub cursor: Option<&'a Value>,
    /// The partition's key (`null` for the whole stream).
    pub partition: &'a Value,
}

#[derive(Clone)]
enum Body {
    Template(Value),
    With(BodyFn),
}

#[derive(Clone)]
enum Schema {
    Infer,
    Static(Value),
    Load(SchemaLoader),
}

#[derive(Clone)]
enum Partitions {
    Whole,
    List(Vec<Value>),
    Parent(Box<HttpStream>, PartitionKey),
}

#[derive(Clone)]
struct Def {
    api: HttpApi,
    name: String,
    namespace: Option<String>,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Body>,
    records_at: Pointer,
    transform: Option<Transform>,
    expand: Option<Expand>,
    paginator: Paginator,
    cursor: Option<Cursor>,
    primary_key: Vec<Vec<String>>,
    schema: Schema,
    partitions: Partitions,
    rate_class: Option<String>,
    max_pages: Option<u64>,
    max_records: Option<u64>,
    vars: Map<String, Value>,
}

/// A REST stream: where its records are and how to page through them. Built from
/// [`HttpApi::stream`]; every setter documents its default.
///
/// # Example
/// ```
/// use intake::http::{HttpApi, Paginator};
/// let api = HttpApi::parse("https://api.hubapi.com")?;
/// let contacts = api
///     .stream("contacts")
///     .get("/crm/v3/objects/contacts")
///     .query("limit", "100")
///     .records_at("/results")
///     .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
///     .primary_key("id")
///     .cursor("updatedAt", None::<String>);
/// # let _ = contacts;
/// # Ok::<(), intake::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpStream {
    def: Arc<Def>,
}

impl fmt::Debug for HttpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpStream")
            .field("name", &self.def.name)
            .field("method", &self.def.method)
            .field("path", &self.def.path)
            .field("records_at", &self.def.records_at)
            .field("paginator", &self.def.paginator)
            .finish_non_exhaustive()
    }
}

impl HttpStream {
    pub(crate) fn new(api: HttpApi, name: &str) -> Self {
        HttpStream {
            def: Arc::new(Def {
                api,
                name: name.to_string(),
                namespace: None,
                method: Method::GET,
                path: String::new(),
                query: Vec::new(),
                headers: Vec::new(),
                body: None,
                records_at: Pointer::parse(""),
                transform: None,
                expand: None,
                paginator: Paginator::none(),
                cursor: None,
                primary_key: Vec::new(),
                schema: Schema::Infer,
                partitions: Partitions::Whole,
                rate_class: None,
                max_pages: None,
                max_records: None,
                vars: Map::new(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Def)) -> Self {
        f(Arc::make_mut(&mut self.def));
        self
    }

    /// `GET path` (appended to the API's base URL; a template). Default: `GET` of the base URL.
    pub fn get(self, path: &str) -> Self {
        self.request(Method::GET, path)
    }

    /// `POST path` (with [`HttpStream::json_body`] or [`HttpStream::body_with`]).
    pub fn post(self, path: &str) -> Self {
        self.request(Method::POST, path)
    }

    /// Any method and path.
    pub fn request(self, method: Method, path: &str) -> Self {
        self.edit(|d| {
            d.method = method;
            d.path = path.to_string();
        })
    }

    /// A query parameter (the value is a template; see [`crate::http::template`]). Left out
    /// when its template names `{cursor}` and there is no start. Default none.
    pub fn query(self, name: &str, value: &str) -> Self {
        self.edit(|d| d.query.push((name.to_string(), value.to_string())))
    }

    /// A header for this stream's requests. Default none (the API's headers apply).
    pub fn header(self, name: &str, value: &str) -> Self {
        self.edit(|d| d.headers.push((name.to_string(), value.to_string())))
    }

    /// A JSON body whose strings are templates. Default no body.
    pub fn json_body(self, template: Value) -> Self {
        self.edit(|d| d.body = Some(Body::Template(template)))
    }

    /// A JSON body computed per request (for filters that must vanish as a whole when there
    /// is no cursor). Default no body.
    pub fn body_with(self, f: impl Fn(&RequestVars<'_>) -> Value + Send + Sync + 'static) -> Self {
        self.edit(|d| d.body = Some(Body::With(Arc::new(f))))
    }

    /// Where the records are: a JSON pointer to an array (`/results`). Default `""`: the body
    /// itself is the array. A missing or null array is an empty page.
    pub fn records_at(self, pointer: &str) -> Self {
        self.edit(|d| d.records_at = Pointer::parse(pointer))
    }

    /// Reshapes each record (flatten, rename, drop with `None`). Default none: records pass
    /// through without being parsed.
    pub fn transform(
        self,
        f: impl Fn(Value) -> Result<Option<Value>> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|d| d.transform = Some(Arc::new(f)))
    }

    /// Turns each record into zero or more records, seeing the partition key: attach the
    /// parent's id (`{"list_id": ...}`) to a child record that lacks it, or unnest an array
    /// (one row per activity of an email). Runs after [`HttpStream::transform`]. Default none.
    pub fn expand(
        self,
        f: impl Fn(Value, &Value) -> Result<Vec<Value>> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|d| d.expand = Some(Arc::new(f)))
    }

    /// How pages are requested. Default [`Paginator::none`] (one page).
    pub fn paginate(self, paginator: impl Into<Paginator>) -> Self {
        let paginator = paginator.into();
        self.edit(|d| d.paginator = paginator)
    }

    /// Makes the stream incremental on `field` (a top-level field), starting at `start` when
    /// there is no state. Default: full refresh only.
    pub fn cursor<T: Serialize>(self, field: &str, start: Option<T>) -> Self {
        let start = start.and_then(|s| serde_json::to_value(s).ok());
        self.incremental(Cursor::new(field).start(start))
    }

    /// Makes the stream incremental with a fully configured [`Cursor`] (kind, boundary,
    /// lookback, a nested path).
    pub fn incremental(self, cursor: Cursor) -> Self {
        self.edit(|d| d.cursor = Some(cursor))
    }

    /// The primary key: one top-level field. Default none.
    pub fn primary_key(self, field: &str) -> Self {
        self.edit(|d| d.primary_key = vec![vec![field.to_string()]])
    }

    /// A composite or nested primary key, as paths. Default none.
    pub fn primary_key_paths(self, paths: Vec<Vec<String>>) -> Self {
        self.edit(|d| d.primary_key = paths)
    }

    /// A static JSON Schema. Default: inferred from the first page.
    pub fn schema(self, schema: Value) -> Self {
        self.edit(|d| d.schema = Schema::Static(schema))
    }

    /// Loads the schema from the API at discover time (HubSpot's properties endpoint).
    pub fn schema_loader<F, Fut>(self, f: F) -> Self
    where
        F: Fn(HttpApi) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value>> + Send + 'static,
    {
        self.edit(|d| d.schema = Schema::Load(Arc::new(move |api| Box::pin(f(api)))))
    }

    /// Infers the schema from the first page (the default).
    pub fn infer_schema(self) -> Self {
        self.edit(|d| d.schema = Schema::Infer)
    }

    /// Reads these partitions, each with its own state (`{"account": "a1"}`; the fields are
    /// `{partition.account}` in templates). Default: the whole stream.
    pub fn partition_keys(self, keys: Vec<Value>) -> Self {
        self.edit(|d| d.partitions = Partitions::List(keys))
    }

    /// One partition per record of `parent` (members per list): `key` maps a parent record to
    /// the partition key, or `None` to skip it. Each partition keeps its own state. Duplicate
    /// keys are read once.
    pub fn parent(
        self,
        parent: &HttpStream,
        key: impl Fn(&Record) -> Result<Option<Value>> + Send + Sync + 'static,
    ) -> Self {
        let parent = Box::new(parent.clone());
        self.edit(|d| d.partitions = Partitions::Parent(parent, Arc::new(key)))
    }

    /// One partition per record of `parent`, keyed `{name: <record's field>}`: a parent whose
    /// record lacks the field is skipped.
    pub fn parent_field(self, parent: &HttpStream, name: &str, field: &str) -> Self {
        let (name, field) = (name.to_string(), field.to_string());
        self.parent(parent, move |record| {
            Ok(match record.field(&field)? {
                Some(raw) => {
                    let v: Value = serde_json::from_str(raw.get())
                        .map_err(|e| Error::system(format!("parent record field: {e}")))?;
                    (!v.is_null()).then(|| serde_json::json!({ name.as_str(): v }))
                }
                None => None,
            })
        })
    }

    /// The rate-limit class of this stream's endpoint ([`crate::http::RateLimit::class`]).
    /// Default none: the connector-wide quota.
    pub fn rate_class(self, class: &str) -> Self {
        self.edit(|d| d.rate_class = Some(class.to_string()))
    }

    /// Stops after this many pages (per partition), for development runs. Default no limit.
    pub fn max_pages(self, pages: u64) -> Self {
        self.edit(|d| d.max_pages = Some(pages))
    }

    /// Stops after this many records (per partition), for development runs. Default no limit.
    pub fn max_records(self, records: u64) -> Self {
        self.edit(|d| d.max_records = Some(records))
    }

    /// The stream's namespace. Default none.
    pub fn namespace(self, namespace: &str) -> Self {
        self.edit(|d| d.namespace = Some(namespace.to_string()))
    }

    /// A template variable for this stream (overrides the API's of the same name).
    pub fn var(self, name: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        self.edit(|d| {
            d.vars.insert(name.to_string(), value);
        })
    }

    /// The API this stream reads from.
    pub fn api(&self) -> &HttpApi {
        &self.def.api
    }

    async fn first_records(&self) -> Result<Vec<Record>> {
        let partition = Stream::partitions(self)
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(Partition::whole);
        let mut pages = self
            .clone()
            .max_pages(1)
            .read_owned(ReadRequest::full_refresh(&self.def.name, partition));
        match pages.next().await {
            Some(page) => Ok(page?.records),
            None => Ok(Vec::new()),
        }
    }

    fn read_owned(self, request: ReadRequest) -> PageStream<'static> {
        let def = self.def;
        let (tx, rx) = mpsc::channel::<Result<Page>>(1);
        // The task logs where its caller logs.
        let task = tokio::spawn(
            async move {
                if let Err(e) = produce(&def, request, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            }
            .with_current_subscriber(),
        );
        futures::stream::unfold(
            (rx, Some(AbortOnDrop(task))),
            |(mut rx, mut task)| async move {
                if let Some(item) = rx.recv().await {
                    return Some((item, (rx, task)));
                }
                // The producer is done; a panic must not look like the end of the data.
                let handle = task.take()?;
                match handle.join().await {
                    Err(e) if e.is_panic() => Some((
                        Err(Error::system("the HTTP stream's reader panicked")),
                        (rx, None),
                    )),
                    _ => None,
                }
            },
        )
        .boxed()
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    async fn join(mut self) -> std::result::Result<(), tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl Stream for HttpStream {
    fn name(&self) -> &str {
        &self.def.name
    }

    fn namespace(&self) -> Option<&str> {
        self.def.namespace.as_deref()
    }

    async fn json_schema(&self) -> Result<Value> {
        let mut schema = match &self.def.schema {
            Schema::Static(s) => s.clone(),
            Schema::Load(load) => load(self.def.api.clone()).await?,
            Schema::Infer => crate::schema::infer(&self.first_records().await?),
        };
        // Orchestrators drop undeclared fields: make sure the key and cursor are declared.
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            let cursor = self.def.cursor.as_ref().map(|c| c.field().to_vec());
            for path in self.def.primary_key.iter().chain(cursor.iter()) {
                if let [field] = path.as_slice() {
                    props
                        .entry(field.clone())
                        .or_insert_with(|| serde_json::json!({}));
                }
            }
        }
        Ok(schema)
    }

    fn primary_key(&self) -> Vec<Vec<String>> {
        self.def.primary_key.clone()
    }

    fn cursor(&self) -> Option<&Cursor> {
        self.def.cursor.as_ref()
    }

    async fn partitions(&self) -> Result<Vec<Partition>> {
        match &self.def.partitions {
            Partitions::Whole => Ok(vec![Partition::whole()]),
            Partitions::List(keys) => Ok(keys.iter().cloned().map(Partition::new).collect()),
            Partitions::Parent(parent, key) => {
                let mut out = Vec::new();
                let mut seen = HashSet::new();
                for p in Stream::partitions(&**parent).await? {
                    let mut pages = parent.read(ReadRequest::full_refresh(parent.name(), p));
                    while let Some(page) = pages.next().await {
                        for record in page
                            .map_err(|e| {
                                e.context(format!(
                                    "reading the parent stream \"{}\"",
                                    parent.name()
                                ))
                            })?
                            .records
                        {
                            if let Some(k) = key(&record)?
                                && seen.insert(k.to_string())
                            {
                                out.push(Partition::new(k));
                            }
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        self.clone().read_owned(request)
    }
}

/// Reads one partition page by page, sending each page as soon as it is parsed.
async fn produce(def: &Def, request: ReadRequest, tx: &mpsc::Sender<Result<Page>>) -> Result<()> {
    let ctx = request.context.clone();
    let partition = request.partition.key().clone();
    let mut vars_map = (*def.api.vars).clone();
    vars_map.extend(def.vars.clone());
    let vars = Vars {
        cursor: request.start.as_ref(),
        partition: &partition,
        vars: &vars_map,
        now: Utc::now(),
    };
    let path = render(&def.path, &vars, Escape::PathSegment)?.ok_or_else(|| {
        Error::system(format!(
            "the path \"{}\" names {{cursor}}, which has no value on a full read; put the cursor in a query parameter",
            def.path
        ))
    })?;
    let base_url = def.api.url(&path)?;
    let mut base_query = Vec::with_capacity(def.query.len());
    for (name, template) in &def.query {
        if let Some(v) = render(template, &vars, Escape::None)? {
            base_query.push((name.clone(), v));
        }
    }
    let body = match &def.body {
        None => None,
        Some(Body::Template(t)) => render_json(t, &vars)?,
        Some(Body::With(f)) => Some(f(&RequestVars {
            cursor: request.start.as_ref(),
            partition: &partition,
        })),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &def.headers {
        let rendered = render(value, &vars, Escape::None)?.unwrap_or_default();
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&rendered),
        ) else {
            return Err(Error::system(format!(
                "the header \"{name}\" is not a valid HTTP header"
            )));
        };
        headers.insert(n, v);
    }
    let pointers = def.paginator.pointers();
    let mut current = match request.resume {
        Some(token) => serde_json::from_value::<PageRequest>(token).map_err(|e| {
            Error::system(format!(
                "the saved resume token of stream \"{}\" is not one this stream wrote ({e}); clear the stream's state to start over",
                def.name
            ))
        })?,
        None => def.paginator.first(),
    };
    let mut seen_requests: HashSet<String> = HashSet::new();
    seen_requests.insert(serde_json::to_string(&current).unwrap_or_default());
    let mut seen_pages: HashSet<u64> = HashSet::new();
    let (mut pages, mut records_total) = (0u64, 0u64);
    loop {
        let req = build_request(
            def,
            &base_url,
            &base_query,
            &headers,
            body.as_ref(),
            &current,
        )?;
        let url = req.url().clone();
        let (extracted, response_headers) = def
            .api
            .send_with(req, def.rate_class.as_deref(), &ctx, |response| {
                response.expect_json()?;
                let e = extract(&response.body, &def.records_at, &pointers)?;
                Ok((e, response.headers.clone()))
            })
            .await?;
        pages += 1;
        let raw_count = extracted.records.len();
        if !extracted.records_found {
            tracing::debug!(
                "stream \"{}\": page {pages} has no records at {}",
                def.name,
                def.records_at
            );
        }
        let mut records = to_records(def, extracted.records, pages, &partition)?;
        if !records.is_empty() {
            // The same records under the same paging values (the next cursor, the links, the
            // totals) mean the API ignores the paging parameter; the same records with paging
            // that moves on are an API that legitimately repeats rows.
            let fingerprint = fingerprint(&records, &extracted.values);
            if !seen_pages.insert(fingerprint) {
                return Err(Error::system(format!(
                    "stream \"{}\": page {pages} ({}) repeats the records of an earlier page; the API ignores the paging parameter, stopping instead of reading the same page forever",
                    def.name,
                    def.api.redact_text(&current.describe())
                )));
            }
        }
        let mut next = def.paginator.next(
            &current,
            &PageInfo {
                values: &extracted.values,
                headers: &response_headers,
                records: raw_count,
                url: &url,
            },
        )?;
        // A page without its records (absent or null) that still names a next page is broken,
        // not empty: taking it for empty would skip its records and read on.
        if (!extracted.records_found || extracted.records_null) && next.is_some() {
            return Err(Error::system(format!(
                "stream \"{}\": page {pages} has no records at {} (absent or null) but names a next page; refusing it rather than skipping its records",
                def.name, def.records_at
            )));
        }
        records_total += records.len() as u64;
        // A development limit that stops the read before its end says so: the read driver
        // must not take the partition for read to its end (its cursor would pass records
        // never read, an overwrite would swap a sample in).
        if let Some(max) = def.max_records
            && records_total >= max
        {
            let over = (records_total - max) as usize;
            records.truncate(records.len() - over);
            if over > 0 || next.is_some() {
                ctx.end_early(PartitionEnd::Limited(format!(
                    "stream \"{}\": stopped at max_records ({max}); the read is not complete, so its cursor does not advance and an overwrite keeps the old data",
                    def.name
                )));
            }
            next = None;
        }
        if let Some(max) = def.max_pages
            && pages >= max
        {
            if next.is_some() {
                ctx.end_early(PartitionEnd::Limited(format!(
                    "stream \"{}\": stopped at max_pages ({max}); the read is not complete, so its cursor does not advance and an overwrite keeps the old data",
                    def.name
                )));
            }
            next = None;
        }
        if let Some(n) = &next
            && !seen_requests.insert(serde_json::to_string(n).unwrap_or_default())
        {
            return Err(Error::system(format!(
                "stream \"{}\": the API sent the pagination cursor {} a second time (after page {pages}); stopping instead of syncing forever",
                def.name,
                def.api.redact_text(&n.describe())
            )));
        }
        let resume = match &next {
            Some(n) => Some(
                serde_json::to_value(n)
                    .map_err(|e| Error::system(format!("serializing the resume token: {e}")))?,
            ),
            None => None,
        };
        if tx.send(Ok(Page { records, resume })).await.is_err() {
            return Ok(());
        }
        match next {
            Some(n) => current = n,
            None => return Ok(()),
        }
    }
}

fn build_request(
    def: &Def,
    base_url: &Url,
    base_query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<&Value>,
    page: &PageRequest,
) -> Result<Request> {
    let url = match &page.url {
        Some(next) => def.api.url(next)?,
        None => {
            let mut url = base_url.clone();
            let overridden = |k: &str| page.query.iter().any(|(q, _)| q == k);
            let pairs: Vec<&(String, String)> = base_query
                .iter()
                .filter(|(k, _)| !overridden(k))
                .chain(page.query.iter())
                .collect();
            if !pairs.is_empty() {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url
        }
    };
    let mut request = Request::new(def.method.clone(), url);
    *request.headers_mut() = headers.clone();
    let body = match (body, page.body.is_empty()) {
        (None, true) => None,
        (body, _) => {
            let mut b = body.cloned().unwrap_or_else(|| Value::Object(Map::new()));
            for (pointer, value) in &page.body {
                crate::spec::set_pointer(&mut b, pointer, value.clone())?;
            }
            Some(b)
        }
    };
    if let Some(b) = body {
        let bytes = serde_json::to_vec(&b)
            .map_err(|e| Error::system(format!("serializing the request body: {e}")))?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *request.body_mut() = Some(bytes.into());
    }
    Ok(request)
}

fn to_records(
    def: &Def,
    raw: Vec<Box<RawValue>>,
    page: u64,
    partition: &Value,
) -> Result<Vec<Record>> {
    let context = |e: Error| e.context(format!("stream \"{}\", page {page}", def.name));
    match (&def.transform, &def.expand) {
        (None, None) => raw
            .into_iter()
            .map(Record::from_raw)
            .collect::<Result<Vec<_>>>()
            .map_err(context),
        (transform, expand) => {
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                let value: Value = serde_json::from_str(r.get())
                    .map_err(|e| context(Error::system(format!("record JSON: {e}"))))?;
                let value = match transform {
                    Some(t) => match t(value).map_err(context)? {
                        Some(v) => v,
                        None => continue,
                    },
                    None => value,
                };
                match expand {
                    Some(x) => {
                        for v in x(value, partition).map_err(context)? {
                            out.push(Record::from_value(&v).map_err(context)?);
                        }
                    }
                    None => out.push(Record::from_value(&value).map_err(context)?),
                }
            }
            Ok(out)
        }
    }
}

/// Identifies a page by its first and last records, its size and the paging values it carried.
fn fingerprint(records: &[Record], paging: &[Option<Box<RawValue>>]) -> u64 {
    let mut h = DefaultHasher::new();
    records.len().hash(&mut h);
    if let (Some(first), Some(last)) = (records.first(), records.last()) {
        first.json().hash(&mut h);
        last.json().hash(&mut h);
    }
    for value in paging {
        value.as_ref().map(|v| v.get()).hash(&mut h);
    }
    h.finish()
}
impl HttpApi {
    /// A stream on this API, to be declared with [`HttpStream`]'s builder methods.
    pub fn stream(&self, name: &str) -> HttpStream {
        HttpStream::new(self.clone(), name)
    }
}

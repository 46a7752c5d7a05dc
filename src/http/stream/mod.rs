//! [`HttpStream`]: a REST stream declared, not written.
//!
//! The stream fetches pages on a task of its own, one page ahead of the consumer: while the
//! sync hands page N to the destination, page N+1 is already on the wire (the next cursor is
//! known as soon as page N is parsed). Records are never parsed into `serde_json::Value`
//! unless a transform asks for it: each is a slice of the response, copied once.

mod read;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::future::BoxFuture;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::http::client::HttpApi;
use crate::http::paginate::Paginator;
use crate::http::response::Pointer;
use crate::record::Record;
use crate::source::{DeclaredLimits, PageStream, Partition, PrimaryKey, ReadRequest, Stream};
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
///     .cursor("updatedAt");
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

    /// Makes the stream incremental on `field` (a top-level field), read from the beginning
    /// when there is no state. Default: full refresh only.
    pub fn cursor(self, field: &str) -> Self {
        self.incremental(Cursor::new(field))
    }

    /// Makes the stream incremental on `field`, starting at `start` (a config's start date)
    /// when there is no state; `None` reads from the beginning.
    pub fn cursor_from(self, field: &str, start: Option<impl Serialize>) -> Self {
        let start = start.and_then(|s| serde_json::to_value(s).ok());
        self.incremental(Cursor::new(field).start(start))
    }

    /// Makes the stream incremental with a fully configured [`Cursor`] (kind, boundary,
    /// lookback, a nested path).
    pub fn incremental(self, cursor: Cursor) -> Self {
        self.edit(|d| d.cursor = Some(cursor))
    }

    /// The primary key: a field (`"id"`), several (`["list_id", "id"]`) or paths
    /// ([`PrimaryKey::paths`]). Default none.
    pub fn primary_key(self, key: impl Into<PrimaryKey>) -> Self {
        let key = key.into().into_paths();
        self.edit(|d| d.primary_key = key)
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

    fn primary_key(&self) -> PrimaryKey {
        PrimaryKey::paths(self.def.primary_key.clone())
    }

    fn cursor(&self) -> Option<Cursor> {
        self.def.cursor.clone()
    }

    fn declared_limits(&self) -> DeclaredLimits {
        self.def.api.declared_limits(self.def.rate_class.as_deref())
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

impl HttpApi {
    /// A stream on this API, to be declared with [`HttpStream`]'s builder methods.
    pub fn stream(&self, name: &str) -> HttpStream {
        HttpStream::new(self.clone(), name)
    }
}

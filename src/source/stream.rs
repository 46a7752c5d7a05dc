//! A stream: what it declares (name, schema, key, cursor, partitions) and the pages it reads.

use std::future::Future;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

use super::{PrimaryKey, StreamContext};
use crate::catalog::{CatalogStream, SyncMode};
use crate::error::Result;
use crate::record::Record;
use crate::state::Cursor;

/// One slice of a stream that is read on its own, with its own state: a parent record (the
/// members of one list), a date window, a shard. [`Partition::whole`] is the whole stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    key: Value,
}

impl Partition {
    /// The whole stream (its state lives at the root of the stream's state).
    pub fn whole() -> Self {
        Partition { key: Value::Null }
    }

    /// A partition identified by a JSON value (`{"list_id": "a1"}`). The value is stored in
    /// the state, so keep it small and stable across runs.
    pub fn new(key: Value) -> Self {
        Partition { key }
    }

    /// The partition's identity.
    pub fn key(&self) -> &Value {
        &self.key
    }
}

/// What a stream is asked to read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReadRequest {
    /// The partition to read.
    pub partition: Partition,
    /// Full refresh or incremental.
    pub sync_mode: SyncMode,
    /// For incremental reads, the cursor value to read from (inclusive unless the cursor
    /// declares [`crate::state::Boundary::Exclusive`]); lookback and start date already applied.
    /// `None` reads from the beginning.
    pub start: Option<Value>,
    /// A token from an earlier [`Page::resume`] to continue an interrupted read from.
    pub resume: Option<Value>,
    /// Where the read reports what is not a record: rate-limit waits, request counts, a
    /// rotated credential.
    pub context: StreamContext,
}

impl ReadRequest {
    /// A full-refresh read of `partition` from the beginning, reporting nowhere: what a
    /// connector's `check` or a test asks of a stream.
    pub fn full_refresh(stream: &str, partition: Partition) -> Self {
        ReadRequest {
            partition,
            sync_mode: SyncMode::FullRefresh,
            start: None,
            resume: None,
            context: StreamContext::detached(stream),
        }
    }

    /// Sets the incremental start (and the sync mode to incremental).
    pub fn starting_at(mut self, start: Option<Value>) -> Self {
        self.sync_mode = SyncMode::Incremental;
        self.start = start;
        self
    }

    /// Sets the resume token.
    pub fn resuming(mut self, token: Option<Value>) -> Self {
        self.resume = token;
        self
    }
}

/// One page of records, as the stream read it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The records.
    pub records: Vec<Record>,
    /// A token from which the read can continue after this page (the next page's cursor or
    /// URL), if the stream supports resuming. `None` means an interrupted read starts over.
    pub resume: Option<Value>,
    /// No page follows: the partition is read to its end with this one, so a checkpoint
    /// after it records the partition as finished (a crash then does not read it again).
    pub last: bool,
}

impl Page {
    /// A page of records without a resume token.
    pub fn new(records: Vec<Record>) -> Self {
        Page {
            records,
            resume: None,
            last: false,
        }
    }

    /// Marks the page as the partition's last.
    pub fn last(mut self) -> Self {
        self.last = true;
        self
    }

    /// Sets the resume token.
    pub fn resume_from(mut self, token: Value) -> Self {
        self.resume = Some(token);
        self
    }

    /// The pages of an API that pages by a token (a cursor, an offset, a next URL):
    /// `fetch(token)` reads one page, `None` for the first, and returns its records and the
    /// next page's token, `None` after the last. Each page carries its next token as its
    /// resume point, so an interrupted read continues there: start from
    /// `request.resume.clone()`. The first error ends the stream.
    ///
    /// ```
    /// use intake::{Page, Record, Result};
    /// use futures::TryStreamExt;
    /// use serde_json::{Value, json};
    ///
    /// // An API of three pages, one record each, paged by `?after=<n>`.
    /// async fn get(after: Option<Value>) -> Result<(Vec<Record>, Option<Value>)> {
    ///     let n = after.and_then(|v| v.as_u64()).unwrap_or(0);
    ///     let records = vec![Record::from_value(&json!({"id": n}))?];
    ///     Ok((records, (n < 2).then(|| json!(n + 1))))
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<()> {
    /// let pages: Vec<Page> = Page::by_token(None, get).try_collect().await?;
    /// assert_eq!(pages.len(), 3);
    /// assert_eq!(pages[0].resume, Some(json!(1)));
    /// assert_eq!(pages[2].resume, None);
    /// assert!(pages[2].last);
    /// # Ok(()) }
    /// ```
    pub fn by_token<'a, F, Fut>(first: Option<Value>, mut fetch: F) -> PageStream<'a>
    where
        F: FnMut(Option<Value>) -> Fut + Send + 'a,
        Fut: Future<Output = Result<(Vec<Record>, Option<Value>)>> + Send + 'a,
    {
        // The state is the token of the page to read next; `None` once the last was read.
        futures::stream::try_unfold(Some(first), move |next| {
            let page = next.map(&mut fetch);
            async move {
                let Some(page) = page else {
                    return Ok(None);
                };
                let (records, token) = page.await?;
                let page = match &token {
                    Some(t) => Page::new(records).resume_from(t.clone()),
                    None => Page::new(records).last(),
                };
                Ok(Some((page, token.map(Some))))
            }
        })
        .boxed()
    }
}

/// The pages a stream yields for one partition.
pub type PageStream<'a> = BoxStream<'a, Result<Page>>;

/// The load a stream promises to keep its API under, so the acceptance kit can hold it to
/// that ([`Stream::declared_limits`]). Default: nothing promised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeclaredLimits {
    /// At most this many requests in any window of this length.
    pub requests: Option<(u32, std::time::Duration)>,
    /// At most this many requests in flight at once.
    pub in_flight: Option<usize>,
}

/// One stream of a source.
#[async_trait]
pub trait Stream: Send + Sync {
    /// The stream's name.
    fn name(&self) -> &str;

    /// The stream's namespace. Default none.
    fn namespace(&self) -> Option<&str> {
        None
    }

    /// The stream's JSON Schema (an object schema whose `properties` name every field).
    async fn json_schema(&self) -> Result<Value>;

    /// The primary key (`"id".into()`). Default none.
    fn primary_key(&self) -> PrimaryKey {
        PrimaryKey::none()
    }

    /// The incremental cursor (`Some(Cursor::new("updated_at"))`). Default none: the stream
    /// is full refresh only.
    fn cursor(&self) -> Option<Cursor> {
        None
    }

    /// The partitions to read. Default one: the whole stream.
    async fn partitions(&self) -> Result<Vec<Partition>> {
        Ok(vec![Partition::whole()])
    }

    /// Reads one partition.
    fn read(&self, request: ReadRequest) -> PageStream<'_>;

    /// The rate and concurrency the stream's requests keep to (an HTTP stream: its API's
    /// quota and concurrency cap). Default: none declared.
    fn declared_limits(&self) -> DeclaredLimits {
        DeclaredLimits::default()
    }

    /// The stream as discover reports it; built from the methods above.
    async fn describe(&self) -> Result<CatalogStream> {
        let mut s = CatalogStream::new(self.name(), self.json_schema().await?);
        s.namespace = self.namespace().map(str::to_string);
        let pk = self.primary_key();
        if !pk.is_empty() {
            s.source_defined_primary_key = Some(pk.into_paths());
        }
        if let Some(cursor) = self.cursor() {
            s.supported_sync_modes = vec![SyncMode::FullRefresh, SyncMode::Incremental];
            s.source_defined_cursor = Some(true);
            s.default_cursor_field = Some(cursor.field().to_vec());
            s.is_resumable = Some(true);
        }
        Ok(s)
    }
}

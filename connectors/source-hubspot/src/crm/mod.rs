//! CRM object streams (contacts, companies, deals, tickets, products, line items, engagements
//! and custom objects): full refresh through the list endpoint with property chunking and an
//! archived pass, incremental through search with the 10,000-result cap worked around, and
//! associations as arrays of ids.

mod page;
mod read;
mod window;
mod write;

use std::sync::Arc;
use std::time::Duration;

use intake::http::HttpApi;
use intake::source::StreamContext;
use intake::{Cursor, PageStream, PrimaryKey, ReadRequest, Result, Stream, SyncMode, async_trait};
use serde_json::{Value, json};

use crate::properties::{Property, object_schema, rfc3339};

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
    pub(super) hub: Arc<Hub>,
    pub(super) object: CrmObject,
    pub(super) cursor: Cursor,
    pub(super) properties: tokio::sync::OnceCell<Arc<Vec<Property>>>,
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

    fn primary_key(&self) -> PrimaryKey {
        "id".into()
    }

    fn cursor(&self) -> Option<Cursor> {
        Some(self.inner.cursor.clone())
    }

    /// Pages are produced one ahead of the reader: the next request overlaps the processing
    /// of this page.
    fn declared_limits(&self) -> intake::DeclaredLimits {
        self.inner.hub.api.declared_limits(None)
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let inner = self.inner.clone();
        intake::source::prefetch(if request.sync_mode == SyncMode::Incremental {
            inner.search(request)
        } else {
            inner.list(request)
        })
    }
}

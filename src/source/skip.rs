//! Ending a partition or a stream early, with a warning, on the errors a stream expects.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;

use super::{PageStream, Partition, PartitionEnd, ReadRequest, Stream};
use crate::error::{Error, Result};
use crate::source::PrimaryKey;
use crate::state::Cursor;

/// What a [`SkipOnError`] closure decided about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The whole stream cannot be read (a scope the token lacks): the stream ends
    /// [`StreamStatus::Skipped`], keeping its old data and cursor.
    Stream(String),
    /// This partition does not exist (any more; the report of a campaign never sent): it is
    /// read as empty and the stream may still complete.
    Partition(String),
}

type SkipFn = Arc<dyn Fn(&Error, &Partition) -> Option<Skip> + Send + Sync>;

/// A stream whose partition reads end, with a warning instead of an error, on the failures
/// `skip` recognizes: it returns what the error means ([`Skip`]), or `None` to fail as usual.
/// The warning goes through the stream's context, so the sync logs it and lists it in its
/// report. A skipped stream is never taken for a complete one: an `overwrite` keeps the old
/// table, an unordered cursor does not advance past pages never read.
pub struct SkipOnError<S> {
    inner: S,
    skip: SkipFn,
}

impl<S> SkipOnError<S> {
    /// Wraps `inner`.
    pub fn new(
        inner: S,
        skip: impl Fn(&Error, &Partition) -> Option<Skip> + Send + Sync + 'static,
    ) -> Self {
        SkipOnError {
            inner,
            skip: Arc::new(skip),
        }
    }
}

#[async_trait]
impl<S: Stream> Stream for SkipOnError<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn namespace(&self) -> Option<&str> {
        self.inner.namespace()
    }
    async fn json_schema(&self) -> Result<Value> {
        self.inner.json_schema().await
    }
    fn primary_key(&self) -> PrimaryKey {
        self.inner.primary_key()
    }
    fn cursor(&self) -> Option<Cursor> {
        self.inner.cursor()
    }
    async fn partitions(&self) -> Result<Vec<Partition>> {
        self.inner.partitions().await
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let ctx = request.context.clone();
        let partition = request.partition.clone();
        let skip = self.skip.clone();
        let pages = self.inner.read(request);
        futures::stream::unfold(Some(pages), move |pages| {
            let (ctx, partition, skip) = (ctx.clone(), partition.clone(), skip.clone());
            async move {
                let mut pages = pages?;
                match pages.next().await? {
                    Ok(page) => Some((Ok(page), Some(pages))),
                    Err(e) => match skip(&e, &partition) {
                        Some(Skip::Stream(warning)) => {
                            ctx.end_early(PartitionEnd::StreamSkipped(warning));
                            None
                        }
                        Some(Skip::Partition(warning)) => {
                            ctx.end_early(PartitionEnd::PartitionGone(warning));
                            None
                        }
                        None => Some((Err(e), None)),
                    },
                }
            }
        })
        .boxed()
    }
}

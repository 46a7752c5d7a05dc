//! Overlapping a stream's next step with its reader's work on the current one.

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Runs a stream (of pages, or of anything a connector produces in steps) on a task of its
/// own, one item ahead of its reader: fetching the next page overlaps processing this one (what
/// [`crate::http::HttpStream`] does for its pages). Chain two to overlap three stages. The task
/// logs where its caller logs, stops when the reader drops the stream, and a panic in it is an
/// error, never a silent end of the data.
pub fn prefetch<T: Send + 'static>(
    pages: BoxStream<'static, Result<T>>,
) -> BoxStream<'static, Result<T>> {
    use tracing::instrument::WithSubscriber;
    let (tx, rx) = mpsc::channel::<Result<T>>(1);
    let task = tokio::spawn(
        async move {
            let mut pages = pages;
            while let Some(page) = pages.next().await {
                let stop = page.is_err();
                if tx.send(page).await.is_err() || stop {
                    return;
                }
            }
        }
        .with_current_subscriber(),
    );
    struct Abort(Option<tokio::task::JoinHandle<()>>);
    impl Drop for Abort {
        fn drop(&mut self) {
            if let Some(t) = &self.0 {
                t.abort();
            }
        }
    }
    futures::stream::unfold((rx, Abort(Some(task))), |(mut rx, mut task)| async move {
        if let Some(item) = rx.recv().await {
            return Some((item, (rx, task)));
        }
        let handle = task.0.take()?;
        match handle.await {
            Err(e) if e.is_panic() => Some((
                Err(Error::system("a stream's page reader panicked")),
                (rx, Abort(None)),
            )),
            _ => None,
        }
    })
    .boxed()
}

//! Rate limiting and retries on paused tokio time, against an in-process server that reads
//! the same paused clock: a server window the quota must stay inside, `Retry-After` in
//! seconds and as a date, pauses that hold back the whole connector, retries and their
//! limits, and the statuses and metrics a sync reports.

#[path = "../support/mod.rs"]
mod support;

mod quota;
mod retries;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use intake::http::{HttpApi, HttpError, HttpStream, Paginator, Quota, RetryPolicy};
use intake::{
    Catalog, EventSender, Partition, ReadOptions, ReadRequest, Result, SourceEvent, State, Stream,
    StreamStatus,
};
use serde_json::json;
use support::mock::{Req, Resp, serve};
use tokio::time::Instant;

/// Pre-rendered pages `0..pages` of a cursor-paginated stream (`after=<n>`).
fn pages(prefix: &str, pages: usize) -> Arc<Vec<Bytes>> {
    Arc::new(
        (0..pages)
            .map(|p| {
                let records: Vec<_> = (0..3)
                    .map(|i| json!({"id": format!("{prefix}{}", p * 3 + i), "updatedAt": "2024-01-01T00:00:00Z"}))
                    .collect();
                let mut body = json!({"results": records});
                if p + 1 < pages {
                    body["paging"] = json!({"next": {"after": (p + 1).to_string()}});
                }
                Bytes::from(body.to_string())
            })
            .collect(),
    )
}

fn page_for(req: &Req, pages: &[Bytes]) -> Resp {
    let n: usize = req
        .query
        .get("after")
        .map(|a| a.parse().unwrap())
        .unwrap_or(0);
    Resp::json(200, pages[n].clone())
}

/// A server that answers 429 whenever more than `limit` requests arrived in the last
/// `window` (sliding), and counts what it did.
struct Window {
    limit: usize,
    window: Duration,
    arrivals: Mutex<VecDeque<Instant>>,
    served: AtomicU64,
    rejected: AtomicU64,
}

impl Window {
    fn new(limit: usize, window: Duration) -> Arc<Self> {
        Arc::new(Window {
            limit,
            window,
            arrivals: Mutex::new(VecDeque::new()),
            served: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        })
    }

    /// Records an arrival; `true` when it is over the limit.
    fn over(&self) -> bool {
        let now = Instant::now();
        let mut a = self.arrivals.lock().unwrap();
        while a
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            a.pop_front();
        }
        a.push_back(now);
        let over = a.len() > self.limit;
        if over {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        } else {
            self.served.fetch_add(1, Ordering::Relaxed);
        }
        over
    }
}

fn api(uri: &str) -> HttpApi {
    HttpApi::parse(uri)
        .unwrap()
        .timeout(None)
        .retry(RetryPolicy::default().jitter(false))
}

fn contacts(api: &HttpApi, name: &str, path: &str) -> HttpStream {
    api.stream(name)
        .get(path)
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
        .primary_key("id")
        .schema(json!({"type": "object", "properties": {"id": {"type": "string"}}}))
}

async fn count_records(stream: &HttpStream) -> Result<usize> {
    let mut pages = stream.read(ReadRequest::full_refresh(stream.name(), Partition::whole()));
    let mut n = 0;
    while let Some(p) = pages.next().await {
        n += p?.records.len();
    }
    Ok(n)
}

fn catalog_of(streams: &[HttpStream]) -> intake::ConfiguredCatalog {
    let mut catalog = Catalog::default();
    for s in streams {
        let mut c =
            intake::CatalogStream::new(s.name(), json!({"type": "object", "properties": {}}));
        c.source_defined_primary_key = Some(vec![vec!["id".into()]]);
        catalog.streams.push(c);
    }
    catalog.configure_all()
}

async fn read_events(streams: Vec<HttpStream>) -> (Result<()>, Vec<SourceEvent>) {
    let catalog = catalog_of(&streams);
    let streams: Vec<Arc<dyn Stream>> = streams
        .into_iter()
        .map(|s| Arc::new(s) as Arc<dyn Stream>)
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let collect = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    let result = intake::read_streams(
        streams,
        &catalog,
        &State::new(),
        &ReadOptions::default(),
        EventSender::new(tx),
    )
    .await;
    (result, collect.await.unwrap())
}

/// Answers `/x` with the given statuses in turn, then 200.
async fn scripted(statuses: Vec<u16>) -> (support::mock::MockServer, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let body = pages("x", 1);
    let server = serve(move |req| {
        let i = c.fetch_add(1, Ordering::Relaxed) as usize;
        match statuses.get(i) {
            Some(s) => Resp::json(*s, format!(r#"{{"message":"status {s}"}}"#)),
            None => page_for(&req, &body),
        }
    })
    .await;
    (server, calls)
}

fn api_at(uri: &str) -> HttpApi {
    api(uri)
}

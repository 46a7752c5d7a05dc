//! The crawl: one pass over the site feeding every selected stream, with per-host pacing,
//! robots.txt, conditional requests and checkpoints that carry the frontier.

mod visit;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use intake::http::reqwest;
use intake::source::{EventSender, LogLevel, StreamStatus};
use intake::{
    ConfiguredCatalog, Error, ReadOptions, Result, SourceEvent, State, StreamDescriptor, SyncMode,
};
use serde_json::Value;
use url::Url;

use crate::client::{Pacer, check_address, fetch, host_key};
use crate::config::PAGES;
use crate::memory::Memory;
use crate::robots::Robots;
use crate::settings::Settings;

/// Sitemap files read per crawl, at most (indexes can nest).
const MAX_SITEMAPS: usize = 50;
/// Frontier entries kept in a checkpoint.
const MAX_FRONTIER: usize = 10_000;

pub(crate) struct Selected {
    pub(crate) descriptor: Arc<StreamDescriptor>,
    /// `None` for `pages`.
    pub(crate) rule: Option<usize>,
    pub(crate) pending: u64,
}

pub(crate) struct Job {
    pub(crate) url: Url,
    pub(crate) depth: u32,
    pub(crate) lastmod: Option<DateTime<Utc>>,
}

/// Why a URL was not fetched or not read.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) fetched: u64,
    pub(crate) emitted_pages: u64,
    pub(crate) not_modified: u64,
    pub(crate) same_hash: u64,
    pub(crate) lastmod: u64,
    pub(crate) robots: u64,
    pub(crate) non_html: u64,
    pub(crate) too_large: u64,
    pub(crate) internal: u64,
    pub(crate) failed: u64,
    pub(crate) incomplete: u64,
}

pub(crate) struct Crawl<'a> {
    pub(crate) s: &'a Settings,
    pub(crate) client: reqwest::Client,
    pub(crate) out: EventSender,
    pub(crate) selected: Vec<Selected>,
    pub(crate) incremental: bool,
    pub(crate) memory: Memory,
    pub(crate) robots: HashMap<String, Robots>,
    pub(crate) pacer: Pacer,
    pub(crate) counts: Counts,
    pub(crate) queued: HashSet<String>,
    pub(crate) queue: VecDeque<Job>,
    /// Pages being fetched: not done, so a checkpoint lists them in the frontier.
    pub(crate) running: HashMap<String, u32>,
    pub(crate) since_checkpoint: u64,
    pub(crate) options: &'a ReadOptions,
    pub(crate) now: String,
}

/// The crawl for a catalog.
pub(crate) async fn run(
    s: &Settings,
    catalog: &ConfiguredCatalog,
    state: &State,
    options: &ReadOptions,
    out: EventSender,
) -> Result<()> {
    let mut selected = Vec::new();
    let mut incremental = false;
    let mut memories: Vec<Option<Memory>> = Vec::new();
    for c in &catalog.streams {
        let d = c.descriptor();
        let rule =
            if d.name == PAGES {
                None
            } else {
                Some(s.rules.iter().position(|r| r.name == d.name).ok_or_else(|| {
                Error::config(format!(
                    "the catalog names stream \"{}\", which this config does not define",
                    d.name
                ))
            })?)
            };
        if c.sync_mode == SyncMode::Incremental {
            incremental = true;
            memories.push(state.stream(&d).and_then(Memory::from_blob));
        }
        selected.push(Selected {
            descriptor: Arc::new(d),
            rule,
            pending: 0,
        });
    }
    if selected.is_empty() {
        return Ok(());
    }
    // A conditional crawl needs every incremental stream to remember the same crawl: a stream
    // without state gets a full crawl (and the others re-read what did not change).
    let memory = if incremental && memories.iter().all(Option::is_some) {
        memories.into_iter().flatten().next().unwrap_or_default()
    } else {
        Memory::default()
    };
    let now = Utc::now();
    let ahead = catalog
        .streams
        .iter()
        .filter(|c| c.sync_mode == SyncMode::Incremental)
        .filter_map(|c| state.stream(&c.descriptor()))
        .filter_map(|b| {
            b.get("cursor")
                .and_then(Value::as_str)
                .and_then(intake::state::parse_datetime)
        })
        .any(|t| t > now);
    if ahead {
        // The state says everything until a later time is known: a crawl now has nothing newer.
        out.send(SourceEvent::Log(
            LogLevel::Warn,
            "the state's cursor is later than now: nothing is newer, so nothing is crawled".into(),
        ))
        .await?;
        return Ok(());
    }
    for st in s.starts.iter() {
        if let Err(e) = check_address(s, st).await {
            return Err(Error::config(format!("start URL {st}: {e}")));
        }
    }
    for sel in &selected {
        out.send(SourceEvent::Status(
            sel.descriptor.clone(),
            StreamStatus::Started,
        ))
        .await?;
    }
    let mut crawl = Crawl {
        s,
        client: s.client()?,
        out: out.clone(),
        selected,
        incremental,
        memory,
        robots: HashMap::new(),
        pacer: Pacer::default(),
        counts: Counts::default(),
        queued: HashSet::new(),
        queue: VecDeque::new(),
        running: HashMap::new(),
        since_checkpoint: 0,
        options,
        now: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let result = crawl_all(&mut crawl).await;
    let status = if result.is_ok() {
        StreamStatus::Complete
    } else {
        StreamStatus::Incomplete
    };
    for sel in &crawl.selected {
        let _ = out
            .send(SourceEvent::Status(sel.descriptor.clone(), status.clone()))
            .await;
    }
    result
}

async fn crawl_all(c: &mut Crawl<'_>) -> Result<()> {
    // Sitemap entries first: they carry `lastmod`, which can spare a request.
    c.sitemaps().await?;
    for st in c.s.starts.clone() {
        c.enqueue(st, 0, None);
    }
    let frontier = std::mem::take(&mut c.memory.frontier);
    let known: Vec<(String, u32)> = c
        .memory
        .urls
        .iter()
        .map(|(k, v)| (k.clone(), v.d))
        .collect();
    for (u, d) in frontier.into_iter().chain(known) {
        if let Ok(url) = Url::parse(&u) {
            c.enqueue(url, d, None);
        }
    }
    let mut started: u64 = 0;
    let mut in_flight = FuturesUnordered::new();
    let client = c.client.clone();
    let s = c.s;
    loop {
        while in_flight.len() < s.concurrency {
            let Some(job) = c.queue.pop_front() else {
                break;
            };
            if started >= s.max_pages {
                c.log(
                    LogLevel::Warn,
                    format!(
                        "max_pages ({}) reached: {} queued URLs not fetched",
                        s.max_pages,
                        c.queue.len() + 1
                    ),
                )
                .await?;
                c.queue.clear();
                break;
            }
            let robots = c.robots_for(&job.url).await?;
            let path = match job.url.query() {
                Some(q) => format!("{}?{q}", job.url.path()),
                None => job.url.path().to_string(),
            };
            if !robots.allows(&path) {
                c.counts.robots += 1;
                tracing::debug!("{} disallowed by robots.txt", job.url);
                continue;
            }
            let key = job.url.to_string();
            let known = c.memory.urls.get(&key).cloned();
            if c.incremental
                && let (Some(lastmod), Some(k)) = (job.lastmod, known.as_ref())
                // Only a page read whole (a content hash) is spared by an older lastmod: a
                // failed page, an error status or one with records left out is asked again.
                && k.h.is_some()
                && k.modified().is_some_and(|t| t >= lastmod)
            {
                c.counts.lastmod += 1;
                continue;
            }
            started += 1;
            let interval = robots.crawl_delay.map_or(s.interval, |d| d.max(s.interval));
            let slot = c.pacer.reserve(&host_key(&job.url), interval);
            let known = if c.incremental { known } else { None };
            let floor = if c.incremental { c.memory.floor } else { None };
            let client = client.clone();
            c.running.insert(job.url.to_string(), job.depth);
            in_flight.push(async move {
                let outcome = fetch(&client, s, &job.url, slot, known.as_ref(), floor, false).await;
                (job, outcome)
            });
        }
        let Some((job, outcome)) = in_flight.next().await else {
            break;
        };
        c.running.remove(job.url.as_str());
        c.handle(job, outcome).await?;
        if c.since_checkpoint >= c.options.checkpoint_records.max(1) {
            // In-flight pages are not done: they go in the frontier too.
            let frontier: Vec<(String, u32)> = c
                .running
                .iter()
                .map(|(u, d)| (u.clone(), *d))
                .chain(c.queue.iter().map(|j| (j.url.to_string(), j.depth)))
                .collect();
            c.checkpoint(Some(frontier)).await?;
        }
    }
    c.checkpoint(None).await?;
    let k = &c.counts;
    c.log(
        LogLevel::Info,
        format!(
            "crawl: {} pages fetched, {} emitted; unchanged: {} not modified (304), {} same content, {} by sitemap lastmod; skipped: {} by robots.txt, {} not HTML, {} too large, {} internal addresses, {} failed; {} records without a required field",
            k.fetched, k.emitted_pages, k.not_modified, k.same_hash, k.lastmod, k.robots, k.non_html, k.too_large, k.internal, k.failed, k.incomplete
        ),
    )
    .await
}

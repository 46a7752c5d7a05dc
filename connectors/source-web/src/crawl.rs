//! The crawl: one pass over the site feeding every selected stream, with per-host pacing,
//! robots.txt, conditional requests and checkpoints that carry the frontier.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use intake::http::reqwest::{self, StatusCode, header};
use intake::source::{Checkpoint, EventSender, LogLevel, StreamStatus};
use intake::{
    ConfiguredCatalog, Error, ReadOptions, Record, RecordBatch, Result, SourceEvent, State,
    StreamDescriptor, SyncMode,
};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

use crate::extract::{Rules, analyze};
use crate::robots::Robots;
use crate::urls::{Scope, content_hash, is_internal, normalize};
use crate::{DEFAULT_USER_AGENT, PAGES, WebConfig};

/// Sitemap files read per crawl, at most (indexes can nest).
const MAX_SITEMAPS: usize = 50;
/// Attempts per page for 429, 5xx and network failures.
const ATTEMPTS: u32 = 3;
/// Frontier entries kept in a checkpoint.
const MAX_FRONTIER: usize = 10_000;

/// A validated config.
pub(crate) struct Settings {
    pub rules: Vec<Rules>,
    scope: Scope,
    starts: Vec<Url>,
    sitemaps: Vec<Url>,
    agent: String,
    agent_token: String,
    interval: Duration,
    max_depth: u32,
    max_pages: u64,
    concurrency: usize,
    timeout: Duration,
    max_bytes: u64,
    max_state: usize,
    allow_private: bool,
}

fn parse_url(text: &str, what: &str) -> Result<Url> {
    let u = Url::parse(text.trim())
        .map_err(|e| Error::config(format!("{what} \"{text}\" is not a URL: {e}")))?;
    normalize(&u).ok_or_else(|| {
        Error::config(format!(
            "{what} \"{text}\" is not an http or https URL: the crawler fetches only those"
        ))
    })
}

impl Settings {
    pub fn from_config(config: &Value) -> Result<Settings> {
        let cfg: WebConfig = crate::parse(config)?;
        let starts = cfg
            .start_urls
            .iter()
            .map(|u| parse_url(u, "start URL"))
            .collect::<Result<Vec<_>>>()?;
        let sitemaps = cfg
            .sitemap_urls
            .iter()
            .map(|u| parse_url(u, "sitemap URL"))
            .collect::<Result<Vec<_>>>()?;
        if starts.is_empty() && sitemaps.is_empty() {
            return Err(Error::config(
                "give at least one start URL or sitemap URL: the crawl has nowhere to begin",
            ));
        }
        let domains = match &cfg.allowed_domains {
            Some(d) => d
                .iter()
                .map(|d| d.trim().trim_start_matches("*.").to_ascii_lowercase())
                .collect(),
            None => {
                let mut d: Vec<String> = starts
                    .iter()
                    .chain(&sitemaps)
                    .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
                    .collect();
                d.sort();
                d.dedup();
                d
            }
        };
        let regexes = |list: &[String], what: &str| -> Result<Vec<Regex>> {
            list.iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| {
                        Error::config(format!("{what} pattern \"{p}\" is not a regex: {e}"))
                    })
                })
                .collect()
        };
        let scope = Scope {
            domains,
            include: regexes(&cfg.include, "include")?,
            exclude: regexes(&cfg.exclude, "exclude")?,
        };
        let mut rules = Vec::new();
        for r in &cfg.streams {
            if r.name == PAGES {
                return Err(Error::config(
                    "an extraction stream cannot be named \"pages\": that is the built-in stream of fetched pages",
                ));
            }
            rules.push(Rules::compile(r).map_err(Error::config)?);
        }
        let rps = cfg.requests_per_second.unwrap_or(1.0);
        if !(rps.is_finite() && rps > 0.0) {
            return Err(Error::config(
                "requests_per_second must be a positive number",
            ));
        }
        let agent = cfg
            .user_agent
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string());
        let agent_token = agent
            .split(['/', ' '])
            .next()
            .unwrap_or("intake-web")
            .to_ascii_lowercase();
        Ok(Settings {
            rules,
            scope,
            starts,
            sitemaps,
            agent_token,
            agent,
            // At least one request a day: slower is a typo, and an overflow.
            interval: Duration::from_secs_f64((1.0 / rps).min(86_400.0)),
            max_depth: cfg.max_depth.unwrap_or(3),
            max_pages: cfg.max_pages.unwrap_or(1000),
            concurrency: cfg.concurrency.unwrap_or(4).clamp(1, 64) as usize,
            timeout: Duration::from_secs(cfg.timeout_seconds.unwrap_or(30).max(1)),
            max_bytes: cfg.max_page_bytes.unwrap_or(5 << 20),
            max_state: cfg.max_state_urls.unwrap_or(10_000),
            allow_private: cfg.allow_private_networks,
        })
    }

    fn client(&self) -> Result<reqwest::Client> {
        let scope = self.scope.clone();
        reqwest::Client::builder()
            .user_agent(self.agent.clone())
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                let ok = attempt.previous().len() < 10
                    && matches!(attempt.url().scheme(), "http" | "https")
                    && scope.allows_host(attempt.url());
                if ok { attempt.follow() } else { attempt.stop() }
            }))
            .connect_timeout(Duration::from_secs(10))
            .gzip(true)
            .build()
            .map_err(|e| Error::system(format!("cannot build the HTTP client: {e}")))
    }
}

/// The schema of the `pages` stream.
pub(crate) fn pages_schema() -> Value {
    let s = |t: &str| json!({"type": ["null", t]});
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "final_url": s("string"), "status": {"type": "integer"}, "title": s("string"),
            "description": s("string"), "canonical_url": s("string"), "language": s("string"),
            "text": s("string"), "links": {"type": ["null", "array"], "items": {"type": "string"}},
            "fetched_at": {"type": "string", "format": "date-time"},
            "content_hash": s("string"), "etag": s("string"), "last_modified": s("string"),
            "content_type": s("string"), "depth": {"type": "integer"}
        },
        "required": ["url", "status", "fetched_at"]})
}

/// What the state remembers of one URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Seen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<String>,
    t: String,
    d: u32,
    s: u16,
}

/// The crawl's memory across syncs.
#[derive(Debug, Default)]
struct Memory {
    urls: HashMap<String, Seen>,
    frontier: Vec<(String, u32)>,
    /// A cursor without URLs (a state from elsewhere): ask with If-Modified-Since from it.
    floor: Option<DateTime<Utc>>,
}

impl Memory {
    fn from_blob(blob: &Value) -> Option<Memory> {
        let urls: HashMap<String, Seen> = blob
            .get("urls")
            .map(|u| serde_json::from_value(u.clone()))
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default();
        let frontier: Vec<(String, u32)> = blob
            .get("frontier")
            .map(|f| serde_json::from_value(f.clone()))
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default();
        let floor = blob
            .get("cursor")
            .and_then(Value::as_str)
            .and_then(intake::state::parse_datetime);
        (!urls.is_empty() || !frontier.is_empty() || floor.is_some()).then_some(Memory {
            urls,
            frontier,
            floor: floor.filter(|_| blob.get("urls").is_none()),
        })
    }
}

struct Selected {
    descriptor: Arc<StreamDescriptor>,
    /// `None` for `pages`.
    rule: Option<usize>,
    pending: u64,
}

struct Job {
    url: Url,
    depth: u32,
    lastmod: Option<DateTime<Utc>>,
}

struct Fetched {
    status: u16,
    final_url: Url,
    etag: Option<String>,
    last_modified: Option<String>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
    location: Option<String>,
}

/// Why a URL was not fetched or not read.
#[derive(Debug, Default)]
struct Counts {
    fetched: u64,
    emitted_pages: u64,
    not_modified: u64,
    same_hash: u64,
    lastmod: u64,
    robots: u64,
    non_html: u64,
    too_large: u64,
    internal: u64,
    failed: u64,
    incomplete: u64,
}

/// Per-host pacing: each host's next free slot, reserved when a request is dispatched.
#[derive(Default)]
struct Pacer {
    next: HashMap<String, tokio::time::Instant>,
}

impl Pacer {
    fn reserve(&mut self, host: &str, interval: Duration) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let slot = self.next.get(host).copied().unwrap_or(now).max(now);
        self.next.insert(host.to_string(), slot + interval);
        slot
    }
}

fn host_key(u: &Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port_or_known_default().unwrap_or(0)
    )
}

fn http_date(t: &DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Refuses hosts that resolve to internal addresses (unless allowed).
async fn check_address(s: &Settings, url: &Url) -> std::result::Result<(), String> {
    if s.allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::IpAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    match addrs.into_iter().find(|ip| is_internal(*ip)) {
        Some(ip) => Err(format!(
            "{host} resolves to {ip}, a loopback, private or link-local address: set allow_private_networks to crawl it"
        )),
        None => Ok(()),
    }
}

/// One page: paced, with retries for 429, 5xx and network failures, the body capped.
async fn fetch(
    client: &reqwest::Client,
    s: &Settings,
    url: &Url,
    slot: tokio::time::Instant,
    known: Option<&Seen>,
    floor: Option<DateTime<Utc>>,
    any_type: bool,
) -> std::result::Result<Fetched, String> {
    tokio::time::sleep_until(slot).await;
    check_address(s, url).await?;
    let mut attempt = 0;
    'attempts: loop {
        attempt += 1;
        let mut req = client.get(url.clone()).timeout(s.timeout);
        if let Some(k) = known {
            if let Some(e) = &k.e {
                req = req.header(header::IF_NONE_MATCH, e);
            }
            if let Some(m) = &k.m {
                req = req.header(header::IF_MODIFIED_SINCE, m);
            }
        } else if let Some(f) = floor {
            req = req.header(header::IF_MODIFIED_SINCE, http_date(&f));
        }
        let retry_in = |n: u32| Duration::from_secs(1 << n.min(5));
        let response = match req.send().await {
            Ok(r) => r,
            // A page slower than the timeout is not retried now (it would stall the crawl): it
            // is tried again on the next sync.
            Err(e) if attempt < ATTEMPTS && !e.is_timeout() => {
                tracing::debug!("{url}: {e}; retrying");
                tokio::time::sleep(retry_in(attempt)).await;
                continue;
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    format!("no answer within {}s", s.timeout.as_secs())
                } else {
                    "the connection failed".to_string()
                };
                return Err(format!("{what} after {attempt} attempts"));
            }
        };
        let status = response.status();
        if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
            && attempt < ATTEMPTS
        {
            let wait = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(120)))
                .unwrap_or_else(|| retry_in(attempt));
            tokio::time::sleep(wait).await;
            continue;
        }
        let text = |h: header::HeaderName| {
            response
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut f = Fetched {
            status: status.as_u16(),
            final_url: response.url().clone(),
            etag: text(header::ETAG),
            last_modified: text(header::LAST_MODIFIED),
            content_type: text(header::CONTENT_TYPE),
            location: text(header::LOCATION),
            body: None,
        };
        if !status.is_success() {
            return Ok(f);
        }
        if response.content_length().is_some_and(|l| l > s.max_bytes) {
            return Err(format!(
                "larger than max_page_bytes ({} bytes)",
                s.max_bytes
            ));
        }
        let html = any_type
            || f.content_type.as_deref().is_none_or(|c| {
                let c = c.to_ascii_lowercase();
                c.starts_with("text/html") || c.starts_with("application/xhtml+xml")
            });
        if !html {
            // The caller reports the content type; the body is not read.
            return Ok(f);
        }
        let mut body = Vec::new();
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > s.max_bytes {
                        return Err(format!(
                            "larger than max_page_bytes ({} bytes)",
                            s.max_bytes
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // A body that breaks off is never kept in part: the page is asked for again.
                Err(e) if attempt < ATTEMPTS && !e.is_timeout() => {
                    tracing::debug!("{url}: the body broke off ({e}); retrying");
                    tokio::time::sleep(retry_in(attempt)).await;
                    continue 'attempts;
                }
                Err(e) => {
                    let what = if e.is_timeout() {
                        format!("the body did not arrive within {}s", s.timeout.as_secs())
                    } else {
                        "the body broke off".to_string()
                    };
                    return Err(format!("{what} after {attempt} attempts"));
                }
            }
        }
        f.body = Some(body);
        return Ok(f);
    }
}

struct Crawl<'a> {
    s: &'a Settings,
    client: reqwest::Client,
    out: EventSender,
    selected: Vec<Selected>,
    incremental: bool,
    memory: Memory,
    robots: HashMap<String, Robots>,
    pacer: Pacer,
    counts: Counts,
    queued: HashSet<String>,
    queue: VecDeque<Job>,
    /// Pages being fetched: not done, so a checkpoint lists them in the frontier.
    running: HashMap<String, u32>,
    since_checkpoint: u64,
    options: &'a ReadOptions,
    now: String,
}

impl Crawl<'_> {
    fn enqueue(&mut self, url: Url, depth: u32, lastmod: Option<DateTime<Utc>>) {
        if depth > self.s.max_depth || self.s.scope.check(&url).is_err() {
            return;
        }
        if self.queued.insert(url.to_string()) {
            self.queue.push_back(Job {
                url,
                depth,
                lastmod,
            });
        }
    }

    /// The host's robots.txt, fetched once (paced like any request).
    async fn robots_for(&mut self, url: &Url) -> Result<Robots> {
        let key = host_key(url);
        if let Some(r) = self.robots.get(&key) {
            return Ok(r.clone());
        }
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        let slot = self.pacer.reserve(&key, self.s.interval);
        let robots = match fetch(&self.client, self.s, &robots_url, slot, None, None, true).await {
            Ok(f) if (200..300).contains(&f.status) => {
                let body = f.body.unwrap_or_default();
                Robots::parse(&String::from_utf8_lossy(&body), &self.s.agent_token)
            }
            // 4xx: no rules (RFC 9309, 2.3.1.3). 5xx or no answer: the rules are unknown, so
            // everything is disallowed (2.3.1.4) — said, so an empty crawl is not a mystery.
            Ok(f) if f.status >= 500 => {
                self.log(
                    LogLevel::Warn,
                    format!(
                        "{robots_url} answered HTTP {}: nothing on {key} is crawled this sync (RFC 9309: unreachable rules disallow everything)",
                        f.status
                    ),
                )
                .await?;
                Robots::disallow_all()
            }
            Ok(_) => Robots::allow_all(),
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    format!(
                        "{robots_url}: {e}: nothing on {key} is crawled this sync (RFC 9309: unreachable rules disallow everything)"
                    ),
                )
                .await?;
                Robots::disallow_all()
            }
        };
        // The robots.txt request itself counts against the host's crawl delay.
        if let Some(delay) = robots.crawl_delay {
            let next = self.pacer.next.entry(key.clone()).or_insert(slot);
            *next = (*next).max(slot + delay.max(self.s.interval));
        }
        self.robots.insert(key, robots.clone());
        Ok(robots)
    }

    async fn log(&self, level: LogLevel, message: String) -> Result<()> {
        self.out.send(SourceEvent::Log(level, message)).await
    }

    async fn sitemaps(&mut self) -> Result<()> {
        let mut files: VecDeque<Url> = self.s.sitemaps.iter().cloned().collect();
        let mut read = 0;
        while let Some(url) = files.pop_front() {
            if read >= MAX_SITEMAPS {
                self.log(
                    LogLevel::Warn,
                    format!("more than {MAX_SITEMAPS} sitemap files: the rest are not read"),
                )
                .await?;
                break;
            }
            read += 1;
            let robots = self.robots_for(&url).await?;
            if !robots.allows(url.path()) {
                self.log(
                    LogLevel::Warn,
                    format!("sitemap {url} is disallowed by robots.txt: not read"),
                )
                .await?;
                continue;
            }
            let interval = robots
                .crawl_delay
                .map_or(self.s.interval, |d| d.max(self.s.interval));
            let slot = self.pacer.reserve(&host_key(&url), interval);
            let fetched = fetch(&self.client, self.s, &url, slot, None, None, true).await;
            let body = match fetched {
                Ok(f) if (200..300).contains(&f.status) => f.body.unwrap_or_default(),
                Ok(f) => {
                    self.log(
                        LogLevel::Warn,
                        format!("sitemap {url} answered HTTP {}", f.status),
                    )
                    .await?;
                    continue;
                }
                Err(e) => {
                    self.log(LogLevel::Warn, format!("sitemap {url}: {e}"))
                        .await?;
                    continue;
                }
            };
            let xml = match crate::sitemap::gunzip(&body, self.s.max_bytes.max(50 << 20)) {
                Ok(x) => x,
                Err(e) => {
                    self.log(LogLevel::Warn, format!("sitemap {url}: {e}"))
                        .await?;
                    continue;
                }
            };
            let map = crate::sitemap::parse(&String::from_utf8_lossy(&xml));
            for child in map.children {
                if let Some(u) = Url::parse(&child).ok().and_then(|u| normalize(&u)) {
                    files.push_back(u);
                }
            }
            for (loc, lastmod) in map.urls {
                if let Some(u) = Url::parse(&loc).ok().and_then(|u| normalize(&u)) {
                    self.enqueue(u, 0, lastmod);
                }
            }
        }
        Ok(())
    }

    async fn emit(&mut self, rule: Option<usize>, values: Vec<Value>) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        for sel in self.selected.iter_mut().filter(|s| s.rule == rule) {
            let records = values
                .iter()
                .map(Record::from_value)
                .collect::<Result<Vec<_>>>()?;
            sel.pending += records.len() as u64;
            self.since_checkpoint += records.len() as u64;
            self.out
                .send(SourceEvent::Records(RecordBatch::new(
                    sel.descriptor.clone(),
                    records,
                )))
                .await?;
        }
        Ok(())
    }

    fn wants(&self, rule: Option<usize>) -> bool {
        self.selected.iter().any(|s| s.rule == rule)
    }

    fn page_record(
        &self,
        job: &Job,
        f: &Fetched,
        info: Option<&crate::extract::PageInfo>,
        hash: Option<&str>,
    ) -> Value {
        let final_url = f
            .location
            .as_ref()
            .filter(|_| (300..400).contains(&f.status))
            .and_then(|l| f.final_url.join(l).ok())
            .unwrap_or_else(|| f.final_url.clone());
        json!({
            "url": job.url.as_str(), "final_url": final_url.as_str(), "status": f.status,
            "title": info.and_then(|i| i.title.clone()),
            "description": info.and_then(|i| i.description.clone()),
            "canonical_url": info.and_then(|i| i.canonical.clone()),
            "language": info.and_then(|i| i.language.clone()),
            "text": info.map(|i| i.text.clone()),
            "links": info.map(|i| i.links.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
            "fetched_at": self.now, "content_hash": hash, "etag": f.etag, "last_modified": f.last_modified,
            "content_type": f.content_type, "depth": job.depth
        })
    }

    async fn handle(
        &mut self,
        job: Job,
        outcome: std::result::Result<Fetched, String>,
    ) -> Result<()> {
        let key = job.url.to_string();
        let known = self.memory.urls.get(&key).cloned();
        let f = match outcome {
            Ok(f) => f,
            Err(reason) => {
                if reason.contains("loopback, private or link-local") {
                    self.counts.internal += 1;
                } else if reason.contains("max_page_bytes") {
                    self.counts.too_large += 1;
                } else {
                    self.counts.failed += 1;
                    // Remembered as failed (status 0, no validators), so the next sync asks for
                    // it again even when no changed page links to it any more.
                    // Its validators (if it was read before) are kept: a 304 then means the
                    // content already emitted is still current.
                    let again = self.memory.urls.entry(key.clone()).or_insert(Seen {
                        e: None,
                        m: None,
                        h: None,
                        t: self.now.clone(),
                        d: job.depth,
                        s: 0,
                    });
                    again.s = 0;
                    again.h = None;
                }
                return self
                    .log(LogLevel::Warn, format!("{key} skipped: {reason}"))
                    .await;
            }
        };
        self.counts.fetched += 1;
        let seen = |f: &Fetched, h: Option<String>, now: &str| Seen {
            e: f.etag.clone(),
            m: f.last_modified.clone(),
            h,
            t: now.to_string(),
            d: job.depth,
            s: f.status,
        };
        if f.status == 304 {
            self.counts.not_modified += 1;
            if let Some(mut k) = known {
                k.t = self.now.clone();
                self.memory.urls.insert(key, k);
            }
            return Ok(());
        }
        if !(200..300).contains(&f.status) {
            if (300..400).contains(&f.status) {
                self.log(
                    LogLevel::Info,
                    format!(
                        "{key} redirects to {} outside the allowed domains: not followed",
                        f.location.as_deref().unwrap_or("?")
                    ),
                )
                .await?;
            }
            // Emitted when new or changed; with only a cursor to go by (no URL memory), a
            // failing page is not news.
            let changed = match &known {
                _ if !self.incremental => true,
                Some(k) => k.s != f.status,
                None => self.memory.floor.is_none(),
            };
            if changed && self.wants(None) {
                let record = self.page_record(&job, &f, None, None);
                self.counts.emitted_pages += 1;
                self.emit(None, vec![record]).await?;
            }
            // Remembered with its status (a 404 stays unchanged until it comes back).
            self.memory
                .urls
                .insert(key, seen(&f, None, &self.now.clone()));
            return Ok(());
        }
        let Some(body) = f.body.as_ref() else {
            self.counts.non_html += 1;
            return self
                .log(
                    LogLevel::Info,
                    format!(
                        "{key} skipped: its content type {} is not HTML",
                        f.content_type.as_deref().unwrap_or("?")
                    ),
                )
                .await;
        };
        let hash = content_hash(body);
        if self.incremental && known.as_ref().and_then(|k| k.h.as_deref()) == Some(hash.as_str()) {
            self.counts.same_hash += 1;
            self.memory
                .urls
                .insert(key, seen(&f, Some(hash), &self.now.clone()));
            return Ok(());
        }
        let html = String::from_utf8_lossy(body).into_owned();
        let analysis = analyze(&html, &f.final_url, &self.s.rules);
        if self.wants(None) {
            let record = self.page_record(&job, &f, Some(&analysis.info), Some(&hash));
            self.counts.emitted_pages += 1;
            self.emit(None, vec![record]).await?;
        }
        if !analysis.incomplete.is_empty() {
            self.counts.incomplete += analysis.incomplete.len() as u64;
            let mut by_field: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
            for (i, _, field) in &analysis.incomplete {
                *by_field
                    .entry((self.s.rules[*i].name.as_str(), field.as_str()))
                    .or_default() += 1;
            }
            for ((stream, field), n) in by_field {
                self.log(
                    LogLevel::Warn,
                    format!(
                        "{key}: {n} {stream} record(s) left out: the required field \"{field}\" is missing or does not read as its type"
                    ),
                )
                .await?;
            }
        }
        for (i, mut records) in analysis.records {
            for r in &mut records {
                r["fetched_at"] = json!(self.now);
            }
            self.emit(Some(i), records).await?;
        }
        if !analysis.info.nofollow {
            for link in analysis.info.links {
                self.enqueue(link, job.depth + 1, None);
            }
        }
        for next in analysis.next_pages {
            self.enqueue(next, job.depth, None);
        }
        // A page with records left out keeps no hash: the next sync reads it again even when
        // a sitemap's lastmod says it has not changed.
        let hash = analysis.incomplete.is_empty().then_some(hash);
        self.memory
            .urls
            .insert(key, seen(&f, hash, &self.now.clone()));
        Ok(())
    }

    /// The state blob: the remembered URLs (capped, most recent kept) and, unless the crawl is
    /// done, the frontier.
    fn blob(&self, frontier: Option<Vec<(String, u32)>>) -> Value {
        let mut urls: Vec<(&String, &Seen)> = self.memory.urls.iter().collect();
        if urls.len() > self.s.max_state {
            urls.sort_by(|a, b| b.1.t.cmp(&a.1.t).then(a.0.cmp(b.0)));
            urls.truncate(self.s.max_state);
        }
        let urls: Map<String, Value> = urls
            .into_iter()
            .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
            .collect();
        let mut blob = json!({"cursor": self.now, "urls": urls});
        if let Some(f) = frontier {
            blob["frontier"] = json!(f.into_iter().take(MAX_FRONTIER).collect::<Vec<_>>());
        }
        blob
    }

    async fn checkpoint(&mut self, frontier: Option<Vec<(String, u32)>>) -> Result<()> {
        let blob = self.blob(frontier);
        for sel in &mut self.selected {
            let records = std::mem::take(&mut sel.pending);
            self.out
                .send(SourceEvent::Checkpoint(Checkpoint {
                    seq: 0,
                    stream: sel.descriptor.clone(),
                    state: blob.clone(),
                    records,
                }))
                .await?;
        }
        self.since_checkpoint = 0;
        Ok(())
    }
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
                && intake::state::parse_datetime(&k.t).is_some_and(|t| t >= lastmod)
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

/// `check`: every start URL allowed and reachable.
pub(crate) async fn check(s: &Settings) -> Result<()> {
    let client = s.client()?;
    for st in s.starts.iter().chain(&s.sitemaps) {
        check_address(s, st)
            .await
            .map_err(|e| Error::config(format!("{st}: {e}")))?;
        let mut robots = st.clone();
        robots.set_path("/robots.txt");
        robots.set_query(None);
        client
            .get(robots)
            .timeout(s.timeout)
            .send()
            .await
            .map_err(|e| {
                Error::config(format!(
                    "cannot reach {}: {}",
                    st.host_str().unwrap_or_default(),
                    e.without_url()
                ))
            })?;
        let answer = client
            .get(st.clone())
            .timeout(s.timeout)
            .send()
            .await
            .map_err(|e| Error::config(format!("cannot fetch {st}: {}", e.without_url())))?;
        let status = answer.status().as_u16();
        if matches!(status, 401 | 403 | 407) {
            return Err(Error::config(format!(
                "{st} answered HTTP {status}: the site refuses the crawler (it may need credentials, or block the user agent \"{}\")",
                s.agent
            )));
        }
    }
    Ok(())
}

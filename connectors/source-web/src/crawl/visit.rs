//! Visiting a URL: robots, sitemaps, the fetch, the page's records and links, checkpoints.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use intake::source::{Checkpoint, LogLevel};
use intake::{Record, RecordBatch, Result, SourceEvent};
use serde_json::{Map, Value, json};
use url::Url;

use super::{Crawl, Job, MAX_FRONTIER, MAX_SITEMAPS};
use crate::client::{Fetched, fetch, host_key};
use crate::extract::analyze;
use crate::memory::Seen;
use crate::robots::Robots;
use crate::urls::{content_hash, normalize};

impl Crawl<'_> {
    pub(crate) fn enqueue(&mut self, url: Url, depth: u32, lastmod: Option<DateTime<Utc>>) {
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
    pub(crate) async fn robots_for(&mut self, url: &Url) -> Result<Robots> {
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

    pub(crate) async fn log(&self, level: LogLevel, message: String) -> Result<()> {
        self.out.send(SourceEvent::Log(level, message)).await
    }

    pub(crate) async fn sitemaps(&mut self) -> Result<()> {
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

    pub(crate) async fn emit(&mut self, rule: Option<usize>, values: Vec<Value>) -> Result<()> {
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

    pub(crate) fn wants(&self, rule: Option<usize>) -> bool {
        self.selected.iter().any(|s| s.rule == rule)
    }

    pub(crate) fn page_record(
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

    pub(crate) async fn handle(
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
    pub(crate) fn blob(&self, frontier: Option<Vec<(String, u32)>>) -> Value {
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

    pub(crate) async fn checkpoint(&mut self, frontier: Option<Vec<(String, u32)>>) -> Result<()> {
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

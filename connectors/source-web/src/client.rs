//! The web's client: per-host pacing, the internal-address guard, one page's fetch with
//! conditional requests and retries, and the connection check.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use intake::http::Exchange;
use intake::http::reqwest::{self, StatusCode, header};
use intake::{Error, Result};
use url::Url;

use crate::memory::Seen;
use crate::settings::Settings;
use crate::urls::is_internal;

/// Attempts per page for 429, 5xx and network failures.
pub(crate) const ATTEMPTS: u32 = 3;

pub(crate) struct Fetched {
    pub(crate) status: u16,
    pub(crate) final_url: Url,
    pub(crate) etag: Option<String>,
    pub(crate) last_modified: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) location: Option<String>,
}

/// Per-host pacing: each host's next free slot, reserved when a request is dispatched.
#[derive(Default)]
pub(crate) struct Pacer {
    pub(crate) next: HashMap<String, tokio::time::Instant>,
}

impl Pacer {
    pub(crate) fn reserve(&mut self, host: &str, interval: Duration) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let slot = self.next.get(host).copied().unwrap_or(now).max(now);
        self.next.insert(host.to_string(), slot + interval);
        slot
    }
}

pub(crate) fn host_key(u: &Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port_or_known_default().unwrap_or(0)
    )
}

pub(crate) fn http_date(t: &DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Refuses hosts that resolve to internal addresses (unless allowed).
pub(crate) async fn check_address(s: &Settings, url: &Url) -> std::result::Result<(), String> {
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
pub(crate) async fn fetch(
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
        let request = match req.build() {
            Ok(r) => r,
            Err(e) => return Err(format!("cannot build the request: {}", e.without_url())),
        };
        // The headers sent, kept only while a cassette is recorded (see `record`).
        let sent = Exchange::recording().then(|| request.headers().clone());
        let response = match client.execute(request).await {
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
        let answered = sent.as_ref().map(|_| response.headers().clone());
        let record = |body: &[u8]| {
            if let (Some(sent), Some(answered)) = (&sent, &answered) {
                record(url, sent, status.as_u16(), answered, body);
            }
        };
        if !status.is_success() {
            record(&[]);
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
            // The caller reports the content type; the body is not read (nor recorded).
            record(&[]);
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
        record(&body);
        f.body = Some(body);
        return Ok(f);
    }
}

/// Hands a completed exchange to the cassette being recorded (`INTAKE_RECORD`): the crawler
/// has a client of its own (its redirect policy, its body cap), not intake's, which records
/// by itself. A redirect followed is recorded as the URL asked for and the final answer.
fn record(
    url: &Url,
    sent: &header::HeaderMap,
    status: u16,
    answered: &header::HeaderMap,
    body: &[u8],
) {
    Exchange {
        method: "GET",
        url,
        request_headers: sent,
        request_body: None,
        status,
        response_headers: answered,
        response_body: body,
    }
    .record();
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
        probe(&client, s, &robots).await.map_err(|e| {
            Error::config(format!(
                "cannot reach {}: {}",
                st.host_str().unwrap_or_default(),
                e.without_url()
            ))
        })?;
        let status = probe(&client, s, st)
            .await
            .map_err(|e| Error::config(format!("cannot fetch {st}: {}", e.without_url())))?;
        if matches!(status, 401 | 403 | 407) {
            return Err(Error::config(format!(
                "{st} answered HTTP {status}: the site refuses the crawler (it may need credentials, or block the user agent \"{}\")",
                s.agent
            )));
        }
    }
    Ok(())
}

/// One unpaced GET whose status is all `check` needs (the body is not read). Recorded like
/// every page, so a cassette's replay answers the crawl after it as the recording did.
async fn probe(client: &reqwest::Client, s: &Settings, url: &Url) -> reqwest::Result<u16> {
    let request = client.get(url.clone()).timeout(s.timeout).build()?;
    let sent = Exchange::recording().then(|| request.headers().clone());
    let answer = client.execute(request).await?;
    let status = answer.status().as_u16();
    if let Some(sent) = &sent {
        record(url, sent, status, answer.headers(), &[]);
    }
    Ok(status)
}

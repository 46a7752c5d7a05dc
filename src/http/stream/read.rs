//! Reading one partition: requests built from templates, pages parsed and handed on as soon
//! as they are read, the paginator asked for the next, a repeated page caught.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::Utc;
use futures::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Request, Url};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::instrument::WithSubscriber;

use super::{Body, Def, HttpStream, RequestVars};
use crate::error::{Error, Result};
use crate::http::paginate::{PageInfo, PageRequest};
use crate::http::response::extract;
use crate::http::template::{Escape, Vars, render, render_json};
use crate::record::Record;
use crate::source::{Page, PageStream, Partition, PartitionEnd, ReadRequest, Stream};

impl HttpStream {
    pub(super) async fn first_records(&self) -> Result<Vec<Record>> {
        let partition = Stream::partitions(self)
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(Partition::whole);
        let mut pages = self
            .clone()
            .max_pages(1)
            .read_owned(ReadRequest::full_refresh(&self.def.name, partition));
        match pages.next().await {
            Some(page) => Ok(page?.records),
            None => Ok(Vec::new()),
        }
    }

    pub(super) fn read_owned(self, request: ReadRequest) -> PageStream<'static> {
        let def = self.def;
        let (tx, rx) = mpsc::channel::<Result<Page>>(1);
        // The task logs where its caller logs.
        let task = tokio::spawn(
            async move {
                if let Err(e) = produce(&def, request, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            }
            .with_current_subscriber(),
        );
        futures::stream::unfold(
            (rx, Some(AbortOnDrop(task))),
            |(mut rx, mut task)| async move {
                if let Some(item) = rx.recv().await {
                    return Some((item, (rx, task)));
                }
                // The producer is done; a panic must not look like the end of the data.
                let handle = task.take()?;
                match handle.join().await {
                    Err(e) if e.is_panic() => Some((
                        Err(Error::system("the HTTP stream's reader panicked")),
                        (rx, None),
                    )),
                    _ => None,
                }
            },
        )
        .boxed()
    }
}

pub(super) struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    pub(super) async fn join(mut self) -> std::result::Result<(), tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads one partition page by page, sending each page as soon as it is parsed.
pub(super) async fn produce(
    def: &Def,
    request: ReadRequest,
    tx: &mpsc::Sender<Result<Page>>,
) -> Result<()> {
    let ctx = request.context.clone();
    let partition = request.partition.key().clone();
    let mut vars_map = (*def.api.vars).clone();
    vars_map.extend(def.vars.clone());
    let vars = Vars {
        cursor: request.start.as_ref(),
        partition: &partition,
        vars: &vars_map,
        now: Utc::now(),
    };
    let path = render(&def.path, &vars, Escape::PathSegment)?.ok_or_else(|| {
        Error::system(format!(
            "the path \"{}\" names {{cursor}}, which has no value on a full read; put the cursor in a query parameter",
            def.path
        ))
    })?;
    let base_url = def.api.url(&path)?;
    let mut base_query = Vec::with_capacity(def.query.len());
    for (name, template) in &def.query {
        if let Some(v) = render(template, &vars, Escape::None)? {
            base_query.push((name.clone(), v));
        }
    }
    let body = match &def.body {
        None => None,
        Some(Body::Template(t)) => render_json(t, &vars)?,
        Some(Body::With(f)) => Some(f(&RequestVars {
            cursor: request.start.as_ref(),
            partition: &partition,
        })),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &def.headers {
        let rendered = render(value, &vars, Escape::None)?.unwrap_or_default();
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&rendered),
        ) else {
            return Err(Error::system(format!(
                "the header \"{name}\" is not a valid HTTP header"
            )));
        };
        headers.insert(n, v);
    }
    let pointers = def.paginator.pointers();
    let mut current = match request.resume {
        Some(token) => serde_json::from_value::<PageRequest>(token).map_err(|e| {
            Error::system(format!(
                "the saved resume token of stream \"{}\" is not one this stream wrote ({e}); clear the stream's state to start over",
                def.name
            ))
        })?,
        None => def.paginator.first(),
    };
    let mut seen_requests: HashSet<String> = HashSet::new();
    seen_requests.insert(serde_json::to_string(&current).unwrap_or_default());
    let mut seen_pages: HashSet<u64> = HashSet::new();
    let (mut pages, mut records_total) = (0u64, 0u64);
    loop {
        let req = build_request(
            def,
            &base_url,
            &base_query,
            &headers,
            body.as_ref(),
            &current,
        )?;
        let url = req.url().clone();
        let (extracted, response_headers) = def
            .api
            .send_with(req, def.rate_class.as_deref(), &ctx, |response| {
                response.expect_json()?;
                let e = extract(&response.body, &def.records_at, &pointers)?;
                Ok((e, response.headers.clone()))
            })
            .await?;
        pages += 1;
        let raw_count = extracted.records.len();
        if !extracted.records_found {
            tracing::debug!(
                "stream \"{}\": page {pages} has no records at {}",
                def.name,
                def.records_at
            );
        }
        let mut records = to_records(def, extracted.records, pages, &partition)?;
        if !records.is_empty() {
            // The same records under the same paging values (the next cursor, the links, the
            // totals) mean the API ignores the paging parameter; the same records with paging
            // that moves on are an API that legitimately repeats rows.
            let fingerprint = fingerprint(&records, &extracted.values);
            if !seen_pages.insert(fingerprint) {
                return Err(Error::system(format!(
                    "stream \"{}\": page {pages} ({}) repeats the records of an earlier page; the API ignores the paging parameter, stopping instead of reading the same page forever",
                    def.name,
                    def.api.redact_text(&current.describe())
                )));
            }
        }
        let mut next = def.paginator.next(
            &current,
            &PageInfo {
                values: &extracted.values,
                headers: &response_headers,
                records: raw_count,
                url: &url,
            },
        )?;
        // A page without its records (absent or null) that still names a next page is broken,
        // not empty: taking it for empty would skip its records and read on.
        if (!extracted.records_found || extracted.records_null) && next.is_some() {
            return Err(Error::system(format!(
                "stream \"{}\": page {pages} has no records at {} (absent or null) but names a next page; refusing it rather than skipping its records",
                def.name, def.records_at
            )));
        }
        records_total += records.len() as u64;
        // The paginator's own end, not a development limit's.
        let last = next.is_none();
        // A development limit that stops the read before its end says so: the read driver
        // must not take the partition for read to its end (its cursor would pass records
        // never read, an overwrite would swap a sample in).
        if let Some(max) = def.max_records
            && records_total >= max
        {
            let over = (records_total - max) as usize;
            records.truncate(records.len() - over);
            if over > 0 || next.is_some() {
                ctx.end_early(PartitionEnd::Limited(format!(
                    "stream \"{}\": stopped at max_records ({max}); the read is not complete, so its cursor does not advance and an overwrite keeps the old data",
                    def.name
                )));
            }
            next = None;
        }
        if let Some(max) = def.max_pages
            && pages >= max
        {
            if next.is_some() {
                ctx.end_early(PartitionEnd::Limited(format!(
                    "stream \"{}\": stopped at max_pages ({max}); the read is not complete, so its cursor does not advance and an overwrite keeps the old data",
                    def.name
                )));
            }
            next = None;
        }
        if let Some(n) = &next
            && !seen_requests.insert(serde_json::to_string(n).unwrap_or_default())
        {
            return Err(Error::system(format!(
                "stream \"{}\": the API sent the pagination cursor {} a second time (after page {pages}); stopping instead of syncing forever",
                def.name,
                def.api.redact_text(&n.describe())
            )));
        }
        let resume = match &next {
            Some(n) => Some(
                serde_json::to_value(n)
                    .map_err(|e| Error::system(format!("serializing the resume token: {e}")))?,
            ),
            None => None,
        };
        let page = Page {
            records,
            resume,
            last,
        };
        if tx.send(Ok(page)).await.is_err() {
            return Ok(());
        }
        match next {
            Some(n) => current = n,
            None => return Ok(()),
        }
    }
}

pub(super) fn build_request(
    def: &Def,
    base_url: &Url,
    base_query: &[(String, String)],
    headers: &HeaderMap,
    body: Option<&Value>,
    page: &PageRequest,
) -> Result<Request> {
    let url = match &page.url {
        Some(next) => def.api.url(next)?,
        None => {
            let mut url = base_url.clone();
            let overridden = |k: &str| page.query.iter().any(|(q, _)| q == k);
            let pairs: Vec<&(String, String)> = base_query
                .iter()
                .filter(|(k, _)| !overridden(k))
                .chain(page.query.iter())
                .collect();
            if !pairs.is_empty() {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            url
        }
    };
    let mut request = Request::new(def.method.clone(), url);
    *request.headers_mut() = headers.clone();
    let body = match (body, page.body.is_empty()) {
        (None, true) => None,
        (body, _) => {
            let mut b = body.cloned().unwrap_or_else(|| Value::Object(Map::new()));
            for (pointer, value) in &page.body {
                crate::spec::set_pointer(&mut b, pointer, value.clone())?;
            }
            Some(b)
        }
    };
    if let Some(b) = body {
        let bytes = serde_json::to_vec(&b)
            .map_err(|e| Error::system(format!("serializing the request body: {e}")))?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        *request.body_mut() = Some(bytes.into());
    }
    Ok(request)
}

pub(super) fn to_records(
    def: &Def,
    raw: Vec<Box<RawValue>>,
    page: u64,
    partition: &Value,
) -> Result<Vec<Record>> {
    let context = |e: Error| e.context(format!("stream \"{}\", page {page}", def.name));
    match (&def.transform, &def.expand) {
        (None, None) => raw
            .into_iter()
            .map(Record::from_raw)
            .collect::<Result<Vec<_>>>()
            .map_err(context),
        (transform, expand) => {
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                let value: Value = serde_json::from_str(r.get())
                    .map_err(|e| context(Error::system(format!("record JSON: {e}"))))?;
                let value = match transform {
                    Some(t) => match t(value).map_err(context)? {
                        Some(v) => v,
                        None => continue,
                    },
                    None => value,
                };
                match expand {
                    Some(x) => {
                        for v in x(value, partition).map_err(context)? {
                            out.push(Record::from_value(&v).map_err(context)?);
                        }
                    }
                    None => out.push(Record::from_value(&value).map_err(context)?),
                }
            }
            Ok(out)
        }
    }
}

/// Identifies a page by its first and last records, its size and the paging values it carried.
pub(super) fn fingerprint(records: &[Record], paging: &[Option<Box<RawValue>>]) -> u64 {
    let mut h = DefaultHasher::new();
    records.len().hash(&mut h);
    if let (Some(first), Some(last)) = (records.first(), records.last()) {
        first.json().hash(&mut h);
        last.json().hash(&mut h);
    }
    for value in paging {
        value.as_ref().map(|v| v.get()).hash(&mut h);
    }
    h.finish()
}

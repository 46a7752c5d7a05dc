//! [`Cassette`]: HTTP exchanges recorded once (see [`crate::http::Recording`]) and replayed
//! offline as a [`MockApi`], so the acceptance suite and a connector's own tests run against
//! what the real API answered, with the mock's faults, limits and log on top.
//!
//! A cassette is a folder of JSON files, one per exchange, in recording order: plain,
//! reviewable and diff-friendly. Requests are matched on method, path, query and body (the
//! fields a paginator or cursor sets); headers are not matched, and a recorded placeholder
//! (`<<secret:/api_key>>`, `<<redacted>>`) matches any value, so the replaying config's test
//! secrets stand in for the recorded ones. The n-th request of a kind gets the answer the
//! n-th one got in the recording (the last one once the recording runs out), so data that
//! changed between two reads of the recording changes in the replay too. A request matching
//! nothing is answered 404 with the nearest recorded request, and listed in
//! [`Replay::unmatched`]. Every origin the recording talked to, written in a response (an
//! absolute next-page link, a sitemap's `<loc>`, a `Location` header), is pointed at the
//! replay, as the URLs in the config are ([`Replay::point_config`]), so a replay never
//! reaches the recorded host.

mod matching;
mod origins;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::mock::MockApi;
use crate::error::{Error, Result};
use crate::http::record::request_key;
use matching::{Incoming, nearest, request_matches};
use origins::Origins;

/// A recorded cassette, loaded; see the module docs.
#[derive(Debug, Clone)]
pub struct Cassette {
    dir: PathBuf,
    groups: Vec<Group>,
    exchanges: usize,
}

/// The recorded answers to one request, by the occurrence each starts serving at.
#[derive(Debug, Clone)]
struct Group {
    request: Value,
    /// (occurrence, response, file), in occurrence order.
    answers: Vec<(usize, Value, String)>,
}

impl Cassette {
    /// Loads every `*.json` exchange in `dir`, in file-name (recording) order. A missing
    /// folder, an empty one or a malformed file is a config error naming it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let unreadable = |e: std::io::Error| {
            Error::config(format!(
                "cannot read the cassette {}: {e}; record it with INTAKE_RECORD set",
                dir.display()
            ))
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::config(format!(
                "the cassette {} holds no exchange (*.json); record it with INTAKE_RECORD set",
                dir.display()
            )));
        }
        let mut groups: Vec<Group> = Vec::new();
        for path in &files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(path).map_err(unreadable)?;
            let doc: Value = serde_json::from_str(&text).map_err(|e| {
                Error::config(format!(
                    "the cassette file {} is not JSON: {e}",
                    path.display()
                ))
            })?;
            let (Some(request), Some(response)) = (doc.get("request"), doc.get("response")) else {
                return Err(Error::config(format!(
                    "the cassette file {} needs a \"request\" and a \"response\"",
                    path.display()
                )));
            };
            let occurrence = doc.get("occurrence").and_then(Value::as_u64).unwrap_or(0) as usize;
            let key = request_key(request);
            let answer = (occurrence, response.clone(), name);
            match groups.iter_mut().find(|g| request_key(&g.request) == key) {
                Some(g) => g.answers.push(answer),
                None => groups.push(Group {
                    request: request.clone(),
                    answers: vec![answer],
                }),
            }
        }
        for g in &mut groups {
            g.answers.sort_by_key(|a| a.0);
        }
        Ok(Cassette {
            dir,
            groups,
            exchanges: files.len(),
        })
    }

    /// The folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many exchange files it holds.
    pub fn len(&self) -> usize {
        self.exchanges
    }

    /// Whether it holds no exchange (never true for a loaded cassette).
    pub fn is_empty(&self) -> bool {
        self.exchanges == 0
    }

    /// Serves the cassette on a fresh [`MockApi`].
    pub async fn replay(&self) -> Replay {
        let api = MockApi::start().await;
        let unmatched = Arc::new(Mutex::new(Vec::new()));
        // The answers, with every origin the recording talked to pointed at this replay.
        let origins = Origins::new(
            self.groups
                .iter()
                .filter_map(|g| g.request.get("origin").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
            &api.uri(),
        );
        let mut groups = self.groups.clone();
        for g in &mut groups {
            for answer in &mut g.answers {
                answer.1 = origins.response(&answer.1);
            }
        }
        let groups = Arc::new(groups);
        let served: Arc<Vec<AtomicUsize>> =
            Arc::new(self.groups.iter().map(|_| AtomicUsize::new(0)).collect());
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] {
            let (groups, served, unmatched) = (groups.clone(), served.clone(), unmatched.clone());
            api.handle(method, "^/.*$", move |req: &Request| {
                answer(req, &groups, &served, &unmatched)
            })
            .await;
        }
        Replay {
            api,
            unmatched,
            served,
        }
    }
}

/// The recorded answer to `req`, or a 404 naming the nearest recorded request.
fn answer(
    req: &Request,
    groups: &[Group],
    served: &[AtomicUsize],
    unmatched: &Mutex<Vec<String>>,
) -> ResponseTemplate {
    let incoming = Incoming::of(req);
    let Some(i) = groups
        .iter()
        .position(|g| request_matches(&g.request, &incoming))
    else {
        let near = nearest(groups.iter().map(|g| &g.request), &incoming);
        let message = match &near {
            Some(n) => format!(
                "{}: no recorded exchange matches; nearest: {n}",
                incoming.line()
            ),
            None => format!("{}: no recorded exchange matches", incoming.line()),
        };
        unmatched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        return ResponseTemplate::new(404)
            .set_body_json(json!({"error": "intake cassette", "message": message}));
    };
    let n = served[i].fetch_add(1, Ordering::Relaxed);
    let answers = &groups[i].answers;
    let (_, response, _) = answers
        .iter()
        .rev()
        .find(|a| a.0 <= n)
        .unwrap_or(&answers[0]);
    template(response)
}

/// A recorded response as the mock's answer.
fn template(response: &Value) -> ResponseTemplate {
    let status = response
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let mut t = ResponseTemplate::new(status);
    let mut content_type = None;
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let Some(value) = value.as_str() else {
                continue;
            };
            if name == "content-type" {
                content_type = Some(value.to_string());
            } else {
                t = t.insert_header(name.as_str(), value);
            }
        }
    }
    if let Some(json) = response.get("json") {
        let body = serde_json::to_vec(json).unwrap_or_default();
        t = t.set_body_raw(body, content_type.as_deref().unwrap_or("application/json"));
    } else if let Some(text) = response.get("text").and_then(Value::as_str) {
        t = t.set_body_raw(
            text.to_string(),
            content_type.as_deref().unwrap_or("text/plain"),
        );
    } else if let Some(bytes) = response
        .get("base64")
        .and_then(Value::as_str)
        .and_then(crate::http::secret_forms::base64_decode)
    {
        t = t.set_body_raw(
            bytes,
            content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
    } else if let Some(content_type) = content_type {
        // A body the client did not read (a PDF a crawler skips by its type): the type
        // still answers, so the client skips it again.
        t = t.insert_header("content-type", content_type.as_str());
    }
    t
}

/// A cassette being served.
pub struct Replay {
    api: MockApi,
    unmatched: Arc<Mutex<Vec<String>>>,
    /// How often each recorded request has been answered: where the replay is in the
    /// recording.
    served: Arc<Vec<AtomicUsize>>,
}

impl Replay {
    /// The mock serving it (inject faults, set limits, read its log).
    pub fn api(&self) -> &MockApi {
        &self.api
    }

    /// How many requests the replay answered (faults included).
    pub fn requests(&self) -> u64 {
        self.api.requests()
    }

    /// Where the replay is in the recording (how often each recorded request was answered).
    pub(crate) fn position(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }

    /// Goes back to `position`: the requests answered since count as never made, so a check
    /// the recording did not run (one that injects faults) does not move the replay on.
    pub(crate) fn rewind(&self, position: &[usize]) {
        for (n, at) in self.served.iter().zip(position) {
            n.store(*at, Ordering::Relaxed);
        }
    }

    /// The requests no recorded exchange matched, each with the nearest recorded one.
    pub fn unmatched(&self) -> Vec<String> {
        self.unmatched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `config` with every http(s) URL in it pointed at the replay: the connector's base URL
    /// (and a token URL) must come from its config for a cassette to replay.
    pub fn point_config(&self, config: &Value) -> Value {
        let base = self.api.uri();
        let mut config = config.clone();
        repoint(&mut config, &base);
        config
    }
}

impl std::ops::Deref for Replay {
    type Target = MockApi;
    fn deref(&self) -> &MockApi {
        &self.api
    }
}

fn repoint(v: &mut Value, base: &str) {
    match v {
        // A JSON document held in a string (a service account's key file): its URLs (the
        // token URI) are pointed at the replay too, and it is written back as a string.
        Value::String(s) if s.trim_start().starts_with('{') => {
            if let Ok(mut doc) = serde_json::from_str::<Value>(s) {
                repoint(&mut doc, base);
                *s = doc.to_string();
            }
        }
        Value::String(s) => {
            if let Ok(url) = url::Url::parse(s)
                && matches!(url.scheme(), "http" | "https")
                && url.has_host()
            {
                // What follows the origin, as written (no slash added to a bare origin).
                let origin = url.origin().ascii_serialization();
                let rest = match s.get(..origin.len()) {
                    Some(head) if head.eq_ignore_ascii_case(&origin) => {
                        s[origin.len()..].to_string()
                    }
                    _ => url[url::Position::BeforePath..].to_string(),
                };
                *s = format!("{base}{rest}");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| repoint(i, base)),
        Value::Object(map) => map.values_mut().for_each(|i| repoint(i, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::repoint;
    use serde_json::json;

    #[test]
    fn urls_are_pointed_at_the_replay_even_inside_a_json_document_string() {
        let key = json!({"token_uri": "https://oauth2.googleapis.com/token", "type": "sa"});
        let mut config = json!({
            "base_url": "https://api.example.com/v3",
            "credentials": {"key": key.to_string()},
            "name": "not a url",
        });
        repoint(&mut config, "http://127.0.0.1:9");
        assert_eq!(config["base_url"], "http://127.0.0.1:9/v3");
        assert_eq!(config["name"], "not a url");
        let key: serde_json::Value =
            serde_json::from_str(config["credentials"]["key"].as_str().unwrap()).unwrap();
        assert_eq!(key["token_uri"], "http://127.0.0.1:9/token");
        assert_eq!(key["type"], "sa");
    }
}

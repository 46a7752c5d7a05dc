//! Recording a connector's HTTP exchanges into a cassette: a folder of plain JSON files, one
//! per exchange, that [`crate::testing::Cassette`] replays offline.
//!
//! The recorder sits in intake's own client (the innermost layer, after auth), so it sees
//! every exchange a connector makes — token refreshes included — without a proxy. It is
//! switched on by `INTAKE_RECORD=<folder>` for a connector binary or `intake sync`, or by
//! [`Recording::start`] in a test. Secrets never reach a file: every form of every secret in
//! the config (see `secret_forms`) is replaced by a stable placeholder naming its field
//! (`<<secret:/credentials/access_token>>`), credential headers and cookies become
//! `<<redacted>>`, and JSON or form fields named like credentials (`access_token`,
//! `refresh_token`, `client_secret`, `assertion`, `password`...) are redacted by name, so a
//! token the API issued (not in the config) is not written either.
//!
//! Invariants: a file is written only after its exchange completed (status and whole body);
//! a response identical to the one the same request got last time is not written again (the
//! file carries the occurrence it starts serving at, so a replay serves each request the
//! answer it got in the recording, in order).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use super::secret_forms::{config_secrets, secret_forms};
use crate::error::{Error, Result};
use crate::spec::ConnectorSpec;

/// The environment variable that turns recording on: the folder to record into.
pub const RECORD_ENV: &str = "INTAKE_RECORD";

/// The placeholder written for a credential header or a credential-named field.
pub const REDACTED: &str = "<<redacted>>";

/// Request headers never recorded: transport details that say nothing about the API call.
const NOISE_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "user-agent",
    "accept-encoding",
    "connection",
    "date",
    "transfer-encoding",
    "keep-alive",
    "server",
    "vary",
];

/// Headers that carry credentials, whatever their value.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
];

/// JSON or form fields that carry credentials an API issues or a client sends.
const CREDENTIAL_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "assertion",
    "client_assertion",
    "password",
    "api_key",
    "apikey",
    "private_key",
    "token",
    "code",
];

static ANY: AtomicBool = AtomicBool::new(false);
static ACTIVE: RwLock<Vec<Arc<Recorder>>> = RwLock::new(Vec::new());

/// A recording in progress; dropping it stops it.
#[must_use = "recording stops when the guard is dropped"]
pub struct Recording {
    recorder: Arc<Recorder>,
}

struct Recorder {
    dir: PathBuf,
    /// Only exchanges with this origin (`http://127.0.0.1:8080`) are recorded; all without.
    origin: Option<String>,
    /// `(placeholder, form)`, longest form first so a form inside another is not cut.
    forms: Vec<(String, String)>,
    written: AtomicUsize,
    /// Per request: how often it was seen, and the last response written for it.
    seen: Mutex<HashMap<String, (usize, Value)>>,
    /// The first write error; a recording that cannot write says so at the end.
    failed: Mutex<Option<String>>,
}

impl Recording {
    /// Records into `dir` (created; its earlier `*.json` exchanges removed), replacing the
    /// secrets `config` holds under `spec`.
    pub fn start(dir: impl AsRef<Path>, spec: &ConnectorSpec, config: &Value) -> Result<Self> {
        Self::with_secrets(dir, &config_secrets(spec, config), None)
    }

    /// Records into `dir` only the exchanges with `origin` (`http://127.0.0.1:8080`): a
    /// test recording one API while others run in the same process.
    pub fn start_for_origin(
        dir: impl AsRef<Path>,
        spec: &ConnectorSpec,
        config: &Value,
        origin: &str,
    ) -> Result<Self> {
        Self::with_secrets(
            dir,
            &config_secrets(spec, config),
            Some(origin.trim_end_matches('/').to_string()),
        )
    }

    /// Starts recording when `INTAKE_RECORD` names a folder; `None` otherwise.
    pub fn from_env(spec: &ConnectorSpec, config: &Value) -> Result<Option<Self>> {
        match std::env::var_os(RECORD_ENV) {
            Some(dir) if !dir.is_empty() => Self::start(PathBuf::from(dir), spec, config).map(Some),
            _ => Ok(None),
        }
    }

    fn with_secrets(
        dir: impl AsRef<Path>,
        secrets: &[(String, String)],
        origin: Option<String>,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let failed = |e: std::io::Error| {
            Error::config(format!(
                "cannot record into {} ({RECORD_ENV}): {e}",
                dir.display()
            ))
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        for entry in std::fs::read_dir(&dir).map_err(failed)? {
            let path = entry.map_err(failed)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                std::fs::remove_file(&path).map_err(failed)?;
            }
        }
        let mut forms: Vec<(String, String)> = secret_forms(secrets)
            .into_iter()
            .map(|(pointer, form)| (format!("<<secret:{pointer}>>"), form))
            .collect();
        forms.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.cmp(b)));
        let recorder = Arc::new(Recorder {
            dir,
            origin,
            forms,
            written: AtomicUsize::new(0),
            seen: Mutex::new(HashMap::new()),
            failed: Mutex::new(None),
        });
        ACTIVE
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(recorder.clone());
        ANY.store(true, Ordering::Release);
        Ok(Recording { recorder })
    }

    /// The folder recorded into.
    pub fn dir(&self) -> &Path {
        &self.recorder.dir
    }

    /// How many exchange files were written.
    pub fn written(&self) -> usize {
        self.recorder.written.load(Ordering::Acquire)
    }

    /// Stops recording; an error if a file could not be written.
    pub fn finish(self) -> Result<usize> {
        let written = self.written();
        let failed = self
            .recorder
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(self);
        match failed {
            Some(e) => Err(Error::system(e)),
            None => Ok(written),
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let mut active = ACTIVE.write().unwrap_or_else(|e| e.into_inner());
        active.retain(|r| !Arc::ptr_eq(r, &self.recorder));
        ANY.store(!active.is_empty(), Ordering::Release);
    }
}

/// One completed exchange, as the client saw it. intake's own client hands every exchange
/// to the active recordings itself; a connector with a client of its own (the web crawler's,
/// with its redirect policy) hands its exchanges over with [`Exchange::record`].
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// The URL asked for, query included.
    pub url: &'a url::Url,
    /// The headers sent (credentials are redacted by name when written).
    pub request_headers: &'a HeaderMap,
    /// The body sent, if any.
    pub request_body: Option<&'a [u8]>,
    /// The status answered.
    pub status: u16,
    /// The headers answered.
    pub response_headers: &'a HeaderMap,
    /// The whole body answered (empty when the client did not read it).
    pub response_body: &'a [u8],
}

impl Exchange<'_> {
    /// Whether any recording is active (one atomic load): a client builds an [`Exchange`]
    /// only then.
    pub fn recording() -> bool {
        ANY.load(Ordering::Acquire)
    }

    /// Hands this completed exchange to every active recording.
    pub fn record(&self) {
        let active = ACTIVE.read().unwrap_or_else(|e| e.into_inner()).clone();
        for recorder in active {
            recorder.record(self);
        }
    }
}

impl Recorder {
    fn record(&self, x: &Exchange<'_>) {
        let origin = x.url.origin().ascii_serialization();
        if self.origin.as_ref().is_some_and(|o| *o != origin) {
            return;
        }
        let content_type = |h: &HeaderMap| {
            h.get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        let query: Vec<Value> = x
            .url
            .query_pairs()
            .map(|(k, v)| json!([k, self.field(&k, &v)]))
            .collect();
        let mut request = Map::new();
        request.insert("method".into(), json!(x.method));
        request.insert("origin".into(), json!(origin));
        request.insert("path".into(), json!(self.text(x.url.path())));
        if !query.is_empty() {
            request.insert("query".into(), Value::Array(query));
        }
        let headers = self.headers(x.request_headers);
        if !headers.is_empty() {
            request.insert("headers".into(), Value::Object(headers));
        }
        if let Some(body) = x.request_body.filter(|b| !b.is_empty()) {
            let (kind, value) = self.body(body, &content_type(x.request_headers));
            request.insert(kind.into(), value);
        }
        let mut response = Map::new();
        response.insert("status".into(), json!(x.status));
        let headers = self.headers(x.response_headers);
        if !headers.is_empty() {
            response.insert("headers".into(), Value::Object(headers));
        }
        if !x.response_body.is_empty() {
            let (kind, value) = self.body(x.response_body, &content_type(x.response_headers));
            response.insert(kind.into(), value);
        }
        let request = Value::Object(request);
        let response = Value::Object(response);
        let key = request_key(&request);
        let occurrence = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let entry = seen.entry(key).or_insert((0, Value::Null));
            let n = entry.0;
            entry.0 += 1;
            if n > 0 && entry.1 == response {
                return; // the same answer as last time: the replay serves it again
            }
            entry.1 = response.clone();
            n
        };
        let doc = json!({"occurrence": occurrence, "request": request, "response": response});
        let seq = self.written.fetch_add(1, Ordering::AcqRel) + 1;
        let name = format!(
            "{seq:05}-{}-{}.json",
            x.method.to_ascii_lowercase(),
            slug(x.url.path())
        );
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(self.dir.join(&name), text) {
            self.failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| format!("writing the cassette file {name}: {e}"));
        }
    }

    /// Every secret form in `text` replaced by its placeholder.
    fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (placeholder, form) in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), placeholder);
            }
        }
        out
    }

    /// A named field's value: redacted when the name is a credential's, else its secrets
    /// replaced.
    fn field(&self, name: &str, value: &str) -> String {
        if CREDENTIAL_FIELDS.contains(&name.to_ascii_lowercase().as_str()) {
            REDACTED.to_string()
        } else {
            self.text(value)
        }
    }

    fn headers(&self, headers: &HeaderMap) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, value) in headers {
            let name = name.as_str().to_ascii_lowercase();
            if NOISE_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let redacted = self.text(&value);
            let value = if CREDENTIAL_HEADERS.contains(&name.as_str()) || redacted != value {
                REDACTED.to_string()
            } else {
                value
            };
            out.insert(name, Value::String(value));
        }
        out
    }

    /// A body as JSON (`"json"`), form pairs (`"form"`), text (`"text"`), redacted, or, when
    /// it is not UTF-8 (a gzipped sitemap, an image), its bytes as `"base64"`: kept byte for
    /// byte, since a lossy decoding would replay a corrupt file. A binary body is not searched
    /// for secrets (an API does not echo credentials inside a compressed file).
    fn body(&self, body: &[u8], content_type: &str) -> (&'static str, Value) {
        if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
            self.json(&mut v);
            return ("json", v);
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return ("base64", Value::String(super::auth::base64(body)));
        };
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<Value> = url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| json!([k, self.field(&k, &v)]))
                .collect();
            return ("form", Value::Array(pairs));
        }
        ("text", Value::String(self.text(text)))
    }

    fn json(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.json(i)),
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    if CREDENTIAL_FIELDS.contains(&k.to_ascii_lowercase().as_str())
                        && item.is_string()
                    {
                        *item = Value::String(REDACTED.into());
                    } else {
                        self.json(item);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What identifies a recorded request: method, path, query and body (headers do not).
pub(crate) fn request_key(request: &Value) -> String {
    let part = |k: &str| request.get(k).cloned().unwrap_or(Value::Null);
    json!([
        part("method"),
        part("path"),
        part("query"),
        part("json"),
        part("form"),
        part("text")
    ])
    .to_string()
}

/// A path as a file-name fragment: `/crm/v3/objects/contacts` -> `crm-v3-objects-contacts`.
fn slug(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    let end = out.char_indices().nth(48).map_or(out.len(), |(i, _)| i);
    match &out[..end] {
        "" => "root".to_string(),
        s => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_short_file_names() {
        assert_eq!(slug("/crm/v3/objects/contacts"), "crm-v3-objects-contacts");
        assert_eq!(slug("/"), "root");
    }
}

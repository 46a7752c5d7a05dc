//! Pointing a recorded response at the replay: every origin the recording talked to
//! (`https://api.hubapi.com`, `http://127.0.0.1:43639`) written in a response (a next-page
//! link, a sitemap's `<loc>`, a `Location` header) becomes the replay's own, so a connector
//! that follows an absolute URL stays on the replay instead of reaching the recorded host.
//!
//! Invariant: only text is rewritten (JSON strings, text bodies, header values, and the text
//! inside a gzipped body, recompressed); any other binary body is served as recorded.

use std::io::{Read, Write};

use serde_json::Value;

use crate::http::base64;
use crate::http::secret_forms::base64_decode;

/// Rewrites recorded origins to one base, longest origin first (so `:8080` is not cut from
/// `:80801`).
pub(super) struct Origins {
    recorded: Vec<String>,
    base: String,
}

impl Origins {
    pub(super) fn new(mut recorded: Vec<String>, base: &str) -> Self {
        let base = base.trim_end_matches('/').to_string();
        recorded.retain(|o| !o.is_empty() && *o != base);
        recorded.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        recorded.dedup();
        Origins { recorded, base }
    }

    fn text(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for origin in &self.recorded {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(origin.as_str()) {
                out = Some(current.replace(origin.as_str(), &self.base));
            }
        }
        out
    }

    /// `response` (a recorded `{"status", "headers", "json" | "text" | "base64"}`) with
    /// every recorded origin in it pointed at the base.
    pub(super) fn response(&self, response: &Value) -> Value {
        let mut out = response.clone();
        if self.recorded.is_empty() {
            return out;
        }
        if let Some(headers) = out.get_mut("headers") {
            self.json(headers);
        }
        if let Some(json) = out.get_mut("json") {
            self.json(json);
        }
        if let Some(Value::String(text)) = out.get_mut("text")
            && let Some(new) = self.text(text)
        {
            *text = new;
        }
        if let Some(Value::String(b64)) = out.get_mut("base64")
            && let Some(new) = base64_decode(b64).and_then(|bytes| self.gzipped(&bytes))
        {
            *b64 = base64(&new);
        }
        out
    }

    fn json(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(new) = self.text(s) {
                    *s = new;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.json(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.json(i)),
            _ => {}
        }
    }

    /// A gzipped text body with the origins rewritten, recompressed; `None` when the bytes
    /// are not gzipped text or name no recorded origin.
    fn gzipped(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return None;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .ok()?;
        let new = self.text(&text)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(new.as_bytes()).ok()?;
        gz.finish().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_headers_and_gzipped_text_point_at_the_replay() {
        let origins = Origins::new(
            vec![
                "http://127.0.0.1:4000".into(),
                "http://127.0.0.1:40001".into(),
            ],
            "http://127.0.0.1:9/",
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"<loc>http://127.0.0.1:40001/a</loc>")
            .unwrap();
        let gzipped = base64(&gz.finish().unwrap());
        let out = origins.response(&json!({
            "status": 200,
            "headers": {"location": "http://127.0.0.1:4000/next"},
            "json": {"paging": {"next": {"link": "http://127.0.0.1:40001/items?after=5"}}, "n": 3},
        }));
        assert_eq!(out["headers"]["location"], "http://127.0.0.1:9/next");
        assert_eq!(
            out["json"]["paging"]["next"]["link"],
            "http://127.0.0.1:9/items?after=5"
        );
        assert_eq!(out["json"]["n"], 3);
        let out = origins.response(&json!({"status": 200, "base64": gzipped}));
        let bytes = base64_decode(out["base64"].as_str().unwrap()).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "<loc>http://127.0.0.1:9/a</loc>");
        // Bytes that are not gzip are served as recorded.
        let raw = json!({"status": 200, "base64": base64(&[0xff, 0xfe, 0x00])});
        assert_eq!(origins.response(&raw), raw);
    }
}

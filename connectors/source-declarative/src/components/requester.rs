//! `HttpRequester`: the request one page needs, built as airbyte-cdk builds it.
//! - the URL is `url_base` joined with `path` (interpolated; a leading `/` dropped, a `/`
//!   added to the base when missing, then joined as `urljoin` does), or the paginator's
//!   `RequestPath` token;
//! - `request_parameters` and `request_headers` have their keys and values interpolated; a
//!   value reading as a Python literal is kept only when it is text or a list (so `"42"` is
//!   sent as written), and a value that renders empty is left out; the paginator's options are
//!   added;
//! - `request_body_json` is a nested mapping, interpolated at every level; `request_body_data`
//!   a mapping sent form-encoded (or a string sent as is);
//! - the method is `GET` (default) or `POST`.
//!
//! Sending goes through intake's HTTP stack (retries, rate limit, auth, error mapping), built
//! once per config from the requester's `url_base` and authenticator.

use intake::http::reqwest::{Method, Request, Url, header};
use serde_json::{Map, Value};

use super::paginator::PageOptions;
use crate::error::{ManifestError, Result};
use crate::interpolation::{Context, Interpolated};

/// A mapping of interpolated keys to interpolated (or literal) values.
#[derive(Debug, Clone, Default)]
struct Options(Vec<(Interpolated, Template)>);

#[derive(Debug, Clone)]
enum Template {
    Text(Interpolated),
    Literal(Value),
    Map(Options),
    List(Vec<Template>),
}

impl Template {
    fn new(v: &Value, path: &str) -> Result<Self> {
        Ok(match v {
            Value::String(s) => Template::Text(Interpolated::new(s, path)?),
            Value::Object(m) => Template::Map(Options::new(m, path)?),
            Value::Array(items) => Template::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Template::new(item, &format!("{path}[{i}]")))
                    .collect::<Result<_>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// A nested body value: every level interpolated, literals read back.
    fn eval_nested(&self, ctx: &Context) -> Result<Value> {
        Ok(match self {
            Template::Text(t) => t.eval(ctx)?,
            Template::Literal(v) => v.clone(),
            Template::Map(m) => Value::Object(m.eval_nested(ctx)?),
            Template::List(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.eval_nested(ctx))
                    .collect::<Result<_>>()?,
            ),
        })
    }
}

impl Options {
    fn new(map: &Map<String, Value>, path: &str) -> Result<Self> {
        map.iter()
            .map(|(k, v)| {
                let here = crate::manifest::path::child(path, k);
                Ok((Interpolated::new(k, &here)?, Template::new(v, &here)?))
            })
            .collect::<Result<_>>()
            .map(Options)
    }

    fn from_field(node: &Map<String, Value>, field: &str, path: &str) -> Result<Self> {
        match node.get(field) {
            None | Some(Value::Null) => Ok(Options::default()),
            Some(Value::Object(m)) => Options::new(m, &format!("{path}.{field}")),
            Some(other) => Err(ManifestError::invalid(
                format!("{path}.{field}"),
                format!("{field} is a mapping, not {other}"),
            )),
        }
    }

    /// Flat options (parameters, headers, form fields): values kept as text or lists, `None`s
    /// left out.
    fn eval_flat(&self, ctx: &Context) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (k, v) in &self.0 {
            let key = k.eval_text(ctx)?;
            let value = match v {
                Template::Text(t) => t.eval_valid(ctx, |v| v.is_string() || v.is_array())?,
                other => other.eval_nested(ctx)?,
            };
            if !value.is_null() {
                out.insert(key, value);
            }
        }
        Ok(out)
    }

    fn eval_nested(&self, ctx: &Context) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for (k, v) in &self.0 {
            out.insert(k.eval_text(ctx)?, v.eval_nested(ctx)?);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Options),
    Data(Options),
    Text(Interpolated),
}

/// An `HttpRequester`.
#[derive(Debug, Clone)]
pub struct Requester {
    url_base: Interpolated,
    path: Interpolated,
    method: Method,
    params: Options,
    headers: Options,
    body: Body,
    node_path: String,
}

/// A request, before intake's stack sends it.
#[derive(Debug)]
pub struct Built {
    /// The request.
    pub request: Request,
    /// The URL as a text, for logs and `intake manifest try`.
    pub url: String,
}

impl Requester {
    /// Builds one from its manifest node.
    pub fn from_node(node: &Map<String, Value>, path: &str) -> Result<Self> {
        let text = |field: &str| -> Result<Interpolated> {
            let v = match node.get(field) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Interpolated::new(&v, &format!("{path}.{field}"))
        };
        if node.get("url").is_some() {
            return Err(ManifestError::Unsupported {
                path: format!("{path}.url"),
                kind: "HttpRequester.url".into(),
                why: Some("use url_base and path".into()),
            });
        }
        let method = match node
            .get("http_method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase()
            .as_str()
        {
            "GET" => Method::GET,
            "POST" => Method::POST,
            other => {
                return Err(ManifestError::invalid(
                    format!("{path}.http_method"),
                    format!("http_method is GET or POST, not {other}"),
                ));
            }
        };
        let body = match (node.get("request_body_json"), node.get("request_body_data")) {
            (Some(Value::Object(m)), None) if !m.is_empty() => {
                Body::Json(Options::new(m, &format!("{path}.request_body_json"))?)
            }
            (None, Some(Value::Object(m))) if !m.is_empty() => {
                Body::Data(Options::new(m, &format!("{path}.request_body_data"))?)
            }
            (None, Some(Value::String(s))) => {
                Body::Text(Interpolated::new(s, &format!("{path}.request_body_data"))?)
            }
            (Some(_), Some(_)) => {
                return Err(ManifestError::invalid(
                    path,
                    "request_body_json and request_body_data cannot both be set",
                ));
            }
            _ => Body::None,
        };
        Ok(Requester {
            url_base: text("url_base")?,
            path: text("path")?,
            method,
            params: Options::from_field(node, "request_parameters", path)?,
            headers: Options::from_field(node, "request_headers", path)?,
            body,
            node_path: path.into(),
        })
    }

    /// The base URL under `ctx` (the config and parameters).
    pub fn url_base(&self, ctx: &Context) -> Result<String> {
        self.url_base.eval_text(ctx)
    }

    /// The request for one page. `ctx` holds config, parameters, stream_slice and
    /// next_page_token; `page` the paginator's options.
    pub fn build(&self, ctx: &Context, page: &PageOptions) -> Result<Built> {
        let base = self.url_base.eval_text(ctx)?;
        let path = match &page.path {
            Some(p) => p.clone(),
            None => self
                .path
                .eval_text(ctx)?
                .trim_start_matches('/')
                .to_string(),
        };
        let url = join_url(&base, &path).map_err(|e| {
            ManifestError::invalid(
                &self.node_path,
                format!("{base:?} and {path:?} do not make a URL: {e}"),
            )
        })?;
        let mut url = url;
        // The requester's own options, then the paginator's and partition router's: a key
        // given twice is an error, as in the CDK.
        let own = PageOptions {
            params: self.params.eval_flat(ctx)?,
            headers: self.headers.eval_flat(ctx)?,
            ..PageOptions::default()
        };
        let page = &own.combine(page.clone())?;
        let params = page.params.clone();
        if !params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &params {
                match v {
                    Value::Array(items) => {
                        for item in items {
                            q.append_pair(k, &crate::interpolation::python_str_of_json(item));
                        }
                    }
                    other => {
                        q.append_pair(k, &crate::interpolation::python_str_of_json(other));
                    }
                }
            }
        }
        let text = url.to_string();
        let mut request = Request::new(self.method.clone(), url);
        for (k, v) in &page.headers {
            let name = header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| {
                ManifestError::invalid(
                    format!("{}.request_headers", self.node_path),
                    format!("{k:?} is not a header name: {e}"),
                )
            })?;
            let value = header::HeaderValue::from_str(&crate::interpolation::python_str_of_json(v))
                .map_err(|e| {
                    ManifestError::invalid(
                        format!("{}.request_headers", self.node_path),
                        format!("the value of {k} is not a header value: {e}"),
                    )
                })?;
            request.headers_mut().insert(name, value);
        }
        let json = |fields: Map<String, Value>, extra: &Map<String, Value>| {
            let mut fields = fields;
            for (k, v) in extra {
                fields.insert(k.clone(), v.clone());
            }
            fields
        };
        match &self.body {
            Body::Json(o) => {
                let fields = json(o.eval_nested(ctx)?, &page.body_json);
                set_json(&mut request, &Value::Object(fields));
            }
            Body::None if !page.body_json.is_empty() => {
                set_json(&mut request, &Value::Object(page.body_json.clone()));
            }
            Body::Data(o) => {
                let fields = json(o.eval_flat(ctx)?, &page.body_data);
                set_form(&mut request, &fields);
            }
            Body::None if !page.body_data.is_empty() => set_form(&mut request, &page.body_data),
            Body::Text(t) => {
                let body = t.eval_text(ctx)?;
                *request.body_mut() = Some(body.into());
            }
            Body::None => {}
        }
        Ok(Built { request, url: text })
    }
}

fn set_json(request: &mut Request, body: &Value) {
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    *request.body_mut() = Some(serde_json::to_vec(body).unwrap_or_default().into());
}

fn set_form(request: &mut Request, fields: &Map<String, Value>) {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, &crate::interpolation::python_str_of_json(v));
    }
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    *request.body_mut() = Some(form.finish().into());
}

/// The CDK's `_join_url`: an empty path is the base; otherwise the base gets a trailing `/`
/// and the path is resolved against it (`urljoin`).
pub fn join_url(base: &str, path: &str) -> std::result::Result<Url, url::ParseError> {
    if path.is_empty() {
        return Url::parse(base);
    }
    let mut base = base.to_string();
    if !base.ends_with('/') {
        base.push('/');
    }
    Url::parse(&base)?.join(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_join_as_the_cdk_joins_them() {
        let j = |b: &str, p: &str| join_url(b, p).unwrap().to_string();
        assert_eq!(
            j("https://example.com/api/", "endpoint"),
            "https://example.com/api/endpoint"
        );
        assert_eq!(
            j("https://example.com/api", "endpoint"),
            "https://example.com/api/endpoint"
        );
        assert_eq!(
            j("https://example.com/api/", ""),
            "https://example.com/api/"
        );
        assert_eq!(
            j("https://example.com/api", "https://other.example.com/x?y=1"),
            "https://other.example.com/x?y=1"
        );
        assert_eq!(
            j("https://example.com/api", "items?limit=5"),
            "https://example.com/api/items?limit=5"
        );
    }

    #[test]
    fn parameters_headers_and_bodies_are_interpolated() {
        let r = Requester::from_node(
            json!({
                "type": "HttpRequester",
                "url_base": "https://{{ config.dc }}.api.example.com/3.0/",
                "path": "/lists/{{ stream_slice.id }}/members",
                "http_method": "POST",
                "request_parameters": {"count": "42", "fields": "{{ parameters.f }}._links", "gone": "{{ config.get('nope') }}", "empty": "{{ config['missing'] }}", "ids": "{{ config.ids }}"},
                "request_headers": {"X-Tenant": "{{ config.dc }}"},
                "request_body_json": {"query": {"page": "{{ next_page_token['next_page_token'] }}", "size": 10}},
            })
            .as_object()
            .unwrap(),
            "r",
        )
        .unwrap();
        let ctx = Context::new(&json!({"dc": "us6", "ids": ["a", "b"]}))
            .with("parameters", &json!({"f": "members"}))
            .with("stream_slice", &json!({"id": "L1"}))
            .with("next_page_token", &json!({"next_page_token": 2}));
        let mut page = PageOptions::default();
        page.params.insert("offset".into(), json!(100));
        let b = r.build(&ctx, &page).unwrap();
        let url = b.request.url();
        assert_eq!(url.path(), "/3.0/lists/L1/members");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        // Checked against the CDK: "42" stays text, config.get('nope') renders "None" and is
        // sent so, an empty render is left out, a list repeats the key.
        assert!(pairs.contains(&("count".into(), "42".into())), "{pairs:?}");
        assert!(pairs.contains(&("fields".into(), "members._links".into())));
        assert!(pairs.contains(&("gone".into(), "None".into())));
        assert!(!pairs.iter().any(|(k, _)| k == "empty"));
        assert_eq!(pairs.iter().filter(|(k, _)| k == "ids").count(), 2);
        assert!(pairs.contains(&("offset".into(), "100".into())));
        assert_eq!(b.request.headers()["x-tenant"], "us6");
        let body: Value =
            serde_json::from_slice(b.request.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body, json!({"query": {"page": 2, "size": 10}}));
    }
}

//! `lint`: every component of a manifest, with its manifest path and whether this runtime
//! implements it — what `intake manifest lint` prints. A type listed as implemented can still
//! be refused for a field it does not implement (`OffsetIncrement.extractor`); loading the
//! manifest says so by path.

use serde_json::Value;

use crate::manifest::Manifest;
use crate::manifest::path::child;

/// The component types this runtime implements.
pub const IMPLEMENTED: &[&str] = &[
    "ApiKeyAuthenticator",
    "BasicHttpAuthenticator",
    "BearerAuthenticator",
    "CheckStream",
    "CursorPagination",
    "DeclarativeSource",
    "DeclarativeStream",
    "DefaultPaginator",
    "DpathExtractor",
    "HttpRequester",
    "InlineSchemaLoader",
    "JsonDecoder",
    "ListPartitionRouter",
    "NoAuth",
    "NoPagination",
    "OffsetIncrement",
    "PageIncrement",
    "RecordFilter",
    "RecordSelector",
    "RequestOption",
    "RequestPath",
    "SimpleRetriever",
    "Spec",
];

/// One component of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Where it is (`streams[0].retriever.paginator`).
    pub path: String,
    /// Its `type`.
    pub kind: String,
    /// Whether this runtime implements it.
    pub implemented: bool,
}

/// Every component reachable from the manifest's streams, spec and check (definitions only
/// through them), in document order.
pub fn lint(manifest: &Manifest) -> Vec<Component> {
    let mut out = Vec::new();
    let root = manifest.root();
    for field in ["check", "spec", "streams"] {
        if let Some(v) = root.get(field) {
            walk(v, field, &mut out);
        }
    }
    out
}

fn walk(v: &Value, path: &str, out: &mut Vec<Component>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(kind)) = map.get("type") {
                // JSON schemas (`type: object`, `type: string`...) are data, not components.
                if kind.chars().next().is_some_and(char::is_uppercase) {
                    out.push(Component {
                        path: path.into(),
                        kind: kind.clone(),
                        implemented: IMPLEMENTED.contains(&kind.as_str()),
                    });
                }
            }
            for (k, item) in map {
                if k == "$parameters" || k == "schema" || k == "connection_specification" {
                    continue;
                }
                walk(item, &child(path, k), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_is_listed_with_its_path_and_status() {
        let m = Manifest::from_yaml(
            r#"
streams:
  - type: DeclarativeStream
    name: a
    retriever:
      requester: {url_base: "https://x", path: a}
      record_selector: {extractor: {field_path: []}}
    incremental_sync: {type: DatetimeBasedCursor, cursor_field: u, datetime_format: "%s", start_datetime: "0"}
    schema_loader: {type: InlineSchemaLoader, schema: {type: object}}
"#,
        )
        .unwrap();
        let found = lint(&m);
        let get = |p: &str| found.iter().find(|c| c.path == p).cloned();
        assert_eq!(
            get("streams[0].retriever.requester").unwrap().kind,
            "HttpRequester"
        );
        assert!(
            get("streams[0].retriever.record_selector.extractor")
                .unwrap()
                .implemented
        );
        let cursor = get("streams[0].incremental_sync").unwrap();
        assert_eq!(
            (cursor.kind.as_str(), cursor.implemented),
            ("DatetimeBasedCursor", false)
        );
        assert!(
            found.iter().all(|c| c.kind != "object"),
            "schemas are not components"
        );
    }
}

//! Manifest paths as errors show them: `streams[3].retriever.paginator`.

/// `parent.key` (or `key` at the top).
pub(crate) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

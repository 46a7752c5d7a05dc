//! The `dpath` library's `get` and `values`, as `DpathExtractor` uses them: a path is a list of
//! segments, each a glob (`*`, `?`, `[abc]`) matched against mapping keys and list indexes
//! (as text); `**` matches any depth. `get` wants exactly one match; `values` returns every
//! match, in document order.

use serde_json::Value;

/// Why `get` found no single value.
#[derive(Debug, PartialEq)]
pub enum GetError {
    /// Nothing matched.
    Missing,
    /// More than one leaf matched (dpath raises `ValueError`).
    Ambiguous,
}

/// `dpath.get(doc, path)`.
pub fn get<'a>(doc: &'a Value, path: &[String]) -> Result<&'a Value, GetError> {
    let found = values(doc, path);
    match found.len() {
        0 => Err(GetError::Missing),
        1 => Ok(found[0]),
        _ => Err(GetError::Ambiguous),
    }
}

/// `dpath.values(doc, path)`.
pub fn values<'a>(doc: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    walk(doc, path, &mut out);
    out
}

fn walk<'a>(node: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    let Some((head, rest)) = path.split_first() else {
        out.push(node);
        return;
    };
    if head == "**" {
        // Zero levels, then one level and `**` again.
        walk(node, rest, out);
        for child in children(node) {
            walk(child.1, path, out);
        }
        return;
    }
    for (key, child) in children(node) {
        if glob(head, &key) {
            walk(child, rest, out);
        }
    }
}

fn children(node: &Value) -> Vec<(String, &Value)> {
    match node {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// `fnmatch.fnmatchcase(name, pattern)`.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| matches(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && matches(&p[1..], &n[1..]),
        Some('[') => {
            let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                return n.first() == Some(&'[') && matches(&p[1..], &n[1..]);
            };
            let Some(c) = n.first() else {
                return false;
            };
            let (negate, set) = match p[1] {
                '!' => (true, &p[2..close]),
                _ => (false, &p[1..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= *c && *c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == *c;
                    i += 1;
                }
            }
            hit != negate && matches(&p[close + 1..], &n[1..])
        }
        Some(c) => n.first() == Some(c) && matches(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn get_and_values_as_dpath() {
        // Each expectation printed by dpath 2.x for the same document and path.
        let b = json!({"data": [{"items": [1, 2]}, {"items": [3]}], "x": {"a-1": {"v": 1}, "a-2": {"v": 2}}, "l": [10, 20]});
        assert_eq!(
            values(&b, &path(&["data", "*", "items"])),
            vec![&json!([1, 2]), &json!([3])]
        );
        assert_eq!(
            values(&b, &path(&["x", "*", "v"])),
            vec![&json!(1), &json!(2)]
        );
        assert_eq!(get(&b, &path(&["l", "1"])), Ok(&json!(20)));
        assert_eq!(get(&b, &path(&["nope"])), Err(GetError::Missing));
        assert_eq!(values(&b, &path(&["**", "v"])), vec![&json!(1), &json!(2)]);
        assert_eq!(get(&b, &path(&["x", "a-?"])), Err(GetError::Ambiguous));
        assert_eq!(get(&b, &path(&["x", "a-1"])), Ok(&json!({"v": 1})));
        assert!(glob("[!a]b", "cb") && !glob("[!a]b", "ab") && glob("[a-c]x", "bx"));
    }
}

//! Request templates: `{cursor}`, `{now}`, `{partition.list_id}` and named variables in paths,
//! query values and bodies.
//!
//! | placeholder | value |
//! |---|---|
//! | `{cursor}` | the incremental start as stored (a string as is, a number in decimal) |
//! | `{cursor:rfc3339}` / `{cursor:date}` | the start as an RFC 3339 instant / `YYYY-MM-DD` |
//! | `{cursor:epoch_s}` / `{cursor:epoch_ms}` | the start as Unix seconds / milliseconds |
//! | `{now}`, `{now:FORMAT}` | the sync's start time (RFC 3339 by default), same formats |
//! | `{partition}` / `{partition.field}` | the partition key / one of its fields |
//! | `{name}` | a variable set with [`crate::http::HttpApi::var`] or [`crate::http::HttpStream::var`] |
//!
//! `{{` and `}}` are literal braces. A query parameter whose template uses `{cursor}` is left
//! out when there is no start (a first full read), and so is a body field.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::state::parse_datetime;

/// What placeholders resolve to for one request.
pub(crate) struct Vars<'a> {
    pub(crate) cursor: Option<&'a Value>,
    pub(crate) partition: &'a Value,
    pub(crate) vars: &'a Map<String, Value>,
    pub(crate) now: DateTime<Utc>,
}

/// How rendered values are escaped.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Escape {
    None,
    PathSegment,
}

/// Renders `template`; `Ok(None)` when it names `{cursor}` and there is none.
pub(crate) fn render(template: &str, vars: &Vars<'_>, escape: Escape) -> Result<Option<String>> {
    if !template.contains(['{', '}']) {
        return Ok(Some(template.to_string()));
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(unbalanced(template));
        }
        let Some(end) = tail.find('}') else {
            return Err(unbalanced(template));
        };
        let name = &tail[1..end];
        let Some(value) = resolve(name, vars, template)? else {
            return Ok(None);
        };
        match escape {
            Escape::None => out.push_str(&value),
            Escape::PathSegment => out.push_str(&encode_segment(&value)),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// Renders every string in a JSON body template; fields whose template has no value are
/// left out.
pub(crate) fn render_json(template: &Value, vars: &Vars<'_>) -> Result<Option<Value>> {
    Ok(match template {
        Value::String(s) => render(s, vars, Escape::None)?.map(Value::String),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(v) = render_json(item, vars)? {
                    out.push(v);
                }
            }
            Some(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if let Some(v) = render_json(v, vars)? {
                    out.insert(k.clone(), v);
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

fn unbalanced(template: &str) -> Error {
    Error::system(format!(
        "the request template \"{template}\" has an unbalanced brace (write {{{{ or }}}} for a literal one)"
    ))
}

fn resolve(name: &str, vars: &Vars<'_>, template: &str) -> Result<Option<String>> {
    let (base, format) = match name.split_once(':') {
        Some((b, f)) => (b.trim(), Some(f.trim())),
        None => (name.trim(), None),
    };
    let value = match base {
        "cursor" => match vars.cursor {
            Some(v) => v.clone(),
            None => return Ok(None),
        },
        "now" => Value::String(vars.now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "partition" => vars.partition.clone(),
        _ if base.starts_with("partition.") => {
            let field = &base["partition.".len()..];
            match vars.partition.get(field) {
                Some(v) => v.clone(),
                None => {
                    return Err(Error::system(format!(
                        "the request template \"{template}\" names {{{base}}}, but the partition {} has no field \"{field}\"",
                        vars.partition
                    )));
                }
            }
        }
        _ => match vars.vars.get(base) {
            Some(v) => v.clone(),
            None => {
                return Err(Error::system(format!(
                    "the request template \"{template}\" names {{{base}}}, which is not defined (known: cursor, now, partition, or a variable set with .var)"
                )));
            }
        },
    };
    format_value(&value, format, template).map(Some)
}

fn format_value(value: &Value, format: Option<&str>, template: &str) -> Result<String> {
    let Some(format) = format else {
        return Ok(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    };
    let instant = as_instant(value).ok_or_else(|| {
        Error::system(format!(
            "the request template \"{template}\" formats {value} as {format}, but it is not a date or time"
        ))
    })?;
    Ok(match format {
        "rfc3339" => instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "date" => instant.format("%Y-%m-%d").to_string(),
        "epoch_s" => instant.timestamp().to_string(),
        "epoch_ms" => instant.timestamp_millis().to_string(),
        other => {
            return Err(Error::system(format!(
                "the request template \"{template}\" uses an unknown format \"{other}\" (known: rfc3339, date, epoch_s, epoch_ms)"
            )));
        }
    })
}

/// A JSON value as an instant: a date/time string, or epoch seconds / milliseconds.
fn as_instant(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_datetime(s).or_else(|| s.parse::<f64>().ok().and_then(epoch)),
        Value::Number(n) => n.as_f64().and_then(epoch),
        _ => None,
    }
}

fn epoch(n: f64) -> Option<DateTime<Utc>> {
    // Values past 10^11 cannot be seconds of this era: they are milliseconds.
    let millis = if n.abs() >= 1e11 { n } else { n * 1000.0 };
    Utc.timestamp_millis_opt(millis as i64).single()
}

/// Percent-encodes a value for use inside one path segment.
fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars<'a>(
        cursor: Option<&'a Value>,
        partition: &'a Value,
        map: &'a Map<String, Value>,
    ) -> Vars<'a> {
        Vars {
            cursor,
            partition,
            vars: map,
            now: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn placeholders_and_formats() {
        let start = json!("2024-01-02T03:04:05Z");
        let part = json!({"list_id": "a b/c"});
        let mut map = Map::new();
        map.insert("region".into(), json!("eu"));
        let v = vars(Some(&start), &part, &map);
        let r = |t| render(t, &v, Escape::None).unwrap().unwrap();
        assert_eq!(r("since={cursor}"), "since=2024-01-02T03:04:05Z");
        assert_eq!(r("{cursor:epoch_ms}"), "1704164645000");
        assert_eq!(r("{cursor:epoch_s}"), "1704164645");
        assert_eq!(r("{cursor:date}"), "2024-01-02");
        assert_eq!(r("{now}"), "2024-05-01T12:00:00Z");
        assert_eq!(r("{region}-{{literal}}"), "eu-{literal}");
        assert_eq!(
            render(
                "/lists/{partition.list_id}/members",
                &v,
                Escape::PathSegment
            )
            .unwrap()
            .unwrap(),
            "/lists/a%20b%2Fc/members"
        );
        let millis = json!(1704164645000i64);
        let v = vars(Some(&millis), &part, &map);
        assert_eq!(
            render("{cursor:rfc3339}", &v, Escape::None)
                .unwrap()
                .unwrap(),
            "2024-01-02T03:04:05Z"
        );
    }

    #[test]
    fn missing_cursor_and_bad_templates() {
        let part = Value::Null;
        let map = Map::new();
        let v = vars(None, &part, &map);
        assert_eq!(render("since={cursor}", &v, Escape::None).unwrap(), None);
        assert!(render("{nope}", &v, Escape::None).is_err());
        assert!(render("{cursor", &v, Escape::None).is_err());
        assert!(render("{partition.id}", &v, Escape::None).is_err());
        let body = json!({"a": "{cursor}", "b": ["x", "{cursor}"], "c": 1});
        assert_eq!(
            render_json(&body, &v).unwrap().unwrap(),
            json!({"b": ["x"], "c": 1})
        );
    }
}

//! airbyte-cdk's Jinja filters: `hash`, `base64encode`, `base64decode`,
//! `base64binascii_decode`, `string`, `regex_search`, `regex_replace`, `hmac`. They replace
//! Jinja's own where the names collide (`string`), as in the CDK.

use base64::Engine as _;
use hmac::Mac;
use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use sha2::Digest;

use super::python::{str_of, write_map, write_seq};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("hash", hash);
    env.add_filter("base64encode", |v: Value| {
        Value::from(intake_base64(str_of(&v).as_bytes()))
    });
    env.add_filter("base64decode", |v: Value| -> Result<Value, Error> {
        let text = str_of(&v);
        let bytes = base64_decode(&text)
            .ok_or_else(|| bad(format!("base64decode: {text:?} is not base64")))?;
        String::from_utf8(bytes)
            .map(Value::from)
            .map_err(|_| bad("base64decode: the decoded bytes are not UTF-8"))
    });
    // The CDK's "decode" encodes (standard_b64encode of the ASCII text); kept for parity.
    env.add_filter(
        "base64binascii_decode",
        |v: Value| -> Result<Value, Error> {
            let text = str_of(&v);
            if !text.is_ascii() {
                return Err(bad("base64binascii_decode: the text is not ASCII"));
            }
            Ok(Value::from(intake_base64(text.as_bytes())))
        },
    );
    env.add_filter("string", |v: Value| {
        if v.kind() == ValueKind::String {
            return v;
        }
        // JSON in triple quotes, so that reading the result back gives this string.
        Value::from(format!("\"\"\"{}\"\"\"", json_dumps(&v)))
    });
    env.add_filter(
        "regex_search",
        |v: Value, pattern: String| -> Result<Value, Error> {
            let re = regex::Regex::new(&pattern).map_err(|e| bad(format!("regex_search: {e}")))?;
            let text = str_of(&v);
            Ok(Value::from(
                re.captures(&text)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            ))
        },
    );
    env.add_filter(
        "regex_replace",
        |v: Value, pattern: String, replacement: String| -> Result<Value, Error> {
            let re = regex::Regex::new(&pattern).map_err(|e| bad(format!("regex_replace: {e}")))?;
            let text = str_of(&v);
            Ok(Value::from(
                re.replace_all(&text, python_replacement(&replacement).as_str())
                    .into_owned(),
            ))
        },
    );
    env.add_filter(
        "hmac",
        |v: Value, key: String, hash_type: Option<String>| -> Result<Value, Error> {
            let kind = hash_type.as_deref().unwrap_or("sha256");
            if kind != "sha256" {
                return Err(bad(format!(
                    "Hash type '{kind}' is not allowed. Allowed types: sha256"
                )));
            }
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
                .map_err(|e| bad(format!("hmac: {e}")))?;
            mac.update(str_of(&v).as_bytes());
            Ok(Value::from(hex(&mac.finalize().into_bytes())))
        },
    );
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `hash(value, hash_type='md5', salt=None)`: the hex digest of `str(value)` then the salt.
fn hash(v: Value, hash_type: Option<String>, salt: Option<Value>) -> Result<Value, Error> {
    let mut data = str_of(&v).into_bytes();
    if let Some(s) = salt.filter(Value::is_true) {
        data.extend_from_slice(str_of(&s).as_bytes());
    }
    let kind = hash_type.as_deref().unwrap_or("md5");
    let digest = match kind {
        "md5" => md5::Md5::digest(&data).to_vec(),
        "sha1" => sha1::Sha1::digest(&data).to_vec(),
        "sha224" => sha2::Sha224::digest(&data).to_vec(),
        "sha256" => sha2::Sha256::digest(&data).to_vec(),
        "sha384" => sha2::Sha384::digest(&data).to_vec(),
        "sha512" => sha2::Sha512::digest(&data).to_vec(),
        other => return Err(bad(format!("No hashing function named {other}"))),
    };
    Ok(Value::from(hex(&digest)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Python's replacement syntax (`\1`, `\g<1>`, `\g<name>`) in the `regex` crate's (`${1}`).
fn python_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                        if n.len() == 2 {
                            break;
                        }
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// `json.dumps(value)` with Python's defaults: `", "` and `": "` separators, non-ASCII
/// escaped.
pub(crate) fn json_dumps(v: &Value) -> String {
    let mut out = String::new();
    dump(&mut out, v);
    out
}

fn dump(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            let text = super::python::str_of(v);
            out.push_str(match text.as_str() {
                "inf" => "Infinity",
                "-inf" => "-Infinity",
                "nan" => "NaN",
                t => t,
            });
        }
        ValueKind::String => dump_str(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => write_seq(out, v, dump),
        ValueKind::Map => write_map(out, v, |out, k| dump_str(out, &str_of(k)), dump),
        _ => dump_str(out, &str_of(v)),
    }
}

fn dump_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding.
fn intake_base64(input: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(input)
}

/// Standard base64, as Python's `b64decode` reads it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_replacements_and_json_dumps() {
        assert_eq!(python_replacement(r"\1-\g<2>-$"), "${1}-${2}-$$");
        let v = Value::from_serialize(serde_json::json!({"a": [1, 2.5, null, "é"]}));
        assert_eq!(json_dumps(&v), r#"{"a": [1, 2.5, null, "\u00e9"]}"#);
        assert_eq!(intake_base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
    }
}

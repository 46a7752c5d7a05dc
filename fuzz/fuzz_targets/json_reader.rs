//! The checking JSON reader (`intake::json`) against serde_json: text serde_json parses into a
//! `Value` must be accepted and read as the same document; text the reader accepts must be
//! JSON serde_json can at least step over (it also takes lone surrogate escapes, which the
//! reader refuses); and skipping a value must agree with walking it. Never a panic.
#![no_main]

use intake::json::{JsonError, RawJson, Reader};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The document as the reader sees it: containers walked, scalars parsed by serde_json from
/// the text the reader handed out.
fn walk(r: &mut Reader<'_>) -> Result<Value, JsonError> {
    Ok(match r.peek() {
        Some(b'{') => {
            let mut object = r.object()?;
            let mut map = Map::new();
            while let Some(key) = object.next_key(r)? {
                let value = walk(r)?;
                map.insert(key.into_owned(), value);
            }
            Value::Object(map)
        }
        Some(b'[') => {
            let mut array = r.array()?;
            let mut items = Vec::new();
            while array.next(r)? {
                items.push(walk(r)?);
            }
            Value::Array(items)
        }
        _ => {
            let raw = r.value()?;
            // Out of f64's range: valid JSON that `Value` refuses; stand in a marker.
            serde_json::from_str(raw.get()).unwrap_or(Value::String("out of range".into()))
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let strict = serde_json::from_str::<Value>(text);
    let loose = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let skipped = RawJson::parse(text);
    let mut r = Reader::new(text);
    let walked = walk(&mut r).and_then(|v| r.finish().map(|()| v));
    assert_eq!(skipped.is_ok(), walked.is_ok(), "skip and walk disagree on {text:?}");
    if let Ok(value) = &strict {
        let ours = walked.as_ref().expect("serde_json parses what the reader refused");
        assert_eq!(ours, value, "read differently: {text:?}");
        assert_eq!(skipped.unwrap().get(), text.trim_matches([' ', '\n', '\r', '\t']));
    }
    if walked.is_ok() {
        assert!(loose, "the reader accepted what serde_json cannot step over: {text:?}");
    }
});

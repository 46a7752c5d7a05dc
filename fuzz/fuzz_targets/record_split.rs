//! Records split into fields by the structural scanner: any text is split or refused without
//! panicking, and a valid JSON object splits exactly as serde_json reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|text: &str| {
    let ours = intake::fuzz::split_members(text);
    let Some(reference) = members(text) else {
        return;
    };
    let ours = ours.expect("a valid JSON object is split");
    assert_eq!(ours.len(), reference.len());
    for ((key, text), (want_key, want)) in ours.iter().zip(&reference) {
        assert_eq!(key, want_key);
        let value: Value = serde_json::from_str(text).expect("each value's text is valid JSON");
        assert_eq!(&value, want);
    }
});

/// serde_json's reading of an object: every member in order, repeated keys kept.
fn members(text: &str) -> Option<Vec<(String, Value)>> {
    struct All;
    impl<'de> serde::de::Visitor<'de> for All {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, Value>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = serde::Deserializer::deserialize_map(&mut de, All).ok()?;
    de.end().ok()?;
    Some(out)
}

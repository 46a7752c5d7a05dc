//! Reading an API page of 100 HubSpot contacts (45 KB) the way a connector does: each record's
//! members taken as raw JSON, its `properties` as (name, raw value) pairs, everything else
//! checked and stepped over. `intake::json::Reader` against serde_json's borrowed parse into
//! structs (`&RawValue` members, the properties as a visited map), which the HubSpot connector
//! used before. `cargo bench --bench json`.

#[path = "support/contacts.rs"]
mod contacts;

use std::borrow::Cow;

use criterion::{Criterion, Throughput};
use intake::json::{RawJson, Reader};
use serde_json::value::RawValue;

/// One record as serde_json reads it, borrowed (the HubSpot connector's structs before the
/// reader).
#[derive(serde::Deserialize)]
struct Object<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow, default)]
    properties: Option<Props<'a>>,
    #[serde(borrow, default, rename = "createdAt")]
    created_at: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "updatedAt")]
    updated_at: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "archivedAt")]
    archived_at: Option<&'a RawValue>,
    #[serde(default)]
    archived: Option<bool>,
}

#[derive(serde::Deserialize)]
struct Page<'a> {
    #[serde(borrow, default)]
    results: Option<Vec<Object<'a>>>,
}

/// The properties in order: serde_json's map visited pair by pair.
struct Props<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Props<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Props<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Props<'a>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(key)) = map.next_key::<Key<'a>>()? {
                    out.push((key, map.next_value()?));
                }
                Ok(Props(out))
            }
            fn visit_unit<E>(self) -> Result<Props<'a>, E> {
                Ok(Props(Vec::new()))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// A name borrowed when it has no escapes, decoded when it has.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

/// The page through the reader: what the records hold, counted.
fn read(text: &str) -> usize {
    let mut r = Reader::new(text);
    let mut n = 0;
    let mut top = r.object().expect("page");
    while let Some(key) = top.next_key(&mut r).expect("key") {
        if key != "results" {
            r.value().expect("value");
            continue;
        }
        let mut results = r.array().expect("results");
        while results.next(&mut r).expect("element") {
            let mut object = r.object().expect("record");
            let mut props: Vec<(Cow<'_, str>, RawJson<'_>)> = Vec::with_capacity(16);
            let (mut id, mut created, mut updated, mut archived) = (None, None, None, None);
            while let Some(key) = object.next_key(&mut r).expect("key") {
                match key.as_ref() {
                    "properties" => {
                        let mut members = r.object().expect("properties");
                        while let Some(name) = members.next_key(&mut r).expect("name") {
                            props.push((name, r.value().expect("value")));
                        }
                    }
                    "id" => id = Some(r.value().expect("id")),
                    "createdAt" => created = Some(r.value().expect("createdAt")),
                    "updatedAt" => updated = Some(r.value().expect("updatedAt")),
                    "archived" => archived = r.value().expect("archived").as_bool(),
                    _ => {
                        r.value().expect("value");
                    }
                }
            }
            assert!(id.is_some() && created.is_some() && updated.is_some());
            assert_eq!(archived, Some(false));
            n += props.len();
        }
    }
    r.finish().expect("end");
    n
}

fn benches(c: &mut Criterion) {
    let results: Vec<serde_json::Value> = (0..contacts::PAGE).map(contacts::contact).collect();
    let page = format!(
        r#"{{"results":{},"paging":{{"next":{{"after":"100","link":"/crm/v3/objects/contacts?after=100"}}}}}}"#,
        serde_json::to_string(&results).expect("json")
    );
    let expected = 12 * contacts::PAGE;
    let mut group = c.benchmark_group("json_page");
    group.throughput(Throughput::Bytes(page.len() as u64));
    group.bench_function("serde_json_borrowed_structs", |b| {
        b.iter(|| {
            let parsed: Page<'_> = serde_json::from_str(&page).expect("page");
            let n: usize = parsed
                .results
                .unwrap_or_default()
                .iter()
                .map(|o| {
                    assert!(!o.id.get().is_empty() && o.updated_at.is_some());
                    assert!(o.created_at.is_some() && o.archived_at.is_none());
                    assert_eq!(o.archived, Some(false));
                    o.properties.as_ref().map_or(0, |p| p.0.len())
                })
                .sum();
            assert_eq!(n, expected);
        })
    });
    group.bench_function("intake_json_reader", |b| {
        b.iter(|| assert_eq!(read(&page), expected))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}

//! The generated portal: objects with typed properties, associations, owners, scopes and
//! the counters the routes keep.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use serde_json::{Value, json};

use crate::properties::rfc3339;
pub(super) const OBJECT_TYPES: &[(&str, &str)] = &[
    ("contacts", "lastmodifieddate"),
    ("companies", "hs_lastmodifieddate"),
    ("deals", "hs_lastmodifieddate"),
    ("tickets", "hs_lastmodifieddate"),
    ("products", "hs_lastmodifieddate"),
    ("line_items", "hs_lastmodifieddate"),
    ("calls", "hs_lastmodifieddate"),
    ("emails", "hs_lastmodifieddate"),
    ("meetings", "hs_lastmodifieddate"),
    ("notes", "hs_lastmodifieddate"),
    ("tasks", "hs_lastmodifieddate"),
];
/// The custom object's type id and name.
pub const CARS_TYPE_ID: &str = "2-3508482";

/// 2024-01-01T00:00:00Z, where generated modification times start.
pub(super) const EPOCH_MS: i64 = 1_704_067_200_000;

#[derive(Debug, Clone)]
pub(super) struct Obj {
    pub(super) id: u64,
    pub(super) props: BTreeMap<String, Option<String>>,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
    pub(super) archived: bool,
}

#[derive(Debug, Default)]
pub(super) struct ObjectData {
    pub(super) modified_property: String,
    pub(super) definitions: Vec<Value>,
    pub(super) records: BTreeMap<u64, Obj>,
}

#[derive(Debug, Default)]
pub(super) struct Portal {
    pub(super) objects: BTreeMap<String, ObjectData>,
    pub(super) owners: Vec<Value>,
    pub(super) associations: HashMap<(String, String), BTreeMap<u64, Vec<u64>>>,
    pub(super) access_tokens: HashSet<String>,
    pub(super) expired_tokens: HashSet<String>,
    pub(super) issued: u64,
    pub(super) token_requests: u64,
    pub(super) denied: HashSet<String>,
    pub(super) daily_limit: Option<u64>,
    pub(super) daily_used: u64,
    pub(super) window: VecDeque<Instant>,
    pub(super) limit_10s: usize,
    pub(super) search_limit: usize,
    pub(super) search_arrivals: VecDeque<Instant>,
    pub(super) search_requests: u64,
    pub(super) search_violations: u64,
    pub(super) clock_ms: i64,
    pub(super) next_id: u64,
    pub(super) rng: u64,
}

impl Portal {
    pub(super) fn random(&mut self) -> u64 {
        // splitmix64: deterministic data without a dependency.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.random() % options.len() as u64) as usize]
    }

    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1 + self.random() % 7;
        self.next_id
    }
}

pub(super) fn definition(name: &str, kind: &str, field: &str) -> Value {
    json!({
        "name": name, "label": name.replace('_', " "), "type": kind, "fieldType": field,
        "groupName": "generated", "description": "", "options": [], "displayOrder": -1,
        "calculated": false, "externalOptions": false, "hasUniqueValue": false, "hidden": false,
        "hubspotDefined": !name.starts_with("custom_") && name != "favorite_color" && name != "loyalty_points",
        "modificationMetadata": {"archivable": true, "readOnlyDefinition": false, "readOnlyValue": false},
        "formField": true, "createdAt": "2023-06-01T00:00:00Z", "updatedAt": "2023-06-01T00:00:00Z",
        "archived": false
    })
}

/// The property definitions of an object type: `(name, type, fieldType)`.
pub(super) fn definitions(object: &str, modified: &str, extra: usize) -> Vec<Value> {
    let mut defs: Vec<(String, &str, &str)> = vec![
        ("hs_object_id".into(), "number", "number"),
        ("createdate".into(), "datetime", "date"),
        (modified.into(), "datetime", "date"),
    ];
    let specific: &[(&str, &str, &str)] = match object {
        "contacts" => &[
            ("email", "string", "text"),
            ("firstname", "string", "text"),
            ("lastname", "string", "text"),
            ("phone", "phone_number", "phonenumber"),
            ("lifecyclestage", "enumeration", "radio"),
            ("annualrevenue", "number", "number"),
            ("hs_email_optout", "bool", "booleancheckbox"),
            ("date_of_birth", "date", "date"),
            ("favorite_color", "enumeration", "select"),
            ("loyalty_points", "number", "number"),
            ("hs_lastmodifieddate", "datetime", "date"),
        ],
        "companies" => &[
            ("name", "string", "text"),
            ("domain", "string", "text"),
            ("industry", "enumeration", "select"),
            ("numberofemployees", "number", "number"),
            ("is_public", "bool", "booleancheckbox"),
        ],
        "deals" => &[
            ("dealname", "string", "text"),
            ("amount", "number", "number"),
            ("dealstage", "enumeration", "radio"),
            ("pipeline", "enumeration", "select"),
            ("closedate", "datetime", "date"),
        ],
        "tickets" => &[
            ("subject", "string", "text"),
            ("hs_pipeline_stage", "enumeration", "radio"),
            ("hs_ticket_priority", "enumeration", "select"),
            ("closed_date", "datetime", "date"),
        ],
        "products" | "line_items" => &[
            ("name", "string", "text"),
            ("price", "number", "number"),
            ("quantity", "number", "number"),
            ("hs_sku", "string", "text"),
        ],
        "cars" | CARS_TYPE_ID => &[
            ("make", "string", "text"),
            ("model", "string", "text"),
            ("year", "number", "number"),
            ("vin", "string", "text"),
        ],
        _ => &[
            ("hs_timestamp", "datetime", "date"),
            ("hs_body_preview", "string", "textarea"),
            ("hubspot_owner_id", "enumeration", "select"),
        ],
    };
    defs.extend(specific.iter().map(|(n, t, f)| (n.to_string(), *t, *f)));
    if object == "contacts" {
        for i in 0..extra {
            defs.push((format!("custom_field_{i:04}"), "string", "text"));
        }
    }
    defs.iter().map(|(n, t, f)| definition(n, t, f)).collect()
}

pub(super) fn ms_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| rfc3339(&t))
        .unwrap_or_default()
}

/// A generated value for a property.
pub(super) fn value(
    portal: &mut Portal,
    object: &str,
    name: &str,
    kind: &str,
    n: u64,
) -> Option<String> {
    let r = portal.random();
    Some(match (name, kind) {
        ("email", _) => format!("person{n}@example.com"),
        ("firstname", _) => portal
            .pick(&["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Zoë"])
            .into(),
        ("lastname", _) => portal
            .pick(&[
                "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "O'Neil",
            ])
            .into(),
        ("phone", _) => format!("+1 617 555 {:04}", r % 10_000),
        ("lifecyclestage", _) => portal
            .pick(&["subscriber", "lead", "marketingqualifiedlead", "customer"])
            .into(),
        ("favorite_color", _) => portal.pick(&["red", "green", "blue"]).into(),
        ("name", _) if object == "companies" => format!("Company {n} Ltd"),
        ("domain", _) => format!("company{n}.example.com"),
        ("dealname", _) => format!("Deal {n}"),
        ("subject", _) => format!("Ticket {n}: something broke"),
        ("make", _) => portal.pick(&["Volvo", "Saab", "Fiat"]).into(),
        ("vin", _) => format!("VIN{r:014}"),
        (_, "number") => match r % 10 {
            // An unset number arrives as "" (and must become null), sometimes as null.
            0 => String::new(),
            1 => return None,
            2 => format!("{}.{}", r % 100_000, r % 100),
            _ => (r % 100_000).to_string(),
        },
        (_, "bool") => (if r.is_multiple_of(2) { "true" } else { "false" }).into(),
        (_, "date") => ms_text(EPOCH_MS - (r % 20_000) as i64 * 86_400_000)[..10].to_string(),
        (_, "datetime") => ms_text(EPOCH_MS - (r % 1_000_000_000) as i64),
        (_, "enumeration") => portal.pick(&["a", "b", "c"]).into(),
        _ if name.starts_with("custom_field_") => {
            if r.is_multiple_of(3) {
                return None;
            }
            format!("value {r}")
        }
        _ => format!("{name} {n}"),
    })
}

pub(super) fn generate(
    portal: &mut Portal,
    object: &str,
    modified: &str,
    count: usize,
    extra: usize,
) {
    let defs = definitions(object, modified, extra);
    let mut records = BTreeMap::new();
    for n in 0..count as u64 {
        let id = portal.id();
        let created_ms = EPOCH_MS - 86_400_000 * 30 + (n as i64) * 60_000;
        // Modification times increase with n, several records sharing an instant.
        let updated_ms = EPOCH_MS + (n as i64 / 3) * 1_000;
        let mut props = BTreeMap::new();
        for d in &defs {
            let name = d["name"].as_str().unwrap_or_default();
            let kind = d["type"].as_str().unwrap_or("string");
            let v = match name {
                "hs_object_id" => Some(id.to_string()),
                "createdate" => Some(ms_text(created_ms)),
                "lastmodifieddate" | "hs_lastmodifieddate" => Some(ms_text(updated_ms)),
                _ => value(portal, object, name, kind, n),
            };
            props.insert(name.to_string(), v);
        }
        let archived = portal.random().is_multiple_of(50);
        records.insert(
            id,
            Obj {
                id,
                props,
                created_ms,
                updated_ms,
                archived,
            },
        );
    }
    portal.clock_ms = portal
        .clock_ms
        .max(EPOCH_MS + (count as i64 / 3 + 1) * 1_000);
    portal.objects.insert(
        object.to_string(),
        ObjectData {
            modified_property: modified.to_string(),
            definitions: defs,
            records,
        },
    );
}

pub(super) fn associate(portal: &mut Portal, from: &str, to: &str, max_each: u64) {
    let to_ids: Vec<u64> = portal.objects[to]
        .records
        .values()
        .filter(|o| !o.archived)
        .map(|o| o.id)
        .collect();
    let from_ids: Vec<u64> = portal.objects[from].records.keys().copied().collect();
    if to_ids.is_empty() {
        return;
    }
    let mut forward: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut backward: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for id in from_ids {
        let n = portal.random() % (max_each + 1);
        for _ in 0..n {
            let t = to_ids[(portal.random() % to_ids.len() as u64) as usize];
            let list = forward.entry(id).or_default();
            if !list.contains(&t) {
                list.push(t);
                backward.entry(t).or_default().push(id);
            }
        }
    }
    portal
        .associations
        .insert((from.to_string(), to.to_string()), forward);
    let reverse = portal
        .associations
        .entry((to.to_string(), from.to_string()))
        .or_default();
    for (k, v) in backward {
        let list = reverse.entry(k).or_default();
        for id in v {
            if !list.contains(&id) {
                list.push(id);
            }
        }
    }
}

pub(super) fn owner(portal: &mut Portal, n: usize, archived: bool) -> Value {
    let id = 52_550_000 + n as u64;
    let first = portal.pick(&["Maria", "Jon", "Priya", "Wei"]);
    json!({
        "id": id.to_string(),
        "email": format!("owner{n}@example.com"),
        "firstName": first,
        "lastName": format!("Owner{n}"),
        "userId": 12_280_000 + n as u64,
        "userIdIncludingInactive": 12_280_000 + n as u64,
        "type": "PERSON",
        "createdAt": ms_text(EPOCH_MS - 86_400_000),
        "updatedAt": ms_text(EPOCH_MS + n as i64 * 3_600_000),
        "archived": archived,
        "teams": [{"id": "101", "name": "Sales", "primary": true}]
    })
}

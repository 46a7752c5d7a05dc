//! Record shaping: unset dates as null, email activity as rows, partition fields on rows.

use intake::Result;
use serde_json::{Map, Value};
/// `""` in a date or time field (a name with `date` or `time` in it, ending in `_at` or
/// `_sent`, or `last_changed`: `timestamp_opt`, `stats.campaign_last_sent`, …) becomes null,
/// everywhere in the record; so does an unset merge field.
pub fn blank_dates(value: Value) -> Value {
    fn is_date(name: &str) -> bool {
        name.contains("date")
            || name.contains("time")
            || name.ends_with("_at")
            || name == "last_changed"
            || name.ends_with("_sent")
            || name == "since"
    }
    fn walk(value: Value, in_merge_fields: bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s)
                                if s.is_empty() && (in_merge_fields || is_date(&k)) =>
                            {
                                Value::Null
                            }
                            other => walk(other, k == "merge_fields"),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| walk(v, false)).collect())
            }
            other => other,
        }
    }
    walk(value, false)
}

/// Adds the partition's fields to each record (a tag does not name its list).
pub(crate) fn with_partition(value: Value, partition: &Value) -> Result<Vec<Value>> {
    let mut value = value;
    if let (Value::Object(map), Value::Object(p)) = (&mut value, partition) {
        for (k, v) in p {
            map.entry(k.clone()).or_insert(v.clone());
        }
    }
    Ok(vec![value])
}

/// One row per activity of an email (`open`, `click`, `bounce`), with the email's ids.
pub fn activity_rows(email: Value, partition: &Value) -> Result<Vec<Value>> {
    let Value::Object(mut email) = email else {
        return Ok(Vec::new());
    };
    let activities = match email.remove("activity") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut base = Map::new();
    for k in [
        "campaign_id",
        "list_id",
        "list_is_active",
        "email_id",
        "email_address",
    ] {
        if let Some(v) = email.remove(k) {
            base.insert(k.to_string(), v);
        }
    }
    if let Some(id) = partition.get("campaign_id") {
        base.entry("campaign_id").or_insert(id.clone());
    }
    Ok(activities
        .into_iter()
        .filter_map(|a| match a {
            Value::Object(a) => {
                let mut row = base.clone();
                row.extend(a);
                Some(blank_dates(Value::Object(row)))
            }
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unset_dates_and_merge_fields_become_null() {
        let v = blank_dates(json!({
            "timestamp_opt": "", "last_changed": "2022-02-23T16:25:57+00:00", "email_address": "",
            "stats": {"campaign_last_sent": "", "member_count": 3},
            "merge_fields": {"FNAME": "", "LTV": "", "ADDRESS": "", "USERID": 7}
        }));
        assert_eq!(v["timestamp_opt"], Value::Null);
        assert_eq!(v["last_changed"], json!("2022-02-23T16:25:57+00:00"));
        assert_eq!(v["email_address"], json!(""), "not a date: kept");
        assert_eq!(v["stats"]["campaign_last_sent"], Value::Null);
        assert_eq!(v["merge_fields"]["LTV"], Value::Null);
        assert_eq!(v["merge_fields"]["ADDRESS"], Value::Null);
        assert_eq!(v["merge_fields"]["USERID"], json!(7));
    }

    #[test]
    fn email_activity_unnests_into_rows() {
        let email = json!({"campaign_id": "c1", "list_id": "l1", "email_id": "e1",
            "email_address": "a@example.com", "_links": [],
            "activity": [{"action": "open", "timestamp": "2024-01-01T00:00:00+00:00", "ip": "10.0.0.1"},
                         {"action": "click", "timestamp": "2024-01-01T00:01:00+00:00", "url": "https://x"}]});
        let rows = activity_rows(email, &json!({"campaign_id": "c1"})).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["action"], "open");
        assert_eq!(rows[1]["url"], "https://x");
        assert!(
            rows.iter()
                .all(|r| r["email_id"] == "e1" && r["campaign_id"] == "c1")
        );
        assert!(rows[0].get("_links").is_none());
        let none = activity_rows(json!({"email_id": "e2", "activity": []}), &json!({})).unwrap();
        assert!(none.is_empty(), "an email without activity is no row");
    }
}

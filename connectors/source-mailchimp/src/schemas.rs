//! The streams' JSON Schemas: nullable fields by kind, members' merge fields from the lists.

use intake::Result;
use intake::http::HttpApi;
use intake::source::StreamContext;
use serde_json::{Map, Value, json};
/// A JSON Schema of nullable fields: `(name, kind)` with kind one of string, integer, number,
/// boolean, date-time, date, object, array. Key fields are listed in `required`.
pub(crate) fn schema(fields: &[(&str, &str)], required: &[&str]) -> Value {
    let mut props = Map::new();
    for (name, kind) in fields {
        let mut s = match *kind {
            "date-time" | "date" => json!({"type": ["null", "string"], "format": kind}),
            other => json!({"type": ["null", other]}),
        };
        if required.contains(name) {
            s["type"] = match *kind {
                "date-time" | "date" => json!("string"),
                other => json!(other),
            };
        }
        props.insert(name.to_string(), s);
    }
    json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
           "additionalProperties": true, "properties": props, "required": required})
}

pub(crate) async fn member_schema(api: HttpApi) -> Result<Value> {
    let ctx = StreamContext::detached("list_members");
    let lists = api
        .get_json("/lists?count=1000&fields=lists.id", &ctx)
        .await?;
    let mut merge = Map::new();
    for list in lists
        .get("lists")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = list.get("id").and_then(Value::as_str) else {
            continue;
        };
        let fields = api
            .get_json(&format!("/lists/{id}/merge-fields?count=1000"), &ctx)
            .await?;
        for f in fields
            .get("merge_fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(tag), Some(kind)) = (
                f.get("tag").and_then(Value::as_str),
                f.get("type").and_then(Value::as_str),
            ) else {
                continue;
            };
            let s = match kind {
                "number" => json!({"type": ["null", "number"]}),
                "address" => json!({"type": ["null", "object"]}),
                _ => json!({"type": ["null", "string"]}),
            };
            // A tag typed differently in two lists is whatever both allow.
            let entry = merge.entry(tag.to_string()).or_insert(s.clone());
            if *entry != s {
                *entry = json!({});
            }
        }
    }
    let mut s = schema(MEMBER_FIELDS, &["id", "list_id", "last_changed"]);
    s["properties"]["merge_fields"] =
        json!({"type": ["null", "object"], "properties": merge, "additionalProperties": true});
    Ok(s)
}

pub(crate) const MEMBER_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("list_id", "string"),
    ("email_address", "string"),
    ("unique_email_id", "string"),
    ("contact_id", "string"),
    ("full_name", "string"),
    ("web_id", "integer"),
    ("email_type", "string"),
    ("status", "string"),
    ("merge_fields", "object"),
    ("interests", "object"),
    ("stats", "object"),
    ("ip_signup", "string"),
    ("timestamp_signup", "date-time"),
    ("ip_opt", "string"),
    ("timestamp_opt", "date-time"),
    ("member_rating", "integer"),
    ("last_changed", "date-time"),
    ("language", "string"),
    ("vip", "boolean"),
    ("email_client", "string"),
    ("location", "object"),
    ("source", "string"),
    ("tags_count", "integer"),
    ("tags", "array"),
];

/// The fields of `lists`.
pub(crate) const LISTS_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("web_id", "integer"),
    ("name", "string"),
    ("contact", "object"),
    ("permission_reminder", "string"),
    ("campaign_defaults", "object"),
    ("date_created", "date-time"),
    ("list_rating", "integer"),
    ("email_type_option", "boolean"),
    ("visibility", "string"),
    ("double_optin", "boolean"),
    ("stats", "object"),
];

/// The fields of `merge_fields`.
pub(crate) const MERGE_FIELDS_FIELDS: &[(&str, &str)] = &[
    ("merge_id", "integer"),
    ("list_id", "string"),
    ("tag", "string"),
    ("name", "string"),
    ("type", "string"),
    ("required", "boolean"),
    ("default_value", "string"),
    ("public", "boolean"),
    ("display_order", "integer"),
    ("options", "object"),
];

/// The fields of `segments`.
pub(crate) const SEGMENTS_FIELDS: &[(&str, &str)] = &[
    ("id", "integer"),
    ("list_id", "string"),
    ("name", "string"),
    ("member_count", "integer"),
    ("type", "string"),
    ("created_at", "date-time"),
    ("updated_at", "date-time"),
    ("options", "object"),
];

/// The fields of `segment_members`.
pub(crate) const SEGMENT_MEMBERS_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("segment_id", "integer"),
    ("list_id", "string"),
    ("email_address", "string"),
    ("status", "string"),
    ("merge_fields", "object"),
    ("last_changed", "date-time"),
    ("timestamp_opt", "date-time"),
];

/// The fields of `interest_categories`.
pub(crate) const INTEREST_CATEGORIES_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("list_id", "string"),
    ("title", "string"),
    ("display_order", "integer"),
    ("type", "string"),
];

/// The fields of `interests`.
pub(crate) const INTERESTS_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("category_id", "string"),
    ("list_id", "string"),
    ("name", "string"),
    ("subscriber_count", "string"),
    ("display_order", "integer"),
];

/// The fields of `tags`.
pub(crate) const TAGS_FIELDS: &[(&str, &str)] =
    &[("id", "integer"), ("list_id", "string"), ("name", "string")];

/// The fields of `campaigns`.
pub(crate) const CAMPAIGNS_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("web_id", "integer"),
    ("type", "string"),
    ("create_time", "date-time"),
    ("archive_url", "string"),
    ("status", "string"),
    ("emails_sent", "integer"),
    ("send_time", "date-time"),
    ("content_type", "string"),
    ("recipients", "object"),
    ("settings", "object"),
    ("tracking", "object"),
    ("report_summary", "object"),
    ("delivery_status", "object"),
];

/// The fields of `reports`.
pub(crate) const REPORTS_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("campaign_title", "string"),
    ("type", "string"),
    ("list_id", "string"),
    ("list_name", "string"),
    ("subject_line", "string"),
    ("emails_sent", "integer"),
    ("abuse_reports", "integer"),
    ("unsubscribed", "integer"),
    ("send_time", "date-time"),
    ("bounces", "object"),
    ("forwards", "object"),
    ("opens", "object"),
    ("clicks", "object"),
    ("list_stats", "object"),
];

/// The fields of `email_activity`.
pub(crate) const EMAIL_ACTIVITY_FIELDS: &[(&str, &str)] = &[
    ("campaign_id", "string"),
    ("list_id", "string"),
    ("list_is_active", "boolean"),
    ("email_id", "string"),
    ("email_address", "string"),
    ("action", "string"),
    ("type", "string"),
    ("timestamp", "date-time"),
    ("url", "string"),
    ("ip", "string"),
];

/// The fields of `unsubscribes`.
pub(crate) const UNSUBSCRIBES_FIELDS: &[(&str, &str)] = &[
    ("email_id", "string"),
    ("email_address", "string"),
    ("merge_fields", "object"),
    ("vip", "boolean"),
    ("timestamp", "date-time"),
    ("reason", "string"),
    ("campaign_id", "string"),
    ("list_id", "string"),
];

/// The fields of `automations`.
pub(crate) const AUTOMATIONS_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("create_time", "date-time"),
    ("start_time", "date-time"),
    ("status", "string"),
    ("emails_sent", "integer"),
    ("recipients", "object"),
    ("settings", "object"),
    ("tracking", "object"),
    ("report_summary", "object"),
];

//! The stream declarations: endpoint, paging, cursor, key and schema of each stream.

use std::sync::Arc;

use intake::http::{HttpError, HttpStream, Paginator};
use intake::source::{Skip, SkipOnError};
use intake::state::{Boundary, CursorOrder};
use intake::{Cursor, CursorKind, Result, Stream};
use serde_json::{Value, json};

use crate::client::Client;
use crate::records::{activity_rows, blank_dates, with_partition};
use crate::schemas::*;
use crate::schemas::{member_schema, schema};
fn paged(client: &Client, name: &str, path: &str, key: &str) -> HttpStream {
    client
        .api
        .stream(name)
        .get(path)
        .query("exclude_fields", &format!("{key}._links"))
        .records_at(&format!("/{key}"))
        .paginate(
            Paginator::offset("offset", "count", u64::from(client.page_size))
                .total_at("/total_items")
                .short_page_ends(true),
        )
        .transform(|v| Ok(Some(blank_dates(v))))
}

fn cursor(client: &Client, field: &str, ascending: bool) -> Cursor {
    let c = Cursor::new(field)
        .kind(CursorKind::DateTime)
        .boundary(Boundary::Inclusive)
        .start(client.start.map(|t| json!(t.to_rfc3339())));
    if ascending {
        c.order(CursorOrder::Ascending)
    } else {
        c
    }
}

/// The streams of a config.
pub(crate) fn streams(client: &Client) -> Vec<Arc<dyn Stream>> {
    let lists = paged(client, "lists", "/lists", "lists")
        .query("sort_field", "date_created")
        .query("sort_dir", "ASC")
        .query("since_date_created", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "date_created", true))
        .schema(schema(LISTS_FIELDS, &["id", "date_created"]));
    let by_list = |s: HttpStream| s.parent_field(&lists, "list_id", "id");
    let members = by_list(paged(
        client,
        "list_members",
        "/lists/{partition.list_id}/members",
        "members",
    ))
    .query("sort_field", "last_changed")
    .query("sort_dir", "ASC")
    .query("since_last_changed", "{cursor}")
    .primary_key(["list_id", "id"])
    .incremental(cursor(client, "last_changed", true))
    .schema_loader(member_schema);
    let merge_fields = by_list(paged(
        client,
        "merge_fields",
        "/lists/{partition.list_id}/merge-fields",
        "merge_fields",
    ))
    .primary_key(["list_id", "merge_id"])
    .schema(schema(MERGE_FIELDS_FIELDS, &["merge_id", "list_id"]));
    let segments = by_list(paged(
        client,
        "segments",
        "/lists/{partition.list_id}/segments",
        "segments",
    ))
    .query("since_updated_at", "{cursor}")
    .primary_key("id")
    .incremental(cursor(client, "updated_at", false))
    .schema(schema(SEGMENTS_FIELDS, &["id", "updated_at"]));
    let segment_members = paged(
        client,
        "segment_members",
        "/lists/{partition.list_id}/segments/{partition.segment_id}/members",
        "members",
    )
    .parent(&segments, |record| {
        let v = record.to_value()?;
        Ok(match (v.get("list_id"), v.get("id")) {
            (Some(list), Some(id)) => Some(json!({"list_id": list, "segment_id": id})),
            _ => None,
        })
    })
    .expand(with_partition)
    .primary_key(["segment_id", "id"])
    .schema(schema(SEGMENT_MEMBERS_FIELDS, &["id", "segment_id"]));
    let categories = by_list(paged(
        client,
        "interest_categories",
        "/lists/{partition.list_id}/interest-categories",
        "categories",
    ))
    .primary_key("id")
    .schema(schema(INTEREST_CATEGORIES_FIELDS, &["id"]));
    let interests = paged(
        client,
        "interests",
        "/lists/{partition.list_id}/interest-categories/{partition.category_id}/interests",
        "interests",
    )
    .parent(&categories, |record| {
        let v = record.to_value()?;
        Ok(match (v.get("list_id"), v.get("id")) {
            (Some(list), Some(id)) => Some(json!({"list_id": list, "category_id": id})),
            _ => None,
        })
    })
    .primary_key("id")
    .schema(schema(INTERESTS_FIELDS, &["id"]));
    let tags = by_list(paged(
        client,
        "tags",
        "/lists/{partition.list_id}/tag-search",
        "tags",
    ))
    .expand(with_partition)
    .primary_key(["list_id", "id"])
    .schema(schema(TAGS_FIELDS, &["id", "list_id"]));
    let campaigns = paged(client, "campaigns", "/campaigns", "campaigns")
        .query("sort_field", "create_time")
        .query("sort_dir", "ASC")
        .query("since_create_time", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "create_time", true))
        .schema(schema(CAMPAIGNS_FIELDS, &["id", "create_time"]));
    let reports = paged(client, "reports", "/reports", "reports")
        .query("since_send_time", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "send_time", false))
        .schema(schema(REPORTS_FIELDS, &["id", "send_time"]));
    let sent = |record: &intake::Record| -> Result<Option<Value>> {
        let v = record.to_value()?;
        Ok((v.get("status").and_then(Value::as_str) == Some("sent"))
            .then(|| json!({"campaign_id": v["id"]})))
    };
    let email_activity = paged(
        client,
        "email_activity",
        "/reports/{partition.campaign_id}/email-activity",
        "emails",
    )
    .query("since", "{cursor}")
    .parent(&campaigns, sent)
    .expand(activity_rows)
    .primary_key(["campaign_id", "email_id", "action", "timestamp"])
    .incremental(cursor(client, "timestamp", false))
    .schema(schema(
        EMAIL_ACTIVITY_FIELDS,
        &["campaign_id", "email_id", "action", "timestamp"],
    ));
    let unsubscribes = paged(
        client,
        "unsubscribes",
        "/reports/{partition.campaign_id}/unsubscribed",
        "unsubscribes",
    )
    .parent(&campaigns, sent)
    .expand(with_partition)
    .primary_key(["campaign_id", "email_id"])
    .schema(schema(UNSUBSCRIBES_FIELDS, &["campaign_id", "email_id"]));
    let automations = paged(client, "automations", "/automations", "automations")
        .query("since_create_time", "{cursor}")
        .primary_key("id")
        .incremental(cursor(client, "create_time", false))
        .schema(schema(AUTOMATIONS_FIELDS, &["id", "create_time"]));
    let plain = |s: HttpStream| -> Arc<dyn Stream> { Arc::new(s) };
    vec![
        plain(lists),
        plain(members),
        plain(merge_fields),
        plain(segments),
        plain(segment_members),
        plain(categories),
        plain(interests),
        plain(tags),
        plain(campaigns),
        plain(reports),
        skip_missing_report(email_activity),
        skip_missing_report(unsubscribes),
        plain(automations),
    ]
}

/// A campaign's report stream that skips the campaign, with a warning, when Mailchimp has no
/// report for it (404: never sent, or deleted since).
fn skip_missing_report(stream: HttpStream) -> Arc<dyn Stream> {
    let name = Stream::name(&stream).to_string();
    Arc::new(SkipOnError::new(stream, move |e, partition| {
        (HttpError::find(e)?.status() == Some(404)).then(|| {
            Skip::Partition(format!(
                "stream \"{name}\": campaign {} has no report (404): skipped",
                partition.key()["campaign_id"]
            ))
        })
    }))
}

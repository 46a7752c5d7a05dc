//! The stream declarations: the CRM objects, custom objects, owners and pipelines.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use intake::http::{HttpApi, Paginator};
use intake::source::{Skip, SkipOnError, StreamContext};
use intake::{Cursor, PageStream, Partition, PrimaryKey, ReadRequest, Result, Stream, async_trait};
use serde_json::{Value, json};

use crate::client::missing_scopes;
use crate::config::HubSpotConfig;
use crate::crm;
use crate::crm::CrmObject;
/// The standard CRM objects: stream, object type, last-modified property, associations.
const OBJECTS: &[(&str, &str, &str, &[&str])] = &[
    ("contacts", "contacts", "lastmodifieddate", &["companies"]),
    (
        "companies",
        "companies",
        "hs_lastmodifieddate",
        &["contacts"],
    ),
    (
        "deals",
        "deals",
        "hs_lastmodifieddate",
        &["contacts", "companies"],
    ),
    ("tickets", "tickets", "hs_lastmodifieddate", &[]),
    ("products", "products", "hs_lastmodifieddate", &[]),
    ("line_items", "line_items", "hs_lastmodifieddate", &[]),
    ("engagements_calls", "calls", "hs_lastmodifieddate", &[]),
    ("engagements_emails", "emails", "hs_lastmodifieddate", &[]),
    (
        "engagements_meetings",
        "meetings",
        "hs_lastmodifieddate",
        &[],
    ),
    ("engagements_notes", "notes", "hs_lastmodifieddate", &[]),
    ("engagements_tasks", "tasks", "hs_lastmodifieddate", &[]),
];

/// Owners have no server-side since-filter: an incremental read keeps only the records at
/// or after the start on the client.
struct SinceFilter<S>(S);

#[async_trait]
impl<S: Stream> Stream for SinceFilter<S> {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn json_schema(&self) -> Result<Value> {
        self.0.json_schema().await
    }
    fn primary_key(&self) -> PrimaryKey {
        self.0.primary_key()
    }
    fn cursor(&self) -> Option<Cursor> {
        self.0.cursor()
    }
    async fn partitions(&self) -> Result<Vec<Partition>> {
        self.0.partitions().await
    }
    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let since = self.0.cursor().and_then(|cursor| {
            let start = request.start.as_ref().and_then(|s| cursor.parse(s))?;
            Some((cursor.clone(), start))
        });
        self.0
            .read(request)
            .map(move |page| {
                let mut page = page?;
                if let Some((cursor, since)) = &since {
                    page.records.retain(|r| {
                        r.field_path(cursor.field())
                            .ok()
                            .flatten()
                            .and_then(|raw| {
                                intake::state::CursorValue::parse_json_text(
                                    raw.get(),
                                    intake::CursorKind::DateTime,
                                )
                            })
                            .is_none_or(|v| v >= *since)
                    });
                }
                Ok(page)
            })
            .boxed()
    }
}

/// A stream skipped, with a warning, when the token lacks its scope; the sync goes on.
fn guarded(stream: impl Stream + 'static) -> Arc<dyn Stream> {
    let name = stream.name().to_string();
    Arc::new(SkipOnError::new(stream, move |e, _| {
        missing_scopes(e).map(|scopes| {
            Skip::Stream(format!("stream \"{name}\" skipped: the token lacks the scope(s) {scopes}; add them to sync it (its table and state are kept as they were)"))
        })
    }))
}

/// The custom objects the portal defines (none when the token may not list them).
async fn custom_objects(api: &HttpApi) -> Result<Vec<CrmObject>> {
    let ctx = StreamContext::detached("hubspot");
    let body = match api.get_json("/crm/v3/schemas", &ctx).await {
        Ok(body) => body,
        Err(e) => {
            return match missing_scopes(&e) {
                Some(scopes) => {
                    tracing::warn!(
                        "custom objects are not listed: the token lacks the scope(s) {scopes}"
                    );
                    Ok(Vec::new())
                }
                None => Err(e),
            };
        }
    };
    let standard: Vec<&str> = OBJECTS.iter().map(|o| o.0).collect();
    let mut out = Vec::new();
    for schema in body
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(type_id)) = (
            schema.get("name").and_then(Value::as_str),
            schema.get("objectTypeId").and_then(Value::as_str),
        ) else {
            continue;
        };
        if schema.get("archived").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let stream = if standard.contains(&name) {
            format!("custom_{name}")
        } else {
            name.to_string()
        };
        out.push(CrmObject {
            stream,
            object_type: type_id.to_string(),
            modified_property: "hs_lastmodifieddate".into(),
            associations: Vec::new(),
        });
    }
    Ok(out)
}

fn owners(api: &HttpApi, start: Option<DateTime<Utc>>) -> intake::http::HttpStream {
    api.stream("owners")
        .get("/crm/v3/owners")
        .query("limit", "100")
        .query("archived", "{partition.archived}")
        .records_at("/results")
        .paginate(Paginator::cursor_from_body("/paging/next/after").into_query("after"))
        .partition_keys(vec![json!({"archived": false}), json!({"archived": true})])
        .primary_key("id")
        .incremental(
            Cursor::new("updatedAt")
                .kind(intake::CursorKind::DateTime)
                .boundary(intake::state::Boundary::Inclusive)
                .start(start.map(|t| json!(crate::properties::rfc3339(&t)))),
        )
        .schema(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "email": {"type": ["null", "string"]},
                "firstName": {"type": ["null", "string"]},
                "lastName": {"type": ["null", "string"]},
                "userId": {"type": ["null", "integer"]},
                "userIdIncludingInactive": {"type": ["null", "integer"]},
                "type": {"type": ["null", "string"]},
                "createdAt": {"type": ["null", "string"], "format": "date-time"},
                "updatedAt": {"type": "string", "format": "date-time"},
                "archived": {"type": "boolean"},
                "teams": {"type": ["null", "array"]}
            }
        }))
}

fn pipelines(api: &HttpApi, object: &str) -> intake::http::HttpStream {
    api.stream(&format!("{}_pipelines", object.trim_end_matches('s')))
        .get(&format!("/crm/v3/pipelines/{object}"))
        .records_at("/results")
        .primary_key("id")
        .schema(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "label": {"type": ["null", "string"]},
                "displayOrder": {"type": ["null", "integer"]},
                "archived": {"type": ["null", "boolean"]},
                "createdAt": {"type": ["null", "string"], "format": "date-time"},
                "updatedAt": {"type": ["null", "string"], "format": "date-time"},
                "stages": {"type": ["null", "array"]}
            }
        }))
}

/// The streams of a config: the standard objects, the portal's custom objects, owners and
/// pipelines, each skipped with a warning when the token lacks its scope.
pub(crate) async fn streams(cfg: &HubSpotConfig, api: HttpApi) -> Result<Vec<Arc<dyn Stream>>> {
    let hub = Arc::new(crm::Hub {
        api: api.clone(),
        start: cfg.start_date,
        lookback: Duration::from_secs(60 * u64::from(cfg.lookback_minutes.unwrap_or(1))),
    });
    let mut objects: Vec<CrmObject> = OBJECTS
        .iter()
        .map(|(stream, object, modified, associations)| CrmObject {
            stream: stream.to_string(),
            object_type: object.to_string(),
            modified_property: modified.to_string(),
            associations: if cfg.associations.unwrap_or(true) {
                associations.iter().map(|a| a.to_string()).collect()
            } else {
                Vec::new()
            },
        })
        .collect();
    objects.extend(custom_objects(&api).await?);
    let mut streams: Vec<Arc<dyn Stream>> = objects
        .into_iter()
        .map(|o| guarded(crm::CrmStream::new(hub.clone(), o)))
        .collect();
    streams.push(guarded(SinceFilter(owners(&api, cfg.start_date))));
    streams.push(guarded(pipelines(&api, "deals")));
    streams.push(guarded(pipelines(&api, "tickets")));
    Ok(streams)
}

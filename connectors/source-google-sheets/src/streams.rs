//! A tab as a stream: its schema from the header, its rows in batches.

use futures::StreamExt;
use intake::source::StreamContext;
use intake::{
    Error, Page, PageStream, PrimaryKey, ReadRequest, Record, Result, Stream, async_trait,
};
use serde_json::{Map, Value, json};

use crate::client::{Client, Tab};
use crate::config::ROW;
use crate::rows::{quote_title, row_record};
pub(crate) struct SheetStream {
    pub(crate) client: Client,
    pub(crate) tab: Tab,
}

impl SheetStream {
    /// The tab's current row count (rows may have been added since discovery).
    pub(crate) async fn row_count(&self, ctx: &StreamContext) -> Result<u64> {
        let sheets = self.client.sheets(ctx).await?;
        sheets
            .into_iter()
            .find(|(t, ..)| *t == self.tab.title)
            .map(|(_, _, rows, _)| rows)
            .ok_or_else(|| {
                Error::config(format!(
                    "sheet \"{}\" is no longer in spreadsheet {}: discover again",
                    self.tab.title, self.client.id
                ))
            })
    }
}

#[async_trait]
impl Stream for SheetStream {
    fn name(&self) -> &str {
        &self.tab.title
    }

    async fn json_schema(&self) -> Result<Value> {
        let mut props = Map::new();
        props.insert(ROW.into(), json!({"type": "integer"}));
        for (c, kind) in self.tab.columns.iter().zip(&self.tab.types) {
            props.insert(c.name.clone(), json!({"type": ["null", kind]}));
        }
        Ok(
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                  "properties": props, "required": [ROW]}),
        )
    }

    fn primary_key(&self) -> PrimaryKey {
        ROW.into()
    }

    fn declared_limits(&self) -> intake::DeclaredLimits {
        self.client.api.declared_limits(None)
    }

    fn read(&self, request: ReadRequest) -> PageStream<'_> {
        let ctx = request.context.clone();
        let first = request
            .resume
            .as_ref()
            .and_then(|t| t.get("row"))
            .and_then(Value::as_u64)
            .unwrap_or(2)
            .max(2);
        futures::stream::try_unfold((first, None::<u64>), move |(start, rows)| {
            let ctx = ctx.clone();
            async move {
                let rows = match rows {
                    Some(r) => r,
                    None => self.row_count(&ctx).await?,
                };
                if start > rows {
                    return Ok(None);
                }
                let end = (start + u64::from(self.client.batch) - 1).min(rows);
                let range = format!(
                    "{}!A{start}:{}{end}",
                    quote_title(&self.tab.title),
                    self.tab.last_column
                );
                // Row 1 comes along (one more range in the same request): a column inserted,
                // moved or renamed mid-read would put values under the wrong names.
                let header = format!("{}!1:1", quote_title(&self.tab.title));
                let mut answer = self.client.batch_get(&[header, range], &ctx).await?;
                let values = answer.pop().unwrap_or_default();
                let now = answer.pop().and_then(|h| h.into_iter().next()).unwrap_or_default();
                if now != self.tab.header {
                    return Err(Error::transient(format!(
                        "the header row of sheet \"{}\" changed during the read (a column was inserted, moved or renamed): rows after row {} would land under the wrong names; the next sync reads the new layout",
                        self.tab.title,
                        start - 1
                    )));
                }
                let mut records = Vec::with_capacity(values.len());
                for (i, row) in values.iter().enumerate() {
                    if let Some(v) =
                        row_record(row, &self.tab.columns, &self.tab.types, start + i as u64)
                    {
                        records.push(Record::from_value(&v)?);
                    }
                }
                let next = end + 1;
                let page = if next <= rows {
                    Page::new(records).resume_from(json!({ "row": next }))
                } else {
                    Page::new(records)
                };
                Ok(Some((page, (next, Some(rows)))))
            }
        })
        .boxed()
    }
}

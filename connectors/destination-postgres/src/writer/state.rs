//! The state stored with the data, read back at the start of a sync.

use intake::{Error, Result, State, StreamDescriptor};
use serde_json::Value;
use tokio_postgres::Client;

use super::sql::{STATE_TABLE, pg_error, quote};

/// The state stored by earlier syncs, if any.
pub(crate) async fn stored_state(client: &Client, schema: &str) -> Result<Option<State>> {
    let table = format!("{}.{}", quote(schema), STATE_TABLE);
    let exists: Option<String> = client
        .query_one("SELECT to_regclass($1)::text", &[&table])
        .await
        .map_err(pg_error("looking for the state table"))?
        .get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let rows = client
        .query(
            &format!("SELECT name, namespace, state::text FROM {table}"),
            &[],
        )
        .await
        .map_err(pg_error("reading the state"))?;
    let mut state = State::new();
    for row in rows {
        let (name, namespace, text): (String, Option<String>, String) =
            (row.get(0), row.get(1), row.get(2));
        let blob: Value = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!("the stored state of \"{name}\" is not JSON: {e}"))
        })?;
        state.set_stream(StreamDescriptor { name, namespace }, blob);
    }
    Ok((!state.is_empty()).then_some(state))
}

//! The HubSpot CRM v3 source.
//!
//! - **Streams**: contacts, companies, deals, tickets, products, line_items, the five engagement
//!   types (`engagements_calls`, `_emails`, `_meetings`, `_notes`, `_tasks`), owners (active and
//!   archived), deal and ticket pipelines, and every custom object `/crm/v3/schemas` lists.
//! - **Schemas** come from `/crm/v3/properties/{object}`: each property becomes a
//!   `properties_<name>` column typed from its definition, and HubSpot's string values are cast
//!   on read (`""` for a number is null; a value that will not cast stays a string).
//! - **Full refresh** pages the list endpoint (100 per page), splitting long property lists into
//!   chunks that keep each URL under about 15,000 characters and merging them per record, then
//!   reads archived records (`archived: true`) in a second pass. It resumes from the last page.
//! - **Incremental** searches on the last-modified property, ascending, 200 per page, and
//!   restarts its window before the search API's 10,000-result cap so any number of changes
//!   syncs. Search never returns archived records: a full refresh catches deletions.
//! - **Associations** (contacts -> companies, companies -> contacts, deals -> contacts and
//!   companies) are arrays of ids on the record, read with the v4 batch API.
//! - **Limits**: the portal's requests per 10 seconds (paced at 90%), search at 4 per second on
//!   its own (paced at 75%); a 429 for the DAILY quota stops the sync with a transient error instead of
//!   retrying; a 403 MISSING_SCOPES skips that stream with a warning.
//!
//! ```no_run
//! # async fn demo() -> intake::Result<()> {
//! use intake_source_hubspot::HubSpotSource;
//! use serde_json::json;
//!
//! let config = json!({"credentials": {"auth_type": "private_app", "access_token": "pat-na1-…"},
//!                     "start_date": "2024-01-01T00:00:00Z"});
//! let report = intake::sync(HubSpotSource::new(), config)
//!     .to(intake::destination::jsonl::JsonlDestination::new("out"))
//!     .run()
//!     .await?;
//! # let _ = report; Ok(()) }
//! ```

#![warn(missing_docs)]

mod client;
mod config;
mod crm;
#[cfg(feature = "mock")]
pub mod mock;
pub mod properties;
mod source;
mod streams;

pub use client::{api, missing_scopes};
pub use config::{
    Credentials, DEFAULT_BASE_URL, DEFAULT_REQUESTS_PER_10_SECONDS, HubSpotConfig,
    SEARCH_REQUESTS_PER_SECOND,
};
pub use crm::{CrmObject, SEARCH_CAP};
pub use source::HubSpotSource;

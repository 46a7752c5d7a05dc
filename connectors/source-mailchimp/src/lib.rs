//! The Mailchimp Marketing API v3 source.
//!
//! - **Auth**: an API key (`<key>-us6`; the suffix is the datacenter, so the API lives at
//!   `https://us6.api.mailchimp.com/3.0`; Basic auth with any user name), or an OAuth access
//!   token whose datacenter comes from `login.mailchimp.com/oauth2/metadata`.
//! - **Streams**: lists, list_members (a partition and a state per list), merge_fields,
//!   segments, segment_members, interest_categories, interests, tags, campaigns, reports,
//!   email_activity (a row per activity of each email of each sent campaign), unsubscribes and
//!   automations. Members' `merge_fields` are typed from each list's merge fields.
//! - **Paging**: offset/count (1,000 by default, the maximum), ending at `total_items`, on a
//!   short page or on an empty page, whichever comes first (`total_items` is sometimes wrong);
//!   members sorted by `last_changed` and campaigns by `create_time` so paging is stable while
//!   data changes; `_links` excluded.
//! - **Incremental**: `since_last_changed` (members), `since_date_created` (lists),
//!   `since_create_time` (campaigns, automations), `since_send_time` (reports),
//!   `since_updated_at` (segments), `since` (email activity), each with its own state per
//!   partition. An unset date (`""`) is null.
//! - **Limits**: Mailchimp allows 10 simultaneous connections and sends no rate-limit headers:
//!   at most `concurrency` requests (default and maximum 10) are in flight across every stream
//!   and partition; 429 and 5xx are retried, and so is an HTML error page from Mailchimp's edge.
//! - **Errors**: problem+json bodies (title, detail, instance) are quoted in error messages; an
//!   invalid key or the wrong datacenter is a config error that says which; a report that does
//!   not exist (404) skips that campaign's partition.

#![warn(missing_docs)]

mod client;
mod config;
#[cfg(feature = "mock")]
pub mod mock;
mod records;
mod schemas;
mod source;
mod streams;

pub use config::{
    Credentials, MAX_CONCURRENCY, MAX_PAGE_SIZE, METADATA_URL, MailchimpConfig, datacenter,
};
pub use records::{activity_rows, blank_dates};
pub use source::MailchimpSource;

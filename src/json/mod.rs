//! Reading JSON that comes from outside (an API's response) without building it into values.
//!
//! A [`Reader`] steps through the text and checks every byte it passes over: the members and
//! elements the caller asks for, and every value it skips. Each value it hands out is a
//! [`RawJson`], a slice of the text that is valid JSON by construction, so a connector can take
//! the members it needs from a page and write them into records with
//! [`RecordBuilder::raw`](crate::record::RecordBuilder::raw) without parsing them a second
//! time or building a tree first. Strings are checked sixteen bytes at a time.
//!
//! What it accepts is JSON as RFC 8259 defines it, plus one rule serde_json's `Value` also
//! keeps: a `\u` escape of half a surrogate pair must come with its other half. Numbers are
//! checked against the grammar, not against a range. Nesting deeper than 127 levels is refused
//! rather than followed (serde_json's limit too).
//!
//! ```
//! use intake::json::Reader;
//!
//! let page = r#"{"results": [{"id": "1", "name": "Ada"}, {"id": "2"}], "paging": null}"#;
//! let mut r = Reader::new(page);
//! let mut ids = Vec::new();
//! let mut top = r.object()?;
//! while let Some(key) = top.next_key(&mut r)? {
//!     if key != "results" {
//!         r.value()?; // skipped, but checked
//!         continue;
//!     }
//!     let mut results = r.array()?;
//!     while results.next(&mut r)? {
//!         let mut record = r.object()?;
//!         while let Some(key) = record.next_key(&mut r)? {
//!             let value = r.value()?;
//!             if key == "id" {
//!                 ids.push(value.as_str().expect("a string").into_owned());
//!             }
//!         }
//!     }
//! }
//! r.finish()?;
//! assert_eq!(ids, ["1", "2"]);
//!
//! // Nothing invalid gets through, wherever it is.
//! let mut r = Reader::new(r#"{"a": [1, tru]}"#);
//! let mut top = r.object()?;
//! top.next_key(&mut r)?;
//! assert!(r.value().is_err());
//! # Ok::<(), intake::json::JsonError>(())
//! ```

mod reader;
pub(crate) mod scan;
mod swar;
mod text;

pub use reader::{Array, JsonError, MAX_DEPTH, Object, RawJson, Reader};
pub(crate) use swar::needs_escape;
pub use text::json_str;
pub(crate) use text::{compact_json, has_control_bytes};

//! Per-stream state, incremental cursors and checkpoints.
//!
//! # The state a connection keeps
//! [`State`] maps each stream to a JSON blob, exactly as the Airbyte protocol's per-stream
//! `STATE` messages carry it. It reads every form orchestrators send (an empty array on a first
//! run, a list of `STREAM` or `GLOBAL` messages, a legacy object) and writes `STREAM` messages.
//!
//! # What intake stores for a stream
//! For the streams intake drives, the blob is a [`StreamState`]:
//! ```json
//! {"cursor": "2024-03-01T10:00:00Z", "boundary_keys": [["42"]],
//!  "partitions": [{"partition": {"list_id": "a1"}, "cursor": "2024-02-01T00:00:00Z"}]}
//! ```
//! - `cursor` is the maximum cursor value of the records delivered so far. The next read asks
//!   the API for records at or after it (minus the [`Cursor::lookback`] window);
//! - `boundary_keys` are the primary keys of the records whose cursor equals `cursor`. Reading
//!   from an inclusive start returns them again, and they are skipped, so the boundary never
//!   loses a record (two records updated in the same second) and never duplicates one;
//! - `resume` marks a read that stopped mid-way: the page token to continue from, the start of
//!   that pass and the maximum seen so far;
//! - `partitions` holds the same fields per partition (a parent record, a date slice).
//!
//! Unknown fields are kept, so a blob round-trips exactly.

mod cursor;
mod stored;
mod stream;
mod tracker;
mod value;

pub use cursor::{Boundary, Cursor, CursorOrder, MissingCursor};
pub use stored::{State, StreamStateMessage};
pub use stream::{CursorState, PartitionState, ResumePoint, StreamState};
pub use tracker::{CursorTracker, MAX_BOUNDARY_KEYS, Observed};
pub use value::{CursorKind, CursorValue, Number, parse_datetime};

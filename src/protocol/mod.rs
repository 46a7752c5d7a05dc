//! The Airbyte protocol: message types and the stdio runner that gives any connector a `main`.
//!
//! ```no_run
//! # struct MySource;
//! # #[async_trait::async_trait]
//! # impl intake::Source for MySource {
//! #   fn spec(&self) -> intake::ConnectorSpec { unimplemented!() }
//! #   async fn check(&self, _: &serde_json::Value) -> intake::Result<()> { Ok(()) }
//! #   async fn streams(&self, _: &serde_json::Value) -> intake::Result<Vec<std::sync::Arc<dyn intake::Stream>>> { Ok(vec![]) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     intake::protocol::run_source(MySource)
//! }
//! ```
//! The binary then answers `spec`, `check --config F`, `discover --config F` and
//! `read --config F --catalog F [--state F]`; a destination answers `spec`, `check --config F`
//! and `write --config F --catalog F` with messages on stdin. Every line printed on stdout is a
//! protocol message; a bad argument or an unreadable file is a TRACE error and exit code 1.

mod command;
mod destination;
mod message;
mod source;

#[cfg(feature = "fuzzing")]
pub(crate) use destination::feed_for_fuzzing as runner_fuzzing;

pub use command::{Command, parse_args};
pub use destination::{MAX_MESSAGE_BYTES, run_destination, run_destination_with};
pub use message::{InputMessage, InputRecord, MessageWriter, state_message};
pub use source::{run_source, run_source_with, run_source_with_args};

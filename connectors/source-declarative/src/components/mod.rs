//! The manifest's components that decide what a page holds and what comes next, each built
//! from its (preprocessed) manifest node with errors naming the node's path, and each with
//! airbyte-cdk's semantics: decoding a body, finding records (`DpathExtractor`), filtering
//! them (`RecordFilter`), and the pagination strategies.

pub mod auth;
pub mod decoder;
pub mod dpath;
pub mod extractor;
pub mod headers;
pub mod pagination;
pub mod paginator;
pub mod partitions;
pub mod request_option;
pub mod requester;
pub mod retriever;

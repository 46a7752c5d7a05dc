//! The error taxonomy.
//!
//! Every failure in intake is one of three kinds, and the kind decides what happens next:
//!
//! | kind | meaning | what to do | Airbyte `failure_type` |
//! |---|---|---|---|
//! | [`Error::Config`] | the user must fix something (bad credentials, a typo in the config, a corrupt state file) | fix and rerun | `config_error` |
//! | [`Error::Transient`] | the outside world failed for now (timeouts, 5xx, rate limits past the retry budget) | rerun later; no data is lost | `transient_error` |
//! | [`Error::System`] | a bug, or an API broke its contract (a paginator that loops, a body that is not JSON) | report it | `system_error` |
//!
//! Messages are lowercase, never contain a secret, and keep their cause reachable through
//! [`std::error::Error::source`].

use std::fmt;
use std::time::Duration;

/// A boxed cause, kept so callers can walk the chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type used throughout intake.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An intake error: a kind, a message a user can act on, and an optional cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The user must change something: the config, credentials, the catalog or the state.
    #[error("config error: {message}")]
    Config {
        /// What is wrong and, where possible, how to fix it.
        message: String,
        /// The underlying cause.
        #[source]
        source: Option<BoxError>,
    },
    /// A temporary failure: retrying later is expected to succeed.
    #[error("transient error: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// How long the remote side asked us to wait, when it said so.
        retry_after: Option<Duration>,
        /// The underlying cause.
        #[source]
        source: Option<BoxError>,
    },
    /// A bug in a connector or intake, or a remote API that broke its contract.
    #[error("system error: {message}")]
    System {
        /// What went wrong.
        message: String,
        /// The underlying cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The sync was cancelled before it finished; the last acknowledged state is still valid.
    #[error("sync cancelled")]
    Cancelled,
}

/// The Airbyte protocol's classification of a failure (TRACE ERROR `failure_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    /// The user must fix the configuration.
    ConfigError,
    /// Retry later.
    TransientError,
    /// A bug or a broken contract.
    SystemError,
}

impl fmt::Display for FailureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureType::ConfigError => "config_error",
            FailureType::TransientError => "transient_error",
            FailureType::SystemError => "system_error",
        })
    }
}

impl Error {
    /// A config error with a message.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
            source: None,
        }
    }

    /// A transient error with a message.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient {
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// A system error with a message.
    pub fn system(message: impl Into<String>) -> Self {
        Error::System {
            message: message.into(),
            source: None,
        }
    }

    /// Attaches a cause. The cause's own message must not contain secrets either.
    pub fn with_source(mut self, cause: impl Into<BoxError>) -> Self {
        match &mut self {
            Error::Config { source, .. }
            | Error::Transient { source, .. }
            | Error::System { source, .. } => *source = Some(cause.into()),
            Error::Cancelled => {}
        }
        self
    }

    /// Sets how long the remote side asked to wait (transient errors only).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        if let Error::Transient { retry_after, .. } = &mut self {
            *retry_after = Some(wait);
        }
        self
    }

    /// Prefixes the message with the stream it happened in: `stream "contacts": ...`.
    pub fn in_stream(mut self, stream: &str) -> Self {
        if let Some(message) = self.message_mut() {
            *message = format!("stream \"{stream}\": {message}");
        }
        self
    }

    /// Prefixes the message with some context: `reading state file: ...`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        if let Some(message) = self.message_mut() {
            *message = format!("{context}: {message}");
        }
        self
    }

    fn message_mut(&mut self) -> Option<&mut String> {
        match self {
            Error::Config { message, .. }
            | Error::Transient { message, .. }
            | Error::System { message, .. } => Some(message),
            Error::Cancelled => None,
        }
    }

    /// The message without the kind prefix, for users (`TRACE.error.message`).
    pub fn message(&self) -> &str {
        match self {
            Error::Config { message, .. }
            | Error::Transient { message, .. }
            | Error::System { message, .. } => message,
            Error::Cancelled => "sync cancelled",
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Transient { .. } | Error::Cancelled)
    }

    /// Whether the user must change their configuration.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config { .. })
    }

    /// How long the remote side asked to wait before retrying, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The Airbyte `failure_type` this error maps to.
    pub fn failure_type(&self) -> FailureType {
        match self {
            Error::Config { .. } => FailureType::ConfigError,
            Error::Transient { .. } | Error::Cancelled => FailureType::TransientError,
            Error::System { .. } => FailureType::SystemError,
        }
    }

    /// The whole cause chain as one line, for `TRACE.error.internal_message`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

impl From<std::io::Error> for Error {
    /// I/O failures on local files are system errors unless they look like a missing or
    /// unreadable path, which the user can fix.
    fn from(err: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match err.kind() {
            NotFound | PermissionDenied => Error::config(err.to_string()).with_source(err),
            Interrupted | TimedOut | WouldBlock => {
                Error::transient(err.to_string()).with_source(err)
            }
            _ => Error::system(err.to_string()).with_source(err),
        }
    }
}

/// The first 120 characters of a text, quoted, for error messages (cut at a character
/// boundary).
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{:?}...", &text[..end])
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_failure_types() {
        assert_eq!(Error::config("x").failure_type(), FailureType::ConfigError);
        assert_eq!(
            Error::transient("x").failure_type(),
            FailureType::TransientError
        );
        assert_eq!(Error::system("x").failure_type(), FailureType::SystemError);
        assert!(Error::transient("x").is_retryable());
        assert!(!Error::config("x").is_retryable());
        assert!(!Error::system("x").is_retryable());
    }

    #[test]
    fn context_and_stream_prefix_the_message() {
        let err = Error::system("cursor seen twice")
            .in_stream("contacts")
            .context("reading");
        assert_eq!(
            err.message(),
            "reading: stream \"contacts\": cursor seen twice"
        );
        assert_eq!(
            err.to_string(),
            "system error: reading: stream \"contacts\": cursor seen twice"
        );
    }

    #[test]
    fn chain_includes_causes() {
        let io = std::io::Error::other("disk full");
        let err = Error::system("writing batch").with_source(io);
        assert_eq!(err.chain(), "system error: writing batch: disk full");
        let t = Error::transient("429").with_retry_after(Duration::from_secs(3));
        assert_eq!(t.retry_after(), Some(Duration::from_secs(3)));
    }
}

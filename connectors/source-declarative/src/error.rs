//! The errors a manifest can have, each naming where in the manifest it is
//! (`definitions.retriever.paginator`, `streams[3].retriever`), so the author can find it.

/// What is wrong with a manifest, or with a value interpolated from it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not YAML (or JSON).
    #[error("the manifest is not valid YAML: {0}")]
    Yaml(String),
    /// A node is malformed: a missing field, a wrong type, a reference to nothing.
    #[error("{path}: {message}")]
    Invalid {
        /// Where in the manifest (`streams[2].retriever.requester`).
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A component or feature this runtime does not implement. Never skipped silently.
    #[error("{path}: {kind} is not supported by intake's manifest runtime{}", why.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
    Unsupported {
        /// Where in the manifest.
        path: String,
        /// The component's `type` (or the feature).
        kind: String,
        /// Why, or what to use instead.
        why: Option<String>,
    },
    /// A Jinja expression that does not parse or fails to evaluate.
    #[error("{path}: the expression {template:?} {message}")]
    Interpolation {
        /// Where the expression is (empty when evaluated outside a manifest).
        path: String,
        /// The template text.
        template: String,
        /// What went wrong.
        message: String,
    },
}

impl ManifestError {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<ManifestError> for intake::Error {
    fn from(e: ManifestError) -> Self {
        intake::Error::config(e.to_string())
    }
}

/// This crate's result.
pub type Result<T, E = ManifestError> = std::result::Result<T, E>;

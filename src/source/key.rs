//! [`PrimaryKey`]: the fields that identify a stream's record.

/// The fields that identify a record of a stream: one field in the common case
/// (`PrimaryKey::from("id")`), several for a composite key (`["list_id", "id"]`), or paths
/// into nested objects ([`PrimaryKey::paths`]). Empty: the stream has none.
///
/// ```
/// use intake::source::PrimaryKey;
/// assert_eq!(PrimaryKey::from("id").as_paths(), [vec!["id".to_string()]]);
/// assert_eq!(PrimaryKey::from(["list_id", "id"]).as_paths().len(), 2);
/// assert!(PrimaryKey::none().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrimaryKey(Vec<Vec<String>>);

impl PrimaryKey {
    /// No primary key.
    pub fn none() -> Self {
        PrimaryKey(Vec::new())
    }

    /// A key of paths into the record (`[["customer", "id"]]` for `record.customer.id`), as
    /// the Airbyte protocol writes keys.
    pub fn paths(paths: Vec<Vec<String>>) -> Self {
        PrimaryKey(paths)
    }

    /// The key as the protocol's paths.
    pub fn as_paths(&self) -> &[Vec<String>] {
        &self.0
    }

    /// The key as the protocol's paths, owned.
    pub fn into_paths(self) -> Vec<Vec<String>> {
        self.0
    }

    /// Whether the stream has no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for PrimaryKey {
    fn from(field: &str) -> Self {
        PrimaryKey(vec![vec![field.to_string()]])
    }
}

impl From<String> for PrimaryKey {
    fn from(field: String) -> Self {
        PrimaryKey(vec![vec![field]])
    }
}

impl<const N: usize> From<[&str; N]> for PrimaryKey {
    fn from(fields: [&str; N]) -> Self {
        PrimaryKey(fields.iter().map(|f| vec![f.to_string()]).collect())
    }
}

impl From<&[&str]> for PrimaryKey {
    fn from(fields: &[&str]) -> Self {
        PrimaryKey(fields.iter().map(|f| vec![f.to_string()]).collect())
    }
}

impl From<Vec<Vec<String>>> for PrimaryKey {
    fn from(paths: Vec<Vec<String>>) -> Self {
        PrimaryKey(paths)
    }
}

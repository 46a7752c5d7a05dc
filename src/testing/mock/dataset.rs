//! The records an endpoint serves, shared with the test that changes them.

use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Records a mock endpoint serves, shared with the test so it can change them between reads
/// (a new record, an updated one) the way a live account changes.
#[derive(Debug, Clone, Default)]
pub struct Dataset(Arc<Mutex<Vec<Value>>>);

impl Dataset {
    /// A dataset of these records.
    pub fn new(records: Vec<Value>) -> Self {
        Dataset(Arc::new(Mutex::new(records)))
    }

    /// Adds a record.
    pub fn push(&self, record: Value) {
        self.lock().push(record);
    }

    /// Changes the records in place.
    pub fn update(&self, f: impl FnOnce(&mut Vec<Value>)) {
        f(&mut self.lock());
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the records.
    pub fn snapshot(&self) -> Vec<Value> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl From<Vec<Value>> for Dataset {
    fn from(records: Vec<Value>) -> Self {
        Dataset::new(records)
    }
}

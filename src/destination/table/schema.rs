//! A stream's table: its columns in schema order, and how a record's fields map onto them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU16, Ordering};

use serde_json::Value;

use super::{Cell, ColumnKind, Fields, Misfit, cell};
/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The field name (the record's top-level key).
    pub name: String,
    /// Its kind.
    pub kind: ColumnKind,
}

/// The columns of a stream's table, in schema order, with a name index (a fast hash, seeded
/// per process: names come from the data).
#[derive(Debug, Clone, Default)]
pub struct TableSchema {
    columns: Vec<Column>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    guesses: Guesses,
}

/// For the first fields of a record, the column the field at each position had last time:
/// a source's records list their fields in the same order, so a record's fields usually find
/// their columns by one name comparison instead of a hash lookup. Always checked against the
/// column's name, so a stale or raced guess only costs the lookup. Atomics (relaxed: plain
/// loads and stores) keep the schema shareable between threads.
struct Guesses([AtomicU16; GUESSES]);

const GUESSES: usize = 32;

impl Guesses {
    const NONE: u16 = u16::MAX;

    fn get(&self, field: usize) -> Option<usize> {
        let g = self.0.get(field)?.load(Ordering::Relaxed);
        (g != Self::NONE).then_some(usize::from(g))
    }

    fn set(&self, field: usize, column: usize) {
        if let (Some(slot), Ok(column)) = (self.0.get(field), u16::try_from(column)) {
            slot.store(column, Ordering::Relaxed);
        }
    }
}

impl Default for Guesses {
    fn default() -> Self {
        Guesses(std::array::from_fn(|_| AtomicU16::new(Self::NONE)))
    }
}

impl Clone for Guesses {
    fn clone(&self) -> Self {
        Guesses(std::array::from_fn(|field| {
            AtomicU16::new(self.0[field].load(Ordering::Relaxed))
        }))
    }
}

impl fmt::Debug for Guesses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Guesses")
    }
}

impl TableSchema {
    /// The columns a stream's JSON Schema declares (its top-level `properties`).
    pub fn from_json_schema(schema: &Value) -> TableSchema {
        let mut t = TableSchema::default();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                t.push(Column {
                    name: name.clone(),
                    kind: ColumnKind::from_schema(prop),
                });
            }
        }
        t
    }

    /// Adds a column (replacing the kind of an existing one of the same name).
    pub fn push(&mut self, column: Column) {
        match self.index.get(&column.name) {
            Some(&i) => self.columns[i] = column,
            None => {
                self.index.insert(column.name.clone(), self.columns.len());
                self.columns.push(column);
            }
        }
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The position of a column.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The position of the column of a record's `field`-th field, `name`: where that field's
    /// column was last time if the name matches, else from the index.
    fn position_of_field(&self, field: usize, name: &str) -> Option<usize> {
        if let Some(g) = self.guesses.get(field)
            && self.columns.get(g).is_some_and(|c| c.name == name)
        {
            return Some(g);
        }
        let i = self.position(name)?;
        self.guesses.set(field, i);
        Some(i)
    }

    /// The column at a position.
    pub fn column(&self, i: usize) -> &Column {
        &self.columns[i]
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl TableSchema {
    /// The columns a record needs that the table lacks: a new non-null field (typed by its
    /// value), or an integer column meeting a fraction (widened to number, losslessly).
    /// Fields named in `skip` (a destination's metadata columns) are ignored.
    pub fn changes_for(&self, fields: &Fields<'_>, skip: &[&str]) -> Vec<Column> {
        let mut changes: Vec<Column> = Vec::new();
        for (name, raw) in fields.iter() {
            if skip.contains(&name) || changes.iter().any(|c| c.name == name) {
                continue;
            }
            match self.position(name) {
                None => {
                    let value: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
                    if !value.is_null() {
                        changes.push(Column {
                            name: name.to_string(),
                            kind: ColumnKind::of_value(&value),
                        });
                    }
                }
                Some(i) => {
                    if self.column(i).kind == ColumnKind::Integer
                        && cell(raw, ColumnKind::Integer) == Err("a fractional number")
                    {
                        changes.push(Column {
                            name: name.to_string(),
                            kind: ColumnKind::Number,
                        });
                    }
                }
            }
        }
        changes
    }

    /// A record's cells in column order (absent fields are null), and every value that did
    /// not fit its column. Fields without a column are ignored: apply
    /// [`TableSchema::changes_for`] first.
    pub fn cells<'a>(&self, fields: &Fields<'a>) -> (Vec<Cell<'a>>, Vec<Misfit>) {
        // Without the check the fill never stops early.
        self.fill(fields, None)
            .unwrap_or_else(|| (vec![Cell::Null; self.len()], Vec::new()))
    }

    /// [`TableSchema::cells`] in the same pass that checks the record needs no column change:
    /// `None` when [`TableSchema::changes_for`] has changes for it (apply them, then call
    /// [`TableSchema::cells`]). The common case costs one lookup per field instead of two.
    pub fn cells_if_unchanged<'a>(
        &self,
        fields: &Fields<'a>,
        skip: &[&str],
    ) -> Option<(Vec<Cell<'a>>, Vec<Misfit>)> {
        self.fill(fields, Some(skip))
    }

    /// The cells; with `check` (the fields to ignore), `None` as soon as a field needs a column
    /// change (a new non-null field, a fraction in an integer column).
    fn fill<'a>(
        &self,
        fields: &Fields<'a>,
        check: Option<&[&str]>,
    ) -> Option<(Vec<Cell<'a>>, Vec<Misfit>)> {
        let mut cells = vec![Cell::Null; self.len()];
        let mut misfits = Vec::new();
        for (field, (name, raw)) in fields.iter().enumerate() {
            let Some(i) = self.position_of_field(field, name) else {
                match check {
                    Some(skip) if !skip.contains(&name) && raw != "null" => return None,
                    _ => continue,
                }
            };
            let kind = self.column(i).kind;
            match cell(raw, kind) {
                Ok(c) => cells[i] = c,
                Err("a fractional number") if check.is_some() && kind == ColumnKind::Integer => {
                    return None;
                }
                Err(found) => misfits.push(Misfit {
                    field: name.to_string(),
                    expected: kind,
                    found,
                }),
            }
        }
        Some((cells, misfits))
    }
}

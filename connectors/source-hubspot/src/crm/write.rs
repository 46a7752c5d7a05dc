//! Writing a CRM object as a record: properties cast by type, associations as id arrays.

use std::collections::{HashMap, HashSet};

use intake::record::EscapedName;
use intake::{Record, RecordBuilder, Result};

use super::page::ApiObject;
use crate::properties::{PREFIX, Property, PropertyType, cast_raw};
/// Associated ids: by associated object type, by record id.
pub(super) type Associations = HashMap<String, HashMap<String, Vec<String>>>;

/// One output record, written straight from the API's JSON by [`write_record`].
pub(super) struct OutRecord<'a, 'b> {
    pub(super) id: &'a str,
    pub(super) object: &'a ApiObject<'b>,
    /// The same record in later property chunks' answers.
    pub(super) more: &'a [&'a ApiObject<'b>],
    /// Sorted by name (as [`parse_properties`] returns them).
    pub(super) properties: &'a [Property],
    pub(super) associations: Option<(&'a Associations, &'a [String])>,
}

/// Writes one output record: `id`, the timestamps, `archived`, `properties_<name>` for every
/// property of every chunk (each once), and an array of ids per association. The API's JSON is
/// copied where it is already final (string values, canonical instants), so a record costs
/// about one pass over its bytes.
pub(super) fn write_record(
    out: &mut RecordBuilder,
    record: &OutRecord<'_, '_>,
    kinds: &mut KindCache,
) -> Result<Record> {
    let object = record.object;
    if object.id.get().starts_with('"') {
        out.raw("id", object.id);
    } else {
        out.str("id", record.id);
    }
    for (name, value) in [
        ("createdAt", object.created_at),
        ("updatedAt", object.updated_at),
        ("archivedAt", object.archived_at),
    ] {
        if let Some(raw) = value {
            write_out(out, name, cast_raw(PropertyType::DateTime, raw))?;
        }
    }
    out.bool("archived", object.archived.unwrap_or(false));
    let mut written: Option<HashSet<&str>> = (!record.more.is_empty()).then(Default::default);
    let all = std::iter::once(object)
        .chain(record.more.iter().copied())
        .filter_map(|o| o.properties.as_ref())
        .flat_map(|p| p.0.iter());
    for (position, (name, raw)) in all.enumerate() {
        if let Some(w) = written.as_mut()
            && !w.insert(name.as_ref())
        {
            continue;
        }
        match kinds.kind(record.properties, position, name) {
            (kind, Some(column)) => write_out(out, column, cast_raw(kind, *raw))?,
            (kind, None) => write_out(out, (PREFIX, name.as_ref()), cast_raw(kind, *raw))?,
        }
    }
    if let Some((by_type, types)) = record.associations {
        let none = Vec::new();
        for to in types {
            let ids = by_type
                .get(to)
                .and_then(|m| m.get(record.id))
                .unwrap_or(&none);
            out.serialize(to, ids)?;
        }
    }
    Ok(out.build())
}

pub(super) fn write_out(
    out: &mut RecordBuilder,
    name: impl intake::record::FieldName,
    value: crate::properties::Out<'_>,
) -> Result<()> {
    match value {
        crate::properties::Out::Raw(r) => {
            out.raw(name, r);
        }
        crate::properties::Out::Value(v) => {
            out.serialize(name, &v)?;
        }
    }
    Ok(())
}

/// Property types by name, remembering where each position's name was found last: the records
/// of a page list their properties in the same order, so a lookup is usually one comparison.
/// Each known property's column name is escaped once, not per record.
#[derive(Default)]
pub(super) struct KindCache {
    pub(super) guesses: Vec<usize>,
    /// `properties_<name>` of each property, made on first use; for the list at `names_of`.
    pub(super) names: Vec<Option<EscapedName>>,
    pub(super) names_of: (usize, usize),
}

impl KindCache {
    /// The type of property `name`, the `position`-th of its record (`String` if unknown), and
    /// its column name when the property is known.
    pub(super) fn kind(
        &mut self,
        properties: &[Property],
        position: usize,
        name: &str,
    ) -> (PropertyType, Option<&EscapedName>) {
        let found = match self.guesses.get(position) {
            Some(&g) if properties.get(g).is_some_and(|p| p.name == name) => Some(g),
            _ => match properties.binary_search_by(|p| p.name.as_str().cmp(name)) {
                Ok(i) => {
                    if self.guesses.len() <= position {
                        self.guesses.resize(position + 1, usize::MAX);
                    }
                    self.guesses[position] = i;
                    Some(i)
                }
                Err(_) => None,
            },
        };
        let Some(i) = found else {
            return (PropertyType::String, None);
        };
        // A different property list (another object): start the names over.
        let list = (properties.as_ptr() as usize, properties.len());
        if self.names_of != list {
            self.names_of = list;
            self.names.clear();
            self.names.resize(properties.len(), None);
        }
        let column = self.names.get_mut(i).map(|slot| {
            &*slot.get_or_insert_with(|| EscapedName::new((PREFIX, properties[i].name.as_str())))
        });
        (properties[i].kind, column)
    }
}

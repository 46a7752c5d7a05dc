//! From a tab's cells to records: header names to columns, rows to typed records.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::config::{NamesConversion, ROW};
/// A sheet title quoted for an A1 range: always in single quotes, inner quotes doubled.
pub fn quote_title(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// The column letters of a 0-based index: 0 -> A, 25 -> Z, 26 -> AA.
pub fn column_letters(mut index: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `First Name (home)` -> `first_name_home`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            gap = false;
        } else {
            gap = true;
        }
    }
    out
}

/// One column of a tab: its position and name.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// 0-based position in the sheet.
    pub index: usize,
    /// The column's name.
    pub name: String,
}

/// Turns a header row into columns: empty cells left out (returned as warnings), duplicates
/// renamed `<name>_<cell>` (every occurrence), names optionally converted.
pub fn columns(header: &[Value], conversion: NamesConversion) -> (Vec<Column>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut named: Vec<Column> = Vec::new();
    for (index, cell) in header.iter().enumerate() {
        let raw = match cell {
            Value::String(s) => s.trim().to_string(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let name = match conversion {
            NamesConversion::Off => raw,
            NamesConversion::SnakeCase => snake_case(&raw),
        };
        if name.is_empty() {
            warnings.push(format!(
                "column {} has no header: it is left out",
                column_letters(index)
            ));
            continue;
        }
        named.push(Column { index, name });
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for c in &named {
        *counts.entry(c.name.clone()).or_default() += 1;
    }
    let mut taken: std::collections::HashSet<String> = named
        .iter()
        .filter(|c| counts[&c.name] == 1)
        .map(|c| c.name.clone())
        .collect();
    for c in &mut named {
        if counts[&c.name] > 1 {
            let mut renamed = format!("{}_{}1", c.name, column_letters(c.index));
            while taken.contains(&renamed) || renamed == ROW {
                renamed.push('_');
            }
            warnings.push(format!(
                "header \"{}\" appears {} times: column {} is named \"{renamed}\"",
                c.name,
                counts[&c.name],
                column_letters(c.index)
            ));
            taken.insert(renamed.clone());
            c.name = renamed;
        } else if c.name == ROW {
            c.name = format!("{ROW}_{}1", column_letters(c.index));
        }
    }
    (named, warnings)
}

/// The JSON type of a column from sampled values (unformatted mode): number or boolean when
/// every non-empty sample is one, otherwise string.
pub(crate) fn column_type(samples: &[&Value]) -> &'static str {
    let present: Vec<&&Value> = samples
        .iter()
        .filter(|v| !v.is_null() && **v != &json!(""))
        .collect();
    if present.is_empty() {
        "string"
    } else if present.iter().all(|v| v.is_number()) {
        "number"
    } else if present.iter().all(|v| v.is_boolean()) {
        "boolean"
    } else {
        "string"
    }
}

/// A row as a record: cells by column (short rows padded with null), the row number added.
/// `None` for a blank row.
pub fn row_record(row: &[Value], columns: &[Column], types: &[&str], number: u64) -> Option<Value> {
    let blank = row
        .iter()
        .all(|v| v.is_null() || v.as_str().is_some_and(|s| s.is_empty()));
    if blank {
        return None;
    }
    let mut out = Map::new();
    out.insert(ROW.into(), json!(number));
    for (c, kind) in columns.iter().zip(types) {
        let v = row.get(c.index).cloned().unwrap_or(Value::Null);
        let v = match (v, *kind) {
            (Value::String(s), _) if s.is_empty() => Value::Null,
            // A string column holds what the sheet shows, even where a cell is a number.
            (Value::Number(n), "string") => Value::String(n.to_string()),
            (Value::Bool(b), "string") => Value::String(if b { "TRUE" } else { "FALSE" }.into()),
            (v, _) => v,
        };
        out.insert(c.name.clone(), v);
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn titles_are_quoted_and_columns_lettered() {
        assert_eq!(quote_title("Sheet1"), "'Sheet1'");
        assert_eq!(quote_title("Bob's 🌵 sheet"), "'Bob''s 🌵 sheet'");
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }

    #[test]
    fn headers_skip_empty_cells_and_rename_duplicates_by_cell() {
        let header = vec![
            json!("id"),
            json!("name"),
            json!(""),
            json!("name"),
            json!("Zip Code"),
        ];
        let (cols, warnings) = columns(&header, NamesConversion::Off);
        let names: Vec<(usize, &str)> = cols.iter().map(|c| (c.index, c.name.as_str())).collect();
        assert_eq!(
            names,
            vec![(0, "id"), (1, "name_B1"), (3, "name_D1"), (4, "Zip Code")]
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("column C has no header"));
        let (cols, _) = columns(&header, NamesConversion::SnakeCase);
        assert_eq!(cols[3].name, "zip_code");
        assert_eq!(snake_case("  First Name (home) "), "first_name_home");
        assert_eq!(snake_case("Émile's №"), "émile_s");
    }

    #[test]
    fn rows_are_padded_blank_rows_skipped_and_types_kept() {
        let (cols, _) = columns(&[json!("a"), json!("b"), json!("c")], NamesConversion::Off);
        let types = ["string", "number", "boolean"];
        assert_eq!(
            row_record(&[json!("x")], &cols, &types, 7),
            Some(json!({"_row": 7, "a": "x", "b": null, "c": null}))
        );
        assert_eq!(row_record(&[], &cols, &types, 8), None);
        assert_eq!(row_record(&[json!(""), json!("")], &cols, &types, 9), None);
        assert_eq!(
            row_record(&[json!(12), json!(3.5), json!(true)], &cols, &types, 10),
            Some(json!({"_row": 10, "a": "12", "b": 3.5, "c": true}))
        );
        assert_eq!(column_type(&[&json!(1), &json!(""), &json!(2.5)]), "number");
        assert_eq!(column_type(&[&json!(true), &json!(false)]), "boolean");
        assert_eq!(column_type(&[&json!(1), &json!("x")]), "string");
        assert_eq!(column_type(&[]), "string");
    }
}

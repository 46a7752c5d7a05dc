use serde_json::{Value, json};

use super::cell::checked_members;
use super::*;
use crate::record::Record;

#[test]
fn the_fallback_split_agrees_with_the_scanner() {
    let text = r#"{"a\"b": [1, {"c": "}"}], "e": null, "f": "x\ny"}"#;
    let mut scanned = Vec::new();
    crate::json::scan::members(text, |k, v| {
        scanned.push((k, v));
        false
    })
    .unwrap();
    assert_eq!(checked_members(text).unwrap(), scanned);
    assert_eq!(checked_members("{}").unwrap(), []);
    for bad in ["[1]", "{\"a\": 1", "{\"a\": tru}", "{} x"] {
        assert!(checked_members(bad).is_err(), "{bad}");
    }
}

#[test]
fn kinds_from_schemas() {
    let k = |v: Value| ColumnKind::from_schema(&v);
    assert_eq!(k(json!({"type": ["null", "string"]})), ColumnKind::String);
    assert_eq!(
        k(json!({"type": "string", "format": "date-time"})),
        ColumnKind::DateTime
    );
    assert_eq!(
        k(json!({"type": ["null", "string"], "format": "date"})),
        ColumnKind::Date
    );
    assert_eq!(k(json!({"type": "integer"})), ColumnKind::Integer);
    assert_eq!(
        k(json!({"type": ["integer", "number"]})),
        ColumnKind::Number
    );
    assert_eq!(k(json!({"type": "boolean"})), ColumnKind::Boolean);
    assert_eq!(k(json!({"type": "object"})), ColumnKind::Json);
    assert_eq!(k(json!({"type": ["string", "integer"]})), ColumnKind::Json);
    assert_eq!(k(json!({})), ColumnKind::Json);
    assert_eq!(
        ColumnKind::Integer.widen(ColumnKind::Number),
        ColumnKind::Number
    );
    assert_eq!(
        ColumnKind::Date.widen(ColumnKind::String),
        ColumnKind::String
    );
    assert_eq!(
        ColumnKind::Boolean.widen(ColumnKind::String),
        ColumnKind::String
    );
    assert_eq!(
        ColumnKind::Number.widen(ColumnKind::DateTime),
        ColumnKind::String
    );
    assert_eq!(
        ColumnKind::Json.widen(ColumnKind::Integer),
        ColumnKind::Json
    );
    assert!(ColumnKind::Number.holds(ColumnKind::Integer));
    assert!(!ColumnKind::Integer.holds(ColumnKind::Number));
}

#[test]
fn cells_convert_or_say_why_not() {
    let c = |s: &str, k| cell(s, k).map(|c| format!("{c:?}"));
    assert_eq!(c("42", ColumnKind::Integer).unwrap(), "Integer(42)");
    assert_eq!(c("42.0", ColumnKind::Integer).unwrap(), "Integer(42)");
    assert_eq!(c("4.5", ColumnKind::Integer), Err("a fractional number"));
    assert_eq!(c("\"x\"", ColumnKind::Integer), Err("a string"));
    assert_eq!(c("null", ColumnKind::Integer).unwrap(), "Null");
    assert_eq!(
        c("\"a\\u0062\"", ColumnKind::String).unwrap(),
        "Text(\"ab\")"
    );
    assert_eq!(c("7", ColumnKind::String).unwrap(), "Text(\"7\")");
    assert_eq!(c("{\"a\":1}", ColumnKind::String), Err("an object"));
    assert_eq!(
        c("{\"a\":1}", ColumnKind::Json).unwrap(),
        "Json(\"{\\\"a\\\":1}\")"
    );
    assert!(
        c("\"2024-01-02T03:04:05+02:00\"", ColumnKind::DateTime)
            .unwrap()
            .contains("2024-01-02T01:04:05Z")
    );
    assert_eq!(
        c("\"soon\"", ColumnKind::DateTime),
        Err("a string that is not a date-time")
    );
    assert!(
        c("\"2024-02-29\"", ColumnKind::Date)
            .unwrap()
            .contains("2024-02-29")
    );
    assert_eq!(c("true", ColumnKind::Boolean).unwrap(), "Boolean(true)");
}

#[test]
fn fields_borrow_from_the_record() {
    let r = Record::from_json(r#"{"id": 1, "n\u0061me": "x", "o": {"a": [1, 2]}}"#).unwrap();
    let f = Fields::of(&r).unwrap();
    let names: Vec<&str> = f.iter().map(|(k, _)| k).collect();
    assert_eq!(names, vec!["id", "name", "o"]);
    assert_eq!(f.iter().nth(2).unwrap().1, r#"{"a": [1, 2]}"#);
    let mut t = TableSchema::from_json_schema(&json!({"properties": {"id": {"type": "integer"}}}));
    t.push(Column {
        name: "x".into(),
        kind: ColumnKind::Json,
    });
    assert_eq!(t.position("x"), Some(1));
    assert_eq!(t.len(), 2);
}

#[test]
fn changes_and_cells_of_a_record() {
    let t = TableSchema::from_json_schema(&json!({"properties": {"id": {"type": "integer"}}}));
    let evolving =
        Record::from_json(r#"{"id": 1.5, "new": "x", "gone": null, "_meta": 1}"#).unwrap();
    let changes = t.changes_for(&Fields::of(&evolving).unwrap(), &["_meta"]);
    assert_eq!(
        changes,
        vec![
            Column {
                name: "id".into(),
                kind: ColumnKind::Number
            },
            Column {
                name: "new".into(),
                kind: ColumnKind::String
            },
        ]
    );
    let misfit = Record::from_json(r#"{"id": "x", "other": 1}"#).unwrap();
    let (cells, misfits) = t.cells(&Fields::of(&misfit).unwrap());
    assert_eq!(cells, vec![Cell::Null]);
    assert_eq!(misfits.len(), 1);
    assert_eq!(
        misfits[0].to_string(),
        "field \"id\" holds a string where the column is integer"
    );
}

#[test]
fn cells_in_one_pass_only_when_no_column_changes() {
    let t = TableSchema::from_json_schema(&json!({"properties": {"id": {"type": "integer"}}}));
    let skip = ["_meta"];
    let check = |json: &str| {
        let r = Record::from_json(json).unwrap();
        let fields = Fields::of(&r).unwrap();
        let fast = t.cells_if_unchanged(&fields, &skip);
        // `None` exactly when there are changes; otherwise the same cells.
        assert_eq!(
            fast.is_none(),
            !t.changes_for(&fields, &skip).is_empty(),
            "{json}"
        );
        if let Some((cells, misfits)) = fast {
            let (slow_cells, slow_misfits) = t.cells(&fields);
            assert_eq!(cells, slow_cells, "{json}");
            assert_eq!(misfits.len(), slow_misfits.len(), "{json}");
        }
    };
    check(r#"{"id": 1, "gone": null, "_meta": 1}"#);
    check(r#"{"id": "x"}"#);
    check(r#"{"id": 1.5}"#);
    check(r#"{"id": 1, "new": "x"}"#);
    check(r#"{}"#);
}

#[test]
fn fields_find_their_columns_whatever_order_the_records_list_them_in() {
    // More fields than positions are remembered, in orders that change from record to
    // record (each record's guesses are the last record's), across a clone and a new column.
    let names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
    let schema = json!({"properties": names.iter().map(|n| (n.clone(), json!({"type": "integer"})))
            .collect::<serde_json::Map<_, _>>()});
    let mut t = TableSchema::from_json_schema(&schema);
    let record = |order: &[usize]| {
        let fields: Vec<String> = order.iter().map(|&i| format!("\"f{i}\": {i}")).collect();
        Record::from_json(format!("{{{}}}", fields.join(","))).unwrap()
    };
    let forward: Vec<usize> = (0..40).collect();
    let backward: Vec<usize> = (0..40).rev().collect();
    let shifted: Vec<usize> = (0..40).map(|i| (i + 7) % 40).collect();
    let sparse: Vec<usize> = (0..40).step_by(3).collect();
    for round in 0..3 {
        if round == 1 {
            t = t.clone();
        }
        if round == 2 {
            t.push(Column {
                name: "extra".into(),
                kind: ColumnKind::String,
            });
        }
        for order in [&forward, &backward, &forward, &shifted, &sparse, &shifted] {
            let r = record(order);
            let (cells, misfits) = t.cells(&Fields::of(&r).unwrap());
            assert!(misfits.is_empty());
            for (column, cell) in cells.iter().enumerate() {
                let expected = match t.column(column).name.strip_prefix('f') {
                    Some(n) if order.contains(&n.parse().unwrap()) => {
                        Cell::Integer(n.parse().unwrap())
                    }
                    _ => Cell::Null,
                };
                assert_eq!(
                    *cell,
                    expected,
                    "column {} of {order:?}",
                    t.column(column).name
                );
            }
        }
    }
}

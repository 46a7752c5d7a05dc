//! Hostile input, as property tests in the normal suite: any sheet title quotes into an A1
//! range that reads back as the same title; any header row gives unique, non-empty columns.

use intake_source_google_sheets::{NamesConversion, column_letters, columns, quote_title};
use proptest::prelude::*;
use serde_json::Value;

/// Reads a quoted title back (as Google does): `'` opens, `''` is a quote, `'` closes.
fn unquote(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_title_round_trips_through_a1_quoting(title in any::<String>()) {
        let quoted = quote_title(&title);
        prop_assert_eq!(unquote(&quoted), Some(title));
    }

    #[test]
    fn column_letters_are_bijective(a in 0usize..20_000, b in 0usize..20_000) {
        prop_assert_eq!(column_letters(a) == column_letters(b), a == b);
    }

    #[test]
    fn any_header_row_gives_unique_named_columns(
        header in prop::collection::vec(prop_oneof![Just(String::new()), "[a-z ]{0,3}", any::<String>()], 0..40),
        snake in any::<bool>(),
    ) {
        let cells: Vec<Value> = header.into_iter().map(Value::String).collect();
        let conversion = if snake { NamesConversion::SnakeCase } else { NamesConversion::Off };
        let (cols, _) = columns(&cells, conversion);
        let mut names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        prop_assert!(names.iter().all(|n| !n.is_empty() && *n != intake_source_google_sheets::ROW));
        let before = names.len();
        names.sort();
        names.dedup();
        prop_assert_eq!(names.len(), before, "unique names");
    }
}

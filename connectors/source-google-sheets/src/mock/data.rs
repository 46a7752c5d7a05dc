//! The sandbox spreadsheet: its tabs and what the routes count.

use serde_json::{Value, json};
/// One tab.
#[derive(Debug, Clone)]
pub struct TabSpec {
    /// The title.
    pub title: String,
    /// `GRID`, or `OBJECT` for a chart.
    pub sheet_type: String,
    /// Hidden from the spreadsheet's users (still readable).
    pub hidden: bool,
    /// The grid's row count (at least the rows given).
    pub row_count: usize,
    /// The cells, row 1 (the header) first.
    pub rows: Vec<Vec<Value>>,
}

impl TabSpec {
    /// A grid tab whose grid has `extra` empty rows below the cells.
    pub fn grid(title: &str, rows: Vec<Vec<Value>>, extra: usize) -> Self {
        TabSpec {
            title: title.into(),
            sheet_type: "GRID".into(),
            hidden: false,
            row_count: rows.len() + extra,
            rows,
        }
    }
}

/// The default spreadsheet: an orders tab of `orders` rows (with a blank stretch in the
/// middle), a roster with an empty and duplicate headers and ragged rows, a tab whose title
/// needs quoting, a chart, an empty tab and a hidden tab.
pub fn spreadsheet(orders: usize) -> Vec<TabSpec> {
    let mut order_rows = vec![vec![
        json!("order_id"),
        json!("customer"),
        json!("amount"),
        json!("paid"),
        json!("ordered_on"),
        json!("notes"),
    ]];
    for i in 0..orders {
        if (i / 50) % 4 == 3 && i % 50 < 5 {
            // Five blank rows every 200: a gap the reader must step over.
            order_rows.push(Vec::new());
            continue;
        }
        let mut row = vec![
            json!(10_000 + i),
            json!(format!("Customer {}", i % 37)),
            json!((i as f64) * 12.5 + 0.25),
            json!(i % 3 != 0),
            json!(format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
        ];
        if i % 7 == 0 {
            row.push(json!(format!("gift wrap, note {i}")));
        }
        order_rows.push(row);
    }
    let mut roster = vec![vec![
        json!("name"),
        json!(""),
        json!("email"),
        json!("name"),
        json!("Start Date"),
    ]];
    for i in 0..30 {
        let mut row = vec![
            json!(format!("Person {i}")),
            json!("ignored"),
            json!(format!("p{i}@example.com")),
            json!(format!("Nick {i}")),
            json!(format!("2023-0{}-01", 1 + i % 9)),
        ];
        // Ragged: the API drops trailing empty cells.
        row.truncate(5 - i % 3);
        roster.push(row);
    }
    let mut quoted = vec![vec![json!("item"), json!("qty")]];
    for i in 0..25 {
        quoted.push(if i % 6 == 5 {
            vec![json!(""), json!("")]
        } else {
            vec![json!(format!("thing {i}")), json!(i)]
        });
    }
    let mut archive = vec![vec![json!("id"), json!("value")]];
    for i in 0..10 {
        archive.push(vec![json!(i), json!(format!("old {i}"))]);
    }
    vec![
        TabSpec::grid("Orders", order_rows, 399),
        TabSpec::grid("Team roster", roster, 10),
        TabSpec::grid("Bob's 🌵 sheet", quoted, 0),
        TabSpec {
            title: "Chart 1".into(),
            sheet_type: "OBJECT".into(),
            hidden: false,
            row_count: 0,
            rows: Vec::new(),
        },
        TabSpec::grid("Empty tab", Vec::new(), 1000),
        TabSpec {
            hidden: true,
            ..TabSpec::grid("Archive", archive, 5)
        },
    ]
}

#[derive(Debug, Default)]
pub(super) struct Book {
    pub(super) tabs: Vec<TabSpec>,
    pub(super) tokens: Vec<String>,
    pub(super) token_requests: u64,
    pub(super) refused_assertions: Vec<String>,
    pub(super) shared: bool,
}

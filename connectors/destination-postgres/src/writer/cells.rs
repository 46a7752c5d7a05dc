//! Cells as binary COPY values; NUL characters, which PostgreSQL text refuses, replaced.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use intake::destination::table::{Cell, Column};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A cell bound in a binary COPY.
#[derive(Debug)]
pub(super) enum PgCell<'a> {
    Cell(Cell<'a>),
    /// JSON text rewritten to be storable (see [`jsonb_safe`]).
    Json(String),
}

impl<'a> PgCell<'a> {
    /// The cell as PostgreSQL can store it: NUL characters (which it refuses in text and
    /// JSONB) replaced by U+FFFD.
    pub(super) fn storable(cell: Cell<'a>) -> PgCell<'a> {
        match cell {
            Cell::Text(s) if s.contains('\0') => {
                PgCell::Cell(Cell::Text(Cow::Owned(s.replace('\0', "\u{FFFD}"))))
            }
            Cell::Json(s) => match jsonb_safe(s) {
                Cow::Owned(json) => PgCell::Json(json),
                Cow::Borrowed(_) => PgCell::Cell(Cell::Json(s)),
            },
            other => PgCell::Cell(other),
        }
    }
}

impl ToSql for PgCell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text = |s: &str, out: &mut BytesMut| {
            if *ty == Type::JSONB {
                out.put_u8(1);
            }
            out.extend_from_slice(s.as_bytes());
            Ok(IsNull::No)
        };
        let cell = match self {
            PgCell::Cell(cell) => cell,
            PgCell::Json(json) => return text(json, out),
        };
        match cell {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Text(s) if *ty == Type::JSONB => {
                // A string value in a JSON column is a JSON string.
                text(&serde_json::to_string(s.as_ref())?, out)
            }
            Cell::Text(s) => text(s, out),
            Cell::Json(s) => text(s, out),
            Cell::Integer(i) if *ty == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            Cell::Integer(i) => i.to_sql(ty, out),
            Cell::Number(f) => f.to_sql(ty, out),
            Cell::Boolean(b) => b.to_sql(ty, out),
            Cell::DateTime(t) => t.to_sql(ty, out),
            Cell::Date(d) => d.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The first field whose value holds a NUL character (stored with U+FFFD in its place).
pub(super) fn first_nul(cells: &[Cell<'_>], columns: &[Column]) -> Option<String> {
    cells.iter().zip(columns).find_map(|(cell, column)| {
        let nul = match cell {
            Cell::Text(s) => s.contains('\0'),
            Cell::Json(s) => matches!(jsonb_safe(s), Cow::Owned(_)),
            _ => false,
        };
        nul.then(|| column.name.clone())
    })
}

/// JSON text without the `\u0000` escape, which JSONB refuses: each one (not an escaped
/// backslash followed by `u0000`) becomes `\ufffd`.
pub(super) fn jsonb_safe(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u0000") {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        if let Some(after) = escape.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // Any other escape is two characters (`\uXXXX` keeps its digits as text).
            let len = escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

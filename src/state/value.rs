//! Cursor values: what a cursor field holds, parsed so that values compare as their kind says.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

/// How cursor values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CursorKind {
    /// Date-time strings (RFC 3339, `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD`) as instants, numbers as
    /// numbers, other strings as text. The default.
    #[default]
    Auto,
    /// Date-time strings; anything else is unparsable.
    DateTime,
    /// Seconds since the Unix epoch (a number or a numeric string).
    EpochSeconds,
    /// Milliseconds since the Unix epoch (a number or a numeric string).
    EpochMillis,
    /// Numbers (a number or a numeric string), such as an auto-increment id.
    Number,
    /// Strings compared byte by byte.
    Text,
}

/// A number that orders totally (JSON has no NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// Anything else.
    Float(f64),
}

impl Number {
    pub(super) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// A parsed cursor value that compares the way the API means it.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorValue {
    /// An instant.
    DateTime(DateTime<Utc>),
    /// A number.
    Number(Number),
    /// Text.
    Text(String),
}

impl CursorValue {
    /// Parses a JSON value under a kind; `None` if it is missing, null or unparsable.
    pub fn parse(value: &Value, kind: CursorKind) -> Option<CursorValue> {
        match value {
            Value::String(s) => CursorValue::parse_str(s, kind),
            Value::Number(n) => CursorValue::parse_number(n, kind),
            _ => None,
        }
    }

    /// Parses the JSON text of a value (as found in a raw record) without building a [`Value`].
    pub fn parse_json_text(text: &str, kind: CursorKind) -> Option<CursorValue> {
        match text.as_bytes().first()? {
            b'"' => CursorValue::parse_str(&crate::json::json_str(text)?, kind),
            b'-' | b'0'..=b'9' => {
                CursorValue::parse_number(&serde_json::from_str(text).ok()?, kind)
            }
            _ => None,
        }
    }

    fn parse_str(s: &str, kind: CursorKind) -> Option<CursorValue> {
        match kind {
            // A blank string is no value at all (APIs send "" for "never").
            CursorKind::Auto if s.trim().is_empty() => None,
            CursorKind::Auto => Some(
                parse_datetime(s)
                    .map(CursorValue::DateTime)
                    .unwrap_or_else(|| CursorValue::Text(s.to_string())),
            ),
            CursorKind::DateTime => parse_datetime(s).map(CursorValue::DateTime),
            CursorKind::Text => Some(CursorValue::Text(s.to_string())),
            CursorKind::EpochSeconds | CursorKind::EpochMillis | CursorKind::Number => {
                let n: serde_json::Number = s.trim().parse().ok()?;
                number(&n).map(CursorValue::Number)
            }
        }
    }

    fn parse_number(n: &serde_json::Number, kind: CursorKind) -> Option<CursorValue> {
        match kind {
            CursorKind::DateTime => None,
            CursorKind::Text => Some(CursorValue::Text(n.to_string())),
            _ => number(n).map(CursorValue::Number),
        }
    }

    pub(super) fn rank(&self) -> u8 {
        match self {
            CursorValue::Number(_) => 0,
            CursorValue::DateTime(_) => 1,
            CursorValue::Text(_) => TEXT_RANK,
        }
    }
}

fn number(n: &serde_json::Number) -> Option<Number> {
    if let Some(i) = n.as_i64() {
        Some(Number::Int(i))
    } else {
        n.as_f64().filter(|f| f.is_finite()).map(Number::Float)
    }
}

pub(super) const TEXT_RANK: u8 = 2;

/// Parses the date-time formats APIs use: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (taken as UTC),
/// and `YYYY-MM-DD` (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 10 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if let Some(t) = parse_utc_z(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    if s.len() == 10
        && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
    {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    None
}

/// The common form, read without a general parser: `2024-01-15T14:22:10Z` with an optional
/// fraction of 1 to 9 digits. Anything else (offsets, leap seconds, other layouts) is `None`
/// and left to the full parsers.
fn parse_utc_z(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        b.get(from..from + len)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20, digits.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    // A second of 60 (a leap second) makes no time here: the full parser handles it.
    let time = date.and_hms_nano_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?, nanos)?;
    Some(time.and_utc())
}

impl PartialOrd for CursorValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Eq for CursorValue {}

impl Ord for CursorValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (CursorValue::DateTime(a), CursorValue::DateTime(b)) => a.cmp(b),
            (CursorValue::Text(a), CursorValue::Text(b)) => a.cmp(b),
            (CursorValue::Number(Number::Int(a)), CursorValue::Number(Number::Int(b))) => a.cmp(b),
            (CursorValue::Number(a), CursorValue::Number(b)) => a
                .as_f64()
                .partial_cmp(&b.as_f64())
                .unwrap_or(Ordering::Equal),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_utc_reading_agrees_with_the_rfc_3339_parser() {
        let cases = [
            "2024-01-15T14:22:10Z",
            "2024-01-15T14:22:10.4Z",
            "2024-01-15T14:22:10.456Z",
            "2024-01-15T14:22:10.123456789Z",
            "2024-01-15T14:22:10.1234567891Z",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "2016-12-31T23:59:60Z",
            "2024-01-15T24:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-15 14:22:10Z",
            "2024-01-15T14:22:10.Z",
            "2024-01-15T14:22:1xZ",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
        ];
        for c in cases {
            let full = DateTime::parse_from_rfc3339(c)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            // When the fast reading answers, it is the parser's answer; when it declines, the
            // full parsers decide, as before.
            if let Some(fast) = parse_utc_z(c.as_bytes()) {
                assert_eq!(Some(fast), full, "{c}");
            }
            assert_eq!(
                parse_datetime(c).is_some(),
                full.is_some() || c.contains(' '),
                "{c}"
            );
        }
    }
}

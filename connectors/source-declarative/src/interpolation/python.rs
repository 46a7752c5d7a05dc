//! Values printed the way Python prints them, because a Jinja expression's output is read back
//! with `literal_eval` (see `literal.rs`): `None`, `True`, `[1, 'a']`, `{'k': None}`, floats
//! as `repr` writes them (`1.0`, `1e+16`, `0.30000000000000004`). A string at the top is
//! printed as itself; inside a list or dict it is quoted as `repr` quotes it.

use std::fmt::Write;

use minijinja::value::{Value, ValueKind};

/// `str(value)`.
pub(crate) fn str_of(v: &Value) -> String {
    let mut out = String::new();
    write_str(&mut out, v);
    out
}

pub(crate) fn write_str(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::String => out.push_str(v.as_str().unwrap_or_default()),
        ValueKind::Undefined => {}
        _ => write_repr(out, v),
    }
}

/// `repr(value)`.
pub(crate) fn write_repr(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            let text = v.to_string();
            // minijinja keeps ints and floats apart; a float prints with '.', 'e', inf or NaN.
            let is_float =
                text.contains(['.', 'e', 'E']) || text.contains("inf") || text.contains("NaN");
            match f64::try_from(v.clone()) {
                Ok(f) if is_float => out.push_str(&float_repr(f)),
                _ => out.push_str(&text),
            }
        }
        ValueKind::String => out.push_str(&str_repr(v.as_str().unwrap_or_default())),
        ValueKind::Seq | ValueKind::Iterable => write_seq(out, v, write_repr),
        ValueKind::Map => {
            // A datetime, date or duration object prints as Python's str() of it.
            if let Some(text) = super::datetime::python_str(v) {
                out.push_str(&text);
                return;
            }
            write_map(out, v, write_repr, write_repr);
        }
        _ => {
            if let Some(text) = super::datetime::python_str(v) {
                out.push_str(&text);
                return;
            }
            let _ = write!(out, "{v}");
        }
    }
}

/// `[a, b]`, each item written by `item` (Python's and JSON's separators are the same).
pub(crate) fn write_seq(out: &mut String, v: &Value, item: impl Fn(&mut String, &Value)) {
    out.push('[');
    if let Ok(items) = v.try_iter() {
        for (i, x) in items.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item(out, &x);
        }
    }
    out.push(']');
}

/// `{k: v, ...}`, keys and values written by `key` and `value`.
pub(crate) fn write_map(
    out: &mut String,
    v: &Value,
    key: impl Fn(&mut String, &Value),
    value: impl Fn(&mut String, &Value),
) {
    out.push('{');
    if let Ok(keys) = v.try_iter() {
        for (i, k) in keys.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            key(out, &k);
            out.push_str(": ");
            value(out, &v.get_item(&k).unwrap_or_default());
        }
    }
    out.push('}');
}

/// `repr(float)`: the shortest text that reads back as the same float, in exponent form when
/// the exponent is below -4 or at least 16.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.2345e3`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let plain = format!("{f}");
    if plain.contains('.') {
        plain
    } else {
        format!("{plain}.0")
    }
}

/// `repr(str)`: single quotes unless the text holds a single quote and no double quote.
pub(crate) fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_and_strings_print_as_python_does() {
        for (f, want) in [
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456789.0, "123456789.0"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(float_repr(f), want, "{f}");
        }
        assert_eq!(str_repr("abc"), "'abc'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(str_repr("l1\nl2"), "'l1\\nl2'");
    }

    #[test]
    fn containers_print_as_python_reprs() {
        let v = Value::from_serialize(serde_json::json!({"a": null, "b": [true, 1, 2.0, "x"]}));
        assert_eq!(str_of(&v), "{'a': None, 'b': [True, 1, 2.0, 'x']}");
        assert_eq!(str_of(&Value::from("plain")), "plain");
        assert_eq!(str_of(&Value::from(())), "None");
    }
}

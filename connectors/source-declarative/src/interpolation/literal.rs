//! Python's `ast.literal_eval`, which airbyte-cdk applies to every interpolated string: a result
//! that reads as a Python literal becomes that value (`"42"` is 42, `"True"` is true,
//! `"['a', 'b']"` a list, `"1, 2"` a tuple), anything else stays the string.
//!
//! Accepted, as Python accepts them: ints (underscores, `0x`/`0o`/`0b`), floats, a unary sign,
//! strings in any quotes (adjacent ones concatenated; `r` and `u` prefixes), `True`, `False`,
//! `None`, lists, tuples (bare or parenthesised), sets and dicts, nested. Complex numbers are
//! not values here (the CDK keeps the string), nor are bytes, names or operators.

use serde_json::{Map, Number, Value};

/// The value `text` reads as, or `None` when it is not a Python literal.
pub(crate) fn literal_eval(text: &str) -> Option<Value> {
    // literal_eval strips leading spaces and tabs (Python 3.9+); trailing whitespace is
    // allowed by the parser.
    let mut p = Parser {
        s: text.trim_start_matches([' ', '\t']).as_bytes(),
        i: 0,
    };
    let v = p.expr_list()?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Whitespace, including newlines inside brackets (we accept them everywhere; a literal
    /// never holds a statement).
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else if c == b'\\' && matches!(self.s.get(self.i + 1), Some(b'\n')) {
                self.i += 2;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `a` or `a, b, ...` (a tuple).
    fn expr_list(&mut self) -> Option<Value> {
        let first = self.value()?;
        self.ws();
        if self.peek() != Some(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(b',') {
            self.ws();
            if self.i == self.s.len() || matches!(self.peek(), Some(b')' | b']' | b'}')) {
                break;
            }
            items.push(self.value()?);
        }
        Some(Value::Array(items))
    }

    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'[' => {
                self.i += 1;
                self.sequence(b']').map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                self.ws();
                if self.eat(b')') {
                    return Some(Value::Array(Vec::new()));
                }
                let inner = self.value()?;
                self.ws();
                if self.eat(b')') {
                    return Some(inner); // parentheses, not a tuple
                }
                if !self.eat(b',') {
                    return None;
                }
                let mut items = vec![inner];
                let rest = self.sequence(b')')?;
                items.extend(rest);
                Some(Value::Array(items))
            }
            b'{' => {
                self.i += 1;
                self.braces()
            }
            b'+' | b'-' => {
                let negative = self.peek() == Some(b'-');
                self.i += 1;
                self.ws();
                match self.number()? {
                    Num::Int(n) => Some(Value::Number(if negative {
                        Number::from(n.checked_neg()?)
                    } else {
                        Number::from(n)
                    })),
                    Num::Float(f) => {
                        Number::from_f64(if negative { -f } else { f }).map(Value::Number)
                    }
                }
            }
            b'0'..=b'9' | b'.' => match self.number()? {
                Num::Int(n) => Some(Value::Number(Number::from(n))),
                Num::Float(f) => Number::from_f64(f).map(Value::Number),
            },
            b'\'' | b'"' => self.strings(),
            b'r' | b'R' | b'u' | b'U' if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) => {
                self.strings()
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Some(Value::Bool(true)),
                    b"False" => Some(Value::Bool(false)),
                    b"None" => Some(Value::Null),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Items up to `close` (a trailing comma allowed).
    fn sequence(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// A dict, or a set (as a list).
    fn braces(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.value()?;
        if self.eat(b':') {
            let mut map = Map::new();
            let v = self.value()?;
            map.insert(key(first)?, v);
            loop {
                if self.eat(b'}') {
                    return Some(Value::Object(map));
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    return Some(Value::Object(map));
                }
                let k = self.value()?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.value()?;
                map.insert(key(k)?, v);
            }
        }
        let mut items = vec![first];
        loop {
            if self.eat(b'}') {
                return Some(Value::Array(items));
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                return Some(Value::Array(items));
            }
            items.push(self.value()?);
        }
    }

    fn number(&mut self) -> Option<Num> {
        let start = self.i;
        if self.peek() == Some(b'0')
            && let Some(radix) = match self.s.get(self.i + 1) {
                Some(b'x' | b'X') => Some(16),
                Some(b'o' | b'O') => Some(8),
                Some(b'b' | b'B') => Some(2),
                _ => None,
            }
        {
            self.i += 2;
            let digits_start = self.i;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[digits_start..self.i]).ok()?;
            if digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
                return None;
            }
            return i64::from_str_radix(&digits.replace('_', ""), radix)
                .ok()
                .map(Num::Int);
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'_' | b'.'))
        {
            self.i += 1;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'_') {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'j' | b'J')) {
            return None; // complex: not a value the CDK keeps
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        {
            return None;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if text.starts_with('_')
            || text.ends_with('_')
            || text.contains("__")
            || text.contains("_.")
            || text.contains("._")
        {
            return None;
        }
        let clean = text.replace('_', "");
        let is_float = clean.contains(['.', 'e', 'E']);
        if !is_float {
            // Python 3 refuses leading zeros in a decimal int ("007"), but "000" is 0.
            if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
                return None;
            }
            return clean.parse::<i64>().ok().map(Num::Int);
        }
        if clean == "." {
            return None;
        }
        clean.parse::<f64>().ok().map(Num::Float)
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        loop {
            self.ws();
            let raw = match self.peek() {
                Some(b'r' | b'R') => {
                    self.i += 1;
                    true
                }
                Some(b'u' | b'U') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let q = self.peek()?;
            if q != b'\'' && q != b'"' {
                return None;
            }
            let triple = self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
            self.i += if triple { 3 } else { 1 };
            let mut bytes = Vec::new();
            loop {
                let c = self.peek()?;
                if triple {
                    if self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]) {
                        self.i += 3;
                        break;
                    }
                } else if c == q {
                    self.i += 1;
                    break;
                } else if c == b'\n' {
                    return None;
                }
                if c == b'\\' {
                    let next = *self.s.get(self.i + 1)?;
                    if raw {
                        bytes.extend_from_slice(&[c, next]);
                        self.i += 2;
                        continue;
                    }
                    self.i += 2;
                    match next {
                        b'n' => bytes.push(b'\n'),
                        b't' => bytes.push(b'\t'),
                        b'r' => bytes.push(b'\r'),
                        b'0' => bytes.push(0),
                        b'\\' => bytes.push(b'\\'),
                        b'\'' => bytes.push(b'\''),
                        b'"' => bytes.push(b'"'),
                        b'\n' => {}
                        b'a' => bytes.push(7),
                        b'b' => bytes.push(8),
                        b'f' => bytes.push(12),
                        b'v' => bytes.push(11),
                        b'x' | b'u' | b'U' => {
                            let n = match next {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + n)?).ok()?;
                            let cp = u32::from_str_radix(hex, 16).ok()?;
                            self.i += n;
                            let ch = char::from_u32(cp)?;
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        other => bytes.extend_from_slice(&[b'\\', other]),
                    }
                    continue;
                }
                bytes.push(c);
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&bytes).ok()?);
            let save = self.i;
            self.ws();
            let more = match self.peek() {
                Some(b'\'' | b'"') => true,
                Some(b'r' | b'R' | b'u' | b'U') => {
                    matches!(self.s.get(self.i + 1), Some(b'\'' | b'"'))
                }
                _ => false,
            };
            if !more {
                self.i = save;
                return Some(Value::String(out));
            }
        }
    }
}

enum Num {
    Int(i64),
    Float(f64),
}

/// A dict key as a JSON object key (Python allows any hashable; JSON only strings).
fn key(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if b { "True" } else { "False" }.into()),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::literal_eval;
    use serde_json::json;

    #[test]
    fn python_literals_and_what_stays_a_string() {
        // Each expectation checked against CPython 3.11's ast.literal_eval.
        let cases = [
            ("42", Some(json!(42))),
            ("  42", Some(json!(42))),
            ("-3", Some(json!(-3))),
            ("1_000", Some(json!(1000))),
            ("0x1f", Some(json!(31))),
            ("1.5", Some(json!(1.5))),
            ("1e3", Some(json!(1000.0))),
            (".5", Some(json!(0.5))),
            ("True", Some(json!(true))),
            ("None", Some(json!(null))),
            ("'abc'", Some(json!("abc"))),
            ("\"it's\"", Some(json!("it's"))),
            ("'a' 'b'", Some(json!("ab"))),
            ("\"\"\"[1, 2]\"\"\"", Some(json!("[1, 2]"))),
            ("[1, 'x', None]", Some(json!([1, "x", null]))),
            ("(1,)", Some(json!([1]))),
            ("1, 2", Some(json!([1, 2]))),
            ("{'a': 1, 'b': [True]}", Some(json!({"a": 1, "b": [true]}))),
            ("{}", Some(json!({}))),
            ("{1, 2}", Some(json!([1, 2]))),
            ("2021-01-01", None),
            ("007", None),
            ("000", Some(json!(0))),
            ("1+2", None),
            ("1j", None),
            ("abc", None),
            ("true", None),
            ("none", None),
            ("2024-01-01T00:00:00Z", None),
            ("", None),
            ("1 2", None),
            ("updated_at:desc", None),
            ("42 ", Some(json!(42))),
            ("- 3", Some(json!(-3))),
            ("(1)", Some(json!(1))),
            ("[1,]", Some(json!([1]))),
            ("1.", Some(json!(1.0))),
            ("1_0.5", Some(json!(10.5))),
            ("\t7", Some(json!(7))),
        ];
        for (text, want) in cases {
            assert_eq!(literal_eval(text), want, "{text:?}");
        }
    }
}

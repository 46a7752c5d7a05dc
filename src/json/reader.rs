//! The checking pull reader and the raw values it hands out.

use std::borrow::Cow;

use crate::json::scan::{skip_ws, string_special};

/// Containers open at once, at most (deeper text is refused, never followed): serde_json's
/// limit, so text one accepts the other does too.
pub const MAX_DEPTH: usize = 127;

/// Why a [`Reader`] stopped: what it expected, and the byte offset where it did not find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {problem}")]
pub struct JsonError {
    offset: usize,
    problem: &'static str,
}

impl JsonError {
    /// The byte offset in the text where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What is wrong there.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

/// Text the caller should have sent as JSON and did not: a broken contract, not a retry.
impl From<JsonError> for crate::Error {
    fn from(e: JsonError) -> Self {
        crate::Error::system(e.to_string())
    }
}

type Checked<T> = std::result::Result<T, JsonError>;

fn fail<T>(offset: usize, problem: &'static str) -> Checked<T> {
    Err(JsonError { offset, problem })
}

/// A JSON value's text, known to be valid JSON: handed out by a [`Reader`], checked by
/// [`RawJson::parse`], or taken from a serde_json [`RawValue`](serde_json::value::RawValue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a>(&'a str);

impl<'a> RawJson<'a> {
    /// Checks that `text` is one JSON value (whitespace around it allowed, and left out).
    ///
    /// ```
    /// use intake::json::RawJson;
    /// assert_eq!(RawJson::parse(" [1, 2] ").unwrap().get(), "[1, 2]");
    /// assert!(RawJson::parse("[1, 2").is_err());
    /// assert!(RawJson::parse("1 2").is_err());
    /// ```
    pub fn parse(text: &'a str) -> Checked<RawJson<'a>> {
        let mut r = Reader::new(text);
        let value = r.value()?;
        r.finish()?;
        Ok(value)
    }

    /// The JSON text.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// The string's text, unescaped (borrowed when it has no escapes); `None` for other values.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        crate::json::json_str(self.0)
    }

    /// The boolean; `None` for other values.
    pub fn as_bool(self) -> Option<bool> {
        match self.0 {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl<'a> From<&'a serde_json::value::RawValue> for RawJson<'a> {
    fn from(raw: &'a serde_json::value::RawValue) -> Self {
        RawJson(raw.get())
    }
}

impl<'a> From<&'a Box<serde_json::value::RawValue>> for RawJson<'a> {
    fn from(raw: &'a Box<serde_json::value::RawValue>) -> Self {
        RawJson(raw.get())
    }
}

impl std::fmt::Display for RawJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Serializes as the JSON it is (into serde_json, as that text unchanged).
impl serde::Serialize for RawJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// A pull reader over JSON text: the caller says what it expects next ([`Reader::object`],
/// [`Reader::array`], [`Reader::value`]) and the reader checks it is there. See the
/// [module](self) for an example.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// The byte offset the reader has reached.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.bytes(), self.pos);
    }

    /// The next byte that is not whitespace, without taking it: `b'{'` before an object,
    /// `b'n'` before `null`, and so on; `None` at the end of the text.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.pos).copied()
    }

    /// Opens the object that comes next; read its members with [`Object::next_key`].
    pub fn object(&mut self) -> Checked<Object> {
        self.open(b'{', "expected an object")?;
        Ok(Object(Open::new()))
    }

    /// Opens the array that comes next; step through its elements with [`Array::next`].
    pub fn array(&mut self) -> Checked<Array> {
        self.open(b'[', "expected an array")?;
        Ok(Array(Open::new()))
    }

    fn open(&mut self, bracket: u8, problem: &'static str) -> Checked<()> {
        if self.peek() != Some(bracket) {
            return fail(self.pos, problem);
        }
        if self.depth == MAX_DEPTH {
            return fail(self.pos, "nested too deeply");
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    fn close(&mut self) {
        // Saturating: an `Object` or `Array` handed a reader other than its own must not
        // underflow it.
        self.depth = self.depth.saturating_sub(1);
        self.pos += 1;
    }

    /// The value that comes next, checked to its end.
    pub fn value(&mut self) -> Checked<RawJson<'a>> {
        self.skip_ws();
        let start = self.pos;
        self.skip_value()?;
        Ok(RawJson(&self.text[start..self.pos]))
    }

    /// Steps over the value at the reader's position (whitespace already skipped).
    fn skip_value(&mut self) -> Checked<()> {
        let b = self.bytes();
        let i = self.pos;
        self.pos = match b.get(i) {
            Some(b'"') => string_end(b, i)?.0,
            Some(b'{') => {
                let mut object = self.object()?;
                while object.next_member(self)?.is_some() {
                    self.skip_ws();
                    self.skip_value()?;
                }
                return Ok(());
            }
            Some(b'[') => {
                let mut array = self.array()?;
                while array.next(self)? {
                    self.skip_ws();
                    self.skip_value()?;
                }
                return Ok(());
            }
            Some(b't') => literal(b, i, b"true")?,
            Some(b'f') => literal(b, i, b"false")?,
            Some(b'n') => literal(b, i, b"null")?,
            Some(b'-' | b'0'..=b'9') => number_end(b, i)?,
            Some(_) => return fail(i, "expected a value"),
            None => return fail(i, "the text ends where a value should be"),
        };
        Ok(())
    }

    /// Checks that nothing but whitespace follows.
    pub fn finish(mut self) -> Checked<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => fail(self.pos, "text after the end of the value"),
        }
    }
}

/// Where an object or array of a [`Reader`] stands: before its first member or element, and
/// whether it has closed yet.
#[derive(Debug)]
struct Open {
    first: bool,
    open: bool,
}

impl Open {
    fn new() -> Open {
        Open {
            first: true,
            open: true,
        }
    }

    /// Takes the closing bracket `r` is at.
    fn close(&mut self, r: &mut Reader<'_>) {
        r.close();
        self.open = false;
    }
}

/// An open object of a [`Reader`].
#[derive(Debug)]
pub struct Object(Open);

impl Object {
    /// The next member's name (unescaped, borrowed when it has no escapes), with the reader
    /// left at its value, which the caller reads next ([`Reader::value`], [`Reader::object`],
    /// ...); `None` once the object has closed.
    pub fn next_key<'a>(&mut self, r: &mut Reader<'a>) -> Checked<Option<Cow<'a, str>>> {
        let Some((start, end, escaped)) = self.next_member(r)? else {
            return Ok(None);
        };
        let text = r.text;
        Ok(Some(if escaped {
            match crate::json::json_str(&text[start - 1..end + 1]) {
                Some(key) => key,
                None => return fail(start, "a member name that cannot be decoded"),
            }
        } else {
            Cow::Borrowed(&text[start..end])
        }))
    }

    /// The next member name's byte range (inside its quotes) and whether it has escapes.
    fn next_member(&mut self, r: &mut Reader<'_>) -> Checked<Option<(usize, usize, bool)>> {
        if !self.0.open {
            return Ok(None);
        }
        let b = r.bytes();
        let mut c = r.peek();
        if !std::mem::take(&mut self.0.first) {
            match c {
                Some(b',') => {
                    r.pos += 1;
                    c = r.peek();
                    if c != Some(b'"') {
                        return fail(r.pos, "expected a member name after the comma");
                    }
                }
                Some(b'}') => {}
                _ => return fail(r.pos, "expected a comma or the end of the object"),
            }
        }
        match c {
            Some(b'}') => {
                self.0.close(r);
                Ok(None)
            }
            Some(b'"') => {
                let start = r.pos;
                let (end, escaped) = string_end(b, start)?;
                r.pos = end;
                if r.peek() != Some(b':') {
                    return fail(r.pos, "expected a colon after the member name");
                }
                r.pos += 1;
                Ok(Some((start + 1, end - 1, escaped)))
            }
            _ => fail(r.pos, "expected a member name or the end of the object"),
        }
    }
}

/// An open array of a [`Reader`].
#[derive(Debug)]
pub struct Array(Open);

impl Array {
    /// Whether another element follows (the reader is then at it, and the caller reads it
    /// next); `false` once the array has closed.
    pub fn next(&mut self, r: &mut Reader<'_>) -> Checked<bool> {
        if !self.0.open {
            return Ok(false);
        }
        let c = r.peek();
        if std::mem::take(&mut self.0.first) && c != Some(b']') {
            return Ok(true);
        }
        match c {
            Some(b']') => {
                self.0.close(r);
                Ok(false)
            }
            Some(b',') => {
                r.pos += 1;
                Ok(true)
            }
            _ => fail(r.pos, "expected a comma or the end of the array"),
        }
    }
}

/// Index just past the closing quote of the string whose opening quote is at `i`, and whether
/// it has escapes; every escape checked, control characters refused. Sixteen bytes at a time.
#[inline]
fn string_end(b: &[u8], i: usize) -> Checked<(usize, bool)> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        i = string_special(b, i);
        match b.get(i) {
            Some(b'"') => return Ok((i + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                i = escape_end(b, i)?;
            }
            Some(_) => return fail(i, "a control character inside a string"),
            None => return fail(i, "the text ends inside a string"),
        }
    }
}

/// Index just past the escape whose backslash is at `i`.
#[cold]
fn escape_end(b: &[u8], i: usize) -> Checked<usize> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let unit = hex4(b, i + 2)?;
            match unit {
                0xD800..=0xDBFF => {
                    if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                        let low = hex4(b, i + 8)?;
                        if (0xDC00..=0xDFFF).contains(&low) {
                            return Ok(i + 12);
                        }
                    }
                    fail(i, "half a surrogate pair in a \\u escape")
                }
                0xDC00..=0xDFFF => fail(i, "half a surrogate pair in a \\u escape"),
                _ => Ok(i + 6),
            }
        }
        _ => fail(i, "an invalid escape in a string"),
    }
}

/// The four hex digits at `i` as a number.
fn hex4(b: &[u8], i: usize) -> Checked<u32> {
    let Some(digits) = b.get(i..i + 4) else {
        return fail(i, "a \\u escape without four hex digits");
    };
    let mut n = 0;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return fail(i, "a \\u escape without four hex digits"),
        };
        n = n * 16 + u32::from(v);
    }
    Ok(n)
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Checked<usize> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        fail(i, "expected a value")
    }
}

/// Index just past the number at `i`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(b: &[u8], i: usize) -> Checked<usize> {
    let digits = |mut j: usize| {
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let mut j = i + usize::from(b.get(i) == Some(&b'-'));
    j = match b.get(j) {
        Some(b'0') => j + 1,
        Some(b'1'..=b'9') => digits(j + 1),
        _ => return fail(j, "a number without digits"),
    };
    if b.get(j) == Some(&b'.') {
        let end = digits(j + 1);
        if end == j + 1 {
            return fail(j, "a number without digits after its decimal point");
        }
        j = end;
    }
    if let Some(b'e' | b'E') = b.get(j) {
        let sign = j + 1 + usize::from(matches!(b.get(j + 1), Some(b'+' | b'-')));
        let end = digits(sign);
        if end == sign {
            return fail(j, "a number without digits in its exponent");
        }
        j = end;
    }
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the reader hands out for `text`, read as a generic walk.
    fn walk(text: &str) -> Checked<String> {
        fn value(r: &mut Reader<'_>, out: &mut String) -> Checked<()> {
            match r.peek() {
                Some(b'{') => {
                    let mut o = r.object()?;
                    out.push('{');
                    while let Some(k) = o.next_key(r)? {
                        out.push_str(&serde_json::to_string(&k).unwrap());
                        out.push(':');
                        value(r, out)?;
                        out.push(',');
                    }
                    out.push('}');
                }
                Some(b'[') => {
                    let mut a = r.array()?;
                    out.push('[');
                    while a.next(r)? {
                        value(r, out)?;
                        out.push(',');
                    }
                    out.push(']');
                }
                _ => out.push_str(r.value()?.get()),
            }
            Ok(())
        }
        let mut r = Reader::new(text);
        let mut out = String::new();
        value(&mut r, &mut out)?;
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn valid_json_is_read_and_skipped() {
        for text in [
            "{}",
            "[]",
            " { \"a\" : [ 1 , -2.5e+3 , true , false , null , \"x\" ] } ",
            r#"{"a\"b": "\u00e9\ud83d\ude00\n", "c": {"d": [[], {}]}}"#,
            "0",
            "-0.0E-0",
            "\"\"",
            "[\"long string with no escapes at all, longer than eight bytes\"]",
        ] {
            assert!(walk(text).is_ok(), "{text}");
            assert_eq!(RawJson::parse(text).unwrap().get(), text.trim(), "{text}");
        }
        assert_eq!(walk(r#"{"a\"b": 1}"#).unwrap(), r#"{"a\"b":1,}"#);
    }

    #[test]
    fn invalid_json_is_refused_wherever_it_is() {
        for text in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1 \"b\":2}",
            "[1,]",
            "[,1]",
            "[1 2]",
            "tru",
            "nul",
            "01",
            "1.",
            "1e",
            "-",
            ".5",
            "+1",
            "\"a\tb\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"abc",
            "[1] 2",
            "{\"a\": [1, {\"b\": tru}]}",
            "{'a': 1}",
            "NaN",
        ] {
            assert!(walk(text).is_err(), "accepted {text:?}");
            assert!(RawJson::parse(text).is_err(), "accepted {text:?}");
            // serde_json agrees.
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "serde accepts {text:?}"
            );
        }
    }

    #[test]
    fn errors_say_where() {
        let e = RawJson::parse("[1, 2, x]").unwrap_err();
        assert_eq!(e.offset(), 7);
        assert_eq!(e.to_string(), "invalid JSON at byte 7: expected a value");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(RawJson::parse(&deep).is_ok());
        let deeper = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            RawJson::parse(&deeper).unwrap_err().problem(),
            "nested too deeply"
        );
    }

    #[test]
    fn raw_values_answer_what_they_hold() {
        let v = RawJson::parse(r#""a\nb""#).unwrap();
        assert_eq!(v.as_str().unwrap(), "a\nb");
        assert_eq!(RawJson::parse("true").unwrap().as_bool(), Some(true));
        assert!(RawJson::parse("null").unwrap().is_null());
        assert_eq!(RawJson::parse("1").unwrap().as_str(), None);
        let serialized = serde_json::to_string(&RawJson::parse("[1, 2]").unwrap()).unwrap();
        assert_eq!(serialized, "[1, 2]");
    }
}

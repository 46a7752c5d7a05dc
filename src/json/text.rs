//! Small facts about JSON text: the string a literal holds, whitespace between tokens.

/// The string a JSON string literal holds (`None` for any other JSON value, or text that is
/// not a valid literal), borrowed from the text when it has no escapes: only a string with a
/// backslash, a quote or a control character inside goes to the parser (eight bytes are
/// checked at a time).
///
/// ```
/// use intake::json::json_str;
/// assert_eq!(json_str(r#""ada""#).as_deref(), Some("ada"));
/// assert_eq!(json_str(r#""a\"b""#).as_deref(), Some("a\"b"));
/// assert_eq!(json_str("42"), None);
/// assert_eq!(json_str("\"a\tb\""), None); // a raw tab: not valid JSON
/// ```
pub fn json_str(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !super::swar::needs_escape(inner.as_bytes()) {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str(text).ok()
}

/// Whether JSON text holds a byte below 0x20: in valid JSON that can only be whitespace (a line
/// break, a tab) between tokens, since strings must escape control characters. Checked 16
/// bytes at a time so the common, compact case costs little.
pub(crate) fn has_control_bytes(text: &str) -> bool {
    text.as_bytes()
        .chunks(16)
        .any(|c| c.iter().fold(false, |any, &b| any | (b < 0x20)))
}

/// Valid JSON text without the whitespace between its tokens (strings are copied as they are).
pub(crate) fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

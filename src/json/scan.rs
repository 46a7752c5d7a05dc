//! A structural scanner for JSON text already known to be valid (a [`Record`]'s): it follows
//! only strings and nesting, eight bytes at a time, to split an object into its top-level
//! members without parsing their values. Every record is split at least twice per sync (the
//! cursor, then the destination's columns), and most of its bytes sit in strings and nested
//! objects the split only has to step over.
//!
//! Given text that is not valid JSON it never panics: it either gives up (`None`, and callers
//! fall back to serde_json for the error) or returns some split of it.
//!
//! [`Record`]: crate::Record

use std::borrow::Cow;

use super::swar::{ONES, eq_mask, skip_unflagged};
use super::text::json_str;

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// Index just past the closing quote of the string whose opening quote is at `i`, and whether
/// it holds escapes.
pub(crate) fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        i = skip_unflagged(b, i, |w| eq_mask(w, b'"') | eq_mask(w, b'\\'));
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

/// Flags quotes and brackets. `{` `}` `[` `]` are the bytes that `| 0x20` then `& 0xF9` maps to
/// 0x79; so do `Y`, `_`, `y` and DEL, which valid JSON has only inside strings (and a false
/// flag only costs a look).
#[inline]
fn structural(w: u64) -> u64 {
    eq_mask(w, b'"') | eq_mask((w | (ONES * 0x20)) & (ONES * 0xF9), 0x79)
}

/// Index just past the object or array whose opening bracket is at `i`: 64 bytes at a time
/// with SSE2 where the CPU has it (every x86-64 does), else eight at a time.
fn container_end(b: &[u8], i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of the x86-64 baseline: every CPU this code runs on has it.
        // (The function's only requirement is the target feature; it reads through slices.)
        #[allow(unsafe_code)]
        unsafe {
            blocks::container_end(b, i)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    container_end_words(b, i)
}

/// Index of the first byte at or after `i` that is a quote, a backslash or a control
/// character (what ends or interrupts a string's plain run); `b.len()` when none is left.
/// Sixteen bytes at a time with SSE2, else eight.
#[inline]
pub(crate) fn string_special(b: &[u8], i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86-64 baseline (as for `container_end`).
    #[allow(unsafe_code)]
    let mut i = unsafe { blocks::string_special(b, i) };
    #[cfg(not(target_arch = "x86_64"))]
    let mut i = skip_unflagged(b, i, |w| {
        eq_mask(w, b'"') | eq_mask(w, b'\\') | control_mask(w)
    });
    // Under sixteen (or eight) bytes are left, or `i` is the byte sought already.
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// [`container_end`] eight bytes at a time, in portable code.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn container_end_words(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    loop {
        j = skip_unflagged(b, j, structural);
        match *b.get(j)? {
            b'"' => {
                j = string_end(b, j)?.0;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
}

/// The block scanner: each sixteen bytes are classified at once into bit masks (quotes,
/// backslashes, opening and closing brackets), four blocks joined into masks of 64 bytes; the
/// bytes inside strings are found from the quote mask by a prefix XOR, so the brackets outside
/// strings are counted without a branch per string, and the in-string state is carried from
/// one 64 bytes to the next rather than from block to block (that carry is the loop's serial
/// dependency). Sixty-four bytes holding a backslash (rare in data) go block by block, and a
/// block holding one is walked byte by byte.
#[cfg(target_arch = "x86_64")]
mod blocks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };

    /// One bit per byte, the first byte in the lowest bit.
    #[derive(Default)]
    struct Masks {
        quote: u64,
        backslash: u64,
        open: u64,
        close: u64,
    }

    /// The masks of one block of 16 bytes.
    #[target_feature(enable = "sse2")]
    fn classify(block: &[u8]) -> Masks {
        let word = |k: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&block[k..k + 8]);
            i64::from_le_bytes(w)
        };
        let v = _mm_set_epi64x(word(8), word(0));
        let eq = |v: __m128i, c: u8| {
            u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16)
        };
        // `{` and `[` differ only in bit 0x20, as do `}` and `]`.
        let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
        Masks {
            quote: eq(v, b'"'),
            backslash: eq(v, b'\\'),
            open: eq(folded, b'{'),
            close: eq(folded, b'}'),
        }
    }

    /// Index of the first byte at or after `i` that is a quote, a backslash or a control
    /// character, sixteen bytes at a time; where fewer than sixteen bytes are left without one,
    /// the index they start at (the caller's tail loop takes them).
    #[target_feature(enable = "sse2")]
    pub(super) fn string_special(b: &[u8], mut i: usize) -> usize {
        while let Some(block) = b.get(i..i + 16) {
            let word = |k: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&block[k..k + 8]);
                i64::from_le_bytes(w)
            };
            let v = _mm_set_epi64x(word(8), word(0));
            let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
            // Bytes up to 0x1F are those whose unsigned maximum with 0x1F is 0x1F.
            let limit = _mm_set1_epi8(0x1F);
            let control = _mm_cmpeq_epi8(_mm_max_epu8(v, limit), limit);
            let hits = _mm_or_si128(_mm_or_si128(eq(b'"'), eq(b'\\')), control);
            let m = _mm_movemask_epi8(hits) as u32;
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
        }
        i
    }

    /// The masks of 64 bytes, from their four blocks.
    #[target_feature(enable = "sse2")]
    fn classify64(chunk: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (k, block) in chunk.chunks_exact(16).enumerate() {
            let b = classify(block);
            let at = 16 * k;
            m.quote |= b.quote << at;
            m.backslash |= b.backslash << at;
            m.open |= b.open << at;
            m.close |= b.close << at;
        }
        m
    }

    impl Masks {
        /// The masks of the `n`-th block of 16 bytes of these 64.
        fn block(&self, n: usize) -> Masks {
            let part = |m: u64| (m >> (16 * n)) & 0xFFFF;
            Masks {
                quote: part(self.quote),
                backslash: part(self.backslash),
                open: part(self.open),
                close: part(self.close),
            }
        }
    }

    /// Bit k set when an odd number of bits at or below k are set in `x`.
    fn prefix_xor(mut x: u64) -> u64 {
        x ^= x << 1;
        x ^= x << 2;
        x ^= x << 4;
        x ^= x << 8;
        x ^= x << 16;
        x ^= x << 32;
        x
    }

    /// Where a byte-by-byte walk is when a block ends.
    #[derive(Default)]
    struct Walk {
        depth: usize,
        in_string: bool,
        escaped: bool,
    }

    impl Walk {
        /// Steps over one byte: `Some(true)` when it closed the outermost bracket, `None` when
        /// the text cannot be valid (a bracket closes nothing).
        fn step(&mut self, c: u8) -> Option<bool> {
            if self.escaped {
                self.escaped = false;
            } else if self.in_string {
                match c {
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
            } else {
                match c {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth = self.depth.checked_sub(1)?;
                        return Some(self.depth == 0);
                    }
                    _ => {}
                }
            }
            Some(false)
        }

        /// Steps over `width` bytes (16 or 64) whose masks hold no backslash, not after one:
        /// `Some(Some(k))` when byte `k` closed the outermost bracket.
        fn clean(&mut self, m: &Masks, width: u32) -> Option<Option<usize>> {
            let all = u64::MAX >> (64 - width);
            // Bits of the bytes inside strings (opening quote included, closing excluded).
            let mut inside = prefix_xor(m.quote);
            if self.in_string {
                inside = !inside;
            }
            inside &= all;
            self.in_string = inside >> (width - 1) != 0;
            let mut brackets = (m.open | m.close) & !inside & all;
            while brackets != 0 {
                let k = brackets.trailing_zeros();
                if m.open & (1 << k) != 0 {
                    self.depth += 1;
                } else {
                    self.depth = self.depth.checked_sub(1)?;
                    if self.depth == 0 {
                        return Some(Some(k as usize));
                    }
                }
                brackets &= brackets - 1;
            }
            Some(None)
        }

        /// Steps over one block of 16 bytes with masks `m`, byte by byte if it holds a
        /// backslash.
        fn block(&mut self, block: &[u8], m: &Masks) -> Option<Option<usize>> {
            if m.backslash == 0 && !self.escaped {
                return self.clean(m, 16);
            }
            for (k, &c) in block.iter().enumerate() {
                if self.step(c)? {
                    return Some(Some(k));
                }
            }
            Some(None)
        }
    }

    #[target_feature(enable = "sse2")]
    pub(super) fn container_end(b: &[u8], i: usize) -> Option<usize> {
        let mut walk = Walk::default();
        let mut j = i;
        while let Some(chunk) = b.get(j..j.checked_add(64)?) {
            let chunk: &[u8; 64] = chunk.try_into().ok()?;
            let m = classify64(chunk);
            if m.backslash == 0 && !walk.escaped {
                if let Some(k) = walk.clean(&m, 64)? {
                    return Some(j + k + 1);
                }
            } else {
                for (n, block) in chunk.chunks_exact(16).enumerate() {
                    // The 64 bytes' masks, a block at a time: not classified twice.
                    if let Some(k) = walk.block(block, &m.block(n))? {
                        return Some(j + 16 * n + k + 1);
                    }
                }
            }
            j += 64;
        }
        while let Some(block) = b.get(j..j.checked_add(16)?) {
            if let Some(k) = walk.block(block, &classify(block))? {
                return Some(j + k + 1);
            }
            j += 16;
        }
        for (k, &c) in b.get(j..)?.iter().enumerate() {
            if walk.step(c)? {
                return Some(j + k + 1);
            }
        }
        None
    }
}

/// Index just past the value starting at `i`.
pub(crate) fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i).map(|(end, _)| end),
        b'{' | b'[' => container_end(b, i),
        _ => {
            let mut j = i;
            while let Some(c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Calls `visit` with each top-level member of the object in `b`: the key's byte range (inside
/// its quotes) and whether it holds escapes, and the value's byte range; until `visit` returns
/// `true`. `None` when `b` is not an object this scanner can follow.
fn member_ranges(
    b: &[u8],
    mut visit: impl FnMut(std::ops::Range<usize>, bool, std::ops::Range<usize>) -> Option<bool>,
) -> Option<()> {
    let open = skip_ws(b, 0);
    if b.get(open) != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(b, open + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(());
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = string_end(b, i)?;
        let key = i + 1..key_end - 1;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = value_end(b, start)?;
        if visit(key, escaped, start..end)? {
            return Some(());
        }
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// A key's text: borrowed without escapes, decoded with them. `range` lies inside quotes.
fn key_text(text: &str, range: std::ops::Range<usize>, escaped: bool) -> Option<Cow<'_, str>> {
    if escaped {
        json_str(text.get(range.start - 1..range.end + 1)?)
    } else {
        text.get(range).map(Cow::Borrowed)
    }
}

/// Calls `visit` with each top-level member of the object `text` (its key, unescaped, and the
/// value's JSON text) in order, until `visit` returns `true`. `None` when `text` is not an
/// object this scanner can follow (the caller's parser then says what is wrong with it).
pub(crate) fn members<'a>(
    text: &'a str,
    mut visit: impl FnMut(Cow<'a, str>, &'a str) -> bool,
) -> Option<()> {
    member_ranges(text.as_bytes(), |key, escaped, value| {
        Some(visit(key_text(text, key, escaped)?, text.get(value)?))
    })
}

/// Where the value of the top-level member `name` of the object in `b` lies: `Some(None)`
/// when it has none, `None` when the bytes cannot be followed. The whole object is followed,
/// not just up to the member: a body cut short after the member is refused (and retried), and
/// of repeated keys the last wins, as in `serde_json::Value` and the table code (cursor, key
/// and column values agree). Keys are compared as bytes; only a key with escapes is decoded.
fn member_range(b: &[u8], name: &str) -> Option<Option<std::ops::Range<usize>>> {
    let mut found = None;
    member_ranges(b, |key, escaped, value| {
        let hit = if escaped {
            let quoted = std::str::from_utf8(b.get(key.start - 1..key.end + 1)?).ok()?;
            json_str(quoted)? == name
        } else {
            b.get(key)? == name.as_bytes()
        };
        if hit {
            found = Some(value);
        }
        Some(false)
    })?;
    Some(found)
}

/// The value of the top-level member `name` of the object `text`: `Some(None)` when it has
/// none, `None` when the text cannot be followed. The last of repeated keys wins.
pub(crate) fn member<'a>(text: &'a str, name: &str) -> Option<Option<&'a str>> {
    match member_range(text.as_bytes(), name)? {
        Some(range) => text.get(range).map(Some),
        None => Some(None),
    }
}

/// [`member`] on bytes (a response body not yet checked as UTF-8): the value is returned as
/// bytes.
#[cfg(feature = "http")]
pub(crate) fn member_bytes<'a>(b: &'a [u8], name: &str) -> Option<Option<&'a [u8]>> {
    match member_range(b, name)? {
        Some(range) => b.get(range).map(Some),
        None => Some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        members(text, |k, v| {
            out.push((k.into_owned(), v.to_string()));
            false
        })?;
        Some(out)
    }

    /// The same split through serde_json, the reference.
    fn serde_split(text: &str) -> Vec<(String, String)> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
        let raw: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
            serde_json::from_str(text).unwrap();
        let mut out: Vec<(String, String)> = raw
            .into_iter()
            .map(|(k, v)| (k, v.get().to_string()))
            .collect();
        assert_eq!(out.len(), map.len());
        out.sort();
        out
    }

    #[test]
    fn splits_objects_like_serde_json() {
        let cases = [
            r#"{}"#,
            r#" { } "#,
            r#"{"a":1}"#,
            r#"{ "a" : 1 , "b" : [ 1, {"c": "}]"} ] , "d": null }"#,
            r#"{"id":"1","properties":{"email":"a@b.c","note":"say \"hi\" \\ {[","n":[1,2,[3]]},"updatedAt":"2024-01-01T00:00:00Z","archived":false}"#,
            r#"{"k\"ey":"v","\u00e9":"\\","long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"aaaaaaaa\\"}"#,
            r#"{"yY_":"Yy_","arr":[1.5e3,-2,true,false,null,"x"],"empty":{},"e2":[]}"#,
            "{\"tab\":\t\"a\"\n,\r\"b\" :{\"c\":{\"d\":{\"e\":[[[]]]}}}}",
            r#"{"emoji":"🦀 über ünïcödé — \ud83e\udd80","n":-0.0}"#,
        ];
        for text in cases {
            let mut ours = split(text).unwrap_or_else(|| panic!("could not split {text}"));
            ours.sort();
            assert_eq!(ours, serde_split(text), "{text}");
        }
    }

    #[test]
    fn every_cut_of_a_record_is_refused_or_split_without_panicking() {
        let text = r#"{"id":"1","properties":{"email":"a@b.c","note":"q\"uote"},"tags":[1,[2]],"ok":true}"#;
        for end in 0..text.len() {
            let cut = &text[..end];
            assert!(split(cut).is_none(), "accepted the cut {cut:?}");
        }
        for (i, _) in text.char_indices() {
            // Any single byte replaced: never a panic (the result may be anything).
            for c in ['"', '\\', '{', '}', '[', ']', ',', ':', ' '] {
                let mut broken = text.to_string();
                broken.replace_range(i..i + 1, &c.to_string());
                let _ = split(&broken);
            }
        }
    }

    #[test]
    fn the_block_and_word_scanners_agree_at_every_offset() {
        let mut texts: Vec<String> = vec![
            r#"{"id":"1","properties":{"email":"a@b.c","note":"say \"hi\" \\ {[","n":[1,2,[3]]},"u":"2024"}"#.into(),
            r#"[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]],{}"#.into(),
            r#"{"a":"}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}","b":{"c":"]]]]]]]]]]]]]]]]"}}"#.into(),
        ];
        // An escape (and an escaped backslash before a closing quote) at every offset of a block
        // and of a 64-byte run, and brackets inside and outside strings around it.
        for k in (0..40).chain((56..140).step_by(3)) {
            let pad = "x".repeat(k);
            texts.push(format!(
                r#"{{"a":"{pad}\"{{[","b":["{pad}\\",{{"c":"]"}}]}}"#
            ));
            texts.push(format!(r#"{{"{pad}":"\\","d":[{{}}],"e":"\u00e9{pad}"}}"#));
            // A long string (no escapes) whose end falls at every offset of a 64-byte run.
            texts.push(format!(r#"{{"s":["{pad}{{[","]}}"],"t":{{"u":"{pad}"}}}}"#));
        }
        for text in &texts {
            let b = text.as_bytes();
            for start in (0..b.len()).filter(|&i| matches!(b[i], b'{' | b'[')) {
                for end in start..=b.len() {
                    let cut = &b[..end];
                    assert_eq!(
                        container_end(cut, start),
                        container_end_words(cut, start),
                        "{text} from {start} cut at {end}"
                    );
                }
            }
        }
    }

    #[test]
    fn member_finds_the_last_top_level_key_only() {
        // The last of repeated keys, as serde_json's Value (and so the table code) reads it.
        let text =
            r#"{"properties":{"updatedAt":"inner"},"updatedAt":"outer","updatedAt":"again"}"#;
        assert_eq!(member(text, "updatedAt"), Some(Some(r#""again""#)));
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(value["updatedAt"], "again");
        assert_eq!(member(text, "missing"), Some(None));
        assert_eq!(member(r#"{"a\u0062":1}"#, "ab"), Some(Some("1")));
        assert_eq!(member("[1]", "a"), None);
    }

    #[test]
    fn word_masks_find_the_first_match_at_every_position() {
        for pos in 0..8 {
            for c in 0u8..=255 {
                let mut bytes = [b'a'; 8];
                bytes[pos] = c;
                // A second candidate after the first must not move the answer.
                if pos < 7 {
                    bytes[7] = b'"';
                }
                let w = u64::from_le_bytes(bytes);
                let want = bytes.iter().position(|&x| x == b'"' || x == b'\\');
                let got = eq_mask(w, b'"') | eq_mask(w, b'\\');
                let got = (got != 0).then(|| (got.trailing_zeros() / 8) as usize);
                assert_eq!(got, want, "byte {c:#x} at {pos}");
                let want = bytes.iter().position(|&x| {
                    matches!(
                        x,
                        b'"' | b'{' | b'}' | b'[' | b']' | b'Y' | b'_' | b'y' | 0x7f
                    )
                });
                let got = structural(w);
                let got = (got != 0).then(|| (got.trailing_zeros() / 8) as usize);
                assert_eq!(got, want, "byte {c:#x} at {pos}");
            }
        }
    }
}

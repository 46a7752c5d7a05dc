//! Eight bytes at a time (SIMD within a register): the word masks the scanners share.

pub(super) const ONES: u64 = u64::from_le_bytes([0x01; 8]);
pub(super) const HIGH: u64 = u64::from_le_bytes([0x80; 8]);

/// The bytes of `w` equal to `c`, as their high bits. The lowest set bit is exact; bits above
/// a match may be false (the subtraction borrows), so only the first match is used.
#[inline]
pub(super) fn eq_mask(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The bytes of `w` below 0x20 (control characters), as their high bits; exact like
/// [`eq_mask`] for the lowest one. `w - 0x20..` borrows into the high bit of such a byte.
#[inline]
pub(super) fn control_mask(w: u64) -> u64 {
    w.wrapping_sub(ONES * 0x20) & !w & HIGH
}

/// The eight bytes at `i`, the first in the lowest bits.
#[inline]
pub(super) fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// Index of the first byte at or after `i` that `mask` flags, found a word at a time; the
/// tail (under eight bytes) is left to the caller's byte loop.
#[inline]
pub(super) fn skip_unflagged(b: &[u8], mut i: usize, mask: impl Fn(u64) -> u64) -> usize {
    while let Some(w) = word(b, i) {
        let m = mask(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

/// Whether JSON needs any of these bytes escaped inside a string: a quote, a backslash or a
/// control character. Eight bytes at a time, as names are short.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(w) = word(bytes, i) {
        if eq_mask(w, b'"') | eq_mask(w, b'\\') | control_mask(w) != 0 {
            return true;
        }
        i += 8;
    }
    bytes
        .get(i..)
        .unwrap_or_default()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

//! A1 ranges: any sheet title quotes to a range Google reads back as that title.
#![no_main]

use intake_source_google_sheets::{column_letters, quote_title};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u16)| {
    let (title, column) = input;
    let quoted = quote_title(title);
    assert!(quoted.starts_with('\'') && quoted.ends_with('\'') && quoted.len() >= 2);
    let inner = &quoted[1..quoted.len() - 1];
    // Inside the quotes, every quote is doubled: undoubling gives the title back.
    assert!(!inner.replace("''", "").contains('\''));
    assert_eq!(inner.replace("''", "'"), title);
    let letters = column_letters(usize::from(column));
    assert!(!letters.is_empty() && letters.bytes().all(|b| b.is_ascii_uppercase()));
});

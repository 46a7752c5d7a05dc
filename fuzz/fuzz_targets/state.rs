//! State files: any text parses or is refused; what parses survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(state) = intake::fuzz::state(text) {
        let again = intake::State::parse(&state.to_json())
            .expect("a parsed state serializes to a parsable one");
        assert_eq!(again, state);
    }
});

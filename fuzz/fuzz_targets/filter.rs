#![no_main]
//! Any text as a filter, for both resource types, and any text as a PATCH path: errors are fine,
//! panics are not; whatever parses must print to text that parses to the same filter.

use libfuzzer_sys::fuzz_target;
use model::schema::{GROUP_TYPE, USER_TYPE};
use model::{Filter, FilterLimits};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for rt in [&*USER_TYPE, &*GROUP_TYPE] {
        if let Ok(f) = Filter::parse(text, rt, FilterLimits::default()) {
            let printed = f.to_string();
            let again = Filter::parse(&printed, rt, FilterLimits { max_length: usize::MAX, max_depth: usize::MAX })
                .expect("a printed filter parses");
            assert_eq!(again, f);
        }
        let _ = model::patch::parse_path(text, rt, FilterLimits::default());
    }
});

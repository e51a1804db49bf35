//! Zone TOML → `check`: errors name the file, line and column; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        gslbd::fuzzing::zone(text);
    }
});

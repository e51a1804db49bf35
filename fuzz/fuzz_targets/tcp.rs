//! A TCP byte stream through the real connection loop: whole frames out, each a response.
#![no_main]

use std::sync::LazyLock;

use gslbd::fuzzing::Fixture;
use libfuzzer_sys::fuzz_target;

static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::new);

fuzz_target!(|data: &[u8]| FIXTURE.tcp(data));

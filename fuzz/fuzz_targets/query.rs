//! Query bytes → response, on the fast and the full path: they must agree, and every response
//! must parse and carry the query's ID and question (see `gslbd::fuzzing`).
#![no_main]

use std::sync::LazyLock;

use gslbd::fuzzing::Fixture;
use libfuzzer_sys::fuzz_target;

static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::new);

fuzz_target!(|data: &[u8]| FIXTURE.query(data));

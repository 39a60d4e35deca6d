//! Fuzz target: one browser text frame through the CDP decoder and the binding-payload parser.
//! See `cdp_executor::fuzzing::cdp_message`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cdp_executor::fuzzing::cdp_message(data);
});

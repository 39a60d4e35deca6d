//! Fuzz target: one CDP input channel frame through the JSON decoder and the key rules. See
//! `gateway::fuzzing::cdp_input_json`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gateway::fuzzing::cdp_input_json(data);
});

//! Fuzz target: one Message channel frame through the JSON decoder and its replies. See
//! `gateway::fuzzing::message_json`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gateway::fuzzing::message_json(data);
});

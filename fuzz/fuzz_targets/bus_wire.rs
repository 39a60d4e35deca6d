//! Fuzz target: one Redis bus payload through every decoder a replica runs on it. See
//! `gateway::fuzzing::bus_wire`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gateway::fuzzing::bus_wire(data);
});

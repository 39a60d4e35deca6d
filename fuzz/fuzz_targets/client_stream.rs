//! Fuzz target: arbitrary viewer (and, in one mode, server) bytes through the RFB handshake,
//! the client-message decoder and the input policy. See `gateway::fuzzing::client_stream`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gateway::fuzzing::client_stream(data);
});

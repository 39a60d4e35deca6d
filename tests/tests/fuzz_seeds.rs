//! Replays the committed fuzz seeds (`fuzz/seeds/<target>/`, grown and minimised from fuzzing
//! runs) through the fuzz entry points on stable, so every input that ever found or guarded a
//! bug runs in the test command. Running the fuzzers themselves: `fuzz/README.md`.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    for path in files {
        let data = std::fs::read(&path).expect("readable seed");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
    }
}

#[test]
fn client_stream_seeds_pass_the_relay_checks() {
    replay("client_stream", gateway::fuzzing::client_stream);
}

#[test]
fn message_json_seeds_pass_the_decoder_checks() {
    replay("message_json", gateway::fuzzing::message_json);
}

#[test]
fn cdp_input_json_seeds_pass_the_decoder_checks() {
    replay("cdp_input_json", gateway::fuzzing::cdp_input_json);
}

#[test]
fn bus_wire_seeds_pass_the_bus_decoder_checks() {
    replay("bus_wire", gateway::fuzzing::bus_wire);
}

#[test]
fn cdp_message_seeds_pass_the_decoder_checks() {
    replay("cdp_message", cdp_executor::fuzzing::cdp_message);
}

//! The binary's exit statuses on a bad command line (the operator interface): 64 for a usage
//! error and for a flag value that does not make sense, before anything is started.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cdp-executor");

fn exit_code(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN)
        .args(args)
        .output()
        .expect("cdp-executor runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn an_unknown_flag_exits_with_usage_status() {
    let (code, stderr) = exit_code(&["--no-such-flag"]);
    assert_eq!(code, Some(64), "{stderr}");
}

#[test]
fn a_flag_value_that_makes_no_sense_exits_with_usage_status_and_says_which() {
    let (code, stderr) = exit_code(&["serve", "--listen", "127.0.0.1:0", "--max-connections", "0"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--max-connections"), "{stderr}");
    let (code, stderr) = exit_code(&["--listen", "127.0.0.1:0", "--upstream-allow", "not-a-cidr"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--upstream-allow"), "{stderr}");
}

#[test]
fn help_exits_zero() {
    let (code, stderr) = exit_code(&["--help"]);
    assert_eq!(code, Some(0), "{stderr}");
}

//! Runs a Python script that talks to a real service binary through stubs generated from
//! `proto/` by grpcio-tools (a standard gRPC stack, not our Rust client). Used by the
//! services' `standard_client` tests; the scripts share `tests/kit/standard-client/common.py`. The Python environment is the one
//! scripts/install-deps creates; without it the test skips (prints why), or fails under
//! `BROWSER_STREAM_REQUIRE_ALL=1`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bounds a hang only: the scripts normally end within seconds.
const DEADLINE: Duration = Duration::from_secs(180);

/// Runs `script` with `args` under the gRPC Python environment and asserts it ended well
/// (exit 0 and `all RPCs answered`); returns false when the environment is missing (skipped).
pub fn run_script(script: PathBuf, args: &[&std::ffi::OsStr]) -> bool {
    run_script_expecting(script, args, "all RPCs answered").is_some()
}

/// Runs `script` with `args` under the gRPC Python environment and asserts it exited 0 with
/// `expected` in its output; returns its stdout, or `None` when the environment is missing
/// (skipped). Blocking: call it from `spawn_blocking` when the test acts meanwhile.
pub fn run_script_expecting(
    script: PathBuf,
    args: &[&std::ffi::OsStr],
    expected: &str,
) -> Option<String> {
    let python = python_or_skip()?;
    let mut command = Command::new(python);
    command.arg(&script).args(args);
    let (status, stdout, stderr) = run_bounded(command, DEADLINE);
    let output = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let name = script.display();
    assert!(status == Some(0), "{name} exited with {status:?}\n{output}");
    assert!(stdout.contains(expected), "no `{expected}`\n{output}");
    println!("{stdout}");
    Some(stdout)
}

/// The Python with grpcio, grpcio-tools, grpcio-health-checking and grpcio-reflection
/// (`$BROWSER_STREAM_PYENV`, else `~/.cache/browser-stream/pyenv`), or `None` after the skip
/// rule.
fn python_or_skip() -> Option<PathBuf> {
    let env = std::env::var_os("BROWSER_STREAM_PYENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/browser-stream/pyenv"))
        });
    let python = env.map(|env| env.join("bin/python"));
    let usable = python.as_ref().is_some_and(|python| {
        Command::new(python)
            .args([
                "-c",
                "import grpc, grpc_tools, grpc_health.v1, grpc_reflection.v1alpha",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    });
    if usable {
        return python;
    }
    let place = python.map_or("~/.cache/browser-stream/pyenv (HOME unset)".into(), |p| {
        p.display().to_string()
    });
    let reason = format!(
        "no Python gRPC environment at {place} (run scripts/install-deps or set BROWSER_STREAM_PYENV)"
    );
    crate::skip::skip(&reason);
    None
}

/// Runs `command` with piped output; kills it after `deadline`. Returns the exit code (`None`
/// when killed or ended by a signal), stdout and stderr.
fn run_bounded(mut command: Command, deadline: Duration) -> (Option<i32>, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    // Read both pipes on threads so that neither can fill up and stall the child.
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let status = wait_or_kill(&mut child, deadline);
    let stdout = stdout.join().expect("stdout reader");
    let mut stderr = stderr.join().expect("stderr reader");
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {deadline:?})"));
    }
    (status.and_then(|s| s.code()), stdout, stderr)
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The child's exit status, or `None` after killing it at the deadline. The script's own
/// children die with it (it sets their parent-death signal).
fn wait_or_kill(child: &mut Child, deadline: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for python") {
            return Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

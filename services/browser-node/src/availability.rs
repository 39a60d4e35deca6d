//! Whether the real parts a test needs are installed, and the skip rule: a test whose part is
//! missing prints `skipped: <reason>` and returns, unless `BROWSER_STREAM_REQUIRE_ALL=1` (the
//! README's test command sets it), in which case it fails.

use crate::{chromium_executable, find_executable};

/// The variable that turns a skip into a failure.
pub const REQUIRE_ALL_ENV: &str = "BROWSER_STREAM_REQUIRE_ALL";

/// Whether every part is required (`BROWSER_STREAM_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_ENV).is_ok_and(|value| value == "1")
}

/// Why Chromium cannot be used here, or `None` when it can.
pub fn chromium_missing() -> Option<String> {
    chromium_executable()
        .is_none()
        .then(|| "chromium is not installed (set CHROMIUM or run scripts/install-deps)".to_owned())
}

/// Why Xvfb or x11vnc cannot be used here, or `None` when both can.
pub fn vnc_tools_missing() -> Option<String> {
    let missing: Vec<&str> = ["Xvfb", "x11vnc"]
        .into_iter()
        .filter(|tool| find_executable(tool).is_none())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (run scripts/install-deps)",
            missing.join(" and ")
        )
    })
}

/// Applies the skip rule to a missing part: prints `skipped: <reason>`, or panics when every
/// part is required.
pub fn skip(reason: &str) {
    assert!(
        !require_all(),
        "{REQUIRE_ALL_ENV}=1 but a required part is missing: {reason}"
    );
    println!("skipped: {reason}");
}

/// True when Chromium is available; otherwise applies the skip rule and returns false.
pub fn chromium_or_skip() -> bool {
    match chromium_missing() {
        None => true,
        Some(reason) => {
            skip(&reason);
            false
        }
    }
}

/// True when Chromium, Xvfb and x11vnc are available; otherwise applies the skip rule.
pub fn vnc_tools_or_skip() -> bool {
    match chromium_missing().or_else(vnc_tools_missing) {
        None => true,
        Some(reason) => {
            skip(&reason);
            false
        }
    }
}

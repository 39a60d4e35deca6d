//! Whether the real parts a test needs are installed, and the skip rule: a test whose part is
//! missing prints `skipped: <reason>` and returns, unless `BROWSER_STREAM_REQUIRE_ALL=1` (the
//! README's test command sets it), in which case it fails.

use crate::{chromium_executable, find_executable};

pub use service_kit::skip::{require_all, skip, REQUIRE_ALL_ENV};

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

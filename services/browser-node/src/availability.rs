//! Whether the real parts a node runs are installed, and if not, why (in words an operator can
//! act on). Tests turn a missing part into a skip with `test_kit::skip::unless_missing`.

use crate::{chromium_executable, find_executable};

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

/// Why Chromium, Xvfb or x11vnc cannot be used here (a live VNC node needs all three), or
/// `None` when all can.
pub fn vnc_parts_missing() -> Option<String> {
    chromium_missing().or_else(vnc_tools_missing)
}

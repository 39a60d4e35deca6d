//! The skip rule of tests that need a real part (Chromium, Xvfb, PostgreSQL, openssl, the
//! Python gRPC environment…): when the part is missing the test prints `skipped: <reason>` and
//! returns, unless `BROWSER_STREAM_REQUIRE_ALL=1` (the README's test command sets it), in which
//! case it fails. One rule for every crate's tests.

/// The variable that turns a skip into a failure.
pub const REQUIRE_ALL_ENV: &str = "BROWSER_STREAM_REQUIRE_ALL";

/// Whether every part is required (`BROWSER_STREAM_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL_ENV).is_ok_and(|value| value == "1")
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

/// True when nothing is missing; otherwise applies the skip rule to why and returns false.
/// Pairs with the `*_missing()` checks of the crates that own the parts
/// (e.g. `browser_node::availability::chromium_missing`).
pub fn unless_missing(missing: Option<String>) -> bool {
    match missing {
        None => true,
        Some(reason) => {
            skip(&reason);
            false
        }
    }
}

//! What every browser-stream crate's tests share, kept out of the shipped crates: a leaf with
//! no dependency, so any crate can take it as a dev-dependency without a cycle.
//!
//! # Layout
//! - [`skip`]: the skip rule of tests that need a real part (`BROWSER_STREAM_REQUIRE_ALL`).
//! - [`standard_client`]: runs a service's standard-client script (Python grpcio stubs
//!   generated from `proto/`, helpers in `tests/kit/standard-client/common.py`).

pub mod skip;
pub mod standard_client;

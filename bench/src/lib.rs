//! Side-by-side benchmarks of the gateway's VNC relay against websockify and a direct
//! connection, all in one run (see `bench/README.md`). Not part of the test suite.
//!
//! # Layout
//! - [`server`]: the synthetic RFB 3.8 server every path relays to.
//! - [`client`]: the RFB client over TCP or WebSocket that measures round trips and throughput.
//! - [`websockify`]: a real websockify process, and process-tree memory from `/proc`.
//! - [`host`]: the gateway under test (with a verification service) in a child process.
//! - [`measure`]: the four paths and the rotation that measures them.
//! - [`report`]: quantiles, the table and the ratios.

pub mod client;
pub mod host;
pub mod measure;
pub mod report;
pub mod server;
pub mod websockify;

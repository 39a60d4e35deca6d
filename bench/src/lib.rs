//! Side-by-side benchmarks of the gateway's VNC relay against a socat relay, websockify and a
//! direct connection, all in one run (see `bench/README.md`). Not part of the test suite.
//!
//! # Layout
//! - [`server`]: the synthetic RFB 3.8 server every path relays to.
//! - [`client`]: the RFB client over TCP or WebSocket that measures round trips and throughput.
//! - [`socat`]: a socat TCP relay, the kernel's floor for a relay hop.
//! - [`websockify`]: a real websockify process.
//! - [`spawn`]: starting socat or websockify on a free port.
//! - [`procfs`]: memory and CPU time of a relay's process tree, from `/proc`.
//! - [`host`]: the gateway under test (with a verification service) in a child process.
//! - [`measure`]: the five paths and the rotation that measures them.
//! - [`many_viewers`]: a hundred viewers streaming through one relay at once.
//! - [`pairs`]: idle VNC+Message pairs by the thousand on one gateway.
//! - [`report`]: quantiles, the table and the ratios.
//! - [`soak`]: live sessions (input and updates) held for minutes on one gateway.
//! - [`watch_scale`]: verification's statements per poll interval with up to 10,000 watched
//!   sessions, against one read per entity.
//! - [`screencast`]: the CDP transport on a headless Chromium: frames/s, key→frame latency,
//!   the browser's CPU with one shared screencast against one per viewer.
//! - [`paste`]: a viewer's paste into the page through the Message channel, against the
//!   incumbent's per-paste Playwright connection.

pub mod client;
pub mod host;
pub mod many_viewers;
pub mod measure;
pub mod pairs;
pub mod paste;
pub mod procfs;
pub mod report;
pub mod screencast;
pub mod server;
pub mod soak;
pub mod socat;
pub mod spawn;
pub mod watch_scale;
pub mod websockify;

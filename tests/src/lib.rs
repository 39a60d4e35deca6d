//! The test kit of browser-stream's cross-service and end-to-end tests: start each service on
//! port 0 in-process, seed verification, start a browser node, and speak the wire protocols.
//!
//! # Layout
//! - [`verification`]: a verification service on a fresh SQLite or PostgreSQL database, seeded.
//! - [`e2e`]: the whole stack with a browser node, and a headless Chromium driving the viewer page.
//! - [`executor`]: a cdp-executor wired to that verification.
//! - [`gateway`]: a gateway wired to both, and WebSocket clients for its channels.
//! - [`cdp`]: the CDP transport's world: a headless Chromium with no VNC, its pages, replicas.
//! - [`bus`]: the Redis control bus: test Redis, two replicas, a connection-hanging proxy.
//! - [`message`]: a Message-channel client (JSON frames) for the gateway.
//! - [`node`]: real browser parts (Chromium, Xvfb, x11vnc) for tests, and the skip rule.
//! - [`tls`]: a test CA and a server certificate for `localhost`, made by openssl.

pub mod bus;
pub mod cdp;
pub mod e2e;
pub mod executor;
pub mod gateway;
pub mod message;
pub mod node;
pub mod tls;
pub mod verification;

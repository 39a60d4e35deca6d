//! cdp-executor: browser operations over one persistent Chrome DevTools Protocol connection
//! per browser session, on the session's active tab (PROTOCOL §7).
//!
//! # Layout
//! - [`config`]: flags and env vars, validated into [`config::Settings`].
//! - [`startup`]: [`Application`]: bind, serve (health, reflection, executor), drain.
//! - [`grpc`]: the thin tonic adapter; deadline and cancellation per call.
//! - [`error`]: [`ExecutorError`], the only place that picks status codes.
//! - [`resolve`]: ownership check and CDP endpoint (verification or a trusted caller).
//! - [`pool`]: one connection per session: open on use, backoff, idle close, bound.
//! - [`endpoint`]: allow-list check and `/json/version` discovery before dialling.
//! - [`cdp`]: the connection actor and its writer (own the WebSocket; only they do CDP I/O);
//!   [`cdp::wire`]: the pure message encoding, with the 16 MiB cap on what a browser sends.
//! - [`browser`]: page sessions and the active tab of one connection.
//! - [`plan`]: pure request → CDP command mapping, page scripts, caps.
//! - [`guard`]: the navigation guard (pure rules + DNS).
//! - [`ops`], [`nav`]: the operations; [`events`]: `StreamUserEvents`.
//! - [`screencast`]: `StreamScreencast` (follows the active tab; drop-oldest frame queue).
//! - [`input`]: `DispatchInput` (validated, clamped mouse, wheel and key events, in order).
//! - [`metrics`]: Prometheus metrics and the optional `/metrics` endpoint.
//! - [`fuzzing`]: the `cdp_message` fuzz target's entry point.

#![forbid(unsafe_code)]

pub mod browser;
pub mod cdp;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod guard;
pub mod input;
pub mod metrics;
pub mod nav;
pub mod ops;
pub mod plan;
pub mod pool;
pub mod resolve;
pub mod screencast;
pub mod startup;

pub use config::{Cli, Config, Settings};
pub use error::ExecutorError;
pub use startup::Application;

//! browser-stream gateway: the WebSocket edge between viewers and remote browsers.
//!
//! # Layout
//! - [`rfb`]: pure RFB framing (handshake and client→server messages); no I/O, no tokio.
//! - [`policy`]: the pure input policy: (control, key state, platform, message) → verdict.
//! - [`budget`]: pure keyed token buckets (the edge's per-address and per-organization rates).
//! - [`config`]: flags and env vars; [`startup`]: bind, run, drain; [`state`]: what handlers share.
//! - [`http`]: the axum router (the channels' routes, tickets, links, health, metrics, web
//!   root); [`tickets`]: stream tickets; [`links`]: viewer links; [`embedding`]: who may frame
//!   the viewer page; [`edge_limits`]: client addresses and their budgets.
//! - [`upgrade`]: the upgrade every stream channel shares ([`upgrade::StreamChannel`]).
//! - [`stream`]: authorization shared by the stream channels; [`close`]: close codes;
//!   [`linger`]: the closing handshake every stream socket ends with.
//! - [`vnc`]: the VNC channel (dial, relay, filter over `rfb` + `policy`, side effects).
//! - [`message`]: the Message channel (JSON control, clipboard and browser operations).
//! - [`screencast`]: the screencast channel (frames of browsers without VNC);
//!   [`screencasts`]: one upstream screencast per session, fanned out to its viewers;
//!   [`cdp_input`]: the CDP input channel (their input, same control).
//! - [`handoff`]: the pure handoff record and its moves; [`control`]: control state and
//!   pairing ([`control::ControlBus`]), handoffs over it, and its gRPC service.
//! - [`liveness`]: the one Watch stream; [`revocations`]: revoked credentials of open
//!   sockets; [`activity`]: RecordActivity batching.
//! - [`verify`]: the verification client; [`executor`]: the cdp-executor client.
//! - [`org_sockets`], [`org_limits`]: the per-organization socket cap and rates.
//! - [`metrics`]: Prometheus metrics; [`audit`]: audit events; [`entity`]: ids; [`caps`]: the
//!   contract's size caps; [`fuzzing`]: the fuzz targets' entry points.

pub mod budget;
pub mod policy;
pub mod rfb;

pub mod activity;
pub mod audit;
pub mod caps;
pub mod cdp_input;
pub mod close;
pub mod config;
pub mod control;
pub mod edge_limits;
pub mod embedding;
pub mod entity;
pub mod executor;
#[doc(hidden)]
pub mod fuzzing;
pub mod handoff;
pub mod http;
pub mod linger;
pub mod links;
pub mod liveness;
pub mod message;
pub mod metrics;
pub mod org_limits;
pub mod org_sockets;
pub mod revocations;
pub mod screencast;
pub mod screencasts;
pub mod startup;
pub mod state;
pub mod stream;
pub mod tickets;
pub mod upgrade;
pub mod verify;
pub mod vnc;

//! What every browser-stream binary shares, so the three services start, log, announce and
//! stop the same way.
//!
//! # Layout
//! - [`cli`]: command-line parsing with exit 64 on usage errors, and the duration flag syntax.
//! - [`shutdown`]: one future that resolves on SIGINT or SIGTERM.
//! - [`telemetry`]: tracing to stderr (stdout is reserved for the ready line).
//! - [`ready`]: the `listening on <addr>` line of the operator interface.
//! - [`limits`]: the open-files limit, raised to the hard limit at start.
//! - [`grpc`]: the gRPC server every service runs (token check, health, reflection, TLS).
//! - [`ca_file`]: a PEM file of extra roots named by a flag, checked when parsed.
//! - [`grpc_client`]: dialling another service (`http://`, or `https://` with `--grpc-ca`).
//! - [`reflection`]: gRPC server reflection (v1 and v1alpha) limited to the served services.
//! - [`join`]: one task's futures polled together, with no thread woken when one wakes another.
//! - [`drop_oldest`]: the bounded queue that drops its oldest item (live frames to viewers).
//! - [`ticks`]: keepalive and health-check ticks whose first tick is one period away.
//! - [`sync`]: the one lock rule (a poisoned mutex is recovered, never a panic).
//! - [`service_token`]: the internal-call token, checked by the callee and attached by callers.
//! - [`org_tokens`]: organization-scoped caller tokens and the [`org_tokens::Caller`] check.
//! - [`upstream`]: the `--upstream-allow` list of CIDRs that upstream dials must stay inside.

pub mod ca_file;
pub mod cli;
pub mod drop_oldest;
pub mod grpc;
pub mod grpc_client;
pub mod join;
pub mod limits;
pub mod org_tokens;
pub mod ready;
pub mod reflection;
pub mod service_token;
pub mod shutdown;
pub mod sync;
pub mod telemetry;
pub mod ticks;
pub mod upstream;

//! browser-stream verification: authenticates callers (API keys, bearer JWTs, one-use stream
//! tickets), decides whether a browser session, task or workflow run is live and where its
//! browser is, and tells watchers when one stops being live, with one batched query per poll
//! interval. SQLite by default, PostgreSQL in production, the same SQL on both.
//!
//! # Layout
//! - [`config`]: the command line (`serve`, `admin …`) and its env vars.
//! - [`startup`]: [`Application`]: build (database, listener), run (gRPC, health, reflection).
//! - [`grpc`]: the thin tonic adapter and the wire conversions.
//! - [`service`]: the operations behind the RPCs, on domain types.
//! - [`watch`]: the registry of watched entities and the one poller.
//! - [`metrics`]: Prometheus text metrics on `--metrics-listen`.
//! - [`domain`]: identifiers, credentials and the pure liveness rule.
//! - [`store`]: every query (runtime SQL through sqlx's `Any` driver) and the migrations.
//! - [`admin`]: the operator library and `verification admin …`.
//! - [`error`]: [`VerificationError`] and its mapping to gRPC status codes.

#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod store;
pub mod watch;

pub use admin::{Admin, NewBrowserSession};
pub use config::Config;
pub use error::VerificationError;
pub use startup::Application;

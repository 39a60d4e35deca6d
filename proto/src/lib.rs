//! browser-stream's gRPC contracts, generated from `proto/` at build time.
//!
//! One module per package: [`verification::v1`], [`cdp::v1`], [`control::v1`]. The
//! [`FILE_DESCRIPTOR_SET`] feeds gRPC server reflection.

#![allow(clippy::all, missing_docs, rust_2018_idioms)]

/// `browserstream.verification.v1`: authentication, entity liveness, watch streams.
pub mod verification {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("browserstream.verification.v1");
    }
}

/// `browserstream.cdp.v1`: browser operations over persistent CDP connections.
pub mod cdp {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("browserstream.cdp.v1");
    }
}

/// `browserstream.control.v1`: who holds control of a browser session (served by the gateway).
pub mod control {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("browserstream.control.v1");
    }
}

/// The encoded descriptors of every package, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("browserstream_descriptor");

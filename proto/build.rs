//! Generates the tonic code for every `.proto` under `proto/` at build time, with a vendored
//! `protoc`, so a fresh machine needs no system protobuf compiler. Also writes a descriptor set
//! so the services can answer gRPC reflection.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "proto/browserstream/verification/v1/verification.proto",
    "proto/browserstream/cdp/v1/cdp.proto",
    "proto/browserstream/control/v1/control.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build finds `protoc` through `PROTOC`; a build script is its own single-threaded
    // process, so setting it here touches no one else.
    #[allow(clippy::disallowed_methods)]
    env::set_var("PROTOC", protoc);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("browserstream_descriptor.bin"))
        .compile_protos(PROTOS, &["proto"])?;
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}

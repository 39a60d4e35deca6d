//! gRPC server reflection as every browser-stream service serves it: both protocol versions
//! (`v1`, and `v1alpha`, which many standard tools still speak), advertising only the services
//! the server really has (the shared descriptor set holds every package) plus `grpc.health.v1`.

use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha::{
    ServerReflection as ServerReflectionAlpha,
    ServerReflectionServer as ServerReflectionAlphaServer,
};
use tonic_reflection::server::{Builder, Error};

/// The health service's full name, always advertised beside `services`.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Reflection over `descriptor_set` limited to `services` (full names) and health.
pub fn services(
    descriptor_set: &'static [u8],
    services: &[&'static str],
) -> Result<
    (
        ServerReflectionServer<impl ServerReflection>,
        ServerReflectionAlphaServer<impl ServerReflectionAlpha>,
    ),
    Error,
> {
    let configure = || {
        services.iter().fold(
            Builder::configure()
                .register_encoded_file_descriptor_set(descriptor_set)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .with_service_name(HEALTH_SERVICE),
            |builder, name| builder.with_service_name(*name),
        )
    };
    Ok((configure().build_v1()?, configure().build_v1alpha()?))
}

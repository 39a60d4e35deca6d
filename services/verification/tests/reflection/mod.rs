//! A gRPC reflection client check: the service lists its services over reflection v1.

use std::net::SocketAddr;

use futures::StreamExt;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// Asserts reflection lists verification and health.
pub async fn assert_lists_verification(addr: SocketAddr) {
    let mut client = ServerReflectionClient::new(crate::common::channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"browserstream.verification.v1.Verification".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
    // The shared descriptor set also describes services this process does not serve.
    assert!(
        !names.iter().any(|n| n.starts_with("browserstream.cdp")),
        "{names:?}"
    );
}

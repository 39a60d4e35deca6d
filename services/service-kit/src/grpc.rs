//! The gRPC server every browser-stream service runs (PROTOCOL §8): the service behind the
//! internal-call token check, `grpc.health.v1` reporting it as serving, server reflection
//! limited to it, optional TLS, `TCP_NODELAY` on every connection, served until a shutdown
//! future resolves. The three services differ only in what they pass to [`serve`].

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::org_tokens::OrgTokens;
use crate::service_token::RequireToken;

/// A PEM certificate chain and its private key, read when the server starts.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key of `cert`.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both files, or `None` when neither was given (the flags require each other).
    pub fn from_flags(cert: Option<PathBuf>, key: Option<PathBuf>) -> Option<Self> {
        cert.zip(key).map(|(cert, key)| Self { cert, key })
    }
}

/// What differs between the services' servers.
pub struct GrpcServer {
    /// The bound listener (port 0 works; the caller announces the address).
    pub listener: TcpListener,
    /// Serve TLS with these files; plaintext when `None`.
    pub tls: Option<TlsFiles>,
    /// The token callers must present (`None`: no check, the single-machine default).
    pub service_token: Option<SecretString>,
    /// Tokens of callers that act for some organizations only (`--org-tokens`).
    pub org_tokens: OrgTokens,
    /// The encoded descriptor set reflection reads the service's schema from.
    pub descriptor_set: &'static [u8],
}

/// Refuses a listener that other machines can reach unless callers must present a token: an
/// internal RPC is never open to whoever reaches the port (PROTOCOL §8).
pub fn require_token_off_loopback(
    listener: &TcpListener,
    service_token: Option<&SecretString>,
) -> anyhow::Result<()> {
    let address = listener.local_addr().context("listener address")?;
    if service_token.is_none() && !address.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve gRPC on {address} without a service token: set the service \
             token flag, or listen on a loopback address"
        );
    }
    Ok(())
}

/// Serves `service` (with health and reflection) until `shutdown` resolves, then lets the
/// in-flight calls finish and returns. A listener off loopback needs a service token
/// ([`require_token_off_loopback`]).
pub async fn serve<S>(
    server: GrpcServer,
    service: S,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let GrpcServer {
        listener,
        tls,
        service_token,
        org_tokens,
        descriptor_set,
    } = server;
    require_token_off_loopback(&listener, service_token.as_ref())?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(S::NAME, tonic_health::ServingStatus::Serving)
        .await;
    let (reflection_v1, reflection_v1alpha) =
        crate::reflection::services(descriptor_set, &[S::NAME])?;
    let mut builder = Server::builder();
    if let Some(tls) = &tls {
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        };
        let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .context("invalid TLS certificate or key")?;
    }
    builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(
            service,
            RequireToken::with_org_tokens(service_token, org_tokens),
        ))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
        .context("gRPC server failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listener_off_loopback_needs_a_service_token() {
        let open = TcpListener::bind("0.0.0.0:0").await.unwrap();
        let error = require_token_off_loopback(&open, None).unwrap_err();
        assert!(
            error.to_string().contains("without a service token"),
            "{error}"
        );
        let token = SecretString::from("internal");
        assert!(require_token_off_loopback(&open, Some(&token)).is_ok());
        let local = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(require_token_off_loopback(&local, None).is_ok());
    }
}

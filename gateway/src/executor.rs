//! The gateway's client of the cdp-executor (PROTOCOL §7), beside [`crate::verify`]: one
//! [`Executor`] per replica, and one way to call it. Every call names the socket's organization
//! and browser session ([`target`]), runs under `--executor-timeout`, and is timed into the
//! metrics; a failure says only which kind it was, never the executor's message.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::cdp::v1 as cdp;
use proto::cdp::v1::cdp_executor_client::CdpExecutorClient;
use secrecy::SecretString;
use service_kit::service_token::AttachToken;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::entity::SessionKey;
use crate::metrics::Metrics;

/// The tonic client type, with the service token attached.
pub type ExecutorClient = CdpExecutorClient<InterceptedService<Channel, AttachToken>>;

/// What the viewer is told when no executor is configured.
pub const UNAVAILABLE: &str = "browser operations unavailable";

/// Why an executor call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// No executor is configured (`--cdp-executor-url` unset).
    Unavailable,
    /// The executor answered with this status code.
    Status(Code),
    /// Our own deadline passed first.
    Timeout,
}

/// Largest executor response decoded: the largest screenshot the contract allows
/// ([`crate::caps::MAX_SCREENSHOT`]) and its envelope (tonic's default, 4 MiB, is smaller).
const MAX_RESPONSE: usize = crate::caps::MAX_SCREENSHOT + 64 * 1024;

/// The cdp-executor of this replica, when one is configured.
#[derive(Clone)]
pub struct Executor {
    client: Option<ExecutorClient>,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Executor {
    /// A lazily connecting client of `endpoint` (`None`: operations answer
    /// [`CallError::Unavailable`]).
    pub fn new(
        endpoint: Option<Endpoint>,
        token: Option<&SecretString>,
        connect_timeout: Duration,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let client = match endpoint {
            Some(endpoint) => {
                let channel = endpoint.connect_timeout(connect_timeout).connect_lazy();
                Some(
                    CdpExecutorClient::with_interceptor(channel, AttachToken::new(token)?)
                        .max_decoding_message_size(MAX_RESPONSE),
                )
            }
            None => None,
        };
        Ok(Self {
            client,
            timeout,
            metrics,
        })
    }

    /// Whether an executor is configured.
    pub fn configured(&self) -> bool {
        self.client.is_some()
    }

    /// Calls RPC `op` (its name, for the metrics) under the deadline.
    pub async fn call<T, F, Fut>(&self, op: &'static str, rpc: F) -> Result<T, CallError>
    where
        F: FnOnce(ExecutorClient) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let client = self.client.clone().ok_or(CallError::Unavailable)?;
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, rpc(client)).await;
        self.metrics
            .executor_call(op, started.elapsed().as_secs_f64());
        match result {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(CallError::Status(status.code())),
            Err(_) => Err(CallError::Timeout),
        }
    }
}

/// The browser a socket's calls act on: its organization and browser session (the executor
/// resolves the CDP endpoint through verification; the gateway never passes one).
pub fn target(session: SessionKey) -> Option<cdp::BrowserTarget> {
    Some(cdp::BrowserTarget {
        organization_id: session.organization_id,
        browser_session_id: session.browser_session_id,
        cdp_url: String::new(),
    })
}

//! Who may act on which browser, and where its DevTools endpoint is: verification's
//! `VerifyBrowserSession` (answers reused for a short TTL), or `cdp_url` from a trusted caller.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::cdp::v1::BrowserTarget;
use proto::verification::v1::{
    verification_client::VerificationClient, Verdict, VerifyBrowserSessionRequest,
};
use secrecy::SecretString;
use service_kit::service_token::AttachToken;
use tonic::codegen::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::ExecutorError;
use service_kit::sync::lock;

/// Longest id accepted.
const MAX_ID_CHARS: usize = 128;

/// A browser session, as the pool keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// Owner.
    pub organization_id: String,
    /// `pbs_…`.
    pub browser_session_id: String,
}

impl SessionKey {
    /// Checks the ids of a request.
    pub fn parse(target: Option<&BrowserTarget>) -> Result<Self, ExecutorError> {
        let target = target.ok_or(ExecutorError::InvalidArgument("target is required"))?;
        let valid = |id: &str| {
            !id.is_empty() && id.len() <= MAX_ID_CHARS && id.bytes().all(|b| b.is_ascii_graphic())
        };
        if !valid(&target.organization_id) {
            return Err(ExecutorError::InvalidArgument(
                "organization_id is malformed",
            ));
        }
        if !valid(&target.browser_session_id) {
            return Err(ExecutorError::InvalidArgument(
                "browser_session_id is malformed",
            ));
        }
        Ok(Self {
            organization_id: target.organization_id.clone(),
            browser_session_id: target.browser_session_id.clone(),
        })
    }
}

/// Where a session's browser is.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The session.
    pub key: SessionKey,
    /// Its DevTools endpoint.
    pub cdp_url: String,
    /// Taken from the request (not re-verified by the pool sweeper).
    pub trusted: bool,
}

type Client = VerificationClient<InterceptedService<Channel, AttachToken>>;

/// Resolves targets.
#[derive(Debug)]
pub struct Resolver {
    client: Client,
    trust_request_cdp_url: bool,
    timeout: Duration,
    ttl: Duration,
    cache: Mutex<HashMap<SessionKey, (Instant, String)>>,
}

impl Resolver {
    /// A resolver calling verification at `endpoint` (connected lazily).
    pub fn new(
        endpoint: Endpoint,
        token: Option<&SecretString>,
        trust_request_cdp_url: bool,
        timeout: Duration,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let channel = endpoint.connect_timeout(timeout).connect_lazy();
        let client = VerificationClient::with_interceptor(channel, AttachToken::new(token)?);
        Ok(Self {
            client,
            trust_request_cdp_url,
            timeout,
            ttl,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks ownership and finds the endpoint of a request's target.
    pub async fn resolve(&self, target: Option<&BrowserTarget>) -> Result<Resolved, ExecutorError> {
        let key = SessionKey::parse(target)?;
        let given = target.map(|t| t.cdp_url.as_str()).unwrap_or_default();
        if !given.is_empty() {
            if !self.trust_request_cdp_url {
                return Err(ExecutorError::PermissionDenied(
                    "cdp_url is accepted only from trusted callers",
                ));
            }
            return Ok(Resolved {
                key,
                cdp_url: given.to_string(),
                trusted: true,
            });
        }
        let cached = lock(&self.cache).get(&key).cloned();
        if let Some((at, cdp_url)) = cached {
            if at.elapsed() < self.ttl {
                return Ok(Resolved {
                    key,
                    cdp_url,
                    trusted: false,
                });
            }
        }
        let cdp_url = self.verify(&key).await?;
        lock(&self.cache).insert(key.clone(), (Instant::now(), cdp_url.clone()));
        Ok(Resolved {
            key,
            cdp_url,
            trusted: false,
        })
    }

    /// Asks verification, bypassing the cache: the session's CDP URL when it is live.
    pub async fn verify(&self, key: &SessionKey) -> Result<String, ExecutorError> {
        let request = VerifyBrowserSessionRequest {
            organization_id: key.organization_id.clone(),
            browser_session_id: key.browser_session_id.clone(),
            require_vnc: false,
        };
        let mut client = self.client.clone();
        let answer = tokio::time::timeout(self.timeout, client.verify_browser_session(request))
            .await
            .map_err(|_| {
                ExecutorError::VerificationUnavailable(tonic::Status::deadline_exceeded("timeout"))
            })?;
        let answer = match answer {
            Ok(answer) => answer.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => {
                self.forget(key);
                return Err(ExecutorError::NotFound);
            }
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                return Err(ExecutorError::InvalidArgument("malformed browser session"));
            }
            Err(status) => return Err(ExecutorError::VerificationUnavailable(status)),
        };
        let cdp_url = answer
            .browser_session
            .map(|s| s.cdp_url)
            .unwrap_or_default();
        let verdict = Verdict::try_from(answer.verdict).unwrap_or(Verdict::Unspecified);
        match verdict {
            Verdict::Live | Verdict::NotReady if !cdp_url.is_empty() => Ok(cdp_url),
            Verdict::Live | Verdict::NotReady => {
                self.forget(key);
                Err(ExecutorError::FailedPrecondition(
                    "the browser session has no CDP endpoint yet",
                ))
            }
            _ => {
                self.forget(key);
                Err(ExecutorError::FailedPrecondition(
                    "the browser session is not live",
                ))
            }
        }
    }

    fn forget(&self, key: &SessionKey) {
        lock(&self.cache).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(org: &str, id: &str, cdp: &str) -> BrowserTarget {
        BrowserTarget {
            organization_id: org.into(),
            browser_session_id: id.into(),
            cdp_url: cdp.into(),
        }
    }

    #[test]
    fn malformed_ids_are_invalid_arguments() {
        assert!(SessionKey::parse(None).is_err());
        assert!(SessionKey::parse(Some(&target("", "pbs_1", ""))).is_err());
        assert!(SessionKey::parse(Some(&target("o_1", "pbs 1", ""))).is_err());
        assert!(SessionKey::parse(Some(&target("o_1", &"x".repeat(200), ""))).is_err());
        assert!(SessionKey::parse(Some(&target("o_1", "pbs_1", ""))).is_ok());
    }

    fn unreachable() -> Endpoint {
        service_kit::grpc_client::endpoint("http://127.0.0.1:1", None).unwrap()
    }

    #[tokio::test]
    async fn cdp_urls_from_untrusted_callers_are_refused() {
        let resolver = Resolver::new(
            unreachable(),
            None,
            false,
            Duration::from_secs(1),
            Duration::ZERO,
        )
        .unwrap();
        let refused = resolver
            .resolve(Some(&target("o_1", "pbs_1", "http://127.0.0.1:9222")))
            .await;
        assert!(matches!(refused, Err(ExecutorError::PermissionDenied(_))));
        let trusting = Resolver::new(
            unreachable(),
            None,
            true,
            Duration::from_secs(1),
            Duration::ZERO,
        )
        .unwrap();
        let resolved = trusting
            .resolve(Some(&target("o_1", "pbs_1", "http://127.0.0.1:9222")))
            .await
            .unwrap();
        assert!(resolved.trusted);
    }

    #[tokio::test]
    async fn unreachable_verification_is_unavailable_not_a_hang() {
        let resolver = Resolver::new(
            unreachable(),
            None,
            false,
            Duration::from_secs(2),
            Duration::ZERO,
        )
        .unwrap();
        let answer = resolver.resolve(Some(&target("o_1", "pbs_1", ""))).await;
        assert!(matches!(
            answer,
            Err(ExecutorError::VerificationUnavailable(_))
        ));
    }
}

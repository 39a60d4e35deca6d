//! The token that internal gRPC calls carry (`x-service-token` metadata). A callee configured
//! with `--service-token` refuses calls without it (or without one of its `--org-tokens`,
//! which act for their organizations only); a caller configured with it attaches it.

use secrecy::{ExposeSecret, SecretString};
use tonic::{metadata::MetadataValue, service::Interceptor, Request, Status};

use crate::org_tokens::{Caller, OrgTokens};

/// The metadata key the token travels in.
pub const HEADER: &str = "x-service-token";

/// Server side: checks the token when one is configured; passes every call when not. The
/// call carries the [`Caller`] it found as a request extension.
#[derive(Clone, Default)]
pub struct RequireToken {
    expected: Option<SecretString>,
    org_tokens: OrgTokens,
}

impl RequireToken {
    /// `None` disables the check (single-machine default).
    pub fn new(expected: Option<SecretString>) -> Self {
        Self::with_org_tokens(expected, OrgTokens::default())
    }

    /// As [`Self::new`], also admitting `org_tokens` as callers for their organizations
    /// (the check is then on even without a service token).
    pub fn with_org_tokens(expected: Option<SecretString>, org_tokens: OrgTokens) -> Self {
        Self {
            expected,
            org_tokens,
        }
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if self.expected.is_none() && self.org_tokens.is_empty() {
            request.extensions_mut().insert(Caller::Service);
            return Ok(request);
        }
        let presented = request.metadata().get(HEADER).and_then(|v| v.to_str().ok());
        let caller = match (presented, &self.expected) {
            (Some(token), Some(expected))
                if constant_time_eq(token.as_bytes(), expected.expose_secret().as_bytes()) =>
            {
                Caller::Service
            }
            (Some(token), _) => match self.org_tokens.organizations(token) {
                Some(orgs) => Caller::Organizations(orgs),
                None => return Err(Status::unauthenticated("service token required")),
            },
            (None, _) => return Err(Status::unauthenticated("service token required")),
        };
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// Client side: attaches the token when one is configured.
#[derive(Clone, Default)]
pub struct AttachToken {
    value: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl AttachToken {
    /// `None` sends calls without a token. A token that is not valid ASCII metadata is an error.
    pub fn new(token: Option<&SecretString>) -> Result<Self, InvalidToken> {
        let value = token
            .map(|t| t.expose_secret().parse().map_err(|_| InvalidToken))
            .transpose()?;
        Ok(Self { value })
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.value {
            request.metadata_mut().insert(HEADER, value.clone());
        }
        Ok(request)
    }
}

/// The configured token cannot travel as gRPC metadata (it must be visible ASCII).
#[derive(Debug, thiserror::Error)]
#[error("the service token must be visible ASCII")]
pub struct InvalidToken;

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(token: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert(HEADER, token.parse().unwrap());
        }
        request
    }

    #[test]
    fn calls_pass_when_no_token_is_configured() {
        assert!(RequireToken::new(None).call(request_with(None)).is_ok());
    }

    #[test]
    fn calls_without_the_configured_token_are_unauthenticated() {
        let mut check = RequireToken::new(Some(SecretString::from("s3cret")));
        assert_eq!(
            check.call(request_with(None)).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            check.call(request_with(Some("wrong"))).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(check.call(request_with(Some("s3cret"))).is_ok());
    }

    #[test]
    fn attached_token_satisfies_the_check() {
        let secret = SecretString::from("s3cret");
        let request = AttachToken::new(Some(&secret))
            .unwrap()
            .call(Request::new(()))
            .unwrap();
        assert!(RequireToken::new(Some(secret)).call(request).is_ok());
    }
}

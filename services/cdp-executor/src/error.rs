//! `ExecutorError`, the one error type of the gRPC boundary, and the only place that picks
//! status codes. Messages sent to clients are short and never carry CDP or browser text.

use tonic::Status;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Bad arguments (downstream's fault).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Unknown browser session, or one of another organization.
    #[error("browser session not found")]
    NotFound,
    /// The session is not live, or there is no page to act on.
    #[error("failed precondition: {0}")]
    FailedPrecondition(&'static str),
    /// The navigation guard refused the destination, or an untrusted caller sent `cdp_url`.
    #[error("permission denied: {0}")]
    PermissionDenied(&'static str),
    /// The browser (upstream) cannot be reached or went away.
    #[error("browser unavailable")]
    Unavailable(#[source] Option<anyhow::Error>),
    /// Verification cannot be reached.
    #[error("verification unavailable")]
    VerificationUnavailable(#[source] tonic::Status),
    /// The operation did not finish in time.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A result over its cap, or the pool is full.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(&'static str),
    /// The browser answered a command with an error (upstream; logged, never sent).
    #[error("browser command failed")]
    Cdp(#[source] anyhow::Error),
    /// A bug or an unexpected answer.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<ExecutorError> for Status {
    fn from(error: ExecutorError) -> Self {
        // Log once, here at the boundary, with the cause chain; clients get the short text.
        match &error {
            ExecutorError::Cdp(_) | ExecutorError::Internal(_) => {
                tracing::warn!(error = ?anyhow_chain(&error), "operation failed")
            }
            _ => tracing::debug!(error = ?anyhow_chain(&error), "operation refused"),
        }
        match error {
            ExecutorError::InvalidArgument(m) => Status::invalid_argument(m),
            ExecutorError::NotFound => Status::not_found("browser session not found"),
            ExecutorError::FailedPrecondition(m) => Status::failed_precondition(m),
            ExecutorError::PermissionDenied(m) => Status::permission_denied(m),
            ExecutorError::Unavailable(_) => Status::unavailable("browser unavailable"),
            ExecutorError::VerificationUnavailable(_) => {
                Status::unavailable("verification unavailable")
            }
            ExecutorError::DeadlineExceeded => Status::deadline_exceeded("operation timed out"),
            ExecutorError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ExecutorError::Cdp(_) => Status::internal("browser operation failed"),
            ExecutorError::Internal(_) => Status::internal("internal error"),
        }
    }
}

/// The error and its sources, for logs.
fn anyhow_chain(error: &dyn std::error::Error) -> Vec<String> {
    let mut chain = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn internal_causes_never_reach_the_status_message() {
        let status = Status::from(ExecutorError::Cdp(anyhow::anyhow!(
            "Session with given id not found"
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("Session"));
        let status = Status::from(ExecutorError::Unavailable(Some(anyhow::anyhow!(
            "ECONNREFUSED 10.0.0.1"
        ))));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.message().contains("10.0.0.1"));
    }

    #[test]
    fn each_variant_has_its_code() {
        assert_eq!(Status::from(ExecutorError::NotFound).code(), Code::NotFound);
        assert_eq!(
            Status::from(ExecutorError::InvalidArgument("x")).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            Status::from(ExecutorError::PermissionDenied("x")).code(),
            Code::PermissionDenied
        );
        assert_eq!(
            Status::from(ExecutorError::DeadlineExceeded).code(),
            Code::DeadlineExceeded
        );
        assert_eq!(
            Status::from(ExecutorError::ResourceExhausted("x")).code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            Status::from(ExecutorError::FailedPrecondition("x")).code(),
            Code::FailedPrecondition
        );
    }
}

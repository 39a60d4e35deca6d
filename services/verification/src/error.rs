//! The one error type of the verification boundary, and the one place that picks gRPC status
//! codes. Messages sent to clients are short and never carry SQL or other internal text.

use tonic::{Code, Status};

/// Everything a verification operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// Malformed input; the text is safe to show (built from our own words).
    #[error("{0}")]
    InvalidInput(String),
    /// Unknown, revoked, expired, malformed or already used credential.
    #[error("invalid credential")]
    Unauthenticated,
    /// The entity (or organization) does not exist for this caller.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A bound was exceeded (e.g. too many watched entities on one stream).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The database cannot be reached now; retry later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The service is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// A bug or an unexpected database answer.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<sqlx::Error> for VerificationError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            Self::Unavailable(error)
        } else {
            Self::Internal(error.into())
        }
    }
}

impl From<crate::domain::ids::IdError> for VerificationError {
    fn from(error: crate::domain::ids::IdError) -> Self {
        Self::InvalidInput(error.0)
    }
}

/// Connection-level failures, and PostgreSQL's "shutting down / connection" classes (57, 08).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57") || code.starts_with("08")),
        _ => false,
    }
}

impl From<VerificationError> for Status {
    fn from(error: VerificationError) -> Self {
        let code = match &error {
            VerificationError::InvalidInput(_) => Code::InvalidArgument,
            VerificationError::Unauthenticated => Code::Unauthenticated,
            VerificationError::NotFound(_) => Code::NotFound,
            VerificationError::ResourceExhausted(_) => Code::ResourceExhausted,
            VerificationError::Unavailable(_) | VerificationError::ShuttingDown => {
                Code::Unavailable
            }
            VerificationError::Internal(_) => Code::Internal,
        };
        // Logged once, here at the boundary; the client gets only the short Display text.
        match &error {
            VerificationError::Unavailable(cause) => {
                tracing::warn!(error.message = %cause, "database unavailable")
            }
            VerificationError::Internal(cause) => {
                tracing::error!(error.message = %cause, error.cause_chain = ?cause, "internal error")
            }
            _ => {}
        }
        Status::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_short_messages_without_internals() {
        let status = Status::from(VerificationError::from(sqlx::Error::PoolTimedOut));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "database unavailable");
        let internal = VerificationError::Internal(anyhow::anyhow!("syntax error at SELECT"));
        let status = Status::from(internal);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("SELECT"));
        assert_eq!(
            Status::from(VerificationError::NotFound("task")).code(),
            Code::NotFound
        );
    }
}

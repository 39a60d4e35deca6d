//! `DispatchInput`: one task per stream reads the caller's events strictly in order, validates
//! each ([`validate`], pure), dispatches it on the active tab's session of the pooled
//! connection under the operation deadline, and answers it with its sequence number.
//!
//! Backpressure instead of buffering: answers go through a small bounded channel, and the next
//! request is read only once the previous answer is queued, so a caller that stops reading
//! answers stops being read (its HTTP/2 window fills) and memory stays bounded.

mod validate;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use proto::cdp::v1::{DispatchInputRequest, DispatchInputResponse};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use crate::browser::BrowserConn;
use crate::error::ExecutorError;
use crate::metrics::Metrics;
use crate::pool::Lease;

pub use validate::{command, Command, Invalid};

/// Answers queued for the consumer, at most.
pub const ANSWER_BUFFER: usize = 16;

/// Dispatches one stream's events.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    /// The session's connection.
    pub browser: Arc<BrowserConn>,
    /// Bound on each event (active tab and dispatch).
    pub timeout: Duration,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

/// Why a stream stops.
enum Stop {
    /// The consumer or the server went away: nothing more to say.
    Quiet,
    /// The browser went away: end with this status.
    Status(Status),
}

// === impl Dispatcher ===

impl Dispatcher {
    /// Answers `first` (when it carries an event) and every later request until the caller
    /// closes its side, the consumer leaves, `token` fires, or the browser goes away (the
    /// stream then ends with UNAVAILABLE).
    pub async fn run<S>(
        self,
        _lease: Lease,
        first: DispatchInputRequest,
        mut requests: S,
        answers: mpsc::Sender<Result<DispatchInputResponse, Status>>,
        token: CancellationToken,
    ) where
        S: Stream<Item = Result<DispatchInputRequest, Status>> + Unpin,
    {
        let outcome = async {
            if first.event.is_some() {
                self.answer(first, &answers, &token).await?;
            }
            loop {
                let next = tokio::select! {
                    () = token.cancelled() => return Err(Stop::Quiet),
                    next = requests.next() => next,
                };
                match next {
                    Some(Ok(request)) => self.answer(request, &answers, &token).await?,
                    // The caller closed its side (or broke it): the stream is over.
                    Some(Err(_)) | None => return Ok(()),
                }
            }
        }
        .await;
        if let Err(Stop::Status(status)) = outcome {
            let _ = send(&answers, Err(status), &token).await;
        }
    }

    /// Dispatches one request and queues its answer (waiting for room: the backpressure).
    async fn answer(
        &self,
        request: DispatchInputRequest,
        answers: &mpsc::Sender<Result<DispatchInputResponse, Status>>,
        token: &CancellationToken,
    ) -> Result<(), Stop> {
        let started = tokio::time::Instant::now();
        let (code, error) = match self.dispatch(&request).await {
            Ok(()) => (Code::Ok, ""),
            Err(Refusal::Invalid) => (Code::InvalidArgument, "invalid"),
            Err(Refusal::NoPage) => (Code::FailedPrecondition, "no-page"),
            Err(Refusal::Failed) => (Code::Internal, "failed"),
            Err(Refusal::Closed) => (Code::Unavailable, ""),
        };
        self.metrics
            .operation("dispatch_input", code, started.elapsed());
        if code == Code::Unavailable {
            return Err(Stop::Status(Status::unavailable("browser unavailable")));
        }
        let response = DispatchInputResponse {
            sequence: request.sequence,
            dispatched: code == Code::Ok,
            error: error.into(),
        };
        send(answers, Ok(response), token).await
    }

    async fn dispatch(&self, request: &DispatchInputRequest) -> Result<(), Refusal> {
        let Some(event) = request.event.as_ref() else {
            return Err(Refusal::Invalid);
        };
        let command = command(event).map_err(|invalid| {
            tracing::debug!(reason = %invalid, "input event refused");
            Refusal::Invalid
        })?;
        let dispatched = tokio::time::timeout(self.timeout, async {
            let tab = self.browser.active_tab().await?;
            self.browser
                .call(command.method, Some(&tab.session), command.params)
                .await
        })
        .await
        .unwrap_or(Err(ExecutorError::DeadlineExceeded));
        match dispatched {
            Ok(_) => Ok(()),
            Err(_) if self.browser.cdp().is_closed() => Err(Refusal::Closed),
            Err(ExecutorError::FailedPrecondition(_)) => Err(Refusal::NoPage),
            Err(error) => {
                tracing::debug!(error = %error, "input event not dispatched");
                Err(Refusal::Failed)
            }
        }
    }
}

/// Why one event was not dispatched.
enum Refusal {
    Invalid,
    NoPage,
    Failed,
    Closed,
}

/// Queues `item`, waiting for room unless the consumer or the server goes away.
async fn send(
    answers: &mpsc::Sender<Result<DispatchInputResponse, Status>>,
    item: Result<DispatchInputResponse, Status>,
    token: &CancellationToken,
) -> Result<(), Stop> {
    tokio::select! {
        () = token.cancelled() => Err(Stop::Quiet),
        sent = answers.send(item) => sent.map_err(|_| Stop::Quiet),
    }
}

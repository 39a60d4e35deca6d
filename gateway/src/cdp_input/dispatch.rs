//! One CDP input socket's stream of events to the executor (`DispatchInput`), opened on the
//! first event and answered event by event, in order: the socket waits for each answer (as
//! the incumbent awaits each dispatch), so what it reports as dispatched has reached the
//! browser. A broken stream is re-opened once; when that fails too the socket closes
//! `dispatch_failed`.

use std::time::Duration;

use proto::cdp::v1 as cdp;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::executor::Executor;

/// Requests queued towards the executor (one is in flight at a time).
const REQUESTS: usize = 4;

/// What the executor said about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The browser took it.
    Dispatched,
    /// Refused (`invalid`, `no-page`, `failed`): the socket goes on.
    Refused(String),
}

/// The stream could not be (re-)opened or broke twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

struct Open {
    requests: mpsc::Sender<cdp::DispatchInputRequest>,
    responses: tonic::Streaming<cdp::DispatchInputResponse>,
}

/// The event stream of one socket.
pub struct Dispatcher {
    executor: Executor,
    target: Option<cdp::BrowserTarget>,
    timeout: Duration,
    open: Option<Open>,
    sequence: u64,
}

impl Dispatcher {
    /// A dispatcher for `target`; each event may take `timeout`.
    pub fn new(executor: Executor, target: Option<cdp::BrowserTarget>, timeout: Duration) -> Self {
        Self {
            executor,
            target,
            timeout,
            open: None,
            sequence: 0,
        }
    }

    /// Dispatches one event and waits for its answer.
    pub async fn dispatch(
        &mut self,
        event: cdp::dispatch_input_request::Event,
    ) -> Result<Outcome, Failed> {
        for _ in 0..2 {
            match self.try_dispatch(event.clone()).await {
                Ok(outcome) => return Ok(outcome),
                Err(()) => self.open = None,
            }
        }
        Err(Failed)
    }

    async fn try_dispatch(
        &mut self,
        event: cdp::dispatch_input_request::Event,
    ) -> Result<Outcome, ()> {
        self.sequence += 1;
        let sequence = self.sequence;
        let request = cdp::DispatchInputRequest {
            target: None,
            sequence,
            event: Some(event),
        };
        let open = match &mut self.open {
            Some(open) => {
                tokio::time::timeout(self.timeout, open.requests.send(request))
                    .await
                    .map_err(|_| ())?
                    .map_err(|_| ())?;
                open
            }
            None => {
                let (requests, rx) = mpsc::channel(REQUESTS);
                // The executor reads the first request (it names the target) before it
                // answers the call, so it must be queued before the call is awaited.
                let first = cdp::DispatchInputRequest {
                    target: self.target.clone(),
                    ..request
                };
                requests.try_send(first).map_err(|_| ())?;
                let responses = self
                    .executor
                    .call("DispatchInput", |mut client| async move {
                        client.dispatch_input(ReceiverStream::new(rx)).await
                    })
                    .await
                    .map_err(|error| tracing::info!(error = ?error, "input stream not opened"))?;
                self.open.insert(Open {
                    requests,
                    responses,
                })
            }
        };
        loop {
            let response = tokio::time::timeout(self.timeout, open.responses.message())
                .await
                .map_err(|_| ())?
                .map_err(|status| tracing::info!(grpc.code = ?status.code(), "input stream ended"))?
                .ok_or(())?;
            // Answers come in order; an older one (of an event given up on) is skipped.
            if response.sequence < sequence {
                continue;
            }
            return Ok(if response.dispatched {
                Outcome::Dispatched
            } else {
                Outcome::Refused(response.error)
            });
        }
    }
}

//! The tonic adapter: each RPC resolves its target, takes the session's pooled connection,
//! runs one operation under the deadline with a cancellation drop-guard, and maps the error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use proto::cdp::v1 as pb;
use proto::cdp::v1::cdp_executor_server::CdpExecutor;
use service_kit::org_tokens::Caller;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use crate::browser::BrowserConn;
use crate::error::ExecutorError;
use crate::guard::Guard;
use crate::metrics::Metrics;
use crate::pool::{Lease, Pool};
use crate::resolve::{Resolved, Resolver};
use crate::{events, input, nav, ops, screencast};

/// What every RPC needs.
#[derive(Debug, Clone)]
pub struct GrpcHandler {
    /// Target resolution.
    pub resolver: Arc<Resolver>,
    /// Connections.
    pub pool: Arc<Pool>,
    /// Navigation guard.
    pub guard: Arc<Guard>,
    /// Per-operation deadline.
    pub timeout: Duration,
    /// Extra time a failed navigation has to reset its tab to `about:blank`.
    pub nav_reset: Duration,
    /// User-event stream buffer.
    pub event_buffer: usize,
    /// CDP events buffered per screencast.
    pub screencast_event_buffer: usize,
    /// The screencasts running, shared by their streams.
    pub screencasts: Arc<screencast::Screencasts>,
    /// Spawned stream tasks.
    pub tracker: TaskTracker,
    /// Server shutdown.
    pub token: CancellationToken,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl GrpcHandler {
    /// Resolves the target, gets its connection and runs `op` on it, all within the deadline.
    async fn with_browser<T, F, Fut>(
        &self,
        kind: &'static str,
        target: Option<&pb::BrowserTarget>,
        op: F,
    ) -> Result<T, Status>
    where
        F: FnOnce(Arc<BrowserConn>) -> Fut,
        Fut: Future<Output = Result<T, ExecutorError>>,
    {
        self.with_navigation(kind, target, Duration::ZERO, |b, _| op(b))
            .await
    }

    /// As [`Self::with_browser`], with the navigation limits handed to `op`: it must give up
    /// at the deadline, and then has `reset` more to reset the tab before the call is dropped.
    /// When the client goes away tonic drops this future, and the work with it: nothing runs
    /// on past the call.
    async fn with_navigation<T, F, Fut>(
        &self,
        kind: &'static str,
        target: Option<&pb::BrowserTarget>,
        reset: Duration,
        op: F,
    ) -> Result<T, Status>
    where
        F: FnOnce(Arc<BrowserConn>, nav::Limits) -> Fut,
        Fut: Future<Output = Result<T, ExecutorError>>,
    {
        let started = tokio::time::Instant::now();
        let limits = nav::Limits {
            deadline: started + self.timeout,
            reset,
        };
        let work = async {
            let resolved = self.resolver.resolve(target).await?;
            let (browser, _lease) = self.pool.get(&resolved).await?;
            op(browser, limits).await
        };
        let result = tokio::time::timeout_at(limits.deadline + reset, work)
            .await
            .unwrap_or(Err(ExecutorError::DeadlineExceeded))
            .map_err(Status::from);
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.metrics.operation(kind, code, started.elapsed());
        result
    }

    /// Resolves the target of a stream and takes its connection, within the deadline; the
    /// lease goes to the stream's task.
    async fn open(
        &self,
        target: Option<&pb::BrowserTarget>,
    ) -> Result<(Resolved, Arc<BrowserConn>, Lease), Status> {
        tokio::time::timeout(self.timeout, async {
            let resolved = self.resolver.resolve(target).await?;
            let (browser, lease) = self.pool.get(&resolved).await?;
            Ok((resolved, browser, lease))
        })
        .await
        .unwrap_or(Err(ExecutorError::DeadlineExceeded))
        .map_err(Status::from)
    }

    /// The first request of an input stream and the target it names, once the caller was
    /// found to act for that organization: the target comes with the first message, so it is
    /// read first and checked on the request that still carries the caller's extensions.
    async fn first_input(
        &self,
        r: &mut Request<Streaming<pb::DispatchInputRequest>>,
    ) -> Result<(pb::DispatchInputRequest, pb::BrowserTarget), Status> {
        const NO_TARGET: ExecutorError =
            ExecutorError::InvalidArgument("the first request must name the target");
        let first = tokio::time::timeout(self.timeout, r.get_mut().message())
            .await
            .map_err(|_| Status::from(ExecutorError::DeadlineExceeded))??
            .ok_or_else(|| Status::from(NO_TARGET))?;
        let target = first
            .target
            .clone()
            .ok_or_else(|| Status::from(NO_TARGET))?;
        Caller::check(r, &target.organization_id)?;
        Ok((first, target))
    }
}

/// The request of a caller that may act for the organization its target names
/// (PERMISSION_DENIED otherwise: an organization token naming another organization).
fn admitted<T: Targeted>(request: Request<T>) -> Result<T, Status> {
    let organization = request
        .get_ref()
        .target()
        .map_or("", |t| t.organization_id.as_str());
    Caller::check(&request, organization)?;
    Ok(request.into_inner())
}

/// A request that names a browser target.
trait Targeted {
    fn target(&self) -> Option<&pb::BrowserTarget>;
}

macro_rules! targeted {
    ($($request:ty),* $(,)?) => {
        $(impl Targeted for $request {
            fn target(&self) -> Option<&pb::BrowserTarget> {
                self.target.as_ref()
            }
        })*
    };
}

targeted!(
    pb::InsertTextRequest,
    pb::GetSelectedTextRequest,
    pb::GetUrlRequest,
    pb::NavigateRequest,
    pb::ReloadRequest,
    pb::HistoryRequest,
    pb::ScreenshotRequest,
    pb::ClearRequest,
    pb::ListTabsRequest,
    pb::StreamUserEventsRequest,
    pb::StreamScreencastRequest,
);

/// The user-event stream handed to tonic: dropping it cancels the stream task.
pub struct UserEventStream {
    inner: ReceiverStream<Result<pb::UserEvent, Status>>,
    _guard: DropGuard,
}

impl Stream for UserEventStream {
    type Item = Result<pb::UserEvent, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// The screencast handed to tonic: it holds its place in the shared screencast, and the last
/// one dropped stops the casting task. Counts the frames its consumer took.
pub struct ScreencastStream {
    inner: service_kit::drop_oldest::Receiver<Result<pb::ScreencastFrame, Status>>,
    sent: prometheus_client::metrics::counter::Counter,
    _fanout: Arc<screencast::Fanout>,
}

impl Stream for ScreencastStream {
    type Item = Result<pb::ScreencastFrame, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(_))) = &next {
            self.sent.inc();
        }
        next
    }
}

/// The input answers handed to tonic: dropping it cancels the stream task.
pub struct InputStream {
    inner: ReceiverStream<Result<pb::DispatchInputResponse, Status>>,
    _guard: DropGuard,
}

impl Stream for InputStream {
    type Item = Result<pb::DispatchInputResponse, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[tonic::async_trait]
impl CdpExecutor for GrpcHandler {
    async fn insert_text(
        &self,
        r: Request<pb::InsertTextRequest>,
    ) -> Result<Response<pb::InsertTextResponse>, Status> {
        let r = admitted(r)?;
        if r.text.len() > crate::plan::MAX_TEXT_BYTES {
            let status = Status::from(ExecutorError::InvalidArgument("text is longer than 1 MiB"));
            self.metrics
                .operation("insert_text", status.code(), std::time::Duration::ZERO);
            return Err(status);
        }
        self.with_browser("insert_text", r.target.as_ref(), |b| async move {
            ops::insert_text(&b, &r.text).await
        })
        .await?;
        Ok(Response::new(pb::InsertTextResponse {}))
    }

    async fn get_selected_text(
        &self,
        r: Request<pb::GetSelectedTextRequest>,
    ) -> Result<Response<pb::GetSelectedTextResponse>, Status> {
        let r = admitted(r)?;
        let (text, truncated) = self
            .with_browser("get_selected_text", r.target.as_ref(), |b| async move {
                ops::selected_text(&b).await
            })
            .await?;
        Ok(Response::new(pb::GetSelectedTextResponse {
            text,
            truncated,
        }))
    }

    async fn get_url(
        &self,
        r: Request<pb::GetUrlRequest>,
    ) -> Result<Response<pb::GetUrlResponse>, Status> {
        let r = admitted(r)?;
        let url = self
            .with_browser("get_url", r.target.as_ref(), |b| async move {
                ops::url(&b).await
            })
            .await?;
        Ok(Response::new(pb::GetUrlResponse { url }))
    }

    async fn navigate(
        &self,
        r: Request<pb::NavigateRequest>,
    ) -> Result<Response<pb::NavigateResponse>, Status> {
        let r = admitted(r)?;
        let guard = self.guard.clone();
        let url = self
            .with_navigation(
                "navigate",
                r.target.as_ref(),
                self.nav_reset,
                |b, limits| async move { nav::navigate(&b, &guard, &r.url, limits).await },
            )
            .await?;
        Ok(Response::new(pb::NavigateResponse { url }))
    }

    async fn reload(
        &self,
        r: Request<pb::ReloadRequest>,
    ) -> Result<Response<pb::NavigateResponse>, Status> {
        let r = admitted(r)?;
        let guard = self.guard.clone();
        let url = self
            .with_navigation(
                "reload",
                r.target.as_ref(),
                self.nav_reset,
                |b, limits| async move { nav::reload(&b, &guard, r.hard, limits).await },
            )
            .await?;
        Ok(Response::new(pb::NavigateResponse { url }))
    }

    async fn go_back(
        &self,
        r: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::NavigateResponse>, Status> {
        let r = admitted(r)?;
        let guard = self.guard.clone();
        let url = self
            .with_navigation(
                "go_back",
                r.target.as_ref(),
                self.nav_reset,
                |b, limits| async move { nav::history(&b, &guard, -1, limits).await },
            )
            .await?;
        Ok(Response::new(pb::NavigateResponse { url }))
    }

    async fn go_forward(
        &self,
        r: Request<pb::HistoryRequest>,
    ) -> Result<Response<pb::NavigateResponse>, Status> {
        let r = admitted(r)?;
        let guard = self.guard.clone();
        let url = self
            .with_navigation(
                "go_forward",
                r.target.as_ref(),
                self.nav_reset,
                |b, limits| async move { nav::history(&b, &guard, 1, limits).await },
            )
            .await?;
        Ok(Response::new(pb::NavigateResponse { url }))
    }

    async fn screenshot(
        &self,
        r: Request<pb::ScreenshotRequest>,
    ) -> Result<Response<pb::ScreenshotResponse>, Status> {
        let r = admitted(r)?;
        let data = self
            .with_browser("screenshot", r.target.as_ref(), |b| async move {
                ops::screenshot(&b).await
            })
            .await?;
        Ok(Response::new(pb::ScreenshotResponse {
            data,
            mime_type: "image/png".into(),
        }))
    }

    async fn clear_cookies(
        &self,
        r: Request<pb::ClearRequest>,
    ) -> Result<Response<pb::ClearResponse>, Status> {
        let r = admitted(r)?;
        self.with_browser("clear_cookies", r.target.as_ref(), |b| async move {
            ops::clear_cookies(&b).await
        })
        .await?;
        Ok(Response::new(pb::ClearResponse {}))
    }

    async fn clear_history(
        &self,
        r: Request<pb::ClearRequest>,
    ) -> Result<Response<pb::ClearResponse>, Status> {
        let r = admitted(r)?;
        self.with_browser("clear_history", r.target.as_ref(), |b| async move {
            ops::clear_history(&b).await
        })
        .await?;
        Ok(Response::new(pb::ClearResponse {}))
    }

    async fn clear_all_data(
        &self,
        r: Request<pb::ClearRequest>,
    ) -> Result<Response<pb::ClearResponse>, Status> {
        let r = admitted(r)?;
        self.with_browser("clear_all_data", r.target.as_ref(), |b| async move {
            ops::clear_all_data(&b).await
        })
        .await?;
        Ok(Response::new(pb::ClearResponse {}))
    }

    async fn list_tabs(
        &self,
        r: Request<pb::ListTabsRequest>,
    ) -> Result<Response<pb::ListTabsResponse>, Status> {
        let r = admitted(r)?;
        let tabs = self
            .with_browser("list_tabs", r.target.as_ref(), |b| async move {
                ops::list_tabs(&b).await
            })
            .await?;
        let tabs = tabs
            .into_iter()
            .map(|t| pb::Tab {
                id: t.id,
                title: t.title,
                url: t.url,
                active: t.active,
            })
            .collect();
        Ok(Response::new(pb::ListTabsResponse { tabs }))
    }

    type StreamUserEventsStream = UserEventStream;

    async fn stream_user_events(
        &self,
        r: Request<pb::StreamUserEventsRequest>,
    ) -> Result<Response<Self::StreamUserEventsStream>, Status> {
        let r = admitted(r)?;
        let (resolved, browser, lease) = self.open(r.target.as_ref()).await?;
        // One extra slot: the closing error always fits.
        let (tx, rx) = tokio::sync::mpsc::channel(self.event_buffer + 1);
        let call = self.token.child_token();
        let span = tracing::info_span!("cdp.stream_user_events", session.id = %resolved.key.browser_session_id);
        self.tracker.spawn(
            events::run(browser, lease, tx, call.clone(), self.metrics.clone()).instrument(span),
        );
        Ok(Response::new(UserEventStream {
            inner: ReceiverStream::new(rx),
            _guard: call.drop_guard(),
        }))
    }

    type StreamScreencastStream = ScreencastStream;

    async fn stream_screencast(
        &self,
        r: Request<pb::StreamScreencastRequest>,
    ) -> Result<Response<Self::StreamScreencastStream>, Status> {
        let r = admitted(r)?;
        let limits = screencast::Limits::from_request(r.max_width, r.max_height, r.quality);
        let (resolved, browser, lease) = self.open(r.target.as_ref()).await?;
        let (frames, rx) = service_kit::drop_oldest::channel(screencast::QUEUE);
        let key = (resolved.key.clone(), limits);
        let fanout = match self
            .screencasts
            .join(key, frames, &self.token, &self.metrics)
        {
            screencast::Joined::Running(fanout) => fanout,
            screencast::Joined::New(fanout, stop) => {
                let options = screencast::Options {
                    limits,
                    timeout: self.timeout,
                    event_buffer: self.screencast_event_buffer,
                    metrics: self.metrics.clone(),
                };
                let span = tracing::info_span!("cdp.stream_screencast", session.id = %resolved.key.browser_session_id);
                let cast = screencast::run(browser, lease, Arc::downgrade(&fanout), stop, options);
                self.tracker.spawn(cast.instrument(span));
                fanout
            }
        };
        Ok(Response::new(ScreencastStream {
            inner: rx,
            sent: self.metrics.frames_sent.clone(),
            _fanout: fanout,
        }))
    }

    type DispatchInputStream = InputStream;

    async fn dispatch_input(
        &self,
        mut r: Request<Streaming<pb::DispatchInputRequest>>,
    ) -> Result<Response<Self::DispatchInputStream>, Status> {
        let (first, target) = self.first_input(&mut r).await?;
        let requests = r.into_inner();
        let (resolved, browser, lease) = self.open(Some(&target)).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(input::ANSWER_BUFFER);
        let call = self.token.child_token();
        let dispatcher = input::Dispatcher {
            browser,
            timeout: self.timeout,
            metrics: self.metrics.clone(),
        };
        let span = tracing::info_span!("cdp.dispatch_input", session.id = %resolved.key.browser_session_id);
        self.tracker.spawn(
            dispatcher
                .run(lease, first, requests, tx, call.clone())
                .instrument(span),
        );
        Ok(Response::new(InputStream {
            inner: ReceiverStream::new(rx),
            _guard: call.drop_guard(),
        }))
    }
}

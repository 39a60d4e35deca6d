//! One CDP input socket after authorization: register on the control bus, bind to the
//! browser (the executor must see a page: else 4410 `no_working_page`), say `ready`, then
//! handle frames one at a time while following the session's control state, until the
//! viewer leaves, the entity ends, the socket is superseded or revoked, or the replica drains.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use proto::cdp::v1 as cdp;
use proto::cdp::v1::dispatch_input_request::Event;
use tokio::sync::{mpsc, watch};
use tonic::Code;
use tracing::Instrument;

use super::dispatch::{Dispatcher, Failed, Outcome};
use super::events::{self, History, Inbound, Skip};
use super::keys::{self, HeldInput, Shortcut};
use crate::close::CloseReason;
use crate::control::handoffs::accept_by_taking_control;
use crate::control::ControlState;
use crate::entity::ChannelKind;
use crate::executor::{self, CallError};
use crate::policy::Effect;
use crate::state::AppState;
use crate::stream::Authorized;

/// Largest text frame handled; a larger one is skipped.
pub const MAX_TEXT_FRAME: usize = 16 * 1024;

/// Longest one reply may take to send before the viewer counts as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Dropped or skipped events logged per socket (the rest only counted).
const LOGGED_DROPS: u32 = 5;

/// Clipboard effects waiting for their task.
const EFFECT_QUEUE: usize = 8;

type Sink = SplitSink<WebSocket, Message>;

/// Streams an authorized socket to its end; returns the close reason sent.
pub async fn run(state: AppState, socket: WebSocket, auth: Authorized) -> CloseReason {
    let setup = async {
        let registration = crate::stream::register(&state, &auth, ChannelKind::CdpInput).await?;
        bind(&state, &auth).await?;
        Ok(registration)
    };
    let registration = match Box::pin(setup).await {
        Ok(registration) => registration,
        Err(reason) => {
            Box::pin(crate::stream::close_with(socket, reason)).await;
            return reason;
        }
    };
    let liveness = state.liveness.watch(auth.key.entity.clone());
    let revocation = state.revocations.watch(auth.identity.revocable.as_deref());
    let (effects, effects_rx) = mpsc::channel::<Effect>(EFFECT_QUEUE);
    state.tracker.spawn(
        crate::vnc::effects::run(state.clone(), auth.clone(), effects_rx, "cdp_input")
            .in_current_span(),
    );
    let (mut sink, mut stream) = socket.split();
    let mut input = Input {
        dispatcher: Dispatcher::new(
            state.executor.clone(),
            executor::target(auth.session_key()),
            state.config.executor_timeout,
        ),
        state: state.clone(),
        auth,
        held: HeldInput::default(),
        control: registration.control.clone(),
        effects,
        drops: 0,
    };
    let reason = match send(&mut sink, r#"{"kind":"ready"}"#.to_owned()).await {
        Err(reason) => reason,
        Ok(()) => {
            tokio::select! {
                () = state.shutdown.cancelled() => CloseReason::Draining,
                () = liveness.ended.cancelled() => CloseReason::EntityFinished,
                () = liveness.unverifiable.cancelled() => CloseReason::VerificationUnavailable,
                () = revocation.revoked.cancelled() => CloseReason::Revoked,
                () = registration.superseded.cancelled() => CloseReason::Superseded,
                reason = input.serve(&mut sink, &mut stream) => reason,
            }
        }
    };
    // Whatever ended the socket, nothing stays held down in the browser.
    input.release_held().await;
    if reason != CloseReason::ClientClosed {
        crate::stream::close_split(&mut sink, &mut stream, reason).await;
    }
    drop(liveness);
    reason
}

/// The browser must have a page before the socket says `ready` (spec §9.2 step 4).
async fn bind(state: &AppState, auth: &Authorized) -> Result<(), CloseReason> {
    let request = cdp::GetUrlRequest {
        target: executor::target(auth.session_key()),
    };
    let result = state
        .executor
        .call("GetUrl", |mut client| async move {
            client.get_url(request).await
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(CallError::Status(Code::FailedPrecondition)) => Err(CloseReason::NoWorkingPage),
        Err(CallError::Unavailable) => Err(CloseReason::InternalError),
        Err(error) => {
            tracing::info!(error = ?error, "cdp input not bound");
            Err(CloseReason::BrowserStateTimeout)
        }
    }
}

async fn send(sink: &mut Sink, text: String) -> Result<(), CloseReason> {
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(CloseReason::ClientClosed),
        Err(_) => Err(CloseReason::SlowConsumer),
    }
}

fn navigate_error(reason: &str) -> String {
    serde_json::json!({ "kind": "navigate-error", "reason": reason }).to_string()
}

/// What one socket's handlers share.
struct Input {
    state: AppState,
    auth: Authorized,
    dispatcher: Dispatcher,
    held: HeldInput,
    control: watch::Receiver<ControlState>,
    effects: mpsc::Sender<Effect>,
    drops: u32,
}

impl Input {
    /// Frames and control changes until the client leaves or something fails.
    async fn serve(&mut self, sink: &mut Sink, stream: &mut SplitStream<WebSocket>) -> CloseReason {
        let mut ping = service_kit::ticks::every(self.state.config.ping_interval);
        let mut control_open = true;
        loop {
            tokio::select! {
                biased;
                changed = self.control.changed(), if control_open => {
                    if changed.is_err() {
                        control_open = false;
                        continue;
                    }
                    let state = self.control.borrow_and_update().clone();
                    if !self.auth.may_drive(&state) {
                        self.release_held().await;
                    }
                }
                _ = ping.tick() => {
                    let ping = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default())));
                    if !matches!(ping.await, Ok(Ok(()))) {
                        return CloseReason::SlowConsumer;
                    }
                }
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let received = Instant::now();
                        if text.len() > MAX_TEXT_FRAME {
                            self.skipped("oversize frame");
                            continue;
                        }
                        match events::parse(&text) {
                            Ok(message) => {
                                if let Err(reason) = self.handle(sink, message, received).await {
                                    return reason;
                                }
                            }
                            Err(Skip::UnknownKind) => {}
                            Err(skip) => self.skipped(match skip {
                                Skip::NotJson => "not JSON",
                                Skip::NotObject => "not an object",
                                Skip::Invalid(kind) => kind,
                                Skip::UnknownKind => "unknown kind",
                            }),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => self.skipped("binary frame"),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return CloseReason::ClientClosed,
                },
            }
        }
    }

    fn skipped(&mut self, what: &str) {
        self.drops += 1;
        if self.drops <= LOGGED_DROPS {
            tracing::info!(skipped = what, "cdp input frame skipped");
        }
    }

    fn may_drive(&self) -> bool {
        self.auth.may_drive(&self.control.borrow())
    }

    async fn handle(
        &mut self,
        sink: &mut Sink,
        message: Inbound,
        received: Instant,
    ) -> Result<(), CloseReason> {
        let kind = message.kind();
        let session = self.auth.session_key();
        let client = self.auth.key.client_id.clone();
        match message {
            Inbound::TakeControl if !self.auth.view_only() => {
                let bus = self.state.bus.as_ref();
                let state = bus
                    .take_control(&session, &client)
                    .await
                    .map_err(|_| CloseReason::BusUnavailable)?;
                crate::audit::record("take-control", &session, Some(&client), "cdp_input");
                // Taking control accepts an open handoff, as on the Message socket.
                if let Ok(true) = accept_by_taking_control(bus, &session, &client, &state).await {
                    crate::audit::record("handoff-accepted", &session, Some(&client), "cdp_input");
                }
            }
            Inbound::CedeControl if !self.auth.view_only() => {
                match self.state.bus.cede_control(&session, &client).await {
                    Ok(_) => {
                        crate::audit::record("cede-control", &session, Some(&client), "cdp_input")
                    }
                    Err(_) => return Err(CloseReason::BusUnavailable),
                }
            }
            Inbound::TakeControl | Inbound::CedeControl => {
                self.skipped("view-only control request")
            }
            // A malformed URL is answered whoever sent it: it touches nothing.
            Inbound::Navigate(None) => send(sink, navigate_error("invalid_url")).await?,
            _ if !self.may_drive() => self.skipped("not in control"),
            Inbound::Navigate(Some(url)) => {
                if let Some(reason) = self.navigate(url).await {
                    send(sink, navigate_error(reason)).await?;
                }
            }
            Inbound::History(step) => {
                if let Some(reason) = self.history(step).await {
                    send(sink, navigate_error(reason)).await?;
                }
            }
            Inbound::Mouse(mut mouse) => {
                if self.state.config.cdp_block_right_button && mouse.button == "right" {
                    mouse.button = "none".into();
                }
                self.held.mouse(&mouse);
                self.input(kind, Event::Mouse(mouse), received).await?;
            }
            Inbound::Wheel(wheel) => self.input(kind, Event::Wheel(wheel), received).await?,
            Inbound::Key(key) => {
                if keys::is_blocked(&self.state.policy, &key) {
                    self.state.metrics.verdict("blocked-key");
                    return Ok(());
                }
                let shortcut = keys::shortcut(&key);
                if shortcut == Some(Shortcut::Paste) {
                    // The V never reaches the browser: the viewer's clipboard is pasted instead.
                    let _ = self.effects.try_send(Effect::AskForClipboard);
                    return Ok(());
                }
                if !self.held.key(&key) {
                    return Ok(());
                }
                self.input(kind, Event::Key(key), received).await?;
                if shortcut == Some(Shortcut::Copy) {
                    let _ = self.effects.try_send(Effect::Copy);
                }
            }
        }
        Ok(())
    }

    /// Dispatches one input event of the controlling client.
    async fn input(
        &mut self,
        kind: &'static str,
        event: Event,
        received: Instant,
    ) -> Result<(), CloseReason> {
        let organization = &self.auth.key.entity.organization_id;
        if !self.state.org_limits.input_event(organization) {
            self.skipped("rate-limited");
            return Ok(());
        }
        let metrics = self.state.metrics.clone();
        metrics.cdp_input_wait(kind, received.elapsed().as_secs_f64());
        let started = Instant::now();
        let outcome = self.dispatcher.dispatch(event).await;
        metrics.cdp_input_dispatch(kind, started.elapsed().as_secs_f64());
        match outcome {
            Ok(Outcome::Dispatched) => {
                self.state
                    .activity
                    .touch(organization, &self.auth.session.browser_session_id);
                Ok(())
            }
            Ok(Outcome::Refused(error)) => {
                self.skipped(if error == "no-page" {
                    "no page"
                } else {
                    "refused by the executor"
                });
                Ok(())
            }
            Err(Failed) => Err(CloseReason::DispatchFailed),
        }
    }

    /// Releases every held key and button (control moved away, or the socket ends).
    async fn release_held(&mut self) {
        let (keys, buttons) = self.held.release_all();
        let events = keys
            .into_iter()
            .map(Event::Key)
            .chain(buttons.into_iter().map(Event::Mouse));
        for event in events {
            if self.dispatcher.dispatch(event).await.is_err() {
                return;
            }
        }
    }

    /// `navigateEvent`: the executor normalises and guards the URL; the reply reason, if any.
    async fn navigate(&self, url: String) -> Option<&'static str> {
        crate::audit::record(
            "navigate",
            &self.auth.session_key(),
            Some(&self.auth.key.client_id),
            "cdp_input",
        );
        let request = cdp::NavigateRequest {
            target: executor::target(self.auth.session_key()),
            url,
        };
        let result = self
            .state
            .executor
            .call("Navigate", |mut client| async move {
                client.navigate(request).await
            })
            .await;
        match result {
            Ok(_) => None,
            Err(CallError::Status(Code::InvalidArgument)) => Some("invalid_url"),
            Err(CallError::Status(Code::PermissionDenied)) => Some("blocked"),
            Err(error) => {
                tracing::info!(error = ?error, "navigation failed");
                Some("failed")
            }
        }
    }

    /// History moves: only a refused destination is answered (`blocked`); the rest shows on
    /// the screencast.
    async fn history(&self, step: History) -> Option<&'static str> {
        let target = executor::target(self.auth.session_key());
        let executor = &self.state.executor;
        let result = match step {
            History::Back => {
                let request = cdp::HistoryRequest { target };
                executor
                    .call("GoBack", |mut c| async move { c.go_back(request).await })
                    .await
            }
            History::Forward => {
                let request = cdp::HistoryRequest { target };
                executor
                    .call(
                        "GoForward",
                        |mut c| async move { c.go_forward(request).await },
                    )
                    .await
            }
            History::Reload => {
                let request = cdp::ReloadRequest {
                    target,
                    hard: false,
                };
                executor
                    .call("Reload", |mut c| async move { c.reload(request).await })
                    .await
            }
        };
        match result {
            Ok(_) => None,
            Err(CallError::Status(Code::PermissionDenied)) => Some("blocked"),
            Err(error) => {
                tracing::info!(error = ?error, "history move failed");
                None
            }
        }
    }
}

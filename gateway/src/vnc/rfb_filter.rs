//! The production [`InputFilter`]: the RFB handshake tracker and message decoder
//! ([`crate::rfb`]) feeding the input policy ([`crate::policy`]). Bytes the policy allows go
//! upstream as their original slices (or the policy's rewrite); effects go to the relay.
//!
//! Client handshake fields the server's answer releases, and client messages that came
//! together with ClientInit, come out of [`InputFilter::on_server_bytes`] as soon as they may
//! pass. Failures are tagged by side ([`crate::rfb::RfbError::side`]): the viewer's fault is
//! `protocol-error`; the server's fault, or its refusal of the connection, `upstream-unreachable`.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::filter::{FilterError, FilterOutput, InputFilter};
use crate::metrics::Metrics;
use crate::org_limits::OrgLimits;
use crate::policy::{self, Platform, Policy, SessionCtx};
use crate::rfb::{Decoder, Handshake, Limits, MessageKind, RfbError, Side, Status};

enum Phase {
    Handshake(Box<Handshake>),
    /// After ServerInit: every client message is decoded and judged.
    Normal {
        decoder: Decoder,
        buf: BytesMut,
    },
    /// A previous error; nothing more passes.
    Failed,
}

/// Handshake + decoder + policy for one VNC socket.
pub struct RfbFilter {
    phase: Phase,
    policy: Arc<Policy>,
    ctx: SessionCtx,
    metrics: Arc<Metrics>,
    input_rate: Option<InputRate>,
}

/// The organization's input rate a socket's key, pointer and cut-text messages spend.
pub struct InputRate {
    /// The replica's per-organization rates.
    pub limits: Arc<OrgLimits>,
    /// The socket's organization.
    pub organization_id: String,
}

impl RfbFilter {
    /// A filter for a fresh upstream connection.
    pub fn new(
        policy: Arc<Policy>,
        limits: Limits,
        platform: Platform,
        view_only: bool,
        metrics: Arc<Metrics>,
        input_rate: Option<InputRate>,
    ) -> Self {
        let mut ctx = SessionCtx::new(platform);
        // Nothing is held yet, so there is nothing to release.
        let _ = ctx.set_view_only(view_only);
        Self {
            phase: Phase::Handshake(Box::new(Handshake::new(limits))),
            policy,
            ctx,
            metrics,
            input_rate,
        }
    }

    /// Fails the stream for good, blaming the side that broke it.
    fn fail(&mut self, error: &RfbError) -> FilterError {
        self.phase = Phase::Failed;
        match error.side() {
            Side::Client => FilterError::Client(error.to_string()),
            Side::Server => FilterError::Upstream(error.to_string()),
        }
    }

    fn decode_all(&mut self, out: &mut FilterOutput) -> Result<(), FilterError> {
        let Phase::Normal { decoder, buf } = &mut self.phase else {
            return Ok(());
        };
        let now = Instant::now();
        loop {
            let msg = match decoder.decode(buf) {
                Ok(Some(msg)) => msg,
                Ok(None) => return Ok(()),
                Err(error) => return Err(self.fail(&error)),
            };
            self.metrics.rfb_message(msg.name());
            if let Some(rate) = &self.input_rate {
                let input = matches!(
                    msg.kind(),
                    MessageKind::Key(_)
                        | MessageKind::Pointer(_)
                        | MessageKind::QemuKey(_)
                        | MessageKind::ClientCutText(_)
                );
                if input && !rate.limits.input_event(&rate.organization_id) {
                    self.phase = Phase::Failed;
                    return Err(FilterError::RateLimited);
                }
            }
            let verdict = policy::decide(&self.policy, &mut self.ctx, &msg, now);
            self.metrics.verdict(verdict.rule.as_str());
            if let Some(bytes) = verdict.outgoing(&msg) {
                out.upstream.push(bytes.clone());
            }
            out.input_forwarded |= verdict.activity;
            out.effects.extend_from_slice(&verdict.effects);
        }
    }
}

impl InputFilter for RfbFilter {
    fn on_client_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError> {
        match &mut self.phase {
            Phase::Handshake(handshake) => {
                let step = match handshake.on_client_bytes(bytes) {
                    Ok(step) => step,
                    Err(error) => return Err(self.fail(&error)),
                };
                if !step.to_server.is_empty() {
                    out.upstream.push(step.to_server);
                }
                Ok(())
            }
            Phase::Normal { buf, .. } => {
                buf.extend_from_slice(bytes);
                self.decode_all(out)
            }
            Phase::Failed => Err(FilterError::Client("stream already failed".into())),
        }
    }

    fn on_server_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError> {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return Ok(());
        };
        let step = match handshake.on_server_bytes(bytes) {
            Ok(step) => step,
            Err(error) => return Err(self.fail(&error)),
        };
        // Client fields held until the server answered go upstream first, in order.
        if !step.to_server.is_empty() {
            out.upstream.push(step.to_server);
        }
        match step.status {
            Status::Handshaking => Ok(()),
            Status::Refused(reason) => {
                // Decision: the server declined to serve this viewer (no security type, or
                // authentication failed): we could not serve it, so `upstream-unreachable`.
                // The server's bytes (with its reason) still reach the viewer first.
                self.phase = Phase::Failed;
                let reason = reason.unwrap_or_else(|| "no reason given".into());
                Err(FilterError::Upstream(format!("server refused: {reason}")))
            }
            Status::Done => {
                if let Phase::Handshake(handshake) =
                    std::mem::replace(&mut self.phase, Phase::Failed)
                {
                    let (decoder, buf) = handshake.into_decoder();
                    self.phase = Phase::Normal { decoder, buf };
                }
                // Client messages that came with ClientInit are judged now, not on the
                // client's next frame (it may be waiting for the update it asked for).
                self.decode_all(out)
            }
        }
    }

    fn handshake_done(&self) -> bool {
        matches!(self.phase, Phase::Normal { .. })
    }

    fn set_platform(&mut self, platform: Platform) {
        self.ctx.set_platform(platform);
    }

    fn set_control(&mut self, in_control: bool, out: &mut FilterOutput) {
        let releases = self.ctx.set_control(in_control);
        if matches!(self.phase, Phase::Normal { .. }) {
            out.upstream.extend(releases);
        }
    }

    fn release_all(&mut self, out: &mut FilterOutput) {
        let releases = self.ctx.release_all();
        // Before ServerInit nothing can be held; after a failure the stream is not RFB-aligned.
        if matches!(self.phase, Phase::Normal { .. }) {
            out.upstream.extend(releases);
        }
    }
}

#[cfg(test)]
mod tests;

//! The parse + decide step of the VNC relay, behind [`InputFilter`]: client bytes in, the
//! bytes to send upstream and the side effects out. The relay calls nothing else of RFB or
//! the policy, so the pure cores (`crate::rfb`, `crate::policy`) plug in here.

use bytes::Bytes;

use crate::close::CloseReason;
use crate::policy::Platform;

/// A side effect of an input message, run off the input pump: the policy's own
/// ([`crate::policy::Effect`]), handed on unchanged.
pub use crate::policy::Effect;

/// What one call of the filter produced.
#[derive(Debug, Default)]
pub struct FilterOutput {
    /// Bytes to write upstream, in order (original slices of allowed messages, or rewrites).
    pub upstream: Vec<Bytes>,
    /// Side effects to start.
    pub effects: Vec<Effect>,
    /// Whether a user-input message (key, pointer, cut text) was forwarded: starts an
    /// input-to-screen latency sample and counts as user activity.
    pub input_forwarded: bool,
}

impl FilterOutput {
    /// Whether there is nothing to write and nothing to start.
    pub fn is_empty(&self) -> bool {
        self.upstream.is_empty() && self.effects.is_empty()
    }
}

/// Why the stream must close, tagged by whose fault it was ([`crate::rfb::RfbError::side`]).
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The viewer broke RFB: close with `protocol-error` (1008).
    #[error("RFB protocol error from the client: {0}")]
    Client(String),
    /// The VNC server broke RFB or refused the connection during the handshake: close with
    /// `upstream-unreachable` (1011), we could not serve the viewer.
    #[error("upstream RFB failure: {0}")]
    Upstream(String),
    /// The organization's input events went over their rate: close with `rate-limited`.
    #[error("input events over the organization's rate")]
    RateLimited,
}

impl FilterError {
    /// The close reason the viewer gets.
    pub fn close_reason(&self) -> CloseReason {
        match self {
            FilterError::Client(_) => CloseReason::ProtocolError,
            FilterError::Upstream(_) => CloseReason::UpstreamUnreachable,
            FilterError::RateLimited => CloseReason::RateLimited,
        }
    }
}

/// The parse + decide step. Implementations are pure (no I/O) and fast: they run inside the
/// pumps under a short lock.
pub trait InputFilter: Send + 'static {
    /// Client→server bytes, in any framing.
    fn on_client_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError>;
    /// Server→client bytes seen during the handshake (never called after it). `out` takes the
    /// client bytes the server's answer released (a client that spoke ahead of its turn) and,
    /// once ServerInit passed, the client messages that came together with ClientInit.
    fn on_server_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError>;
    /// Whether ServerInit has passed (server bytes then flow untouched).
    fn handshake_done(&self) -> bool;
    /// Control changed: `in_control` tells whether this socket's client may send input now.
    /// Keys and buttons still held by the previous holder are released into `out`.
    fn set_control(&mut self, in_control: bool, out: &mut FilterOutput);
    /// The viewer declared its platform on its Message socket; it replaces the guess from the
    /// User-Agent.
    fn set_platform(&mut self, _platform: Platform) {}
    /// The socket is ending: release upstream every key and button the client still holds,
    /// so nothing stays stuck in the remote browser.
    fn release_all(&mut self, _out: &mut FilterOutput) {}
}

/// Forwards everything unchanged. Only for relay tests that are about transport, not policy.
#[derive(Debug, Default)]
pub struct Passthrough;

impl InputFilter for Passthrough {
    fn on_client_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError> {
        out.upstream.push(Bytes::copy_from_slice(bytes));
        out.input_forwarded = true;
        Ok(())
    }

    fn on_server_bytes(
        &mut self,
        _bytes: &[u8],
        _out: &mut FilterOutput,
    ) -> Result<(), FilterError> {
        Ok(())
    }

    fn handshake_done(&self) -> bool {
        true
    }

    fn set_control(&mut self, _in_control: bool, _out: &mut FilterOutput) {}
}

impl InputFilter for Box<dyn InputFilter> {
    fn on_client_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError> {
        (**self).on_client_bytes(bytes, out)
    }

    fn on_server_bytes(&mut self, bytes: &[u8], out: &mut FilterOutput) -> Result<(), FilterError> {
        (**self).on_server_bytes(bytes, out)
    }

    fn handshake_done(&self) -> bool {
        (**self).handshake_done()
    }

    fn set_control(&mut self, in_control: bool, out: &mut FilterOutput) {
        (**self).set_control(in_control, out)
    }

    fn set_platform(&mut self, platform: Platform) {
        (**self).set_platform(platform)
    }

    fn release_all(&mut self, out: &mut FilterOutput) {
        (**self).release_all(out)
    }
}

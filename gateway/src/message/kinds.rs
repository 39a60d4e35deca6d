//! The JSON kinds of the Message channel (PROTOCOL §4): one object per text frame, tagged by
//! `kind`. Kinds the incumbent frontend uses keep its exact field shapes (spec §6.2, §6.3).
//!
//! [`parse`] turns one text frame into an [`Inbound`] or a [`Rejected`] that becomes an
//! `error {failed_kind, message}` reply: the size cap is checked before any JSON is read, and
//! the reply never echoes the frame (only the kind, when it could be read and is short).

use serde::{Deserialize, Serialize};

pub use crate::caps::{MAX_CLIPBOARD, MAX_SCREENSHOT, MAX_TEXT_FRAME};
/// A `failed_kind` longer than this is not echoed (it is not a kind of ours anyway).
const MAX_ECHOED_KIND: usize = 64;

/// Frontend → gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Inbound {
    /// The viewer takes control of the browser session (latest wins).
    TakeControl,
    /// The viewer gives control back to the agent.
    CedeControl,
    /// The viewer's platform (`mac`, `windows`, `linux`, `other`); mac makes Alt_L a Cmd key.
    ClientInfo {
        /// The platform name.
        platform: String,
    },
    /// The viewer's clipboard, answering `ask-for-clipboard`: pasted through the executor.
    AskForClipboardResponse {
        /// Clipboard text (at most 1 MiB of UTF-8).
        text: String,
    },
    /// Read the selection now (answered with `copied-text`).
    ClipboardCopy,
    /// Paste this text into the focused element (Unicode-safe, unlike RFB cut text).
    ClipboardPaste {
        /// Text to paste (at most 1 MiB of UTF-8).
        text: String,
    },
    /// Answered with `browser-url`.
    GetBrowserUrl,
    /// Navigate the active tab (guarded by the executor); answered with `browser-url`.
    Navigate {
        /// Destination; a URL without a scheme gets `https://`.
        url: String,
    },
    /// Reload the active tab; answered with `browser-url`.
    Reload {
        /// Clear the browser cache first (missing or null means false).
        #[serde(default)]
        hard: Option<bool>,
    },
    /// History back; answered with `browser-url`.
    GoBack,
    /// History forward; answered with `browser-url`.
    GoForward,
    /// Answered with `screenshot`.
    TakeScreenshot,
    /// Clear every cookie.
    ClearCookies,
    /// Clear cache, service workers and history of the active tab's origin.
    ClearHistory,
    /// Clear every storage type of the active tab's origin, then every cookie.
    ClearAllData,
    /// Answered with `browser-tabs` (added: the incumbent defined the reply but never sent it).
    GetBrowserTabs,
    /// Start forwarding the user's events as `exfiltrated-event` (idempotent). The fields are
    /// the incumbent frontend's; live interpretation is not part of browser-stream, so they
    /// are accepted and ignored.
    BeginExfiltration {
        /// The workflow being recorded, if any.
        #[serde(default)]
        workflow_permanent_id: Option<String>,
        /// Whether the incumbent would interpret events live.
        #[serde(default)]
        live_interpretation_enabled: Option<bool>,
        /// Whether the frontend understands interpretation deltas.
        #[serde(default)]
        supports_interpretation_deltas: Option<bool>,
        /// The recording attempt, if any.
        #[serde(default)]
        recording_attempt_id: Option<String>,
    },
    /// Stop forwarding user events.
    EndExfiltration,
    /// Drop (not buffer) user events until resumed (the incumbent frontend sends it).
    RecordingCapturePause,
    /// Forward user events again.
    RecordingCaptureResume,
    /// Re-arm capture; the executor's stream survives navigations, so this is a no-op.
    RecordingRearmCapture,
    /// The controlling person finished the open handoff (`success: false` is `DECLINED`).
    HandoffComplete {
        /// The handoff of `handoff-requested`.
        handoff_id: String,
        /// Whether they did what was asked.
        success: bool,
        /// For the agent (at most 2,000 characters; never logged).
        #[serde(default)]
        note: Option<String>,
    },
}

impl Inbound {
    /// The wire name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TakeControl => "take-control",
            Self::CedeControl => "cede-control",
            Self::ClientInfo { .. } => "client-info",
            Self::AskForClipboardResponse { .. } => "ask-for-clipboard-response",
            Self::ClipboardCopy => "clipboard-copy",
            Self::ClipboardPaste { .. } => "clipboard-paste",
            Self::GetBrowserUrl => "get-browser-url",
            Self::Navigate { .. } => "navigate",
            Self::Reload { .. } => "reload",
            Self::GoBack => "go-back",
            Self::GoForward => "go-forward",
            Self::TakeScreenshot => "take-screenshot",
            Self::ClearCookies => "clear-cookies",
            Self::ClearHistory => "clear-history",
            Self::ClearAllData => "clear-all-data",
            Self::GetBrowserTabs => "get-browser-tabs",
            Self::BeginExfiltration { .. } => "begin-exfiltration",
            Self::EndExfiltration => "end-exfiltration",
            Self::RecordingCapturePause => "recording-capture-pause",
            Self::RecordingCaptureResume => "recording-capture-resume",
            Self::RecordingRearmCapture => "recording-rearm-capture",
            Self::HandoffComplete { .. } => "handoff-complete",
        }
    }

    /// Whether a socket of a `view` credential may send it (PROTOCOL §4 "Scopes"): it may
    /// only watch.
    pub fn allowed_for_view(&self) -> bool {
        matches!(
            self,
            Self::ClientInfo { .. } | Self::GetBrowserUrl | Self::TakeScreenshot
        )
    }

    /// Whether the kind changes the browser, reads the selection or starts the user-event
    /// stream, and so needs the client to hold control.
    pub fn needs_control(&self) -> bool {
        matches!(
            self,
            Self::AskForClipboardResponse { .. }
                | Self::ClipboardPaste { .. }
                | Self::ClipboardCopy
                | Self::BeginExfiltration { .. }
                | Self::Navigate { .. }
                | Self::Reload { .. }
                | Self::GoBack
                | Self::GoForward
                | Self::ClearCookies
                | Self::ClearHistory
                | Self::ClearAllData
                | Self::HandoffComplete { .. }
        )
    }
}

/// Every inbound kind name, to tell an unknown kind from a known one with bad fields.
const INBOUND_KINDS: [&str; 22] = [
    "take-control",
    "cede-control",
    "client-info",
    "ask-for-clipboard-response",
    "clipboard-copy",
    "clipboard-paste",
    "get-browser-url",
    "navigate",
    "reload",
    "go-back",
    "go-forward",
    "take-screenshot",
    "clear-cookies",
    "clear-history",
    "clear-all-data",
    "get-browser-tabs",
    "begin-exfiltration",
    "end-exfiltration",
    "recording-capture-pause",
    "recording-capture-resume",
    "recording-rearm-capture",
    "handoff-complete",
];

/// Who drives the browser, as a `control-state` tells one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interactor {
    /// This socket's client holds control.
    User,
    /// The agent, or another viewer.
    Agent,
}

/// One tab of `browser-tabs`, in the incumbent's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabInfo {
    /// CDP target id.
    pub id: String,
    /// Page title.
    pub title: String,
    /// Page URL.
    pub url: String,
    /// The tab operations act on.
    pub active: bool,
    /// Always null (the incumbent's shape).
    pub favicon: Option<String>,
    /// Always true.
    #[serde(rename = "isReady")]
    pub is_ready: bool,
    /// Always null.
    #[serde(rename = "pageNumber")]
    pub page_number: Option<u32>,
}

/// Gateway → frontend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outbound {
    /// Who holds control, sent on connect and after every take/cede/expiry.
    ControlState {
        /// `user` only on the holder's sockets.
        interactor: Interactor,
        /// `null`, `ceded`, `taken-by-another-viewer`, `grace-expired` or `view-only`.
        reason: Option<String>,
    },
    /// The V of a paste was held back: answer with `ask-for-clipboard-response`.
    AskForClipboard,
    /// The selection the user copied.
    CopiedText {
        /// Selected text (may be empty).
        text: String,
    },
    /// The active tab's URL.
    BrowserUrl {
        /// The URL.
        url: String,
    },
    /// A viewport screenshot.
    Screenshot {
        /// Base64 PNG.
        data: String,
        /// Always `image/png`.
        mime_type: String,
    },
    /// One user event while exfiltration runs.
    ExfiltratedEvent {
        /// `click`, `input`, `keypress`, `focus` or `navigation`.
        event_name: String,
        /// Details (always an object).
        params: serde_json::Value,
        /// `console` (in-page capture), `cdp`, or `[not-specified]`.
        source: String,
        /// When the executor saw it, epoch seconds.
        timestamp: f64,
    },
    /// The browser's tabs.
    BrowserTabs {
        /// Every page target.
        tabs: Vec<TabInfo>,
    },
    /// The agent asks for help (sent on connect too while a handoff is open).
    HandoffRequested {
        /// Answer with it in `handoff-complete`.
        handoff_id: String,
        /// What to do.
        instructions: String,
        /// When it times out (RFC 3339, UTC).
        deadline: String,
    },
    /// A handoff this socket was shown ended.
    HandoffEnded {
        /// The handoff.
        handoff_id: String,
        /// `DONE`, `DECLINED`, `TIMED_OUT`, `CANCELLED`, `NO_VIEWER` or `ENTITY_FINISHED`.
        outcome: String,
    },
    /// A request failed; the channel goes on.
    Error {
        /// The kind that failed, or null when it could not be read.
        failed_kind: Option<String>,
        /// A short, fixed text (never internals).
        message: String,
    },
}

impl Outbound {
    /// An `error` reply.
    pub fn error(failed_kind: Option<&str>, message: &str) -> Self {
        Self::Error {
            failed_kind: failed_kind.map(str::to_owned),
            message: message.to_owned(),
        }
    }

    /// Whether the message may be dropped when the client cannot keep up (user events are a
    /// best-effort stream; everything else answers a request or changes what the viewer may do).
    pub fn is_droppable(&self) -> bool {
        matches!(self, Self::ExfiltratedEvent { .. })
    }

    /// The wire name of the kind (metrics and logs).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ControlState { .. } => "control-state",
            Self::AskForClipboard => "ask-for-clipboard",
            Self::CopiedText { .. } => "copied-text",
            Self::BrowserUrl { .. } => "browser-url",
            Self::Screenshot { .. } => "screenshot",
            Self::ExfiltratedEvent { .. } => "exfiltrated-event",
            Self::BrowserTabs { .. } => "browser-tabs",
            Self::HandoffRequested { .. } => "handoff-requested",
            Self::HandoffEnded { .. } => "handoff-ended",
            Self::Error { .. } => "error",
        }
    }
}

/// Why an inbound frame was not accepted: the `error` reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The kind, when it was a short string.
    pub failed_kind: Option<String>,
    /// Fixed text.
    pub message: &'static str,
}

impl Rejected {
    fn new(failed_kind: Option<&str>, message: &'static str) -> Self {
        let failed_kind = failed_kind
            .filter(|k| k.len() <= MAX_ECHOED_KIND)
            .map(str::to_owned);
        Self {
            failed_kind,
            message,
        }
    }

    /// The `error` reply.
    pub fn reply(&self) -> Outbound {
        Outbound::error(self.failed_kind.as_deref(), self.message)
    }
}

/// The reply to a binary frame (the channel is JSON text only).
pub fn binary_rejected() -> Rejected {
    Rejected::new(None, "Binary frames are not accepted; send JSON text.")
}

/// Parses one text frame: size cap first, then JSON, then the kind, then its fields.
pub fn parse(text: &str) -> Result<Inbound, Rejected> {
    if text.len() > MAX_TEXT_FRAME {
        return Err(Rejected::new(None, "Message too large."));
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| Rejected::new(None, "Invalid JSON."))?;
    let Some(object) = value.as_object() else {
        return Err(Rejected::new(None, "A message must be a JSON object."));
    };
    let kind = match object.get("kind") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        _ => return Err(Rejected::new(None, "Missing kind.")),
    };
    if !INBOUND_KINDS.contains(&kind.as_str()) {
        return Err(Rejected::new(Some(&kind), "Unknown kind."));
    }
    serde_json::from_value(value)
        .map_err(|_| Rejected::new(Some(&kind), "Missing or invalid field."))
}

#[cfg(test)]
mod tests;

//! Client→server RFB messages after the handshake, as the decoder hands them out: what each
//! says (only what the policy and metrics need) and the exact bytes it arrived as.
//!
//! Pure data: no I/O.

use bytes::Bytes;

/// One complete client→server message: what it says, and the exact bytes it arrived as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    kind: MessageKind,
    bytes: Bytes,
}

// === impl ClientMessage ===

impl ClientMessage {
    /// Pairs decoded content with its bytes; only the decoder builds messages, so the two
    /// always agree.
    pub(super) fn new(kind: MessageKind, bytes: Bytes) -> Self {
        ClientMessage { kind, bytes }
    }

    /// What the message says.
    pub fn kind(&self) -> &MessageKind {
        &self.kind
    }

    /// The original bytes, to forward unchanged.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The original bytes, by value.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The RFB message-type byte (0, 2, 3, 4, 5, 6, 150, 248, 250, 251 or 255).
    pub fn message_type(&self) -> u8 {
        self.bytes[0]
    }

    /// A stable lower-case name for metrics and logs (`key-event`, `pointer-event`, …).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// The decoded content of a client→server message (only what the policy and metrics need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// Type 0 (20 bytes).
    SetPixelFormat,
    /// Type 2: the encodings the client accepts, in its order of preference.
    SetEncodings(Vec<i32>),
    /// Type 3 (10 bytes).
    FramebufferUpdateRequest {
        /// Only changes since the last update are wanted.
        incremental: bool,
        /// Left edge.
        x: u16,
        /// Top edge.
        y: u16,
        /// Width.
        width: u16,
        /// Height.
        height: u16,
    },
    /// Type 4 (8 bytes).
    Key(KeyEvent),
    /// Type 5 (6 bytes, or 7 in the extended-mouse-buttons form).
    Pointer(PointerEvent),
    /// Type 6.
    ClientCutText(CutText),
    /// Type 150 (10 bytes).
    EnableContinuousUpdates {
        /// Turn continuous updates on (true) or off.
        enable: bool,
    },
    /// Type 248 (9 bytes + payload of at most 64).
    ClientFence {
        /// Fence flags.
        flags: u32,
    },
    /// Type 250 (4 bytes): power control of the remote machine.
    Xvp {
        /// xvp extension version.
        version: u8,
        /// Operation (2 shutdown, 3 reboot, 4 reset).
        op: u8,
    },
    /// Type 251 (8 bytes + 16 per screen).
    SetDesktopSize {
        /// Requested width.
        width: u16,
        /// Requested height.
        height: u16,
        /// Number of screens that follow.
        screens: u8,
    },
    /// Type 255 subtype 0 (12 bytes): QEMU extended key event.
    QemuKey(QemuKeyEvent),
}

impl MessageKind {
    /// A stable lower-case name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            MessageKind::SetPixelFormat => "set-pixel-format",
            MessageKind::SetEncodings(_) => "set-encodings",
            MessageKind::FramebufferUpdateRequest { .. } => "framebuffer-update-request",
            MessageKind::Key(_) => "key-event",
            MessageKind::Pointer(_) => "pointer-event",
            MessageKind::ClientCutText(_) => "client-cut-text",
            MessageKind::EnableContinuousUpdates { .. } => "enable-continuous-updates",
            MessageKind::ClientFence { .. } => "client-fence",
            MessageKind::Xvp { .. } => "xvp",
            MessageKind::SetDesktopSize { .. } => "set-desktop-size",
            MessageKind::QemuKey(_) => "qemu-key-event",
        }
    }
}

/// A KeyEvent: a key went down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    /// Pressed (true) or released.
    pub down: bool,
    /// X11 keysym.
    pub keysym: u32,
}

/// A QEMU extended key event: a KeyEvent that also carries the physical key's XT keycode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuKeyEvent {
    /// Pressed (true) or released.
    pub down: bool,
    /// X11 keysym (0 when the client only knows the keycode).
    pub keysym: u32,
    /// XT scancode (`E0`-prefixed codes as `0x80 | code`).
    pub keycode: u32,
}

/// A PointerEvent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointerEvent {
    /// The mask byte as sent (byte 1). In the 7-byte form bit 0x80 is the marker, not a button.
    pub mask: u8,
    /// The 7th byte of the extended-mouse-buttons form (buttons 8 and up), if present.
    pub extra: Option<u8>,
    /// Horizontal position.
    pub x: u16,
    /// Vertical position.
    pub y: u16,
}

impl PointerEvent {
    /// Every button held, as a bit mask (bit 0 = left, bit 1 = middle, bit 2 = right, …).
    pub fn buttons(&self) -> u16 {
        match self.extra {
            Some(extra) => u16::from(self.mask & 0x7F) | (u16::from(extra) << 7),
            None => u16::from(self.mask),
        }
    }
}

/// A ClientCutText (what the viewer's clipboard holds, or an extended-clipboard message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutText {
    /// Length of the text, or of the extended payload (flags + data).
    pub len: u32,
    /// The extended-clipboard form (negative length on the wire).
    pub extended: bool,
}

//! Why an RFB byte stream could not be framed. Every variant closes the VNC socket: the gateway
//! fails closed rather than guess where the next message starts.

use std::fmt;

/// Which peer sent the bytes that broke the protocol (client = viewer, server = VNC server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The viewer (the WebSocket side).
    Client,
    /// The VNC server (the upstream side).
    Server,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

/// A field whose peer-chosen length is capped before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CappedField {
    /// ClientCutText (Latin-1 text form).
    CutText,
    /// ClientCutText (extended-clipboard form, negative length).
    ExtendedCutText,
    /// The encoding count of SetEncodings.
    Encodings,
    /// The payload of ClientFence (RFB caps it at 64).
    FencePayload,
    /// A failure reason string of the handshake.
    Reason,
    /// The desktop name of ServerInit.
    DesktopName,
}

/// Why the RFB stream was rejected. The relay closes the socket with `protocol-error` when
/// [`RfbError::side`] is the client, and treats a server-side error as an upstream failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RfbError {
    /// A client message type the gateway does not know: its length is unknown, so fail closed.
    #[error("unknown client message type {0}")]
    UnknownMessage(u8),
    /// A QEMU client message (type 255) of a subtype other than 0 (extended key event).
    #[error("unsupported QEMU client message subtype {0}")]
    UnknownQemuSubtype(u8),
    /// A peer-chosen length above its cap (checked before buffering or allocating).
    #[error("{field:?} length {len} exceeds the cap of {cap}")]
    TooLong {
        /// Which field.
        field: CappedField,
        /// The length the peer announced.
        len: u64,
        /// The configured cap.
        cap: u64,
    },
    /// A ClientCutText with a negative length although the client's last SetEncodings did not
    /// advertise the extended-clipboard pseudo-encoding.
    #[error("extended ClientCutText without the extended-clipboard pseudo-encoding")]
    ExtendedClipboardNotAdvertised,
    /// An extended ClientCutText too short to hold its 4-byte flags.
    #[error("extended ClientCutText of {0} bytes has no room for its flags")]
    ExtendedClipboardTooShort(u32),
    /// A ProtocolVersion that is not `RFB xxx.yyy\n`.
    #[error("malformed ProtocolVersion from the {0}")]
    BadVersion(Side),
    /// The client asked for an RFB version the gateway cannot frame (only 3.3, 3.7, 3.8).
    #[error("unsupported RFB version {major}.{minor} from the client")]
    UnsupportedVersion {
        /// Major version the client sent.
        major: u16,
        /// Minor version the client sent.
        minor: u16,
    },
    /// The client asked for a newer version than the server offered.
    #[error("client asked for RFB 3.{client} but the server offered 3.{server}")]
    VersionAboveServer {
        /// Minor version the client asked for.
        client: u16,
        /// Minor version the server speaks.
        server: u16,
    },
    /// A security type whose sub-protocol the gateway cannot frame (only None and VNC auth).
    #[error("security type {kind} from the {side} is not supported by the gateway")]
    UnsupportedSecurityType {
        /// Who chose it (3.3 servers choose; 3.7+ clients choose).
        side: Side,
        /// The type number.
        kind: u8,
    },
    /// A peer sent more handshake bytes ahead of its turn than the gateway buffers.
    #[error("the {side} sent over {cap} handshake bytes ahead of its turn")]
    HandshakeOverrun {
        /// Who sent them.
        side: Side,
        /// The buffer cap.
        cap: usize,
    },
    /// The client chose a security type the server did not offer.
    #[error("client chose security type {0}, which the server did not offer")]
    SecurityTypeNotOffered(u8),
}

impl RfbError {
    /// Which peer broke the protocol.
    pub fn side(&self) -> Side {
        match self {
            RfbError::BadVersion(side)
            | RfbError::UnsupportedSecurityType { side, .. }
            | RfbError::HandshakeOverrun { side, .. } => *side,
            RfbError::TooLong {
                field: CappedField::Reason | CappedField::DesktopName,
                ..
            } => Side::Server,
            _ => Side::Client,
        }
    }
}

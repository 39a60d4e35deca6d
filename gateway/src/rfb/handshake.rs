//! The RFB handshake as the gateway sees it from the middle: ProtocolVersion → security →
//! ClientInit/ServerInit, tracked in both directions so the gateway knows exactly where the
//! client's first normal message starts.
//!
//! Pure and non-blocking: bytes in, [`Step`] out. Server bytes are only observed (the relay
//! forwards them as they come); client bytes are released upstream one complete, valid field at
//! a time and only when it is the client's turn, so nothing unparsed reaches the server.

mod fields;

use bytes::{Bytes, BytesMut};

use self::fields::{FieldLen, ServerField};
use super::{Decoder, Limits, RfbError, Side};

pub use self::fields::ServerInit;

/// The RFB versions the gateway can frame (the version the client answered with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// RFB 3.3: the server picks the security type.
    V3_3,
    /// RFB 3.7: the client picks; no SecurityResult after None.
    V3_7,
    /// RFB 3.8: the client picks; SecurityResult always, with a reason on failure.
    V3_8,
}

/// Security types whose sub-protocol the gateway can frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityType {
    /// Type 1: no authentication.
    None,
    /// Type 2: VNC authentication (16-byte challenge, 16-byte response).
    VncAuth,
}

/// Where the handshake is: which field it waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Server's ProtocolVersion (12 bytes).
    ServerVersion,
    /// Client's ProtocolVersion (12 bytes).
    ClientVersion,
    /// RFB 3.3: the server's u32 security type (0 = failure, then a reason).
    ServerSecurityType,
    /// RFB 3.7+: the server's u8 count and security types (count 0 = failure, then a reason).
    ServerSecurityTypes,
    /// RFB 3.7+: the client's chosen security type (1 byte).
    ClientSecurityType,
    /// VNC auth: the server's 16-byte challenge.
    VncChallenge,
    /// VNC auth: the client's 16-byte response.
    VncResponse,
    /// The server's u32 SecurityResult (3.8: followed by a reason on failure).
    SecurityResult,
    /// The client's 1-byte ClientInit (shared flag).
    ClientInit,
    /// The server's ServerInit (24 bytes + desktop name).
    ServerInit,
    /// ServerInit seen: switch to [`Decoder`].
    Done,
    /// The server refused the connection; it is about to close.
    Refused,
}

impl State {
    /// Whose field the handshake waits for; `None` once finished.
    pub fn turn(self) -> Option<Side> {
        match self {
            State::ClientVersion
            | State::ClientSecurityType
            | State::VncResponse
            | State::ClientInit => Some(Side::Client),
            State::Done | State::Refused => None,
            _ => Some(Side::Server),
        }
    }
}

/// Where the handshake stands after some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Still going: keep feeding both directions.
    Handshaking,
    /// ServerInit seen: call [`Handshake::into_decoder`] and pump normal messages.
    Done,
    /// The server refused (no security type, or authentication failed), with its reason when
    /// RFB carries one. Forward the server's bytes, then close.
    Refused(Option<String>),
}

/// What the relay does after feeding bytes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Client handshake bytes now safe to send upstream, unchanged and in order (may be empty).
    pub to_server: Bytes,
    /// Where the handshake stands.
    pub status: Status,
}

/// The handshake tracker: feed it every byte of both directions until [`Status::Done`].
#[derive(Debug)]
pub struct Handshake {
    state: State,
    limits: Limits,
    server_buf: BytesMut,
    client_buf: BytesMut,
    server_version: Option<(u16, u16)>,
    version: Option<Version>,
    offered: Vec<u8>,
    security: Option<SecurityType>,
    server_init: Option<ServerInit>,
    refusal: Option<String>,
}

// === impl Handshake ===

impl Handshake {
    /// A tracker for a fresh upstream connection (the server speaks first).
    pub fn new(limits: Limits) -> Self {
        Handshake {
            state: State::ServerVersion,
            limits,
            server_buf: BytesMut::new(),
            client_buf: BytesMut::new(),
            server_version: None,
            version: None,
            offered: Vec::new(),
            security: None,
            server_init: None,
            refusal: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The negotiated version, once the client answered.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The security type in use, once known.
    pub fn security_type(&self) -> Option<SecurityType> {
        self.security
    }

    /// The server's ServerInit (framebuffer size, pixel format, desktop name), once seen.
    pub fn server_init(&self) -> Option<&ServerInit> {
        self.server_init.as_ref()
    }

    /// Observes bytes from the server. The relay forwards all of them to the client unchanged,
    /// whatever this returns; bytes after ServerInit are normal traffic and are ignored here.
    /// [`Step::to_server`] may hold client bytes that were waiting for this answer (a client
    /// that spoke ahead of its turn): send them upstream too.
    pub fn on_server_bytes(&mut self, mut data: &[u8]) -> Result<Step, RfbError> {
        let mut released = BytesMut::new();
        while !data.is_empty() && self.state.turn().is_some() {
            if self.state.turn() == Some(Side::Server) {
                // Take only what the current field needs, so bytes after ServerInit are never
                // buffered.
                let need = match self.server_field_len()? {
                    FieldLen::Known(n) | FieldLen::AtLeast(n) => n,
                };
                let take = need.saturating_sub(self.server_buf.len()).min(data.len());
                if take == 0 {
                    break;
                }
                self.server_buf.extend_from_slice(&data[..take]);
                data = &data[take..];
            } else {
                // The server spoke out of turn: keep its bytes, bounded, for its next turn.
                push_bounded(&mut self.server_buf, data, Side::Server, &self.limits)?;
                data = &[];
            }
            self.advance(&mut released)?;
        }
        Ok(self.step(released))
    }

    /// Takes bytes from the client. Complete handshake fields are validated and returned in
    /// [`Step::to_server`]; bytes the client sends ahead of its turn wait (bounded) until the
    /// server has answered, and bytes after ClientInit wait for [`Handshake::into_decoder`].
    pub fn on_client_bytes(&mut self, data: &[u8]) -> Result<Step, RfbError> {
        push_bounded(&mut self.client_buf, data, Side::Client, &self.limits)?;
        let mut released = BytesMut::new();
        self.advance(&mut released)?;
        Ok(self.step(released))
    }

    /// After [`Status::Done`]: a decoder for the client's messages, and the client bytes that
    /// arrived after ClientInit (feed them to the decoder before anything newer).
    pub fn into_decoder(self) -> (Decoder, BytesMut) {
        (Decoder::new(self.limits), self.client_buf)
    }

    fn step(&self, released: BytesMut) -> Step {
        let status = match self.state {
            State::Done => Status::Done,
            State::Refused => Status::Refused(self.refusal.clone()),
            _ => Status::Handshaking,
        };
        Step {
            to_server: released.freeze(),
            status,
        }
    }

    /// Consumes every complete field, alternating sides as the protocol does.
    fn advance(&mut self, released: &mut BytesMut) -> Result<(), RfbError> {
        loop {
            match self.state.turn() {
                Some(Side::Server) => {
                    let len = match self.server_field_len()? {
                        FieldLen::Known(n) if self.server_buf.len() >= n => n,
                        _ => return Ok(()),
                    };
                    let field = self.server_buf.split_to(len);
                    self.on_server_field(&field)?;
                }
                Some(Side::Client) => {
                    let len = fields::client_field_len(self.state);
                    if self.client_buf.len() < len {
                        return Ok(());
                    }
                    let field = self.client_buf.split_to(len);
                    self.on_client_field(&field)?;
                    released.extend_from_slice(&field);
                }
                None => return Ok(()),
            }
        }
    }

    fn server_field_len(&self) -> Result<FieldLen, RfbError> {
        fields::server_field_len(self.state, self.version, &self.server_buf, &self.limits)
    }

    fn on_server_field(&mut self, field: &[u8]) -> Result<(), RfbError> {
        match fields::parse_server_field(self.state, field)? {
            ServerField::Version(major, minor) => {
                self.server_version = Some((major, minor));
                self.state = State::ClientVersion;
            }
            ServerField::SecurityType(kind) => {
                let security = security_type(kind, Side::Server)?;
                self.security = Some(security);
                self.state = match security {
                    SecurityType::None => State::ClientInit,
                    SecurityType::VncAuth => State::VncChallenge,
                };
            }
            ServerField::SecurityTypes(types) => {
                self.offered = types;
                self.state = State::ClientSecurityType;
            }
            ServerField::Challenge => self.state = State::VncResponse,
            ServerField::SecurityOk => self.state = State::ClientInit,
            ServerField::Refused(reason) => {
                self.refusal = reason;
                self.state = State::Refused;
            }
            ServerField::ServerInit(init) => {
                self.server_init = Some(init);
                self.state = State::Done;
            }
        }
        Ok(())
    }

    fn on_client_field(&mut self, field: &[u8]) -> Result<(), RfbError> {
        match self.state {
            State::ClientVersion => {
                let version = fields::client_version(field, self.server_version)?;
                self.version = Some(version);
                self.state = match version {
                    Version::V3_3 => State::ServerSecurityType,
                    Version::V3_7 | Version::V3_8 => State::ServerSecurityTypes,
                };
            }
            State::ClientSecurityType => {
                let kind = field[0];
                if !self.offered.contains(&kind) {
                    return Err(RfbError::SecurityTypeNotOffered(kind));
                }
                let security = security_type(kind, Side::Client)?;
                self.security = Some(security);
                self.state = match (security, self.version) {
                    (SecurityType::VncAuth, _) => State::VncChallenge,
                    (SecurityType::None, Some(Version::V3_8)) => State::SecurityResult,
                    (SecurityType::None, _) => State::ClientInit,
                };
            }
            State::VncResponse => self.state = State::SecurityResult,
            // ClientInit: any shared flag is forwarded as the client sent it.
            _ => self.state = State::ServerInit,
        }
        Ok(())
    }
}

fn security_type(kind: u8, side: Side) -> Result<SecurityType, RfbError> {
    match kind {
        1 => Ok(SecurityType::None),
        2 => Ok(SecurityType::VncAuth),
        _ => Err(RfbError::UnsupportedSecurityType { side, kind }),
    }
}

fn push_bounded(
    buf: &mut BytesMut,
    data: &[u8],
    side: Side,
    limits: &Limits,
) -> Result<(), RfbError> {
    let cap = limits.max_handshake_pending;
    if buf.len() + data.len() > cap {
        return Err(RfbError::HandshakeOverrun { side, cap });
    }
    buf.extend_from_slice(data);
    Ok(())
}

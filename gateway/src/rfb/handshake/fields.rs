//! The handshake's fields: how long each is (as soon as its prefix tells), and what the
//! server's fields say. Pure functions over byte slices.

use super::{State, Version};
use crate::rfb::{CappedField, Limits, RfbError, Side};

/// How long the field at the front of a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldLen {
    /// Exactly this many bytes.
    Known(usize),
    /// At least this many bytes are needed before the length is known.
    AtLeast(usize),
}

/// What a complete server field said.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ServerField {
    Version(u16, u16),
    SecurityType(u8),
    SecurityTypes(Vec<u8>),
    Challenge,
    SecurityOk,
    Refused(Option<String>),
    ServerInit(ServerInit),
}

/// The server's ServerInit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInit {
    /// Framebuffer width.
    pub width: u16,
    /// Framebuffer height.
    pub height: u16,
    /// The server's pixel format (16 bytes, as RFC 6143 §7.4 lays it out).
    pub pixel_format: [u8; 16],
    /// The desktop name (Latin-1 decoded).
    pub name: String,
}

/// Length of the client field the handshake waits for in `state` (all fixed-size).
pub(super) fn client_field_len(state: State) -> usize {
    match state {
        State::ClientVersion => 12,
        State::VncResponse => 16,
        // ClientSecurityType and ClientInit.
        _ => 1,
    }
}

/// Length of the server field the handshake waits for in `state`, from what `buf` holds of it.
pub(super) fn server_field_len(
    state: State,
    version: Option<Version>,
    buf: &[u8],
    limits: &Limits,
) -> Result<FieldLen, RfbError> {
    let len = match state {
        State::ServerVersion => FieldLen::Known(12),
        State::VncChallenge => FieldLen::Known(16),
        State::ServerSecurityType => match u32_at(buf, 0) {
            None => FieldLen::AtLeast(4),
            Some(0) => with_string(buf, 4, CappedField::Reason, limits)?,
            Some(_) => FieldLen::Known(4),
        },
        State::ServerSecurityTypes => match buf.first() {
            None => FieldLen::AtLeast(1),
            Some(0) => with_string(buf, 1, CappedField::Reason, limits)?,
            Some(&count) => FieldLen::Known(1 + usize::from(count)),
        },
        State::SecurityResult => match u32_at(buf, 0) {
            None => FieldLen::AtLeast(4),
            Some(0) => FieldLen::Known(4),
            Some(_) if version == Some(Version::V3_8) => {
                with_string(buf, 4, CappedField::Reason, limits)?
            }
            Some(_) => FieldLen::Known(4),
        },
        State::ServerInit => with_string(buf, 20, CappedField::DesktopName, limits)?,
        // Client turns and finished states never ask for a server field.
        _ => FieldLen::Known(0),
    };
    Ok(len)
}

/// A field of `prefix` bytes followed by a u32 length and that many bytes (capped).
fn with_string(
    buf: &[u8],
    prefix: usize,
    field: CappedField,
    limits: &Limits,
) -> Result<FieldLen, RfbError> {
    let Some(len) = u32_at(buf, prefix) else {
        return Ok(FieldLen::AtLeast(prefix + 4));
    };
    let cap = limits.max_handshake_string;
    if len as u64 > cap as u64 {
        return Err(RfbError::TooLong {
            field,
            len: u64::from(len),
            cap: cap as u64,
        });
    }
    Ok(FieldLen::Known(prefix + 4 + len as usize))
}

/// Reads a complete server field.
pub(super) fn parse_server_field(state: State, field: &[u8]) -> Result<ServerField, RfbError> {
    let parsed = match state {
        State::ServerVersion => {
            let (major, minor) = parse_version(field).ok_or(RfbError::BadVersion(Side::Server))?;
            ServerField::Version(major, minor)
        }
        // The field is complete, so its 4-byte type is there.
        State::ServerSecurityType => match u32_at(field, 0).unwrap_or(0) {
            0 => ServerField::Refused(Some(latin1(&field[8..]))),
            // Types above 255 are not RFB types; 0 stands in and is rejected as unsupported.
            kind => ServerField::SecurityType(u8::try_from(kind).unwrap_or(0)),
        },
        State::ServerSecurityTypes => match field[0] {
            0 => ServerField::Refused(Some(latin1(&field[5..]))),
            _ => ServerField::SecurityTypes(field[1..].to_vec()),
        },
        State::VncChallenge => ServerField::Challenge,
        State::SecurityResult => match field.len() {
            4 if field == [0, 0, 0, 0] => ServerField::SecurityOk,
            4 => ServerField::Refused(None),
            _ => ServerField::Refused(Some(latin1(&field[8..]))),
        },
        _ => {
            let mut pixel_format = [0u8; 16];
            pixel_format.copy_from_slice(&field[4..20]);
            ServerField::ServerInit(ServerInit {
                width: u16::from_be_bytes([field[0], field[1]]),
                height: u16::from_be_bytes([field[2], field[3]]),
                pixel_format,
                name: latin1(&field[24..]),
            })
        }
    };
    Ok(parsed)
}

/// Validates the client's ProtocolVersion against the server's and picks the version in use.
///
/// Only 3.3, 3.7 and 3.8 are accepted from the client: any other answer (3.889, 4.x, 3.5…)
/// has framing we would have to guess, so it is rejected (fail closed). A server announcing
/// 3.3–3.6 speaks 3.3; 3.7 speaks 3.7; anything newer (3.889 Apple, 4.x, 5.x RealVNC) follows a
/// 3.8 client, which is how noVNC treats them.
pub(super) fn client_version(
    field: &[u8],
    server: Option<(u16, u16)>,
) -> Result<Version, RfbError> {
    let (major, minor) = parse_version(field).ok_or(RfbError::BadVersion(Side::Client))?;
    let version = match (major, minor) {
        (3, 3) => Version::V3_3,
        (3, 7) => Version::V3_7,
        (3, 8) => Version::V3_8,
        _ => return Err(RfbError::UnsupportedVersion { major, minor }),
    };
    let server_speaks = match server {
        Some((3, 7)) => Version::V3_7,
        Some((3, minor)) if minor < 7 => Version::V3_3,
        Some((major, _)) if major < 3 => Version::V3_3,
        _ => Version::V3_8,
    };
    if version > server_speaks {
        return Err(RfbError::VersionAboveServer {
            client: minor,
            server: server.map_or(0, |(_, minor)| minor),
        });
    }
    Ok(version)
}

/// `RFB xxx.yyy\n` → (xxx, yyy).
fn parse_version(field: &[u8]) -> Option<(u16, u16)> {
    if field.len() != 12 || &field[..4] != b"RFB " || field[7] != b'.' || field[11] != b'\n' {
        return None;
    }
    Some((digits(&field[4..7])?, digits(&field[8..11])?))
}

fn digits(b: &[u8]) -> Option<u16> {
    b.iter().try_fold(0u16, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
    })
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// RFB strings are Latin-1: each byte is the code point of the same value.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

//! The stateful decoder that frames client→server messages out of a byte stream, whatever the
//! WebSocket framing was.
//!
//! Pure: no I/O. Each decoded message keeps its original bytes so allowed messages are forwarded
//! unchanged; every peer-chosen length is checked against [`Limits`] as soon as it is visible,
//! before the stream is allowed to grow to it.

use bytes::{Buf, BytesMut};

use super::{
    CappedField, ClientMessage, CutText, KeyEvent, Limits, MessageKind, PointerEvent, QemuKeyEvent,
    RfbError,
};

/// The extended-mouse-buttons pseudo-encoding (after it, a PointerEvent with mask bit 0x80 is
/// 7 bytes long).
pub const EXTENDED_MOUSE_BUTTONS: i32 = -316;
/// The extended-clipboard pseudo-encoding (after it, a ClientCutText may have a negative length).
pub const EXTENDED_CLIPBOARD: i32 = 0xC0A1_E5CE_u32 as i32;
/// The largest ClientFence payload RFB allows.
pub const MAX_FENCE_PAYLOAD: usize = 64;

/// Frames client→server messages. It carries the state framing depends on: whether the
/// client's last SetEncodings listed extended mouse buttons and the extended clipboard.
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: Limits,
    extended_mouse: bool,
    extended_clipboard: bool,
}

// === impl Decoder ===

impl Decoder {
    /// A decoder for a stream whose handshake just finished (no encodings advertised yet).
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            extended_mouse: false,
            extended_clipboard: false,
        }
    }

    /// Whether the client's last SetEncodings listed extended mouse buttons (−316).
    pub fn extended_mouse(&self) -> bool {
        self.extended_mouse
    }

    /// Whether the client's last SetEncodings listed the extended clipboard (0xC0A1E5CE).
    pub fn extended_clipboard(&self) -> bool {
        self.extended_clipboard
    }

    /// Takes the next complete message off the front of `buf`.
    ///
    /// `Ok(None)` means "incomplete: read more bytes and call again" (nothing is consumed).
    /// An error means the stream cannot be framed; the caller closes the socket. A too-long
    /// field is reported as soon as its length is visible, before the rest arrives.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<ClientMessage>, RfbError> {
        let Some(len) = self.frame_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < len {
            return Ok(None);
        }
        let bytes = buf.split_to(len).freeze();
        let kind = self.parse(&bytes);
        Ok(Some(ClientMessage::new(kind, bytes)))
    }

    /// The total length of the message at the front of `buf`, once enough of it is there to
    /// tell; errors for unknown types and lengths over their caps.
    fn frame_len(&self, buf: &[u8]) -> Result<Option<usize>, RfbError> {
        let Some(&message_type) = buf.first() else {
            return Ok(None);
        };
        let len = match message_type {
            0 => 20,
            3 | 150 => 10,
            4 => 8,
            250 => 4,
            2 => match u16_at(buf, 2) {
                None => return Ok(None),
                Some(count) => self.encodings_len(count)?,
            },
            5 => match buf.get(1) {
                None => return Ok(None),
                Some(mask) if self.extended_mouse && mask & 0x80 != 0 => 7,
                Some(_) => 6,
            },
            6 => match u32_at(buf, 4) {
                None => return Ok(None),
                Some(raw) => self.cut_text_len(raw as i32)?,
            },
            248 => match buf.get(8) {
                None => return Ok(None),
                Some(&payload) => fence_len(payload)?,
            },
            251 => match buf.get(6) {
                None => return Ok(None),
                Some(&screens) => 8 + 16 * usize::from(screens),
            },
            255 => match buf.get(1) {
                None => return Ok(None),
                Some(0) => 12,
                Some(&subtype) => return Err(RfbError::UnknownQemuSubtype(subtype)),
            },
            other => return Err(RfbError::UnknownMessage(other)),
        };
        Ok(Some(len))
    }

    fn encodings_len(&self, count: u16) -> Result<usize, RfbError> {
        let count = usize::from(count);
        if count > self.limits.max_encodings {
            return Err(RfbError::TooLong {
                field: CappedField::Encodings,
                len: count as u64,
                cap: self.limits.max_encodings as u64,
            });
        }
        Ok(4 + 4 * count)
    }

    fn cut_text_len(&self, raw: i32) -> Result<usize, RfbError> {
        let len = raw.unsigned_abs();
        let (field, cap) = if raw >= 0 {
            (CappedField::CutText, self.limits.max_cut_text)
        } else if !self.extended_clipboard {
            return Err(RfbError::ExtendedClipboardNotAdvertised);
        } else if len < 4 {
            return Err(RfbError::ExtendedClipboardTooShort(len));
        } else {
            (
                CappedField::ExtendedCutText,
                self.limits.max_extended_cut_text,
            )
        };
        if len as u64 > cap as u64 {
            return Err(RfbError::TooLong {
                field,
                len: u64::from(len),
                cap: cap as u64,
            });
        }
        Ok(8 + len as usize)
    }

    /// Reads a complete message (its length was checked by `frame_len`) and updates the framing
    /// state SetEncodings controls.
    fn parse(&mut self, mut b: &[u8]) -> MessageKind {
        let message_type = b.get_u8();
        match message_type {
            0 => MessageKind::SetPixelFormat,
            2 => {
                b.advance(1);
                let count = b.get_u16();
                let encodings: Vec<i32> = (0..count).map(|_| b.get_i32()).collect();
                self.extended_mouse = encodings.contains(&EXTENDED_MOUSE_BUTTONS);
                self.extended_clipboard = encodings.contains(&EXTENDED_CLIPBOARD);
                MessageKind::SetEncodings(encodings)
            }
            3 => MessageKind::FramebufferUpdateRequest {
                incremental: b.get_u8() != 0,
                x: b.get_u16(),
                y: b.get_u16(),
                width: b.get_u16(),
                height: b.get_u16(),
            },
            4 => {
                let down = b.get_u8() != 0;
                b.advance(2);
                MessageKind::Key(KeyEvent {
                    down,
                    keysym: b.get_u32(),
                })
            }
            5 => MessageKind::Pointer(PointerEvent {
                mask: b.get_u8(),
                x: b.get_u16(),
                y: b.get_u16(),
                extra: b.first().copied(),
            }),
            6 => {
                b.advance(3);
                let raw = b.get_i32();
                MessageKind::ClientCutText(CutText {
                    len: raw.unsigned_abs(),
                    extended: raw < 0,
                })
            }
            150 => MessageKind::EnableContinuousUpdates {
                enable: b.get_u8() != 0,
            },
            248 => {
                b.advance(3);
                MessageKind::ClientFence { flags: b.get_u32() }
            }
            250 => {
                b.advance(1);
                MessageKind::Xvp {
                    version: b.get_u8(),
                    op: b.get_u8(),
                }
            }
            251 => {
                b.advance(1);
                MessageKind::SetDesktopSize {
                    width: b.get_u16(),
                    height: b.get_u16(),
                    screens: b.get_u8(),
                }
            }
            // 255: `frame_len` admits only subtype 0.
            _ => {
                b.advance(1);
                MessageKind::QemuKey(QemuKeyEvent {
                    down: b.get_u16() != 0,
                    keysym: b.get_u32(),
                    keycode: b.get_u32(),
                })
            }
        }
    }
}

fn fence_len(payload: u8) -> Result<usize, RfbError> {
    let payload = usize::from(payload);
    if payload > MAX_FENCE_PAYLOAD {
        return Err(RfbError::TooLong {
            field: CappedField::FencePayload,
            len: payload as u64,
            cap: MAX_FENCE_PAYLOAD as u64,
        });
    }
    Ok(9 + payload)
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

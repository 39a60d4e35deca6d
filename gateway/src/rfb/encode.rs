//! Builders for client→server RFB messages, byte-exact as RFC 6143 (and noVNC for the extended
//! forms) lays them out.
//!
//! The policy uses them to synthesise key-up and pointer-up messages on a change of control;
//! tests and fake viewers use them to speak RFB. Pure: no I/O.

use bytes::{BufMut, Bytes, BytesMut};

/// KeyEvent (type 4, 8 bytes).
pub fn key_event(down: bool, keysym: u32) -> Bytes {
    let mut b = BytesMut::with_capacity(8);
    b.put_u8(4);
    b.put_u8(u8::from(down));
    b.put_u16(0);
    b.put_u32(keysym);
    b.freeze()
}

/// QEMU extended key event (type 255, subtype 0, 12 bytes).
pub fn qemu_key_event(down: bool, keysym: u32, keycode: u32) -> Bytes {
    let mut b = BytesMut::with_capacity(12);
    b.put_u8(255);
    b.put_u8(0);
    b.put_u16(u16::from(down));
    b.put_u32(keysym);
    b.put_u32(keycode);
    b.freeze()
}

/// PointerEvent in its 6-byte form.
pub fn pointer_event(mask: u8, x: u16, y: u16) -> Bytes {
    let mut b = BytesMut::with_capacity(6);
    b.put_u8(5);
    b.put_u8(mask);
    b.put_u16(x);
    b.put_u16(y);
    b.freeze()
}

/// PointerEvent in noVNC's 7-byte extended-mouse-buttons form: `buttons` bits 0–6 go in byte 1
/// (with the 0x80 marker), bits 7–14 in byte 6.
pub fn extended_pointer_event(buttons: u16, x: u16, y: u16) -> Bytes {
    let mut b = BytesMut::with_capacity(7);
    b.put_u8(5);
    b.put_u8((buttons & 0x7F) as u8 | 0x80);
    b.put_u16(x);
    b.put_u16(y);
    b.put_u8((buttons >> 7) as u8);
    b.freeze()
}

/// SetPixelFormat (type 0, 20 bytes) with the given 16-byte pixel format.
pub fn set_pixel_format(format: [u8; 16]) -> Bytes {
    let mut b = BytesMut::with_capacity(20);
    b.put_u8(0);
    b.put_bytes(0, 3);
    b.put_slice(&format);
    b.freeze()
}

/// SetEncodings (type 2). Panics if `encodings` has more than 65,535 entries (a caller bug).
pub fn set_encodings(encodings: &[i32]) -> Bytes {
    let count = u16::try_from(encodings.len()).expect("at most 65535 encodings");
    let mut b = BytesMut::with_capacity(4 + 4 * encodings.len());
    b.put_u8(2);
    b.put_u8(0);
    b.put_u16(count);
    for encoding in encodings {
        b.put_i32(*encoding);
    }
    b.freeze()
}

/// FramebufferUpdateRequest (type 3, 10 bytes).
pub fn framebuffer_update_request(incremental: bool, x: u16, y: u16, w: u16, h: u16) -> Bytes {
    let mut b = BytesMut::with_capacity(10);
    b.put_u8(3);
    b.put_u8(u8::from(incremental));
    for v in [x, y, w, h] {
        b.put_u16(v);
    }
    b.freeze()
}

/// ClientCutText (type 6) with Latin-1 `text`.
pub fn client_cut_text(text: &[u8]) -> Bytes {
    cut_text(
        i32::try_from(text.len()).expect("cut text under 2 GiB"),
        text,
    )
}

/// Extended-clipboard ClientCutText (type 6, negative length): `flags` then `data`.
pub fn extended_client_cut_text(flags: u32, data: &[u8]) -> Bytes {
    let len = i32::try_from(4 + data.len()).expect("cut text under 2 GiB");
    let mut payload = Vec::with_capacity(4 + data.len());
    payload.extend_from_slice(&flags.to_be_bytes());
    payload.extend_from_slice(data);
    cut_text(-len, &payload)
}

fn cut_text(len: i32, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + payload.len());
    b.put_u8(6);
    b.put_bytes(0, 3);
    b.put_i32(len);
    b.put_slice(payload);
    b.freeze()
}

/// EnableContinuousUpdates (type 150, 10 bytes).
pub fn enable_continuous_updates(enable: bool, x: u16, y: u16, w: u16, h: u16) -> Bytes {
    let mut b = BytesMut::with_capacity(10);
    b.put_u8(150);
    b.put_u8(u8::from(enable));
    for v in [x, y, w, h] {
        b.put_u16(v);
    }
    b.freeze()
}

/// ClientFence (type 248). Panics if `payload` is over 255 bytes (a caller bug); the decoder
/// rejects anything over 64.
pub fn client_fence(flags: u32, payload: &[u8]) -> Bytes {
    let len = u8::try_from(payload.len()).expect("fence payload under 256 bytes");
    let mut b = BytesMut::with_capacity(9 + payload.len());
    b.put_u8(248);
    b.put_bytes(0, 3);
    b.put_u32(flags);
    b.put_u8(len);
    b.put_slice(payload);
    b.freeze()
}

/// xvp (type 250, 4 bytes).
pub fn xvp(version: u8, op: u8) -> Bytes {
    Bytes::copy_from_slice(&[250, 0, version, op])
}

/// SetDesktopSize (type 251) with `screens` 16-byte screen records
/// (id, x, y, width, height, flags).
pub fn set_desktop_size(width: u16, height: u16, screens: &[[u8; 16]]) -> Bytes {
    let count = u8::try_from(screens.len()).expect("at most 255 screens");
    let mut b = BytesMut::with_capacity(8 + 16 * screens.len());
    b.put_u8(251);
    b.put_u8(0);
    b.put_u16(width);
    b.put_u16(height);
    b.put_u8(count);
    b.put_u8(0);
    for screen in screens {
        b.put_slice(screen);
    }
    b.freeze()
}

//! The client-message decoder: each type alone and coalesced, at every chunk boundary; caps
//! checked on the header alone; unknown types and subtypes rejected; state-dependent framing.

use bytes::{Bytes, BytesMut};

use super::{assert_every_split, concat, decode_pieces, decode_whole, kinds};
use crate::rfb::{
    encode, CappedField, CutText, Decoder, KeyEvent, Limits, MessageKind, PointerEvent,
    QemuKeyEvent, RfbError, EXTENDED_CLIPBOARD, EXTENDED_MOUSE_BUTTONS,
};

/// One sample per message shape: (name, setup messages that set the decoder's state, message).
fn samples() -> Vec<(&'static str, Vec<Bytes>, Bytes)> {
    let ext_mouse = encode::set_encodings(&[0, EXTENDED_MOUSE_BUTTONS]);
    let ext_clip = encode::set_encodings(&[EXTENDED_CLIPBOARD, 7]);
    let screen = [1u8; 16];
    vec![
        (
            "set-pixel-format",
            vec![],
            encode::set_pixel_format([7; 16]),
        ),
        (
            "set-encodings",
            vec![],
            encode::set_encodings(&[0, 1, -239, -316]),
        ),
        ("set-encodings-empty", vec![], encode::set_encodings(&[])),
        (
            "fbur",
            vec![],
            encode::framebuffer_update_request(true, 1, 2, 3, 4),
        ),
        ("key-event", vec![], encode::key_event(true, 0x61)),
        ("pointer", vec![], encode::pointer_event(0x05, 10, 20)),
        (
            "pointer-0x80-plain",
            vec![],
            encode::pointer_event(0x80, 1, 1),
        ),
        (
            "pointer-extended",
            vec![ext_mouse.clone()],
            encode::extended_pointer_event(0x184, 3, 4),
        ),
        (
            "pointer-ext-no-marker",
            vec![ext_mouse],
            encode::pointer_event(0x04, 3, 4),
        ),
        ("cut-text", vec![], encode::client_cut_text(b"hello")),
        ("cut-text-empty", vec![], encode::client_cut_text(b"")),
        (
            "cut-text-extended",
            vec![ext_clip],
            encode::extended_client_cut_text(1, b"zz"),
        ),
        (
            "continuous-updates",
            vec![],
            encode::enable_continuous_updates(true, 0, 0, 8, 8),
        ),
        (
            "fence-empty",
            vec![],
            encode::client_fence(0x8000_0002, b""),
        ),
        ("fence-full", vec![], encode::client_fence(1, &[9; 64])),
        ("xvp", vec![], encode::xvp(1, 2)),
        (
            "desktop-size-0",
            vec![],
            encode::set_desktop_size(800, 600, &[]),
        ),
        (
            "desktop-size-2",
            vec![],
            encode::set_desktop_size(800, 600, &[screen, screen]),
        ),
        ("qemu-key", vec![], encode::qemu_key_event(true, 0x6F, 0x18)),
    ]
}

fn stream_of(setup: &[Bytes], msg: &Bytes) -> Vec<u8> {
    setup.iter().chain([msg]).flat_map(|b| b.to_vec()).collect()
}

/// Every split suite of this file; returns the number of chunkings checked.
pub(super) fn split_suites() -> usize {
    every_message_alone_at_every_split() + coalesced_stream_at_every_split()
}

fn every_message_alone_at_every_split() -> usize {
    let mut cases = 0;
    for (name, setup, msg) in samples() {
        let stream = stream_of(&setup, &msg);
        let expected = decode_whole(&stream);
        assert_eq!(expected.len(), setup.len() + 1, "{name}");
        assert_eq!(
            expected.last().unwrap().bytes(),
            &msg,
            "{name}: original bytes kept"
        );
        cases += assert_every_split(&stream, &expected, true);
    }
    cases
}

fn coalesced_stream_at_every_split() -> usize {
    let samples = samples();
    let all: Vec<Bytes> = samples
        .iter()
        .flat_map(|(_, setup, msg)| setup.iter().chain([msg]).cloned())
        .collect();
    let stream: Vec<u8> = all.iter().flat_map(|b| b.to_vec()).collect();
    let expected = decode_whole(&stream);
    let originals: Vec<&Bytes> = expected.iter().map(|m| m.bytes()).collect();
    assert_eq!(originals, all.iter().collect::<Vec<_>>());
    assert_eq!(concat(&expected), stream);
    assert_every_split(&stream, &expected, true)
}

#[test]
fn every_message_type_alone_is_framed_identically_at_every_chunk_boundary() {
    assert!(every_message_alone_at_every_split() > 0);
}

#[test]
fn coalesced_messages_are_framed_identically_at_every_chunk_boundary() {
    assert!(coalesced_stream_at_every_split() > 0);
}

#[test]
fn each_message_type_decodes_to_its_fields_and_exact_length() {
    let ext = encode::set_encodings(&[EXTENDED_MOUSE_BUTTONS, EXTENDED_CLIPBOARD]);
    let cases: Vec<(Bytes, usize, MessageKind)> = vec![
        (
            encode::set_pixel_format([0; 16]),
            20,
            MessageKind::SetPixelFormat,
        ),
        (
            encode::set_encodings(&[5, -1]),
            12,
            MessageKind::SetEncodings(vec![5, -1]),
        ),
        (
            encode::framebuffer_update_request(false, 1, 2, 3, 4),
            10,
            MessageKind::FramebufferUpdateRequest {
                incremental: false,
                x: 1,
                y: 2,
                width: 3,
                height: 4,
            },
        ),
        (
            encode::key_event(false, 0xFFE3),
            8,
            MessageKind::Key(KeyEvent {
                down: false,
                keysym: 0xFFE3,
            }),
        ),
        (
            encode::extended_pointer_event(0x104, 9, 8),
            7,
            MessageKind::Pointer(PointerEvent {
                mask: 0x84,
                extra: Some(0x02),
                x: 9,
                y: 8,
            }),
        ),
        (
            encode::client_cut_text(b"abc"),
            11,
            MessageKind::ClientCutText(CutText {
                len: 3,
                extended: false,
            }),
        ),
        (
            encode::extended_client_cut_text(2, b"xyz"),
            15,
            MessageKind::ClientCutText(CutText {
                len: 7,
                extended: true,
            }),
        ),
        (
            encode::enable_continuous_updates(true, 0, 0, 1, 1),
            10,
            MessageKind::EnableContinuousUpdates { enable: true },
        ),
        (
            encode::client_fence(3, b"ab"),
            11,
            MessageKind::ClientFence { flags: 3 },
        ),
        (encode::xvp(1, 2), 4, MessageKind::Xvp { version: 1, op: 2 }),
        (
            encode::set_desktop_size(640, 480, &[[0; 16]]),
            24,
            MessageKind::SetDesktopSize {
                width: 640,
                height: 480,
                screens: 1,
            },
        ),
        (
            encode::qemu_key_event(true, 0x6F, 0x18),
            12,
            MessageKind::QemuKey(QemuKeyEvent {
                down: true,
                keysym: 0x6F,
                keycode: 0x18,
            }),
        ),
    ];
    for (bytes, len, kind) in cases {
        let mut buf = BytesMut::from(&ext[..]);
        buf.extend_from_slice(&bytes);
        buf.extend_from_slice(&[3]); // the start of the next message stays in the buffer
        let mut decoder = Decoder::new(Limits::default());
        decoder.decode(&mut buf).unwrap().expect("SetEncodings");
        let msg = decoder.decode(&mut buf).unwrap().expect("message");
        assert_eq!(msg.bytes().len(), len, "{kind:?}");
        assert_eq!(msg.kind(), &kind);
        assert_eq!(msg.bytes(), &bytes);
        assert_eq!(&buf[..], &[3]);
    }
}

#[test]
fn incomplete_message_consumes_nothing() {
    let key = encode::key_event(true, 0x61);
    let mut buf = BytesMut::from(&key[..7]);
    let mut decoder = Decoder::new(Limits::default());
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 7);
    assert_eq!(decoder.decode(&mut BytesMut::new()), Ok(None));
}

#[test]
fn unknown_message_type_is_an_error() {
    for t in [1u8, 7, 127, 149, 249, 252, 254] {
        let mut buf = BytesMut::from(&[t][..]);
        let err = Decoder::new(Limits::default()).decode(&mut buf);
        assert_eq!(err, Err(RfbError::UnknownMessage(t)));
    }
}

#[test]
fn qemu_subtypes_other_than_extended_key_event_are_errors() {
    // Subtype 1 is QEMU audio.
    let mut buf = BytesMut::from(&[255u8, 1][..]);
    assert_eq!(
        Decoder::new(Limits::default()).decode(&mut buf),
        Err(RfbError::UnknownQemuSubtype(1))
    );
}

fn decode_err(limits: Limits, bytes: &[u8]) -> RfbError {
    let mut decoder = Decoder::new(limits);
    decode_pieces(&mut decoder, [bytes]).expect_err("rejected")
}

#[test]
fn oversized_cut_text_is_rejected_from_its_header_alone() {
    // Only the 8-byte header is there: the error comes before any of the text is buffered.
    let header = [6, 0, 0, 0, 0, 0x10, 0, 1];
    let err = decode_err(Limits::default(), &header);
    assert_eq!(
        err,
        RfbError::TooLong {
            field: CappedField::CutText,
            len: (1 << 20) + 1,
            cap: 1 << 20
        }
    );
    let limits = Limits {
        max_cut_text: 4,
        ..Limits::default()
    };
    assert!(decode_pieces(
        &mut Decoder::new(limits.clone()),
        [&encode::client_cut_text(b"four")[..]]
    )
    .is_ok());
    assert!(matches!(
        decode_err(limits, &encode::client_cut_text(b"fives")[..8]),
        RfbError::TooLong { .. }
    ));
}

#[test]
fn oversized_set_encodings_count_is_rejected_from_its_header_alone() {
    let err = decode_err(Limits::default(), &[2, 0, 0x04, 0x01]);
    assert_eq!(
        err,
        RfbError::TooLong {
            field: CappedField::Encodings,
            len: 1025,
            cap: 1024
        }
    );
}

#[test]
fn fence_payload_over_64_bytes_is_rejected_from_its_header_alone() {
    let err = decode_err(Limits::default(), &[248, 0, 0, 0, 0, 0, 0, 0, 65]);
    assert!(matches!(
        err,
        RfbError::TooLong {
            field: CappedField::FencePayload,
            len: 65,
            ..
        }
    ));
}

#[test]
fn negative_cut_text_length_needs_the_extended_clipboard_encoding() {
    let msg = encode::extended_client_cut_text(1, b"data");
    assert_eq!(
        decode_err(Limits::default(), &msg[..8]),
        RfbError::ExtendedClipboardNotAdvertised
    );
    // Advertised, then withdrawn by a later SetEncodings.
    let mut stream = encode::set_encodings(&[EXTENDED_CLIPBOARD]).to_vec();
    stream.extend_from_slice(&msg);
    assert_eq!(decode_whole(&stream).len(), 2);
    stream.extend_from_slice(&encode::set_encodings(&[0]));
    stream.extend_from_slice(&msg);
    assert_eq!(
        decode_err(Limits::default(), &stream),
        RfbError::ExtendedClipboardNotAdvertised
    );
}

#[test]
fn extended_cut_text_is_capped_and_needs_room_for_its_flags() {
    let mut prefix = encode::set_encodings(&[EXTENDED_CLIPBOARD]).to_vec();
    let limits = Limits {
        max_extended_cut_text: 8,
        ..Limits::default()
    };
    let mut too_long = prefix.clone();
    too_long.extend_from_slice(&encode::extended_client_cut_text(1, b"12345")[..8]);
    assert!(matches!(
        decode_err(limits, &too_long),
        RfbError::TooLong {
            field: CappedField::ExtendedCutText,
            len: 9,
            cap: 8
        }
    ));
    prefix.extend_from_slice(&[6, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFE]); // length −2
    assert_eq!(
        decode_err(Limits::default(), &prefix),
        RfbError::ExtendedClipboardTooShort(2)
    );
}

#[test]
fn seven_byte_pointer_event_only_after_extended_mouse_buttons_encoding() {
    let seven = encode::extended_pointer_event(0x81, 5, 6); // marker 0x80 | left, extra 0x01
                                                            // Without −316 the same bytes are a 6-byte event and one byte of the next message.
    let plain = decode_whole(&seven[..6]);
    assert_eq!(plain[0].bytes().len(), 6);
    let err = decode_err(Limits::default(), &seven);
    assert_eq!(err, RfbError::UnknownMessage(seven[6]));

    let mut stream = encode::set_encodings(&[EXTENDED_MOUSE_BUTTONS]).to_vec();
    stream.extend_from_slice(&seven);
    stream.extend_from_slice(&encode::pointer_event(0x01, 5, 6)); // no marker: 6 bytes
    let msgs = decode_whole(&stream);
    assert_eq!(msgs[1].bytes(), &seven);
    assert_eq!(msgs[2].bytes().len(), 6);
    let MessageKind::Pointer(pointer) = msgs[1].kind() else {
        panic!("pointer")
    };
    assert_eq!(pointer.buttons(), 0x81);
    assert_eq!(kinds(&msgs).len(), 3);
}

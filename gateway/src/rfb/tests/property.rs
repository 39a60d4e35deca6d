//! Round-trip property: random message sequences, encoded and cut at random points, decode to
//! the same messages with the same original bytes.

use bytes::Bytes;
use proptest::prelude::*;

use super::{decode_pieces, decode_whole};
use crate::rfb::{encode, Decoder, Limits, EXTENDED_CLIPBOARD, EXTENDED_MOUSE_BUTTONS};

/// A message to encode; the 7-byte pointer and the negative cut text are encoded as such only
/// when the encodings sent before them allow it (as a real client would).
#[derive(Debug, Clone)]
enum Spec {
    PixelFormat([u8; 16]),
    Encodings(Vec<i32>),
    UpdateRequest(bool, u16, u16, u16, u16),
    Key(bool, u32),
    Pointer(u8, u16, u16),
    ExtendedPointer(u16, u16, u16),
    CutText(Vec<u8>),
    ExtendedCutText(u32, Vec<u8>),
    ContinuousUpdates(bool, u16, u16),
    Fence(u32, Vec<u8>),
    Xvp(u8, u8),
    DesktopSize(u16, u16, Vec<[u8; 16]>),
    QemuKey(bool, u32, u32),
}

fn encodings() -> impl Strategy<Value = Vec<i32>> {
    let one = prop_oneof![
        Just(EXTENDED_MOUSE_BUTTONS),
        Just(EXTENDED_CLIPBOARD),
        any::<i32>()
    ];
    prop::collection::vec(one, 0..8)
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(Spec::PixelFormat),
        encodings().prop_map(Spec::Encodings),
        any::<(bool, u16, u16, u16, u16)>()
            .prop_map(|(i, x, y, w, h)| Spec::UpdateRequest(i, x, y, w, h)),
        any::<(bool, u32)>().prop_map(|(d, k)| Spec::Key(d, k)),
        any::<(u8, u16, u16)>().prop_map(|(m, x, y)| Spec::Pointer(m, x, y)),
        any::<(u16, u16, u16)>().prop_map(|(b, x, y)| Spec::ExtendedPointer(b, x, y)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Spec::CutText),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(f, d)| Spec::ExtendedCutText(f, d)),
        any::<(bool, u16, u16)>().prop_map(|(e, w, h)| Spec::ContinuousUpdates(e, w, h)),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 0..=64))
            .prop_map(|(f, p)| Spec::Fence(f, p)),
        any::<(u8, u8)>().prop_map(|(v, o)| Spec::Xvp(v, o)),
        (
            any::<(u16, u16)>(),
            prop::collection::vec(any::<[u8; 16]>(), 0..3)
        )
            .prop_map(|((w, h), s)| Spec::DesktopSize(w, h, s)),
        any::<(bool, u32, u32)>().prop_map(|(d, k, c)| Spec::QemuKey(d, k, c)),
    ]
}

/// Encodes `specs` as a client would, tracking what its last SetEncodings allowed.
fn encode_all(specs: &[Spec]) -> Vec<Bytes> {
    let (mut ext_mouse, mut ext_clip) = (false, false);
    specs
        .iter()
        .map(|spec| match spec {
            Spec::PixelFormat(f) => encode::set_pixel_format(*f),
            Spec::Encodings(list) => {
                ext_mouse = list.contains(&EXTENDED_MOUSE_BUTTONS);
                ext_clip = list.contains(&EXTENDED_CLIPBOARD);
                encode::set_encodings(list)
            }
            Spec::UpdateRequest(i, x, y, w, h) => {
                encode::framebuffer_update_request(*i, *x, *y, *w, *h)
            }
            Spec::Key(d, k) => encode::key_event(*d, *k),
            // Without −316 a mask with 0x80 is an ordinary 6-byte event.
            Spec::Pointer(m, x, y) if ext_mouse => encode::pointer_event(m & 0x7F, *x, *y),
            Spec::Pointer(m, x, y) => encode::pointer_event(*m, *x, *y),
            Spec::ExtendedPointer(b, x, y) if ext_mouse => {
                encode::extended_pointer_event(*b, *x, *y)
            }
            Spec::ExtendedPointer(b, x, y) => encode::pointer_event((*b & 0x7F) as u8, *x, *y),
            Spec::CutText(t) => encode::client_cut_text(t),
            Spec::ExtendedCutText(f, d) if ext_clip => encode::extended_client_cut_text(*f, d),
            Spec::ExtendedCutText(_, d) => encode::client_cut_text(d),
            Spec::ContinuousUpdates(e, w, h) => encode::enable_continuous_updates(*e, 0, 0, *w, *h),
            Spec::Fence(f, p) => encode::client_fence(*f, p),
            Spec::Xvp(v, o) => encode::xvp(*v, *o),
            Spec::DesktopSize(w, h, s) => encode::set_desktop_size(*w, *h, s),
            Spec::QemuKey(d, k, c) => encode::qemu_key_event(*d, *k, *c),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_message_sequences_survive_random_chunking(
        specs in prop::collection::vec(spec(), 0..24),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        // Arrange
        let encoded = encode_all(&specs);
        let stream: Vec<u8> = encoded.iter().flat_map(|b| b.to_vec()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain([stream.len()]) {
            pieces.push(&stream[last..p]);
            last = p;
        }

        // Act
        let (msgs, rest) = decode_pieces(&mut Decoder::new(Limits::default()), pieces)
            .expect("a well-formed stream");

        // Assert
        prop_assert!(rest.is_empty());
        let originals: Vec<&Bytes> = msgs.iter().map(|m| m.bytes()).collect();
        prop_assert_eq!(originals, encoded.iter().collect::<Vec<_>>());
        prop_assert_eq!(msgs, decode_whole(&stream));
    }
}

//! Tests of the RFB framing: every message type and handshake at every chunk boundary,
//! coalesced streams, caps, fail-closed errors and a round-trip property.
//!
//! Split checks return how many chunkings they ran, so `chunk_boundary_cases_are_counted` can
//! report the total.

mod decoder;
mod handshake;
mod property;

use bytes::BytesMut;

use super::{ClientMessage, Decoder, Limits, MessageKind, RfbError};

/// Decodes `pieces` fed one after another into one buffer, as the relay does with WebSocket
/// frames; returns the messages and the bytes left over.
fn decode_pieces<'a>(
    decoder: &mut Decoder,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Vec<ClientMessage>, BytesMut), RfbError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(msg) = decoder.decode(&mut buf)? {
            out.push(msg);
        }
    }
    Ok((out, buf))
}

/// Decodes `stream` whole with a fresh decoder.
fn decode_whole(stream: &[u8]) -> Vec<ClientMessage> {
    let (msgs, rest) = decode_pieces(&mut Decoder::new(Limits::default()), [stream])
        .expect("a well-formed stream");
    assert!(rest.is_empty(), "whole stream decodes without leftovers");
    msgs
}

/// Asserts that `stream` decodes to `expected` when split in two at every offset, in three at
/// every pair of offsets (when `triples`), and fed byte by byte. Returns the number of
/// chunkings checked.
fn assert_every_split(stream: &[u8], expected: &[ClientMessage], triples: bool) -> usize {
    let n = stream.len();
    let mut cases = 0;
    let mut check = |pieces: &[&[u8]]| {
        let mut decoder = Decoder::new(Limits::default());
        let (msgs, rest) = decode_pieces(&mut decoder, pieces.iter().copied()).expect("decodes");
        assert_eq!(msgs, expected, "split {:?}", lens(pieces));
        assert!(rest.is_empty());
        cases += 1;
    };
    for at in 0..=n {
        check(&[&stream[..at], &stream[at..]]);
    }
    if triples {
        for a in 1..n {
            for b in a + 1..n {
                check(&[&stream[..a], &stream[a..b], &stream[b..]]);
            }
        }
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    check(&bytes);
    cases
}

fn lens(pieces: &[&[u8]]) -> Vec<usize> {
    pieces.iter().map(|p| p.len()).collect()
}

/// The messages' original bytes, concatenated.
fn concat(msgs: &[ClientMessage]) -> Vec<u8> {
    msgs.iter().flat_map(|m| m.bytes().to_vec()).collect()
}

fn kinds(msgs: &[ClientMessage]) -> Vec<&MessageKind> {
    msgs.iter().map(ClientMessage::kind).collect()
}

#[test]
fn chunk_boundary_cases_are_counted() {
    // Arrange / Act: run every split suite the other tests run.
    let decoder_cases = decoder::split_suites();
    let handshake_cases = handshake::split_suites();

    // Assert
    let total = decoder_cases + handshake_cases;
    println!(
        "chunk-boundary cases: decoder {decoder_cases}, handshake {handshake_cases}, \
         total {total} (plus the proptest round-trip's random splits)"
    );
    assert!(decoder_cases > 10_000 && handshake_cases > 1_000);
}

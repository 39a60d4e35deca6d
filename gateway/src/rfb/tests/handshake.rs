//! The handshake tracker: 3.3, 3.7 and 3.8 with None and VNC auth, every field split at every
//! offset and both directions interleaved at every pair of offsets; refusals; fail-closed
//! version and security choices; caps.

use crate::rfb::{
    encode, CappedField, Handshake, Limits, RfbError, SecurityType, Side, Status, Version,
};

const ALL: [(Version, SecurityType); 6] = [
    (Version::V3_3, SecurityType::None),
    (Version::V3_3, SecurityType::VncAuth),
    (Version::V3_7, SecurityType::None),
    (Version::V3_7, SecurityType::VncAuth),
    (Version::V3_8, SecurityType::None),
    (Version::V3_8, SecurityType::VncAuth),
];

fn version_line(version: Version) -> Vec<u8> {
    match version {
        Version::V3_3 => b"RFB 003.003\n".to_vec(),
        Version::V3_7 => b"RFB 003.007\n".to_vec(),
        Version::V3_8 => b"RFB 003.008\n".to_vec(),
    }
}

fn server_init() -> Vec<u8> {
    let mut b = vec![0x05, 0x00, 0x03, 0x20]; // 1280×800
    b.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    b.extend_from_slice(&[0, 0, 0, 4]);
    b.extend_from_slice(b"test");
    b
}

/// A successful conversation, field by field, in protocol order.
fn script(version: Version, security: SecurityType) -> Vec<(Side, Vec<u8>)> {
    let kind = match security {
        SecurityType::None => 1u8,
        SecurityType::VncAuth => 2,
    };
    let mut s = vec![
        (Side::Server, version_line(version)),
        (Side::Client, version_line(version)),
    ];
    if version == Version::V3_3 {
        s.push((Side::Server, vec![0, 0, 0, kind]));
    } else {
        s.push((Side::Server, vec![2, 2, 1]));
        s.push((Side::Client, vec![kind]));
    }
    if security == SecurityType::VncAuth {
        s.push((Side::Server, (0..16).collect()));
        s.push((Side::Client, (100..116).collect()));
    }
    if security == SecurityType::VncAuth || version == Version::V3_8 {
        s.push((Side::Server, vec![0, 0, 0, 0]));
    }
    s.push((Side::Client, vec![1]));
    s.push((Side::Server, server_init()));
    s
}

fn side_bytes(script: &[(Side, Vec<u8>)], side: Side) -> Vec<u8> {
    script
        .iter()
        .filter(|(s, _)| *s == side)
        .flat_map(|(_, b)| b.clone())
        .collect()
}

/// Feeds `events` in order; returns what went upstream, the final status and the handshake.
fn run(events: &[(Side, &[u8])]) -> Result<(Vec<u8>, Status, Handshake), RfbError> {
    let mut handshake = Handshake::new(Limits::default());
    let mut upstream = Vec::new();
    let mut status = Status::Handshaking;
    for (side, bytes) in events {
        let step = match side {
            Side::Server => handshake.on_server_bytes(bytes)?,
            Side::Client => handshake.on_client_bytes(bytes)?,
        };
        upstream.extend_from_slice(&step.to_server);
        status = step.status;
    }
    Ok((upstream, status, handshake))
}

fn assert_completed(events: &[(Side, &[u8])], client: &[u8], label: &str) {
    let (upstream, status, handshake) = run(events).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(status, Status::Done, "{label}");
    assert_eq!(
        upstream, client,
        "{label}: client bytes forwarded unchanged"
    );
    let init = handshake.server_init().expect("ServerInit parsed");
    assert_eq!(
        (init.width, init.height, init.name.as_str()),
        (1280, 800, "test")
    );
}

/// Every field split at every offset.
fn every_field_split(version: Version, security: SecurityType) -> usize {
    let script = script(version, security);
    let client = side_bytes(&script, Side::Client);
    let mut cases = 0;
    for (i, (side, field)) in script.iter().enumerate() {
        for at in 0..=field.len() {
            let mut events: Vec<(Side, &[u8])> = Vec::new();
            for (j, (s, b)) in script.iter().enumerate() {
                if i == j {
                    events.push((*side, &field[..at]));
                    events.push((*side, &field[at..]));
                } else {
                    events.push((*s, b));
                }
            }
            assert_completed(
                &events,
                &client,
                &format!("{version:?} {security:?} field {i}@{at}"),
            );
            cases += 1;
        }
    }
    cases
}

/// The client's whole stream split at `i` and the server's at `j`, for every (i, j), with the
/// client speaking as early as it can (its bytes wait for their turn).
fn every_direction_split(version: Version, security: SecurityType) -> usize {
    let script = script(version, security);
    let client = side_bytes(&script, Side::Client);
    let server = side_bytes(&script, Side::Server);
    let mut cases = 0;
    for i in 0..=client.len() {
        for j in 0..=server.len() {
            let events = [
                (Side::Client, &client[..i]),
                (Side::Server, &server[..j]),
                (Side::Client, &client[i..]),
                (Side::Server, &server[j..]),
            ];
            assert_completed(
                &events,
                &client,
                &format!("{version:?} {security:?} {i}/{j}"),
            );
            cases += 1;
        }
    }
    cases
}

pub(super) fn split_suites() -> usize {
    ALL.iter()
        .map(|(v, s)| every_field_split(*v, *s) + every_direction_split(*v, *s))
        .sum()
}

#[test]
fn every_version_and_security_type_completes_at_every_chunk_boundary() {
    assert!(split_suites() > 0);
}

#[test]
fn version_and_security_type_are_recorded() {
    for (version, security) in ALL {
        let script = script(version, security);
        let events: Vec<(Side, &[u8])> = script.iter().map(|(s, b)| (*s, &b[..])).collect();
        let (_, _, handshake) = run(&events).unwrap();
        assert_eq!(handshake.version(), Some(version));
        assert_eq!(handshake.security_type(), Some(security));
    }
}

#[test]
fn client_bytes_ahead_of_their_turn_wait_for_the_server() {
    let script = script(Version::V3_8, SecurityType::None);
    let client = side_bytes(&script, Side::Client); // version, choice, ClientInit
    let mut handshake = Handshake::new(Limits::default());
    handshake.on_server_bytes(b"RFB 003.008\n").unwrap();

    let step = handshake.on_client_bytes(&client).unwrap();
    assert_eq!(&step.to_server[..], b"RFB 003.008\n");
    let step = handshake.on_server_bytes(&[2, 2, 1]).unwrap();
    assert_eq!(&step.to_server[..], &[1]);
    let step = handshake.on_server_bytes(&[0, 0, 0, 0]).unwrap();
    assert_eq!(&step.to_server[..], &[1]); // ClientInit
    assert_eq!(step.status, Status::Handshaking);
}

#[test]
fn client_messages_after_client_init_go_to_the_decoder_not_upstream() {
    let script = script(Version::V3_8, SecurityType::None);
    let mut client = side_bytes(&script, Side::Client);
    let key = encode::key_event(true, 0x6F);
    client.extend_from_slice(&key);
    let server = side_bytes(&script, Side::Server);

    let (upstream, status, handshake) =
        run(&[(Side::Client, &client), (Side::Server, &server)]).unwrap();
    assert_eq!(status, Status::Done);
    assert_eq!(upstream.len(), client.len() - key.len());
    let (mut decoder, mut leftover) = handshake.into_decoder();
    assert_eq!(
        decoder.decode(&mut leftover).unwrap().unwrap().bytes(),
        &key
    );
}

#[test]
fn server_bytes_after_server_init_are_not_parsed() {
    let script = script(Version::V3_8, SecurityType::None);
    let client = side_bytes(&script, Side::Client);
    let mut server = side_bytes(&script, Side::Server);
    server.extend_from_slice(&[0xFF; 100]); // not a valid anything
    let (_, status, _) = run(&[(Side::Client, &client), (Side::Server, &server)]).unwrap();
    assert_eq!(status, Status::Done);
}

#[test]
fn server_refusals_report_their_reason() {
    // 3.8: no security types, with a reason.
    let mut types = vec![0, 0, 0, 0, 4];
    types.extend_from_slice(b"busy");
    let refused = run(&[
        (Side::Server, b"RFB 003.008\n"),
        (Side::Client, b"RFB 003.008\n"),
        (Side::Server, &types),
    ]);
    assert_eq!(refused.unwrap().1, Status::Refused(Some("busy".into())));

    // 3.8: VNC auth failed, with a reason; 3.7: without one.
    let mut failed = vec![0, 0, 0, 1, 0, 0, 0, 3];
    failed.extend_from_slice(b"bad");
    for (version, result, reason) in [
        (Version::V3_8, failed.clone(), Some("bad".to_string())),
        (Version::V3_7, vec![0, 0, 0, 1], None),
        (Version::V3_3, vec![0, 0, 0, 2], None),
    ] {
        let mut script = script(version, SecurityType::VncAuth);
        script.truncate(script.len() - 3); // up to the VNC auth response
        script.push((Side::Server, result));
        let events: Vec<(Side, &[u8])> = script.iter().map(|(s, b)| (*s, &b[..])).collect();
        assert_eq!(
            run(&events).unwrap().1,
            Status::Refused(reason),
            "{version:?}"
        );
    }

    // 3.3: security type 0, with a reason.
    let mut zero = vec![0, 0, 0, 0, 0, 0, 0, 2];
    zero.extend_from_slice(b"no");
    let refused = run(&[
        (Side::Server, b"RFB 003.003\n"),
        (Side::Client, b"RFB 003.003\n"),
        (Side::Server, &zero),
    ]);
    assert_eq!(refused.unwrap().1, Status::Refused(Some("no".into())));
}

fn error_of(events: &[(Side, &[u8])]) -> RfbError {
    run(events).expect_err("rejected")
}

#[test]
fn unknown_client_versions_are_rejected() {
    for line in [&b"RFB 003.889\n"[..], b"RFB 004.001\n", b"RFB 003.005\n"] {
        let err = error_of(&[(Side::Server, b"RFB 003.008\n"), (Side::Client, line)]);
        assert!(matches!(err, RfbError::UnsupportedVersion { .. }), "{err}");
        assert_eq!(err.side(), Side::Client);
    }
    let err = error_of(&[
        (Side::Server, b"RFB 003.008\n"),
        (Side::Client, b"HELLO 3.8  \n"),
    ]);
    assert_eq!(err, RfbError::BadVersion(Side::Client));
    let err = error_of(&[(Side::Server, b"SSH-2.0-OpenS")]);
    assert_eq!(err, RfbError::BadVersion(Side::Server));
}

#[test]
fn newer_server_versions_follow_a_3_8_client_and_older_ones_refuse_it() {
    let ok = run(&[
        (Side::Server, b"RFB 003.889\n"),
        (Side::Client, b"RFB 003.008\n"),
    ]);
    assert_eq!(ok.unwrap().2.version(), Some(Version::V3_8));
    let ok = run(&[
        (Side::Server, b"RFB 003.008\n"),
        (Side::Client, b"RFB 003.003\n"),
    ]);
    assert_eq!(ok.unwrap().2.version(), Some(Version::V3_3));
    let err = error_of(&[
        (Side::Server, b"RFB 003.003\n"),
        (Side::Client, b"RFB 003.008\n"),
    ]);
    assert_eq!(
        err,
        RfbError::VersionAboveServer {
            client: 8,
            server: 3
        }
    );
}

#[test]
fn security_types_that_cannot_be_framed_are_rejected() {
    let hello = [
        (Side::Server, &b"RFB 003.008\n"[..]),
        (Side::Client, b"RFB 003.008\n"),
    ];
    let mut events = hello.to_vec();
    events.extend([
        (Side::Server, &[2u8, 16, 1][..]),
        (Side::Client, &[16u8][..]),
    ]);
    let err = error_of(&events);
    assert_eq!(
        err,
        RfbError::UnsupportedSecurityType {
            side: Side::Client,
            kind: 16
        }
    );

    let mut events = hello.to_vec();
    events.extend([(Side::Server, &[1u8, 1][..]), (Side::Client, &[2u8][..])]);
    assert_eq!(error_of(&events), RfbError::SecurityTypeNotOffered(2));

    let v33 = [
        (Side::Server, &b"RFB 003.003\n"[..]),
        (Side::Client, b"RFB 003.003\n"),
    ];
    let mut events = v33.to_vec();
    events.push((Side::Server, &[0u8, 0, 0, 19][..]));
    let err = error_of(&events);
    assert_eq!(
        err,
        RfbError::UnsupportedSecurityType {
            side: Side::Server,
            kind: 19
        }
    );
}

#[test]
fn oversized_reason_and_desktop_name_are_rejected_from_their_length() {
    let err = error_of(&[
        (Side::Server, b"RFB 003.008\n"),
        (Side::Client, b"RFB 003.008\n"),
        (Side::Server, &[0, 0x7F, 0xFF, 0xFF, 0xFF]),
    ]);
    assert!(matches!(
        err,
        RfbError::TooLong {
            field: CappedField::Reason,
            ..
        }
    ));
    assert_eq!(err.side(), Side::Server);

    let script = script(Version::V3_8, SecurityType::None);
    let mut events: Vec<(Side, Vec<u8>)> = script[..script.len() - 1].to_vec();
    let mut init = server_init()[..20].to_vec();
    init.extend_from_slice(&[0, 1, 0, 1]); // 65,537 bytes of name
    events.push((Side::Server, init));
    let events: Vec<(Side, &[u8])> = events.iter().map(|(s, b)| (*s, &b[..])).collect();
    let err = error_of(&events);
    assert!(matches!(
        err,
        RfbError::TooLong {
            field: CappedField::DesktopName,
            len: 65_537,
            ..
        }
    ));
}

#[test]
fn a_peer_speaking_far_ahead_of_its_turn_is_cut_off() {
    let limits = Limits::default();
    let mut handshake = Handshake::new(limits.clone());
    let flood = vec![0u8; limits.max_handshake_pending + 1];
    let err = handshake.on_client_bytes(&flood).expect_err("overrun");
    assert_eq!(
        err,
        RfbError::HandshakeOverrun {
            side: Side::Client,
            cap: limits.max_handshake_pending
        }
    );
}

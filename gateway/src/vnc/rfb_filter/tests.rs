//! The filter alone: what the server's handshake answers release, and failures by side.

use super::*;
use crate::close::CloseReason;
use crate::rfb::encode;

fn filter() -> RfbFilter {
    RfbFilter::new(
        Arc::new(Policy::default()),
        Limits::default(),
        Platform::Linux,
        false,
        Arc::new(Metrics::new()),
        None,
    )
}

fn server_init() -> Vec<u8> {
    let mut init = vec![0, 4, 0, 3];
    init.extend_from_slice(&[0; 16]);
    init.extend_from_slice(&0u32.to_be_bytes());
    init
}

fn upstream(out: &FilterOutput) -> Vec<u8> {
    out.upstream
        .iter()
        .flat_map(|b| b.iter().copied())
        .collect()
}

#[test]
fn client_fields_sent_ahead_are_released_by_the_server_answers_in_order() {
    let mut f = filter();
    let fbur = encode::framebuffer_update_request(false, 0, 0, 4, 3);
    let mut early = FilterOutput::default();
    let ahead = [&b"RFB 003.008\n\x01\x01"[..], &fbur].concat();
    f.on_client_bytes(&ahead, &mut early).unwrap();
    assert!(
        early.upstream.is_empty(),
        "nothing passes before the server spoke"
    );
    let mut released = Vec::new();
    for answer in [
        &b"RFB 003.008\n"[..],
        &[1, 1],
        &[0, 0, 0, 0],
        &server_init(),
    ] {
        let mut out = FilterOutput::default();
        f.on_server_bytes(answer, &mut out).unwrap();
        released.extend(upstream(&out));
    }
    assert!(f.handshake_done());
    assert_eq!(released, ahead, "handshake fields, then the update request");
}

#[test]
fn a_refusal_is_the_upstream_s_failure_and_a_bad_client_version_the_client_s() {
    let mut f = filter();
    let mut out = FilterOutput::default();
    f.on_server_bytes(b"RFB 003.008\n", &mut out).unwrap();
    f.on_client_bytes(b"RFB 003.008\n", &mut out).unwrap();
    let refusal = [&[0u8][..], &2u32.to_be_bytes(), b"no"].concat();
    let error = f.on_server_bytes(&refusal, &mut out).unwrap_err();
    assert_eq!(error.close_reason(), CloseReason::UpstreamUnreachable);
    let mut g = filter();
    g.on_server_bytes(b"RFB 003.008\n", &mut out).unwrap();
    let error = g.on_client_bytes(b"RFB 009.000\n", &mut out).unwrap_err();
    assert_eq!(error.close_reason(), CloseReason::ProtocolError);
}

#[test]
fn input_over_the_organizations_rate_fails_with_rate_limited_and_other_messages_do_not_spend() {
    // Arrange: a filter past the handshake, its organization allowed 2 input events a second.
    let limits = Arc::new(OrgLimits::new(0, 2));
    let mut f = RfbFilter::new(
        Arc::new(Policy::default()),
        Limits::default(),
        Platform::Linux,
        false,
        Arc::new(Metrics::new()),
        Some(InputRate {
            limits: limits.clone(),
            organization_id: "org_a".into(),
        }),
    );
    let mut out = FilterOutput::default();
    f.on_server_bytes(b"RFB 003.008\n", &mut out).unwrap();
    f.on_client_bytes(b"RFB 003.008\n", &mut out).unwrap();
    f.on_server_bytes(&[1, 1], &mut out).unwrap();
    f.on_client_bytes(&[1], &mut out).unwrap();
    f.on_server_bytes(&[0, 0, 0, 0], &mut out).unwrap();
    f.on_client_bytes(&[1], &mut out).unwrap();
    f.on_server_bytes(&server_init(), &mut out).unwrap();
    assert!(f.handshake_done());
    // Act
    let fbur = encode::framebuffer_update_request(true, 0, 0, 4, 3);
    let updates = (0..5).all(|_| f.on_client_bytes(&fbur, &mut out).is_ok());
    let two = (0..2).all(|_| {
        f.on_client_bytes(&encode::pointer_event(0, 1, 1), &mut out)
            .is_ok()
    });
    let third = f.on_client_bytes(&encode::key_event(true, 0x61), &mut out);
    // Assert
    assert!(updates, "update requests are not input");
    assert!(two);
    assert_eq!(third.unwrap_err().close_reason(), CloseReason::RateLimited);
    assert!(
        limits.input_event("org_b"),
        "another organization has its own rate"
    );
}

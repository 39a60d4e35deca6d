use std::time::{Duration, SystemTime};

use super::*;

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

fn open() -> Handoff {
    Handoff::open(
        "h1".into(),
        "log in".into(),
        Duration::from_secs(30),
        at(1_000),
    )
    .unwrap()
}

#[test]
fn an_open_handoff_has_its_deadline_and_no_outcome() {
    let h = open();
    assert!(h.is_open());
    assert_eq!(h.deadline_ms, 31_000);
    assert!(!h.is_due(at(30_999)));
    assert!(h.is_due(at(31_000)));
    assert_eq!(h.duration(), Duration::ZERO);
}

#[test]
fn a_zero_timeout_is_the_default() {
    let h = Handoff::open("h".into(), String::new(), Duration::ZERO, at(0)).unwrap();
    assert_eq!(h.deadline_ms, DEFAULT_TIMEOUT.as_millis() as u64);
}

#[test]
fn requests_over_the_caps_are_refused() {
    let long = "é".repeat(MAX_TEXT_CHARS + 1);
    assert_eq!(
        Handoff::open("h".into(), long, Duration::ZERO, at(0)),
        Err(Invalid::Instructions)
    );
    // Characters, not bytes: 2000 two-byte characters fit.
    assert!(Handoff::open(
        "h".into(),
        "é".repeat(MAX_TEXT_CHARS),
        Duration::ZERO,
        at(0)
    )
    .is_ok());
    assert_eq!(
        Handoff::open(
            "h".into(),
            String::new(),
            MAX_TIMEOUT + Duration::from_millis(1),
            at(0)
        ),
        Err(Invalid::Timeout)
    );
    for id in ["", "a b", "ü", &"x".repeat(MAX_ID_LEN + 1)] {
        assert_eq!(check_id(id), Err(Invalid::Id), "{id:?}");
    }
    assert!(check_id(&format!("ho_{}", "a-".repeat(20))).is_ok());
    assert_eq!(
        check_note(&"n".repeat(MAX_TEXT_CHARS + 1)),
        Err(Invalid::Note)
    );
}

#[test]
fn the_first_acceptance_wins_and_an_ended_handoff_cannot_change() {
    let h = open();
    let accepted = h.accepted("alice").unwrap();
    assert_eq!(accepted.accepted_by.as_deref(), Some("alice"));
    assert_eq!(accepted.accepted("bob"), None);
    let done = accepted
        .ended(Outcome::Done, "ok".into(), Some("alice".into()), at(4_000))
        .unwrap();
    assert!(!done.is_open());
    assert_eq!(done.duration(), Duration::from_secs(3));
    assert_eq!(
        done.ended(Outcome::Cancelled, String::new(), None, at(5_000)),
        None
    );
    assert_eq!(done.accepted("bob"), None);
}

#[test]
fn expiry_is_no_viewer_without_viewers_and_timed_out_with_one() {
    assert_eq!(Handoff::expiry(0), Outcome::NoViewer);
    assert_eq!(Handoff::expiry(2), Outcome::TimedOut);
}

#[test]
fn the_stored_form_round_trips_and_bad_records_are_refused() {
    let done = open()
        .ended(
            Outcome::Declined,
            "captcha".into(),
            Some("c".into()),
            at(2_000),
        )
        .unwrap();
    assert_eq!(Handoff::decode(&done.encode()), Some(done));
    assert_eq!(Handoff::decode(&open().encode()), Some(open()));
    assert_eq!(Handoff::decode("{}"), None);
    assert_eq!(Handoff::decode("not json"), None);
    let mut bad = open();
    bad.id = "a b".into();
    assert_eq!(Handoff::decode(&bad.encode()), None);
}

#[test]
fn outcomes_have_their_protocol_names() {
    let names: Vec<_> = [
        Outcome::Done,
        Outcome::Declined,
        Outcome::TimedOut,
        Outcome::Cancelled,
        Outcome::NoViewer,
        Outcome::EntityFinished,
    ]
    .iter()
    .map(|o| (o.as_str(), serde_json::to_string(o).unwrap()))
    .collect();
    for (name, json) in names {
        assert_eq!(json, format!("\"{name}\""));
    }
}

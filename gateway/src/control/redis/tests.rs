//! Unit tests of the Redis bus's pure parts: names and payloads.

use super::wire::*;
use crate::control::{ControlReason, PairEvent};
use crate::entity::{ChannelKind, ClientId, EntityKey, EntityKind, Scope, SessionKey, StreamKey};
use crate::policy::Platform;

fn session(org: &str, pbs: &str) -> SessionKey {
    SessionKey {
        organization_id: org.into(),
        browser_session_id: pbs.into(),
    }
}

#[test]
fn session_ids_round_trip_and_never_collide_on_separators() {
    let a = session("o:1", "pbs_2");
    let b = session("o", "1:pbs_2");
    assert_ne!(session_id(&a), session_id(&b));
    assert_eq!(parse_session_id(&session_id(&a)), Some(a));
    assert_eq!(parse_session_id("not json"), None);
}

#[test]
fn slots_differ_by_channel_kind_entity_client_and_scope() {
    let key = |kind, id: &str, client: &str| StreamKey {
        entity: EntityKey {
            organization_id: "o".into(),
            kind,
            id: id.into(),
        },
        client_id: ClientId::parse(client).unwrap(),
        scope: Scope::Control,
    };
    let base = key(EntityKind::Task, "tsk_1", "c");
    let view = StreamKey {
        scope: Scope::View,
        ..base.clone()
    };
    assert_ne!(
        slot_id(&base, ChannelKind::Vnc),
        slot_id(&view, ChannelKind::Vnc)
    );
    assert_ne!(
        slot_id(&base, ChannelKind::Vnc),
        slot_id(&base, ChannelKind::Message)
    );
    let other_kind = key(EntityKind::WorkflowRun, "tsk_1", "c");
    assert_ne!(
        slot_id(&base, ChannelKind::Vnc),
        slot_id(&other_kind, ChannelKind::Vnc)
    );
    let other_client = key(EntityKind::Task, "tsk_1", "d");
    assert_ne!(
        slot_id(&base, ChannelKind::Vnc),
        slot_id(&other_client, ChannelKind::Vnc)
    );
}

#[test]
fn a_state_published_by_the_script_decodes_with_its_session() {
    let payload = format!(
        r#"{{"s":{},"h":"viewer","p":"other","r":"taken-by-another-viewer","t":1764161234567,"g":7}}"#,
        serde_json::to_string(&session_id(&session("org", "pbs_1"))).unwrap()
    );
    let (decoded, state) = decode_state(payload.as_bytes()).expect("decodes");
    assert_eq!(decoded, session("org", "pbs_1"));
    assert_eq!(state.holder, ClientId::parse("viewer"));
    assert_eq!(state.previous_holder, ClientId::parse("other"));
    assert_eq!(state.reason, ControlReason::TakenByAnotherViewer);
    assert_eq!(state.generation, 7);
    let ms = state
        .changed_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(ms, 1_764_161_234_567);
}

#[test]
fn an_agent_state_without_holder_decodes_and_unknown_reasons_are_rejected() {
    let s = serde_json::to_string(&session_id(&session("o", "p"))).unwrap();
    let agent = format!(r#"{{"s":{s},"r":"grace-expired","t":5,"g":2}}"#);
    let (_, state) = decode_state(agent.as_bytes()).expect("decodes");
    assert_eq!(state.holder, None);
    assert_eq!(state.reason, ControlReason::GraceExpired);
    let unknown = format!(r#"{{"s":{s},"r":"whatever","g":2}}"#);
    assert!(decode_state(unknown.as_bytes()).is_none());
    assert!(decode_state(b"{}").is_none());
    assert!(decode_state(&vec![b' '; MAX_PAYLOAD + 1]).is_none());
}

#[test]
fn a_state_carries_its_handoff_record_and_a_malformed_record_rejects_the_payload() {
    let s = serde_json::to_string(&session_id(&session("o", "p"))).unwrap();
    let handoff = crate::handoff::Handoff::open(
        "h1".into(),
        "log \"in\" ü".into(),
        std::time::Duration::from_secs(5),
        std::time::SystemTime::now(),
    )
    .unwrap();
    let record = serde_json::to_string(&handoff.encode()).unwrap();
    let payload = format!(r#"{{"s":{s},"r":"","g":2,"o":{record},"hg":9}}"#);
    let (_, state) = decode_state(payload.as_bytes()).expect("decodes");
    assert_eq!(state.handoff.as_deref(), Some(&handoff));
    assert_eq!(state.handoff_generation, 9);
    let bad = format!(r#"{{"s":{s},"r":"","g":2,"o":"{{}}","hg":9}}"#);
    assert!(decode_state(bad.as_bytes()).is_none());
    // No record: none.
    let none = format!(r#"{{"s":{s},"r":"","g":2}}"#);
    assert_eq!(decode_state(none.as_bytes()).unwrap().1.handoff, None);
}

#[test]
fn replica_messages_round_trip_every_pair_event() {
    for event in [
        PairEvent::CopiedText("hé \"quoted\"".into()),
        PairEvent::AskForClipboard,
        PairEvent::VncConnected,
        PairEvent::DeclaredPlatform(Platform::Mac),
    ] {
        let message = ReplicaMessage::Event {
            n: 42,
            e: event.clone().into(),
        };
        let decoded = ReplicaMessage::decode(message.encode().as_bytes()).expect("decodes");
        let ReplicaMessage::Event { n, e } = decoded else {
            panic!("not an event");
        };
        assert_eq!((n, e.into_event()), (42, Some(event)));
    }
    let superseded = ReplicaMessage::Superseded { n: u64::MAX >> 12 };
    assert_eq!(
        ReplicaMessage::decode(superseded.encode().as_bytes()),
        Some(superseded)
    );
    assert_eq!(ReplicaMessage::decode(b"{\"t\":\"nope\"}"), None);
    let heartbeat = ReplicaMessage::Heartbeat { n: 7 };
    assert_eq!(
        ReplicaMessage::decode(heartbeat.encode().as_bytes()),
        Some(heartbeat)
    );
}

#[test]
fn socket_ids_split_into_replica_and_nonce() {
    let id = socket_id("abc123", 9);
    assert_eq!(parse_socket_id(&id), Some(("abc123", 9)));
    assert_eq!(parse_socket_id("abc"), None);
    assert_eq!(parse_socket_id("abc:x"), None);
}

#[test]
fn the_prefix_comes_off_the_bus_url_and_other_parameters_stay() {
    let (url, prefix) = split_prefix("redis://127.0.0.1:6379/2?prefix=t1:", "d:").unwrap();
    assert_eq!(
        (url.as_str(), prefix.as_str()),
        ("redis://127.0.0.1:6379/2", "t1:")
    );
    let (url, prefix) = split_prefix("redis://h:1/?protocol=resp3&prefix=x", "d:").unwrap();
    assert_eq!(
        (url.as_str(), prefix.as_str()),
        ("redis://h:1/?protocol=resp3", "x")
    );
    let (_, prefix) = split_prefix("redis://h:1", "d:").unwrap();
    assert_eq!(prefix, "d:");
    assert!(split_prefix("not a url", "d:").is_err());
}

#[test]
fn options_come_from_the_gateway_configuration_and_the_bus_url() {
    let config = crate::config::Config::for_tests("http://127.0.0.1:1".into());
    let options =
        super::RedisBusOptions::from_config(&config, "redis://127.0.0.1:6379/?prefix=p1:").unwrap();
    assert_eq!(options.url, "redis://127.0.0.1:6379/");
    assert_eq!(options.prefix, "p1:");
    assert_eq!(options.grace, config.control_grace);
    assert!(options.sweep_interval < options.grace);
    let ttl = options.socket_ttl;
    assert!(ttl >= std::time::Duration::from_secs(2) && ttl <= std::time::Duration::from_secs(15));
    // A hang is noticed within a heartbeat interval plus the call deadline(s).
    assert!(options.heartbeat_interval < options.call_timeout);
    assert!(options.heartbeat_interval >= std::time::Duration::from_millis(250));
    let default = super::RedisBusOptions::from_config(&config, "redis://h:1").unwrap();
    assert_eq!(default.prefix, super::DEFAULT_PREFIX);
}

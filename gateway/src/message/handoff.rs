//! Handoffs on the Message channel (PROTOCOL §5): `handoff-requested` to every viewer while
//! one is open (also to one that connects then), `handoff-ended` to a viewer that was shown it,
//! and the controlling person's `handoff-complete`. A take-control while one is open is the
//! person's acceptance. The note goes to the agent only: never logged, never sent to viewers.

use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

use super::ctx::Ctx;
use super::kinds::Outbound;
use crate::control::handoffs::accept_by_taking_control;
use crate::control::ControlState;
use crate::handoff::{check_note, HandoffSwap, Outcome};

/// The handoff one socket was shown and not yet told the end of.
#[derive(Debug, Default)]
pub struct Shown(Option<String>);

impl Shown {
    /// What this socket must be sent for `state` (after the last state it saw).
    pub fn notices(&mut self, state: &ControlState) -> Vec<Outbound> {
        let mut out = Vec::new();
        let handoff = state.handoff.as_deref();
        if let Some(shown) = self.0.take() {
            match handoff.filter(|h| h.id == shown).map(|h| &h.ended) {
                Some(None) => self.0 = Some(shown),
                Some(Some(end)) => out.push(ended(&shown, end.outcome.as_str())),
                // Replaced by a newer one this socket never saw end (a missed update).
                None => out.push(ended(&shown, Outcome::Cancelled.as_str())),
            }
        }
        if let Some(h) = handoff.filter(|h| h.is_open()) {
            if self.0.is_none() {
                let deadline = DateTime::<Utc>::from(h.deadline());
                out.push(Outbound::HandoffRequested {
                    handoff_id: h.id.clone(),
                    instructions: h.instructions.clone(),
                    deadline: deadline.to_rfc3339_opts(SecondsFormat::Millis, true),
                });
                self.0 = Some(h.id.clone());
            }
        }
        out
    }
}

fn ended(id: &str, outcome: &str) -> Outbound {
    Outbound::HandoffEnded {
        handoff_id: id.to_owned(),
        outcome: outcome.to_owned(),
    }
}

/// After this socket's take-control: it accepts the open handoff nobody accepted yet.
pub async fn accept(ctx: &Arc<Ctx>, state: &ControlState) {
    let client = ctx.auth.key.client_id.as_str();
    let session = ctx.auth.session_key();
    match accept_by_taking_control(ctx.state.bus.as_ref(), &session, client, state).await {
        Ok(true) => ctx.audit("handoff-accepted"),
        // No open handoff, or someone else accepted it, or it ended, in between.
        Ok(false) => {}
        Err(error) => tracing::warn!(error.message = %error, "handoff acceptance not recorded"),
    }
}

/// `handoff-complete`: the controlling person ends the open handoff (the caller checked the
/// scope and control); control then returns to the agent.
pub async fn complete(ctx: &Arc<Ctx>, handoff_id: &str, success: bool, note: Option<String>) {
    let fail = |message: &str| Outbound::error(Some("handoff-complete"), message);
    let note = note.unwrap_or_default();
    if check_note(&note).is_err() {
        ctx.outbox
            .send(fail("The note is at most 2000 characters."))
            .await;
        return;
    }
    let client = ctx.auth.key.client_id.as_str();
    let state = ctx.control.borrow().clone();
    let outcome = if success {
        Outcome::Done
    } else {
        Outcome::Declined
    };
    let ended = state
        .open_handoff()
        .filter(|h| h.id == handoff_id)
        .and_then(|h| h.ended(outcome, note, Some(client.to_owned()), SystemTime::now()));
    let Some(ended) = ended else {
        ctx.outbox.send(fail("No such open handoff.")).await;
        return;
    };
    let swap = HandoffSwap::Update {
        id: ended.id.clone(),
        new: ended,
        by_holder: Some(client.to_owned()),
    };
    match ctx
        .state
        .bus
        .swap_handoff(&ctx.auth.session_key(), swap)
        .await
    {
        // The viewers learn it through their watch (`handoff-ended`, `control-state`).
        Ok(Ok(_)) => ctx.audit(outcome.audit_action()),
        Ok(Err(_)) => {
            ctx.outbox.send(fail("No such open handoff.")).await;
        }
        Err(error) => {
            tracing::warn!(error.message = %error, "handoff-complete not applied");
            ctx.outbox
                .send(fail("Handoffs are unavailable; try again."))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::handoff::Handoff;

    fn with(handoff: Option<Handoff>) -> ControlState {
        ControlState {
            handoff: handoff.map(Arc::new),
            ..ControlState::agent()
        }
    }

    fn open(id: &str) -> Handoff {
        Handoff::open(
            id.into(),
            "solve it".into(),
            Duration::from_secs(60),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap()
    }

    fn kinds(out: &[Outbound]) -> Vec<&'static str> {
        out.iter().map(Outbound::name).collect()
    }

    #[test]
    fn an_open_handoff_is_shown_once_and_its_end_follows() {
        let mut shown = Shown::default();
        assert!(shown.notices(&with(None)).is_empty());
        let requested = shown.notices(&with(Some(open("a"))));
        assert_eq!(
            requested,
            vec![Outbound::HandoffRequested {
                handoff_id: "a".into(),
                instructions: "solve it".into(),
                deadline: "1970-01-01T00:01:00.000Z".into(),
            }]
        );
        let accepted = open("a").accepted("c").unwrap();
        assert!(shown.notices(&with(Some(accepted.clone()))).is_empty());
        let done = accepted
            .ended(
                Outcome::Done,
                "secret".into(),
                Some("c".into()),
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(
            shown.notices(&with(Some(done.clone()))),
            vec![ended("a", "DONE")]
        );
        // Told once; an ended handoff is never shown to a socket that connects later.
        assert!(shown.notices(&with(Some(done.clone()))).is_empty());
        assert!(Shown::default().notices(&with(Some(done))).is_empty());
    }

    #[test]
    fn a_replaced_handoff_ends_before_the_next_is_shown() {
        let mut shown = Shown::default();
        shown.notices(&with(Some(open("a"))));
        let out = shown.notices(&with(Some(open("b"))));
        assert_eq!(kinds(&out), ["handoff-ended", "handoff-requested"]);
        assert_eq!(out[0], ended("a", "CANCELLED"));
    }
}

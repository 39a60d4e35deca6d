//! Tests of the input policy, one per rule of PROTOCOL.md §3, and regression tests named after
//! the incumbent's weaknesses (spec §15 items 8–11 and 17).

mod blocking;
mod clipboard;
mod control;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::{decide, Action, Effect, Platform, Policy, Rule, SessionCtx, Verdict};
use crate::rfb::{
    encode, ClientMessage, Decoder, Limits, EXTENDED_CLIPBOARD, EXTENDED_MOUSE_BUTTONS,
};

/// One viewer socket: a decoder, its policy state and a test clock.
struct Viewer {
    policy: Policy,
    ctx: SessionCtx,
    decoder: Decoder,
    start: Instant,
    now: Instant,
}

impl Viewer {
    /// A Linux viewer holding control, whose client advertised extended mouse buttons and the
    /// extended clipboard.
    fn with_control() -> Viewer {
        let mut viewer = Viewer::without_control();
        assert!(viewer.ctx.set_control(true).is_empty());
        viewer
    }

    fn without_control() -> Viewer {
        Viewer::on(Platform::Linux, Policy::default())
    }

    fn on(platform: Platform, policy: Policy) -> Viewer {
        let now = Instant::now();
        let mut viewer = Viewer {
            policy,
            ctx: SessionCtx::new(platform),
            decoder: Decoder::new(Limits::default()),
            start: now,
            now,
        };
        let verdict = viewer.send(encode::set_encodings(&[
            EXTENDED_MOUSE_BUTTONS,
            EXTENDED_CLIPBOARD,
        ]));
        assert_eq!(verdict.action, Action::Forward);
        viewer
    }

    fn controlling_on(platform: Platform) -> Viewer {
        let mut viewer = Viewer::on(platform, Policy::default());
        viewer.ctx.set_control(true);
        viewer
    }

    /// Decodes one complete message and decides it.
    fn send(&mut self, bytes: Bytes) -> Verdict {
        let msg = self.decode(&bytes);
        decide(&self.policy, &mut self.ctx, &msg, self.now)
    }

    fn decode(&mut self, bytes: &[u8]) -> ClientMessage {
        let mut buf = BytesMut::from(bytes);
        let msg = self
            .decoder
            .decode(&mut buf)
            .unwrap()
            .expect("one whole message");
        assert!(buf.is_empty());
        msg
    }

    fn down(&mut self, keysym: u32) -> Verdict {
        self.send(encode::key_event(true, keysym))
    }

    fn up(&mut self, keysym: u32) -> Verdict {
        self.send(encode::key_event(false, keysym))
    }

    fn pointer(&mut self, mask: u8) -> Verdict {
        self.send(encode::pointer_event(mask, 10, 20))
    }

    /// Moves the test clock to `secs` after the viewer was created.
    fn at(&mut self, secs: f64) {
        self.now = self.start + Duration::from_secs_f64(secs);
    }
}

fn forwarded(verdict: &Verdict) -> bool {
    matches!(
        verdict.action,
        Action::Forward | Action::ForwardRewritten(_)
    )
}

fn dropped(verdict: &Verdict) -> bool {
    verdict.action == Action::Drop
}

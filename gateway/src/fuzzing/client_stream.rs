//! The `client_stream` fuzz target: arbitrary viewer (and, in one mode, server) bytes through
//! the RFB handshake tracker, the client-message decoder and the input policy, the way the
//! relay drives them.
//!
//! [`client_stream`] checks, besides "no panic": every byte sent upstream is the viewer's own
//! bytes at the position they were consumed from (a pointer event may only lose blocked button
//! bits); input never passes without control; effects only with control; paste never both
//! forwards and asks; Ctrl+O never passes; and every release message is one well-formed key-up
//! or button-up.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::policy::{decide, Action, Effect, Platform, Policy, SessionCtx, Verdict};
use crate::rfb::{keysym, ClientMessage, Decoder, Handshake, Limits, MessageKind, Status};

/// Runs one fuzz input.
///
/// Byte 0 picks the mode (`% 3`): 0 = messages only (no handshake), 1 = a well-behaved server
/// (one of six version/security scripts, `(byte0 >> 2) % 6`) and a fuzzed viewer, 2 = both
/// sides fuzzed; bit 0x02 makes the viewer a mac. The rest is chunks: a control byte (length
/// `(c & 0x1F) + 1`; 0x20 toggles control; 0x40 advances the clock by `(c & 0x1F) × 150 ms`;
/// 0x80 in mode 2 sends the chunk from the server) and then the chunk.
pub fn client_stream(data: &[u8]) {
    let Some((&mode, mut input)) = data.split_first() else {
        return;
    };
    let platform = if mode & 0x02 != 0 {
        Platform::Mac
    } else {
        Platform::Linux
    };
    let mut run = Run::new(platform);
    match mode % 3 {
        0 => run.phase = Phase::Messages(Decoder::new(Limits::default()), BytesMut::new()),
        // A well-behaved server whose script the handshake refuses: nothing to drive.
        1 if !run.server(&server_script(mode >> 2)) => return,
        _ => {}
    }
    while let Some((&ctl, tail)) = input.split_first() {
        let len = (usize::from(ctl & 0x1F) + 1).min(tail.len());
        let (chunk, rest) = tail.split_at(len);
        input = rest;
        if ctl & 0x20 != 0 {
            let holds = !run.ctx.has_control();
            let releases = run.ctx.set_control(holds);
            check_releases(&releases);
        }
        if ctl & 0x40 != 0 {
            run.now += Duration::from_millis(u64::from(ctl & 0x1F) * 150);
        }
        let from_server = mode % 3 == 2 && ctl & 0x80 != 0;
        let open = if from_server {
            run.server(chunk)
        } else {
            run.client(chunk)
        };
        if !open {
            return; // the relay would close the socket here
        }
    }
    check_releases(&run.ctx.release_all());
    assert!(run.ctx.release_all().is_empty(), "released twice");
}

/// A well-behaved server's whole side of the handshake, ending with ServerInit.
fn server_script(pick: u8) -> Vec<u8> {
    let minor = [b'3', b'7', b'8'][usize::from(pick % 3)];
    let vnc_auth = (pick / 3) % 2 == 1;
    let mut s = format!("RFB 003.00{}\n", char::from(minor)).into_bytes();
    if minor == b'3' {
        s.extend_from_slice(&[0, 0, 0, if vnc_auth { 2 } else { 1 }]);
    } else {
        s.extend_from_slice(&[2, 1, 2]);
    }
    if vnc_auth {
        s.extend_from_slice(&[7; 16]);
    }
    // SecurityResult: always in 3.8, after VNC auth only in 3.3 and 3.7.
    if vnc_auth || minor == b'8' {
        s.extend_from_slice(&[0, 0, 0, 0]);
    }
    s.extend_from_slice(&[0, 8, 0, 8]);
    s.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    s.extend_from_slice(&[0, 0, 0, 1, b'x']);
    s
}

enum Phase {
    Handshake(Box<Handshake>),
    Messages(Decoder, BytesMut),
}

struct Run {
    phase: Phase,
    policy: Policy,
    ctx: SessionCtx,
    now: Instant,
    /// Every byte the viewer sent.
    client: Vec<u8>,
    /// How much of `client` has been consumed (sent upstream or decided).
    pos: usize,
    /// The fuzz oracle's own view of the Control keys (from plain key events).
    control_keys: u8,
}

impl Run {
    fn new(platform: Platform) -> Run {
        Run {
            phase: Phase::Handshake(Box::new(Handshake::new(Limits::default()))),
            policy: Policy::default(),
            ctx: SessionCtx::new(platform),
            now: Instant::now(),
            client: Vec::new(),
            pos: 0,
            control_keys: 0,
        }
    }

    /// Server bytes; false once the socket would close.
    fn server(&mut self, chunk: &[u8]) -> bool {
        let Phase::Handshake(handshake) = &mut self.phase else {
            return true; // after ServerInit the server side is not parsed
        };
        match handshake.on_server_bytes(chunk) {
            Ok(step) => self.after_handshake_step(&step.to_server, step.status),
            Err(_) => false,
        }
    }

    /// Viewer bytes; false once the socket would close.
    fn client(&mut self, chunk: &[u8]) -> bool {
        self.client.extend_from_slice(chunk);
        match &mut self.phase {
            Phase::Handshake(handshake) => match handshake.on_client_bytes(chunk) {
                Ok(step) => self.after_handshake_step(&step.to_server, step.status),
                Err(_) => false,
            },
            Phase::Messages(_, buf) => {
                buf.extend_from_slice(chunk);
                self.pump()
            }
        }
    }

    fn after_handshake_step(&mut self, to_server: &Bytes, status: Status) -> bool {
        self.consume(to_server);
        match status {
            Status::Handshaking => true,
            Status::Refused(_) => false,
            Status::Done => {
                let phase = std::mem::replace(
                    &mut self.phase,
                    Phase::Messages(Decoder::new(Limits::default()), BytesMut::new()),
                );
                let Phase::Handshake(handshake) = phase else {
                    unreachable!("Done comes from the handshake phase")
                };
                let (decoder, leftover) = handshake.into_decoder();
                assert_eq!(
                    &leftover[..],
                    &self.client[self.pos..],
                    "leftover = unsent bytes"
                );
                self.phase = Phase::Messages(decoder, leftover);
                self.pump()
            }
        }
    }

    /// Asserts `sent` is the viewer's next bytes and moves past them.
    fn consume(&mut self, sent: &[u8]) {
        let end = self.pos + sent.len();
        assert!(end <= self.client.len(), "sent more than the viewer sent");
        assert_eq!(
            sent,
            &self.client[self.pos..end],
            "bytes sent upstream are the viewer's"
        );
        self.pos = end;
    }

    fn pump(&mut self) -> bool {
        loop {
            let Phase::Messages(decoder, buf) = &mut self.phase else {
                return true;
            };
            let msg = match decoder.decode(buf) {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    assert_eq!(buf.len(), self.client.len() - self.pos, "nothing lost");
                    return true;
                }
                Err(_) => return false,
            };
            self.consume(msg.bytes());
            let had_control = self.ctx.has_control();
            let verdict = decide(&self.policy, &mut self.ctx, &msg, self.now);
            self.check_verdict(&msg, &verdict, had_control);
        }
    }

    fn check_verdict(&mut self, msg: &ClientMessage, verdict: &Verdict, had_control: bool) {
        let input = matches!(
            msg.kind(),
            MessageKind::Key(_)
                | MessageKind::QemuKey(_)
                | MessageKind::Pointer(_)
                | MessageKind::ClientCutText(_)
                | MessageKind::SetDesktopSize { .. }
        );
        let out = verdict.outgoing(msg);
        assert!(
            had_control || !input || out.is_none(),
            "input passed without control"
        );
        assert!(
            had_control || verdict.effects.is_empty(),
            "effect without control"
        );
        if matches!(msg.kind(), MessageKind::Xvp { .. }) {
            assert!(out.is_none(), "xvp passed");
        }
        let asks = verdict.effects.contains(&Effect::AskForClipboard);
        assert_eq!(
            asks,
            verdict.action == Action::HoldBack,
            "paste both or neither"
        );
        if let Action::ForwardRewritten(bytes) = &verdict.action {
            let orig = msg.bytes();
            assert_eq!(bytes.len(), orig.len());
            assert_eq!((bytes[0], &bytes[2..]), (orig[0], &orig[2..]));
            assert_eq!(bytes[1] & !orig[1], 0, "a rewrite only clears bits");
            assert_eq!(orig[1] & !bytes[1] & !self.policy.blocked_buttons, 0);
        }
        if let MessageKind::Key(key) = msg.kind() {
            let bit = match key.keysym {
                keysym::CONTROL_L => 1,
                keysym::CONTROL_R => 2,
                _ => 0,
            };
            if key.down {
                let is_o = keysym::fold_case(key.keysym) == keysym::O_LOWER;
                assert!(
                    !(is_o && self.control_keys != 0 && out.is_some()),
                    "Ctrl+O passed"
                );
                self.control_keys |= bit;
            } else {
                self.control_keys &= !bit;
            }
        }
        if let MessageKind::QemuKey(_) = msg.kind() {
            // QEMU events may press Control too; the oracle only follows plain events.
            self.control_keys = 0;
        }
    }
}

/// Every release message is exactly one key-up (plain or QEMU) or a pointer event with no
/// button.
fn check_releases(releases: &[Bytes]) {
    for release in releases {
        let mut buf = BytesMut::from(&release[..]);
        let msg = Decoder::new(Limits::default())
            .decode(&mut buf)
            .expect("a release message frames")
            .expect("a whole message");
        assert!(buf.is_empty(), "one message per release");
        match msg.kind() {
            MessageKind::Key(key) => assert!(!key.down),
            MessageKind::QemuKey(key) => assert!(!key.down),
            MessageKind::Pointer(pointer) => assert_eq!(pointer.buttons(), 0),
            other => panic!("unexpected release {other:?}"),
        }
    }
}

//! The liveness rule (spec §3.2–3.4, with the fixes of §15 item 7): a browser session is live
//! while its status is not final, it is not deleted, and its lifetime has not run out; a task
//! or workflow run is live while its status is live AND the browser session it occupies is.
//! Pure functions of a row snapshot and "now" (epoch milliseconds).

/// The hard cap on a browser session's lifetime, from its start (spec: 14,400 s).
pub const MAX_LIFETIME_MS: i64 = 14_400 * 1000;

/// A browser session row, as the rule needs it. Times are epoch milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSnapshot {
    /// `pbs_…`.
    pub id: String,
    /// Owner.
    pub organization_id: String,
    /// created|running|failed|completed|timeout|retry.
    pub status: String,
    /// When it started.
    pub started_at: Option<i64>,
    /// Minutes of lifetime from start or last activity; `None` or 0: only the cap applies.
    pub timeout_minutes: Option<i64>,
    /// Last user activity.
    pub last_activity_at: Option<i64>,
    /// When it reached a final status.
    pub completed_at: Option<i64>,
    /// When it was deleted.
    pub deleted_at: Option<i64>,
    /// The task or workflow run occupying it.
    pub runnable_id: Option<String>,
    /// Its RFB address.
    pub vnc_url: Option<String>,
    /// Its DevTools address.
    pub cdp_url: Option<String>,
    /// The incumbent's routed address.
    pub browser_address: Option<String>,
}

/// Why an entity is not live or not ready; `as_str` is the wire reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its status is final (or not one of the live statuses).
    FinalStatus,
    /// The browser session was deleted.
    Deleted,
    /// The browser session's lifetime ran out.
    Expired,
    /// The task or run occupies no browser session (yet).
    NoBrowserSession,
    /// The task's or run's browser session is not live.
    BrowserSessionNotLive,
    /// The browser has no DevTools address yet.
    NoCdpAddress,
    /// The browser has no VNC address yet.
    NoVncAddress,
    /// The row disappeared (or belongs to another organization).
    NotFound,
}

impl Reason {
    /// The machine-readable reason of the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FinalStatus => "final-status",
            Self::Deleted => "deleted",
            Self::Expired => "expired",
            Self::NoBrowserSession => "no-browser-session",
            Self::BrowserSessionNotLive => "browser-session-not-live",
            Self::NoCdpAddress => "no-cdp-address",
            Self::NoVncAddress => "no-vnc-address",
            Self::NotFound => "not-found",
        }
    }
}

/// The answer for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Live and ready.
    Live,
    /// Exists but is not live.
    NotLive(Reason),
    /// Live, but its browser is not provisioned (or it occupies none).
    NotReady(Reason),
}

/// Whether the session itself is alive at `now`, or the reason it is not.
pub fn session_alive(session: &SessionSnapshot, now: i64) -> Result<(), Reason> {
    if session.deleted_at.is_some() {
        return Err(Reason::Deleted);
    }
    if !crate::domain::EntityKind::BrowserSession.is_live_status(&session.status) {
        return Err(Reason::FinalStatus);
    }
    match remaining_ms(session, now) {
        Some(remaining) if remaining <= 0 => Err(Reason::Expired),
        _ => Ok(()),
    }
}

/// Lifetime left at `now` (spec §3.2): `max(base − since_start, base − since_activity)`, then
/// at most `cap − since_start`. `None` when the session has no start time (nothing to judge).
pub fn remaining_ms(session: &SessionSnapshot, now: i64) -> Option<i64> {
    let started = session.started_at?;
    let since_start = now.saturating_sub(started);
    let cap_left = MAX_LIFETIME_MS.saturating_sub(since_start);
    let base = session
        .timeout_minutes
        .filter(|m| *m > 0)
        .map(|m| m.saturating_mul(60_000));
    let Some(base) = base else {
        // No timeout: only the hard cap applies (the incumbent applied none; we keep the cap).
        return Some(cap_left);
    };
    let mut remaining = base.saturating_sub(since_start);
    if let Some(activity) = session.last_activity_at {
        remaining = remaining.max(base.saturating_sub(now.saturating_sub(activity)));
    }
    Some(remaining.min(cap_left))
}

/// Readiness: a DevTools address, plus a VNC address (`vnc_url` or `browser_address`) when the
/// caller streams VNC.
pub fn session_ready(session: &SessionSnapshot, require_vnc: bool) -> Result<(), Reason> {
    if is_blank(&session.cdp_url) {
        return Err(Reason::NoCdpAddress);
    }
    if require_vnc && is_blank(&session.vnc_url) && is_blank(&session.browser_address) {
        return Err(Reason::NoVncAddress);
    }
    Ok(())
}

/// The verdict for a browser session.
pub fn judge_session(session: &SessionSnapshot, now: i64, require_vnc: bool) -> Verdict {
    match session_alive(session, now) {
        Err(reason) => Verdict::NotLive(reason),
        Ok(()) => match session_ready(session, require_vnc) {
            Err(reason) => Verdict::NotReady(reason),
            Ok(()) => Verdict::Live,
        },
    }
}

/// The verdict for a task or workflow run with `status` (live statuses by `kind`), occupying
/// `session` (already resolved by the store).
pub fn judge_runnable(
    kind: crate::domain::EntityKind,
    status: &str,
    session: Option<&SessionSnapshot>,
    now: i64,
    require_vnc: bool,
) -> Verdict {
    if !kind.is_live_status(status) {
        return Verdict::NotLive(Reason::FinalStatus);
    }
    let Some(session) = session else {
        return Verdict::NotReady(Reason::NoBrowserSession);
    };
    if session_alive(session, now).is_err() {
        return Verdict::NotLive(Reason::BrowserSessionNotLive);
    }
    match session_ready(session, require_vnc) {
        Err(reason) => Verdict::NotReady(reason),
        Ok(()) => Verdict::Live,
    }
}

fn is_blank(value: &Option<String>) -> bool {
    value.as_deref().is_none_or(|v| v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EntityKind;

    const MIN: i64 = 60_000;
    const T0: i64 = 1_700_000_000_000;

    fn running(timeout_minutes: Option<i64>) -> SessionSnapshot {
        SessionSnapshot {
            id: "pbs_1".into(),
            organization_id: "org_1".into(),
            status: "running".into(),
            started_at: Some(T0),
            timeout_minutes,
            cdp_url: Some("http://127.0.0.1:9222".into()),
            vnc_url: Some("tcp://127.0.0.1:5900".into()),
            ..Default::default()
        }
    }

    #[test]
    fn timeout_counts_from_start() {
        let s = running(Some(10));
        assert_eq!(judge_session(&s, T0 + 9 * MIN, true), Verdict::Live);
        assert_eq!(
            judge_session(&s, T0 + 10 * MIN, true),
            Verdict::NotLive(Reason::Expired)
        );
    }

    #[test]
    fn activity_extends_the_lifetime() {
        let mut s = running(Some(10));
        s.last_activity_at = Some(T0 + 8 * MIN);
        assert_eq!(judge_session(&s, T0 + 17 * MIN, false), Verdict::Live);
        assert_eq!(
            judge_session(&s, T0 + 18 * MIN, false),
            Verdict::NotLive(Reason::Expired)
        );
    }

    #[test]
    fn the_hard_cap_wins_over_activity() {
        let mut s = running(Some(60));
        s.last_activity_at = Some(T0 + 239 * MIN);
        assert_eq!(remaining_ms(&s, T0 + 239 * MIN), Some(MIN));
        assert_eq!(
            judge_session(&s, T0 + 240 * MIN, false),
            Verdict::NotLive(Reason::Expired)
        );
    }

    #[test]
    fn no_timeout_means_only_the_cap() {
        let s = running(None);
        assert_eq!(judge_session(&s, T0 + 239 * MIN, false), Verdict::Live);
        assert_eq!(
            judge_session(&s, T0 + 240 * MIN, false),
            Verdict::NotLive(Reason::Expired)
        );
        let zero = running(Some(0));
        assert_eq!(judge_session(&zero, T0 + 100 * MIN, false), Verdict::Live);
    }

    #[test]
    fn final_statuses_and_deleted_rows_are_not_live() {
        for status in ["completed", "failed", "timeout"] {
            let mut s = running(None);
            s.status = status.into();
            assert_eq!(
                judge_session(&s, T0, false),
                Verdict::NotLive(Reason::FinalStatus)
            );
        }
        let mut s = running(None);
        s.deleted_at = Some(T0);
        assert_eq!(
            judge_session(&s, T0, false),
            Verdict::NotLive(Reason::Deleted)
        );
    }

    #[test]
    fn readiness_needs_cdp_and_for_vnc_an_address() {
        let mut s = running(None);
        s.vnc_url = None;
        assert_eq!(judge_session(&s, T0, false), Verdict::Live);
        assert_eq!(
            judge_session(&s, T0, true),
            Verdict::NotReady(Reason::NoVncAddress)
        );
        s.browser_address = Some("10.0.0.1:9222".into());
        assert_eq!(judge_session(&s, T0, true), Verdict::Live);
        s.cdp_url = Some(" ".into());
        assert_eq!(
            judge_session(&s, T0, true),
            Verdict::NotReady(Reason::NoCdpAddress)
        );
    }

    #[test]
    fn a_task_needs_its_own_live_status_and_a_live_session() {
        let s = running(Some(10));
        let judge =
            |status, session, now| judge_runnable(EntityKind::Task, status, session, now, true);
        assert_eq!(judge("running", Some(&s), T0), Verdict::Live);
        assert_eq!(
            judge("completed", Some(&s), T0),
            Verdict::NotLive(Reason::FinalStatus)
        );
        assert_eq!(
            judge("queued", None, T0),
            Verdict::NotReady(Reason::NoBrowserSession)
        );
        assert_eq!(
            judge("running", Some(&s), T0 + 11 * MIN),
            Verdict::NotLive(Reason::BrowserSessionNotLive)
        );
        let paused = judge_runnable(EntityKind::WorkflowRun, "paused", Some(&s), T0, true);
        assert_eq!(paused, Verdict::Live);
    }
}

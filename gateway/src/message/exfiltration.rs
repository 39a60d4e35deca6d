//! Recording capture: `begin-exfiltration` opens the executor's `StreamUserEvents` for the
//! session and forwards each event as `exfiltrated-event` (droppable when the viewer lags);
//! `end-exfiltration`, or the socket's end, stops it, which ends the gRPC stream and so removes
//! what the executor injected. `recording-capture-pause`/`-resume` drop events in between.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proto::cdp::v1 as cdp;
use tokio_util::sync::CancellationToken;

use super::handle::audit;
use super::kinds::Outbound;
use super::ops::UNAVAILABLE;
use super::socket::Ctx;

/// A running user-event stream.
pub struct Running {
    stop: CancellationToken,
    paused: Arc<AtomicBool>,
}

impl Running {
    /// Ends the stream.
    pub fn stop(self) {
        self.stop.cancel();
    }
}

/// Starts the stream unless one runs already (the incumbent frontend re-sends it on every
/// socket change).
pub async fn begin(ctx: &Arc<Ctx>) {
    let kind = "begin-exfiltration";
    let Some(mut executor) = ctx.state.executor.clone() else {
        ctx.outbox
            .send(Outbound::error(Some(kind), UNAVAILABLE))
            .await;
        return;
    };
    let mut slot = ctx.exfiltration.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_some() {
        return;
    }
    let stop = ctx.close.token().child_token();
    let paused = Arc::new(AtomicBool::new(false));
    *slot = Some(Running {
        stop: stop.clone(),
        paused: paused.clone(),
    });
    drop(slot);
    audit(ctx, "begin-exfiltration");
    let ctx = Arc::clone(ctx);
    ctx.state.tracker.clone().spawn(async move {
        let target = Some(cdp::BrowserTarget {
            organization_id: ctx.auth.key.entity.organization_id.clone(),
            browser_session_id: ctx.auth.session.browser_session_id.clone(),
            cdp_url: String::new(),
        });
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = tokio::time::timeout(ctx.state.config.executor_timeout, executor.stream_user_events(cdp::StreamUserEventsRequest { target })) => opened,
        };
        let mut events = match opened {
            Ok(Ok(response)) => response.into_inner(),
            failed => {
                let code = failed.ok().and_then(Result::err).map(|s| s.code());
                tracing::warn!(grpc.code = ?code, "user-event stream not opened");
                forget(&ctx, &paused);
                ctx.outbox.send(Outbound::error(Some(kind), "Failed to start recording capture.")).await;
                return;
            }
        };
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = events.message() => event,
            };
            match event {
                Ok(Some(event)) if !paused.load(Ordering::Relaxed) => {
                    ctx.outbox.send(exfiltrated(event)).await;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    tracing::info!("user-event stream ended");
                    forget(&ctx, &paused);
                    return;
                }
            }
        }
    });
}

/// Clears the slot if it still holds this stream (so a later `begin-exfiltration` restarts).
fn forget(ctx: &Ctx, paused: &Arc<AtomicBool>) {
    let mut slot = ctx.exfiltration.lock().unwrap_or_else(|p| p.into_inner());
    if slot
        .as_ref()
        .is_some_and(|r| Arc::ptr_eq(&r.paused, paused))
    {
        *slot = None;
    }
}

/// Pauses or resumes forwarding (events in between are dropped, not buffered).
pub fn set_paused(ctx: &Ctx, paused: bool) {
    if let Some(running) = ctx
        .exfiltration
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        running.paused.store(paused, Ordering::Relaxed);
    }
}

/// The executor's event in the incumbent's `exfiltrated-event` shape.
pub fn exfiltrated(event: cdp::UserEvent) -> Outbound {
    let params = match serde_json::from_str::<serde_json::Value>(&event.params_json) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    };
    // The incumbent's in-page capture reported through the console binding.
    let source = match event.source.as_str() {
        "page" => "console",
        "cdp" => "cdp",
        _ => "[not-specified]",
    };
    let timestamp = event
        .timestamp
        .map_or_else(now_seconds, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9);
    Outbound::ExfiltratedEvent {
        event_name: event.event_name,
        params,
        source: source.to_owned(),
        timestamp,
    }
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_events_become_exfiltrated_events_with_object_params_and_epoch_seconds() {
        let event = cdp::UserEvent {
            sequence: 1,
            event_name: "click".into(),
            params_json: r##"{"selector":"#go"}"##.into(),
            source: "page".into(),
            tab_id: "T".into(),
            url: "https://a.example/".into(),
            timestamp: Some(prost_types::Timestamp {
                seconds: 10,
                nanos: 500_000_000,
            }),
        };
        let Outbound::ExfiltratedEvent {
            event_name,
            params,
            source,
            timestamp,
        } = exfiltrated(event)
        else {
            panic!("event")
        };
        assert_eq!(
            (event_name.as_str(), source.as_str(), timestamp),
            ("click", "console", 10.5)
        );
        assert_eq!(params, serde_json::json!({"selector": "#go"}));
    }

    #[test]
    fn params_that_are_not_an_object_become_an_empty_object() {
        let event = cdp::UserEvent {
            event_name: "focus".into(),
            params_json: "[1]".into(),
            source: "cdp".into(),
            ..Default::default()
        };
        let Outbound::ExfiltratedEvent { params, source, .. } = exfiltrated(event) else {
            panic!("event")
        };
        assert_eq!(params, serde_json::json!({}));
        assert_eq!(source, "cdp");
    }
}

//! Recording capture: `begin-exfiltration` opens the executor's `StreamUserEvents` for the
//! session and forwards each event as `exfiltrated-event` (droppable when the viewer lags);
//! `end-exfiltration`, or the socket's end, stops it, which ends the gRPC stream and so removes
//! what the executor injected. `recording-capture-pause`/`-resume` drop events in between.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use proto::cdp::v1 as cdp;
use service_kit::sync::lock;
use tracing::Instrument;

use super::ctx::{Ctx, UserEvents};
use super::kinds::Outbound;
use crate::executor::{self, UNAVAILABLE};

/// Starts the stream unless one runs already (the incumbent frontend re-sends it on every
/// socket change).
pub async fn begin(ctx: &Arc<Ctx>) {
    let kind = "begin-exfiltration";
    if !ctx.state.executor.configured() {
        ctx.outbox
            .send(Outbound::error(Some(kind), UNAVAILABLE))
            .await;
        return;
    }
    let mut slot = lock(&ctx.exfiltration);
    if slot.is_some() {
        return;
    }
    let stop = ctx.close.token().child_token();
    let paused = Arc::new(AtomicBool::new(false));
    *slot = Some(UserEvents {
        stop: stop.clone(),
        paused: paused.clone(),
    });
    drop(slot);
    ctx.audit("begin-exfiltration");
    let tracker = ctx.state.tracker.clone();
    let ctx = Arc::clone(ctx);
    let span = tracing::info_span!("message.user_events");
    let task = async move {
        let request = cdp::StreamUserEventsRequest {
            target: executor::target(ctx.auth.session_key()),
        };
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = ctx.state.executor.call("StreamUserEvents", |mut c| async move {
                c.stream_user_events(request).await
            }) => opened,
        };
        let mut events = match opened {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(error = ?error, "user-event stream not opened");
                forget(&ctx, &paused);
                ctx.outbox
                    .send(Outbound::error(
                        Some(kind),
                        "Failed to start recording capture.",
                    ))
                    .await;
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
    };
    tracker.spawn(task.instrument(span));
}

/// Clears the slot if it still holds this stream (so a later `begin-exfiltration` restarts).
fn forget(ctx: &Ctx, paused: &Arc<AtomicBool>) {
    let mut slot = lock(&ctx.exfiltration);
    if slot
        .as_ref()
        .is_some_and(|r| Arc::ptr_eq(&r.paused, paused))
    {
        *slot = None;
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

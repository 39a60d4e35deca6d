//! Side effects of VNC input, in their own task so the input pump never waits: Copy reads
//! the selection through the executor and sends `copied-text` to the paired Message socket;
//! AskForClipboard tells the paired Message socket to ask the viewer for its clipboard.

use proto::cdp::v1 as cdp;
use tokio::sync::mpsc;

use super::filter::Effect;
use crate::control::PairEvent;
use crate::entity::ChannelKind;
use crate::state::AppState;
use crate::stream::Authorized;

/// Handles effects until the relay drops its sender.
pub async fn run(state: AppState, auth: Authorized, mut effects: mpsc::Receiver<Effect>) {
    while let Some(effect) = effects.recv().await {
        let event = match effect {
            Effect::Copy => match copy(&state, &auth).await {
                Some(text) => PairEvent::CopiedText(text),
                None => continue,
            },
            Effect::AskForClipboard => PairEvent::AskForClipboard,
        };
        tracing::info!(audit = effect_name(&effect), "vnc input side effect");
        match state
            .bus
            .send_to_pair(&auth.key, ChannelKind::Message, event)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::info!("no message socket paired; side effect dropped"),
            Err(error) => tracing::warn!(error.message = %error, "side effect not delivered"),
        }
    }
}

fn effect_name(effect: &Effect) -> &'static str {
    match effect {
        Effect::Copy => "copy",
        Effect::AskForClipboard => "ask-for-clipboard",
    }
}

/// The selected text, or `None` when there is no executor or it failed (logged).
async fn copy(state: &AppState, auth: &Authorized) -> Option<String> {
    let mut executor = state.executor.clone()?;
    let request = cdp::GetSelectedTextRequest {
        target: Some(cdp::BrowserTarget {
            organization_id: auth.key.entity.organization_id.clone(),
            browser_session_id: auth.session.browser_session_id.clone(),
            cdp_url: String::new(),
        }),
    };
    let call = executor.get_selected_text(request);
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(state.config.executor_timeout, call).await;
    state
        .metrics
        .executor_call("GetSelectedText", started.elapsed().as_secs_f64());
    match result {
        Ok(Ok(response)) => {
            let text = response.into_inner().text;
            tracing::info!(copy.len = text.len(), "selection copied");
            Some(text)
        }
        Ok(Err(status)) => {
            tracing::warn!(grpc.code = ?status.code(), "GetSelectedText failed");
            None
        }
        Err(_) => {
            tracing::warn!("GetSelectedText timed out");
            None
        }
    }
}

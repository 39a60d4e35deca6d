//! Side effects of VNC (and CDP) input, in their own task so the input pump never waits: Copy reads
//! the selection through the executor and sends `copied-text` to the paired Message socket;
//! AskForClipboard tells the paired Message socket to ask the viewer for its clipboard.

use proto::cdp::v1 as cdp;
use tokio::sync::mpsc;

use super::filter::Effect;
use crate::audit;
use crate::control::PairEvent;
use crate::entity::ChannelKind;
use crate::executor::{self, CallError};
use crate::state::AppState;
use crate::stream::Authorized;

/// Handles effects until the sender is dropped; `source` names the channel in audit events.
pub async fn run(
    state: AppState,
    auth: Authorized,
    mut effects: mpsc::Receiver<Effect>,
    source: &'static str,
) {
    while let Some(effect) = effects.recv().await {
        let event = match effect {
            Effect::Copy => match copy(&state, &auth).await {
                Some(text) => PairEvent::CopiedText(text),
                None => continue,
            },
            Effect::AskForClipboard => PairEvent::AskForClipboard,
        };
        audit::record(
            effect_name(&effect),
            &auth.session_key(),
            Some(auth.key.client_id.as_str()),
            source,
        );
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
    let request = cdp::GetSelectedTextRequest {
        target: executor::target(auth.session_key()),
    };
    let result = state
        .executor
        .call("GetSelectedText", |mut client| async move {
            client.get_selected_text(request).await
        })
        .await;
    match result {
        Ok(response) => {
            tracing::info!(copy.len = response.text.len(), "selection copied");
            Some(response.text)
        }
        Err(CallError::Unavailable) => None,
        Err(CallError::Status(code)) => {
            tracing::warn!(grpc.code = ?code, "GetSelectedText failed");
            None
        }
        Err(CallError::Timeout) => {
            tracing::warn!("GetSelectedText timed out");
            None
        }
    }
}

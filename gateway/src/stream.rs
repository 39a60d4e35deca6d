//! What every stream socket (VNC, Message, screencast, CDP input) does before it streams: read `client_id` and
//! the credential from the upgrade request, authenticate through verification, check a
//! ticket's binding, verify the entity. Each failure is a [`CloseReason`] of PROTOCOL §2.
//! [`serve`] wraps both channels' sockets: span, gauge, authorization, close counting.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::SinkExt;
use secrecy::SecretString;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use crate::close::CloseReason;
use crate::control::{ControlState, Registration};
use crate::entity::{
    ChannelKind, ClientId, EntityKey, EntityKind, Scope, SessionKey, StreamKey, MAX_ID_LEN,
};
use crate::linger;
use crate::org_sockets::OrgSocket;
use crate::state::AppState;
use crate::verify::{Credential, Identity, LiveSession};

/// The parts of an upgrade request a stream socket needs.
#[derive(Clone)]
pub struct StreamRequest {
    /// Entity kind from the path.
    pub kind: EntityKind,
    /// Entity id from the path.
    pub entity_id: String,
    /// Decoded query parameters (the last value of a repeated name wins).
    pub query: HashMap<String, String>,
    /// The `x-api-key` header, if any.
    pub header_api_key: Option<String>,
    /// The User-Agent header, if any (platform detection).
    pub user_agent: Option<String>,
    /// The client's address (the peer, or behind a trusted proxy its `X-Forwarded-For`).
    pub client_address: IpAddr,
}

impl std::fmt::Debug for StreamRequest {
    // Never print the query or the header: they carry credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRequest")
            .field("kind", &self.kind)
            .field("entity_id", &self.entity_id)
            .finish_non_exhaustive()
    }
}

impl StreamRequest {
    /// The `client_id`, when present and valid ([`ClientId::parse`]).
    pub fn client_id(&self) -> Option<ClientId> {
        self.query.get("client_id").and_then(|c| ClientId::parse(c))
    }

    /// The credential: `apikey` wins, then `token` (`Bearer …` only), `ticket`, header
    /// `x-api-key`. `Err` when a token is not of the Bearer scheme.
    pub fn credential(&self) -> Result<Option<Credential>, CloseReason> {
        let secret = |s: &str| SecretString::from(s.to_owned());
        if let Some(key) = self.query.get("apikey").filter(|k| !k.is_empty()) {
            return Ok(Some(Credential::ApiKey(secret(key))));
        }
        if let Some(token) = self.query.get("token").filter(|t| !t.is_empty()) {
            return match token.strip_prefix("Bearer ") {
                Some(jwt) if !jwt.is_empty() => Ok(Some(Credential::Bearer(secret(jwt)))),
                _ => Err(CloseReason::AuthFailed),
            };
        }
        if let Some(ticket) = self.query.get("ticket").filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::Ticket(secret(ticket))));
        }
        Ok(self
            .header_api_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| Credential::ApiKey(secret(k))))
    }
}

/// A socket that may stream.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// Who (organization, ticket grant).
    pub identity: Identity,
    /// The stream key (organization, entity, client_id).
    pub key: StreamKey,
    /// The live browser session.
    pub session: LiveSession,
}

impl Authorized {
    /// Whether this socket may drive the browser under `state` ([`ControlState::may_drive`]).
    pub fn may_drive(&self, state: &ControlState) -> bool {
        state.may_drive(&self.key.client_id, self.view_only())
    }

    /// A view credential: never control (PROTOCOL §4 "Scopes").
    pub fn view_only(&self) -> bool {
        self.key.view_only()
    }

    /// The browser session control belongs to.
    pub fn session_key(&self) -> SessionKey {
        SessionKey {
            organization_id: self.key.entity.organization_id.clone(),
            browser_session_id: self.session.browser_session_id.clone(),
        }
    }
}

/// client_id → credential → authenticate → ticket binding → initial verification.
pub async fn authorize(
    state: &AppState,
    request: &StreamRequest,
    require_vnc: bool,
) -> Result<Authorized, CloseReason> {
    let client_id = request.client_id().ok_or(CloseReason::ClientIdMissing)?;
    if request.entity_id.is_empty() || request.entity_id.len() > MAX_ID_LEN {
        return Err(CloseReason::EntityNotFound);
    }
    let credential = request.credential()?.ok_or(CloseReason::AuthFailed)?;
    let identity = state
        .verifier
        .authenticate(&credential)
        .await
        .map_err(|e| e.close_reason())?;
    let mut scope = Scope::Control;
    if let Some(grant) = &identity.ticket {
        if grant.entity != (request.kind, request.entity_id.clone()) {
            return Err(CloseReason::AuthFailed);
        }
        if grant.view_only {
            scope = Scope::View;
        }
    }
    let entity = EntityKey {
        organization_id: identity.organization_id.clone(),
        kind: request.kind,
        id: request.entity_id.clone(),
    };
    let session = state
        .verifier
        .verify(&entity, require_vnc)
        .await
        .map_err(|e| e.close_reason())?;
    Ok(Authorized {
        identity,
        key: StreamKey {
            entity,
            client_id,
            scope,
        },
        session,
    })
}

/// Serves one upgraded socket of `channel` to its end: under one span (the entity, then the
/// client, organization and browser session once authorized) and the open-socket gauge,
/// authorize (a refusal is sent as the close reason), then `stream` the authorized socket.
/// Every close reason, refusal or not, is counted and logged here, once.
///
/// Not an `async fn`: that would keep a second copy of the arguments beside the instrumented
/// block's for the socket's whole life.
pub fn serve<F, Fut>(
    state: AppState,
    socket: WebSocket,
    request: StreamRequest,
    channel: ChannelKind,
    stream: F,
) -> impl Future<Output = ()>
where
    F: FnOnce(AppState, WebSocket, StreamRequest, Authorized) -> Fut,
    Fut: Future<Output = CloseReason>,
{
    let span = tracing::info_span!(
        "stream",
        channel = channel.as_str(),
        entity.kind = request.kind.as_str(),
        entity.id = %request.entity_id,
        client.id = tracing::field::Empty,
        organization.id = tracing::field::Empty,
        browser_session.id = tracing::field::Empty,
    );
    async move {
        let _gauge = state.metrics.socket_opened(channel.as_str());
        // An async fn reserves the largest of its phases for its whole life, and a socket
        // lives for hours: authorization (gRPC calls) and a failure's close are boxed, so
        // they take memory only while they run and an idle socket holds only its streaming
        // state (about a third of the size, measured by relay-bench's idle pairs).
        let authorized = Box::pin(admit(&state, &request, channel)).await;
        let reason = match authorized {
            Ok((auth, _permit)) => {
                let span = tracing::Span::current();
                span.record("client.id", auth.key.client_id.as_str());
                span.record("organization.id", auth.key.entity.organization_id.as_str());
                span.record(
                    "browser_session.id",
                    auth.session.browser_session_id.as_str(),
                );
                stream(state.clone(), socket, request, auth).await
            }
            Err(reason) => {
                let reason = match channel {
                    ChannelKind::CdpInput => reason.for_cdp_input(request.kind),
                    _ => reason,
                };
                Box::pin(close_with(socket, reason)).await;
                reason
            }
        };
        state.metrics.close(reason.as_str());
        tracing::info!(close.reason = reason.as_str(), "stream socket closed");
    }
    .instrument(span)
}

/// Admission: authorize within the bounded pool of sockets in authentication (unless the
/// client address spent its failed authentications: `rate-limited`), then take a place in the
/// organization's count and a stream permit (either full: `rate-limited`). A socket whose credential fails never holds a stream permit, not even while
/// its close handshake lingers, so a flood of bad credentials cannot starve authorized sockets.
async fn admit(
    state: &AppState,
    request: &StreamRequest,
    channel: ChannelKind,
) -> Result<(Authorized, Admission), CloseReason> {
    let authorized = {
        let Ok(_authenticating) = state.authenticating.clone().try_acquire_owned() else {
            return Err(CloseReason::RateLimited);
        };
        // An address that spent its failed authentications is refused before verification
        // is asked, whatever credential it brings now.
        if !state.edge_limits.may_authenticate(request.client_address) {
            return Err(CloseReason::RateLimited);
        }
        let authorized = authorize(state, request, channel == ChannelKind::Vnc).await;
        if authorized.as_ref().err() == Some(&CloseReason::AuthFailed) {
            state
                .edge_limits
                .failed_authentication(request.client_address);
        }
        authorized?
    };
    let org = state
        .org_sockets
        .acquire(&authorized.key.entity.organization_id)
        .ok_or(CloseReason::RateLimited)?;
    let stream = state
        .sockets
        .clone()
        .try_acquire_owned()
        .map_err(|_| CloseReason::RateLimited)?;
    Ok((
        authorized,
        Admission {
            _stream: stream,
            _org: org,
        },
    ))
}

/// What an admitted socket holds while it streams: a stream permit of the replica and a place
/// in its organization's count. Only dropping it matters: both are given back.
pub struct Admission {
    _stream: OwnedSemaphorePermit,
    _org: OrgSocket,
}

/// Registers an authorized socket of `channel` on the control bus; `bus-unavailable` (logged)
/// when the bus cannot be reached.
pub async fn register(
    state: &AppState,
    auth: &Authorized,
    channel: ChannelKind,
) -> Result<Registration, CloseReason> {
    state
        .bus
        .register(auth.key.clone(), channel, auth.session_key())
        .await
        .map_err(|error| {
            tracing::warn!(error.message = %error, "socket not registered");
            CloseReason::BusUnavailable
        })
}

/// Ends a socket whose halves the channel holds: its Close frame with `reason`, then
/// (bounded) the client's Close ([`crate::linger`]).
pub async fn close_split(
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
    reason: CloseReason,
) {
    let deadline = linger::deadline();
    let frame = CloseFrame {
        code: reason.code(),
        reason: reason.as_str().into(),
    };
    let sent = tokio::time::timeout_at(deadline, sink.send(Message::Close(Some(frame)))).await;
    if matches!(sent, Ok(Ok(()))) {
        let is_close = |m: &Message| matches!(m, Message::Close(_));
        linger::until_client_closes(stream, is_close, deadline).await;
    }
}

/// Closes a socket that never streamed, with `reason`, and waits (bounded) for the client's
/// Close before dropping it ([`crate::linger`]).
pub async fn close_with(mut socket: WebSocket, reason: CloseReason) {
    let frame = CloseFrame {
        code: reason.code(),
        reason: reason.as_str().into(),
    };
    let deadline = linger::deadline();
    let sent = tokio::time::timeout_at(deadline, socket.send(Message::Close(Some(frame)))).await;
    if matches!(sent, Ok(Ok(()))) {
        let is_close = |m: &Message| matches!(m, Message::Close(_));
        linger::until_client_closes(&mut socket, is_close, deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn request(pairs: &[(&str, &str)], header: Option<&str>) -> StreamRequest {
        StreamRequest {
            kind: EntityKind::BrowserSession,
            entity_id: "pbs_1".into(),
            query: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            header_api_key: header.map(str::to_owned),
            user_agent: None,
            client_address: std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }

    fn shown(c: Option<Credential>) -> Option<(&'static str, String)> {
        c.map(|c| match c {
            Credential::ApiKey(k) => ("key", k.expose_secret().to_owned()),
            Credential::Bearer(k) => ("bearer", k.expose_secret().to_owned()),
            Credential::Ticket(k) => ("ticket", k.expose_secret().to_owned()),
        })
    }

    #[test]
    fn the_api_key_wins_over_a_token_and_the_header_is_the_last_resort() {
        let both = request(&[("apikey", "k"), ("token", "Bearer j")], Some("h"));
        assert_eq!(shown(both.credential().unwrap()), Some(("key", "k".into())));
        let bearer = request(&[("token", "Bearer j")], None);
        assert_eq!(
            shown(bearer.credential().unwrap()),
            Some(("bearer", "j".into()))
        );
        let ticket = request(&[("ticket", "t")], Some("h"));
        assert_eq!(
            shown(ticket.credential().unwrap()),
            Some(("ticket", "t".into()))
        );
        assert_eq!(
            shown(request(&[], Some("h")).credential().unwrap()),
            Some(("key", "h".into()))
        );
        assert!(request(&[], None).credential().unwrap().is_none());
    }

    #[test]
    fn a_token_without_the_bearer_scheme_fails_authentication() {
        assert_eq!(
            request(&[("token", "Basic x")], None).credential().err(),
            Some(CloseReason::AuthFailed)
        );
    }

    #[test]
    fn client_ids_must_be_present_and_at_most_128_characters() {
        assert_eq!(
            request(&[("client_id", "abc")], None).client_id(),
            ClientId::parse("abc")
        );
        assert_eq!(request(&[("client_id", "")], None).client_id(), None);
        assert_eq!(request(&[], None).client_id(), None);
        let long = "x".repeat(129);
        assert_eq!(request(&[("client_id", &long)], None).client_id(), None);
    }
}

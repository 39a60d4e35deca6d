//! The upgrade every stream socket shares (PROTOCOL §2): a [`StreamChannel`] names its paths,
//! subprotocols, message cap and per-socket handler; [`routes`] turns it into axum routes whose
//! handler refuses a disallowed Origin, then completes the upgrade and either closes at once
//! (`draining` during shutdown) or hands the socket to the channel under the task tracker
//! (which admits it: [`crate::stream::serve`]). Channels depend on this module, never the other way.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ws::WebSocket;
use axum::extract::{ConnectInfo, Path, RawQuery, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tracing::Instrument;

use crate::close::CloseReason;
use crate::config::Config;
use crate::edge_limits::client_address;
use crate::entity::EntityKind;
use crate::state::AppState;
use crate::stream::{close_with, StreamRequest};

/// The WebSocket read buffer of a stream socket, which is also the most one read takes. What
/// a viewer sends is small (input events, JSON requests); a larger message reserves its own
/// length while it is read, only paying one read per 2 KiB. The library zero-fills the whole
/// buffer at the first read, so its size is resident on every socket: the default (128 KiB)
/// would be most of an idle socket's memory, 8 KiB was a quarter of an idle pair's.
const READ_BUFFER: usize = 2 * 1024;

/// One stream channel (VNC, Message…): what differs between their upgrades.
pub trait StreamChannel: Send + Sync + 'static {
    /// Its paths (PROTOCOL §2), each with the entity kind its `{id}` names.
    const PATHS: &'static [(&'static str, EntityKind)];
    /// Subprotocols accepted (the first one the client also offers is selected).
    const PROTOCOLS: &'static [&'static str];
    /// The WebSocket layer's hard cap on one message.
    fn max_message_size(config: &Config) -> usize;
    /// Serves one upgraded socket to its end.
    fn serve(
        state: AppState,
        socket: WebSocket,
        request: StreamRequest,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// The routes of channel `C` (merge into the gateway's router).
pub fn routes<C: StreamChannel>() -> Router<AppState> {
    C::PATHS
        .iter()
        .fold(Router::new(), |router, &(path, kind)| {
            let handler = move |state: State<AppState>,
                                ConnectInfo(peer): ConnectInfo<SocketAddr>,
                                Path(id): Path<String>,
                                RawQuery(query): RawQuery,
                                headers: HeaderMap,
                                ws: WebSocketUpgrade| async move {
                let client = client_address(peer.ip(), &headers, &state.config.trusted_proxies);
                upgrade::<C>(state.0, kind, id, query, (&headers, client), ws)
            };
            router.route(path, get(handler))
        })
}

fn upgrade<C: StreamChannel>(
    state: AppState,
    kind: EntityKind,
    id: String,
    query: Option<String>,
    (headers, client): (&HeaderMap, IpAddr),
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state.config.allowed_origins, headers) {
        state.metrics.close(CloseReason::OriginNotAllowed.as_str());
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let request = stream_request(kind, id, query, headers, client);
    let tracker = state.tracker.clone();
    ws.protocols(C::PROTOCOLS.iter().copied())
        .read_buffer_size(READ_BUFFER)
        .max_message_size(C::max_message_size(&state.config))
        .on_upgrade(move |socket| {
            tracker.track_future(
                async move {
                    if state.shutdown.is_cancelled() {
                        return close_with(socket, CloseReason::Draining).await;
                    }
                    // Boxed: the task then holds only the socket's own future, not a second
                    // reservation of its size in axum's upgrade wrapper (see `crate::stream`).
                    Box::pin(C::serve(state, socket, request)).await;
                }
                .in_current_span(),
            )
        })
}

/// Whether the upgrade's Origin may open a stream socket (an absent Origin is a non-browser
/// client, which Origin checks cannot constrain anyway).
pub fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => allowed.iter().any(|a| a == origin || a == "*"),
    }
}

/// The [`StreamRequest`] of an upgrade.
fn stream_request(
    kind: EntityKind,
    entity_id: String,
    query: Option<String>,
    headers: &HeaderMap,
    client_address: IpAddr,
) -> StreamRequest {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    StreamRequest {
        kind,
        entity_id,
        query,
        header_api_key: header("x-api-key"),
        user_agent: header("user-agent"),
        client_address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_only_when_a_list_is_configured() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(origin_allowed(&[], &headers));
        assert!(!origin_allowed(&["https://app.example".into()], &headers));
        headers.insert(header::ORIGIN, "https://app.example".parse().unwrap());
        assert!(origin_allowed(&["https://app.example".into()], &headers));
        assert!(origin_allowed(
            &["https://app.example".into()],
            &HeaderMap::new()
        ));
    }
}

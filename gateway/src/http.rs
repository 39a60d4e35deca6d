//! The gateway's HTTP router: the stream channels' routes (each channel names its own, see
//! [`crate::upgrade`]), stream tickets, `/healthz`, `/readyz`, `/metrics`, and the viewer page
//! directory at `/`. Nothing here serves a socket.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::services::ServeDir;

use crate::state::AppState;
use crate::upgrade::routes;

/// Every HTTP route of the gateway.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/stream/tickets", post(crate::tickets::create_ticket))
        .merge(routes::<crate::vnc::VncChannel>())
        .merge(routes::<crate::message::MessageChannel>());
    if state.config.web_root.is_dir() {
        router = router.fallback_service(ServeDir::new(&state.config.web_root));
    }
    router.with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    if !state.verifier.reachable().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "verification unreachable").into_response();
    }
    (StatusCode::OK, "ready").into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

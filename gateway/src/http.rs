//! The gateway's HTTP router: the stream channels' routes (each channel names its own, see
//! [`crate::upgrade`]), stream tickets, `/healthz`, `/readyz`, `/metrics`, and the viewer page
//! directory at `/` with its framing policy and `/viewer-config.json`. Nothing here serves a
//! socket.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;
use crate::upgrade::routes;

/// Every HTTP route of the gateway.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/stream/tickets", post(crate::tickets::create_ticket))
        .route("/v1/stream/links", post(crate::links::create_link))
        .route(
            "/v1/stream/links/{link_id}",
            axum::routing::delete(crate::links::revoke_link),
        )
        .merge(routes::<crate::vnc::VncChannel>())
        .merge(routes::<crate::message::MessageChannel>())
        .merge(routes::<crate::screencast::ScreencastChannel>())
        .merge(routes::<crate::cdp_input::CdpInputChannel>());
    if state.config.web_root.is_dir() {
        let mut page = Router::new()
            .route("/viewer-config.json", get(viewer_config))
            .fallback_service(ServeDir::new(&state.config.web_root));
        // Every response of the page's directory says who may frame it (`crate::embedding`).
        for (name, value) in crate::embedding::headers(&state.config.frame_ancestors) {
            page = page.layer(SetResponseHeaderLayer::overriding(name, value));
        }
        router = router.merge(page);
    }
    router.with_state(state)
}

async fn viewer_config(State(state): State<AppState>) -> Response {
    axum::Json(crate::embedding::viewer_config(
        &state.config.frame_ancestors,
    ))
    .into_response()
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

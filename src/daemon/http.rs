//! The daemon's one listener: `/metrics`, `/healthz`, `/readyz`, `/status` (and the webhooks).

use super::Daemon;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route(
            "/webhooks/{provider}/{workspace}",
            post(super::webhooks::receive),
        )
        .layer(DefaultBodyLimit::max(super::webhooks::MAX_BODY_BYTES))
        .with_state(daemon)
}

async fn metrics(State(d): State<Arc<Daemon>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        d.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(d): State<Arc<Daemon>>) -> Response {
    match d.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("directory unreachable: {e}\n"),
        )
            .into_response(),
    }
}

async fn status(State(d): State<Arc<Daemon>>) -> Response {
    let config = d.config();
    match crate::status::entries(&config, &d.store).await {
        Ok(entries) => axum::Json(entries).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

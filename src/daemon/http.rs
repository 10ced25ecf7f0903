//! The daemon's one listener: `/metrics`, `/healthz`, `/readyz`, `/status` (and the webhooks).
//!
//! Served by its own accept loop rather than `axum::serve`, for the limits an unauthenticated
//! listener needs: at most `max_connections` open connections (more are closed as accepted),
//! and headers that must arrive within `read_timeout_seconds`. The webhook route bounds bodies
//! itself (see [`super::webhooks`]).

use super::Daemon;
use super::webhooks::Peer;
use crate::config::ListenerLimits;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

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
        .with_state(daemon)
}

/// Serves `app` on `listener` until `stop`, within `limits`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    stop: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut refused: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    max_connections = limits.max_connections,
                    "connection refused: too many open connections"
                );
            }
            drop(stream);
            continue;
        };
        let service =
            hyper_util::service::TowerToHyperService::new(app.clone().layer(Extension(Peer(peer))));
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.read_timeout);
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
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

async fn healthz(State(d): State<Arc<Daemon>>) -> Response {
    match d.health() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {problem}\n"),
        )
            .into_response(),
    }
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
        Ok(entries) => {
            // The pause lives in the daemon, so the daemon adds it to what the directory says.
            let mut value = serde_json::to_value(entries).unwrap_or_default();
            if let Some(list) = value.as_array_mut() {
                for entry in list {
                    let name = entry
                        .get("workspace")
                        .and_then(|w| w.as_str())
                        .unwrap_or_default()
                        .to_string();
                    if let Some(object) = entry.as_object_mut() {
                        object.insert(
                            "paused".to_string(),
                            d.webhooks
                                .flag(&name)
                                .map_or(serde_json::Value::Null, Into::into),
                        );
                    }
                }
            }
            axum::Json(value).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

//! The `/_sim/` control API: the same knobs as [`super::SimHandle`], over HTTP, for the
//! `orgsync-sim` binary and tests in other languages or processes. Calls here need no token and
//! are never counted in the stats.
//!
//! | call | body | does |
//! |---|---|---|
//! | `GET /_sim/stats` | | [`super::Stats`] as JSON |
//! | `DELETE /_sim/stats` | | resets the counters |
//! | `POST /_sim/faults` | [`super::FaultRule`] | adds a fault |
//! | `DELETE /_sim/faults` | | removes every fault |
//! | `PUT /_sim/latency` | `{"ms": N}` | sets the latency |
//! | `PUT /_sim/rate_limit` | `{"limit": N, "window_secs": S}` | sets budgets, resets windows |
//! | `POST /_sim/rate_limit/reset` | | starts a fresh window for every token |
//! | `POST /_sim/clock/advance` | `{"secs": N}` | moves the simulated clock |
//! | `PUT /_sim/webhook` | `{"url": …, "secret": …}` or `null` | sets the delivery target |
//! | `GET /_sim/deliveries` | | every delivery so far |
//!
//! Provider modules add their own calls (e.g. `POST /_sim/github/mutations`).

use super::{FaultRule, SimHandle, WebhookTarget};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
struct Latency {
    ms: u64,
}

#[derive(Deserialize)]
struct RateLimit {
    limit: u64,
    window_secs: u64,
}

#[derive(Deserialize)]
struct Advance {
    secs: u64,
}

pub(crate) fn routes(infra: SimHandle) -> axum::Router {
    Router::new()
        .route(
            "/_sim/stats",
            get(|State(i): State<SimHandle>| async move { Json(i.stats()) }).delete(
                |State(i): State<SimHandle>| async move {
                    i.reset_stats();
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sim/faults",
            post(
                |State(i): State<SimHandle>, Json(rule): Json<FaultRule>| async move {
                    i.add_fault(rule);
                    StatusCode::NO_CONTENT
                },
            )
            .delete(|State(i): State<SimHandle>| async move {
                i.clear_faults();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_sim/latency",
            put(
                |State(i): State<SimHandle>, Json(l): Json<Latency>| async move {
                    i.set_latency(Duration::from_millis(l.ms));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sim/rate_limit",
            put(
                |State(i): State<SimHandle>, Json(r): Json<RateLimit>| async move {
                    i.set_rate_limit(r.limit, Duration::from_secs(r.window_secs));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sim/rate_limit/reset",
            post(|State(i): State<SimHandle>| async move {
                i.reset_budgets();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_sim/clock/advance",
            post(
                |State(i): State<SimHandle>, Json(a): Json<Advance>| async move {
                    i.advance_clock(Duration::from_secs(a.secs));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sim/webhook",
            put(
                |State(i): State<SimHandle>, Json(t): Json<Option<WebhookTarget>>| async move {
                    i.set_webhook(t);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sim/deliveries",
            get(|State(i): State<SimHandle>| async move { Json(i.deliveries()) }),
        )
        .with_state(infra)
}

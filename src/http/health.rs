//! Liveness, readiness (the database answers and the instance is not draining) and
//! Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::error::ErrorCode;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.shutdown.is_cancelled() {
        // Load balancers should send nobody new while this instance drains.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "draining", "error": {"code": ErrorCode::Unavailable, "message": "this instance is shutting down"}}),
            ),
        );
    }
    match state.health.database().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e.chain(), "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "error": {"code": ErrorCode::Unavailable, "message": "the database does not answer"}}),
                ),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

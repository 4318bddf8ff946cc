//! The analyst's side: presence, the queue and their active chats.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::availability::PresenceStatus;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/analyst/status", put(set_status))
        .route("/analyst/queue", get(queue))
        .route("/analyst/chats", get(my_chats))
}

#[derive(Deserialize)]
struct SetStatus {
    status: PresenceStatus,
    max_chats: Option<u32>,
}

async fn set_status(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<SetStatus>,
) -> Result<Json<Value>, ApiError> {
    let (online, max_chats) = state
        .engine
        .set_presence(&user, body.status.is_online(), body.max_chats)
        .await?;
    let status = if online {
        PresenceStatus::Online
    } else {
        PresenceStatus::Offline
    };
    Ok(Json(json!({"status": status, "max_chats": max_chats})))
}

async fn queue(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.engine.queue(&user).await?)))
}

async fn my_chats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.engine.analyst_chats(&user).await?)))
}

//! The analyst's side: presence, the queue, their active chats and the team's load.

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
        .route("/analyst/team", get(team))
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
        .desk
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
    Ok(Json(json!(state.desk.queue(&user).await?)))
}

async fn my_chats(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.desk.analyst_chats(&user).await?)))
}

/// Every analyst with a presence: `[{"username","name","online","max_chats",
/// "active_chats","has_room"}]`, by name. The console's transfer menu.
async fn team(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let loads = state.desk.analyst_loads(&user).await?;
    Ok(Json(Value::Array(
        loads
            .iter()
            .map(|l| {
                json!({
                    "username": l.analyst.username,
                    "name": l.analyst.name,
                    "online": l.online,
                    "max_chats": l.max_chats,
                    "active_chats": l.active_chats,
                    "has_room": l.online && l.active_chats < l.max_chats,
                })
            })
            .collect(),
    )))
}

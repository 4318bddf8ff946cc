//! Channels for admins (`/api/v1/channels`): connect a Direct Line channel (its secret
//! is shown once), list them, remove one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::ids::ChannelId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{id}", delete(remove))
}

#[derive(Deserialize)]
struct NewChannel {
    kind: String,
    name: String,
}

async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<NewChannel>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = state.channels.create(&user, &body.kind, &body.name).await?;
    let mut shown = json!(created.channel);
    shown["secret"] = json!(created.secret);
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.channels.list(&user).await?)))
}

async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    state.channels.remove(&user, ChannelId(id)).await?;
    Ok(Json(json!({ "removed": id })))
}

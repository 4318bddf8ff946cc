//! Canned responses for analysts: `GET/POST /canned`, `PUT/DELETE /canned/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, ApiQuery, CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::ids::{CannedId, ChatId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/canned", get(list).post(create))
        .route("/canned/{id}", put(update).delete(remove))
}

#[derive(Deserialize)]
struct ListCanned {
    /// Fill `{user}` and `{call}` in for this chat.
    chat: Option<ChatId>,
}

#[derive(Deserialize)]
struct CannedBody {
    title: String,
    text: String,
}

async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(q): ApiQuery<ListCanned>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        state.calls.canned_responses(&user, q.chat).await?
    )))
}

async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<CannedBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let saved = state
        .calls
        .create_canned(&user, &body.title, &body.text)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(saved))))
}

async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<CannedId>,
    JsonBody(body): JsonBody<CannedBody>,
) -> Result<Json<Value>, ApiError> {
    let saved = state
        .calls
        .update_canned(&user, id, &body.title, &body.text)
        .await?;
    Ok(Json(json!(saved)))
}

async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<CannedId>,
) -> Result<Json<Value>, ApiError> {
    state.calls.delete_canned(&user, id).await?;
    Ok(Json(json!({"deleted": id})))
}

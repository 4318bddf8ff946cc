//! Webhooks for admins (`/api/v1/webhooks`): register an endpoint (its secret is shown
//! once), list them, remove one, and see an endpoint's latest deliveries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::ids::WebhookId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
}

#[derive(Deserialize)]
struct NewWebhook {
    url: String,
    events: Vec<String>,
}

async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<NewWebhook>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = state
        .webhooks
        .create(&user, &body.url, &body.events)
        .await?;
    let mut shown = json!(created.webhook);
    shown["secret"] = json!(created.secret);
    Ok((StatusCode::CREATED, Json(shown)))
}

async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.webhooks.list(&user).await?)))
}

async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    state.webhooks.remove(&user, WebhookId(id)).await?;
    Ok(Json(json!({ "removed": id })))
}

async fn deliveries(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        state.webhooks.deliveries(&user, WebhookId(id)).await?
    )))
}

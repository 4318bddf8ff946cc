//! Accounts made by an admin over the API (the CLI's `user add`, for scripts and for the
//! load generator, which needs many users without touching the database).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::user::Role;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new().route("/users", post(create))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    username: String,
    display_name: Option<String>,
    roles: Vec<String>,
    password: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    CurrentUser(admin): CurrentUser,
    JsonBody(body): JsonBody<NewAccount>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !admin.has(Role::Admin) {
        return Err(Error::forbidden("only admins create accounts").into());
    }
    let roles = body
        .roles
        .iter()
        .map(|r| Role::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| Error::invalid("roles", m))?;
    let (user, token) = state
        .engine
        .create_user(
            &body.username,
            body.display_name.as_deref(),
            body.password,
            &roles,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user, "token": token.0})),
    ))
}

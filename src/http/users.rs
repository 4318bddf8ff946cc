//! Accounts an admin manages over the API: made (the CLI's `user add`, for scripts and
//! for the load generator, which needs many users without touching the database),
//! disabled or enabled, given other roles, and signed out everywhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::user::Role;
use crate::engine::AccountChange;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(create))
        .route("/users/{username}", patch(update))
        .route("/users/{username}/tokens", delete(revoke_tokens))
}

/// Role names as typed, each checked; `invalid` naming the roles there are otherwise.
fn parse_roles(names: &[String]) -> Result<Vec<Role>, Error> {
    names
        .iter()
        .map(|r| Role::parse(r))
        .collect::<Result<_, _>>()
        .map_err(|m| Error::invalid("roles", m))
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
    let roles = parse_roles(&body.roles)?;
    let (user, token) = state
        .accounts
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

/// What `PATCH /users/{username}` may change; fields left out stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    /// `true` disables the account (it cannot sign in and is signed out everywhere).
    disabled: Option<bool>,
    /// Replaces the roles; sockets that needed a removed one close.
    roles: Option<Vec<String>>,
}

async fn update(
    State(state): State<AppState>,
    CurrentUser(admin): CurrentUser,
    ApiPath(username): ApiPath<String>,
    JsonBody(body): JsonBody<AccountPatch>,
) -> Result<Json<Value>, ApiError> {
    let roles = body.roles.as_deref().map(parse_roles).transpose()?;
    let change = AccountChange {
        roles,
        disabled: body.disabled,
    };
    let user = state
        .accounts
        .update_account(&admin, &username, &change)
        .await?;
    let mut body = json!({"user": user});
    if let Some(disabled) = change.disabled {
        body["disabled"] = json!(disabled);
    }
    Ok(Json(body))
}

async fn revoke_tokens(
    State(state): State<AppState>,
    CurrentUser(admin): CurrentUser,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let revoked = state.accounts.revoke_tokens(&admin, &username).await?;
    Ok(Json(json!({"revoked": revoked})))
}

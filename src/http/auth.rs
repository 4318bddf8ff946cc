//! Signing in and out. Browsers get an HttpOnly session cookie; scripts use the token.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::extract::{
    CurrentUser, JsonBody, SESSION_COOKIE, client_ip, cookie, request_token, same_origin,
    signed_in_cookies,
};
use super::{ApiError, AppState};
use crate::engine::{Attempt, DEVICE_COOKIE};
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let device = cookie(&parts, DEVICE_COOKIE);
    let attempt = Attempt {
        from: client_ip(&parts, &state.settings.trusted_proxies),
        device_cookie: device.as_deref(),
    };
    let signed_in = state
        .accounts
        .login(&body.username, &body.password, attempt)
        .await?;
    Ok((
        signed_in_cookies(&state.settings, &signed_in),
        Json(json!({"token": signed_in.token.0, "user": signed_in.user})),
    )
        .into_response())
}

async fn logout(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    // Not behind the CSRF token (scripts sign out with the cookie alone), but another site
    // may not sign a browser out.
    if !same_origin(&parts) {
        return Err(Error::forbidden("sign out from a chatdesk page").into());
    }
    if let Some(token) = request_token(&parts) {
        state.accounts.logout(&token).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok(([(SET_COOKIE, clear)], Json(json!({"signed_out": true}))).into_response())
}

async fn me(CurrentUser(user): CurrentUser) -> Json<serde_json::Value> {
    Json(json!({"user": user}))
}

//! Signing in and out. Browsers get an HttpOnly session cookie; scripts use the token.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::extract::{
    CurrentUser, JsonBody, SESSION_COOKIE, client_ip, cookie, device_cookie_header, request_token,
    same_origin,
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
        from: client_ip(&parts),
        device_cookie: device.as_deref(),
    };
    let signed_in = state
        .accounts
        .login(&body.username, &body.password, attempt)
        .await?;
    let max_age = u64::from(state.settings.chat.session_hours) * 3600;
    let session = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}",
        signed_in.token.0
    );
    Ok((
        AppendHeaders([
            (SET_COOKIE, session),
            (SET_COOKIE, device_cookie_header(&signed_in.device_cookie)),
        ]),
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

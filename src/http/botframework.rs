//! `POST /api/messages`, where the Bot Framework delivers Microsoft Teams activities
//! (contract, "Bot Framework activities"). Mounted only when the settings turn the Bot
//! Framework on. Answers as botbuilder does: `200` with no body once the activity is
//! handled; what the bot says back goes to the connector, not in this response.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::post;

use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::channels::activity::Activity;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/messages", post(messages))
}

/// The bearer token of a request, or why there is none.
fn bearer(parts: &Parts) -> Result<&str, Error> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::BadCredentials(
                "an Authorization: Bearer token from the Bot Framework is required".into(),
            )
        })
}

async fn messages(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(activity): JsonBody<Activity>,
) -> Result<StatusCode, ApiError> {
    let Some(bot) = &state.teams else {
        return Err(Error::NotFound("page").into());
    };
    bot.receive(bearer(&parts)?, &activity).await?;
    Ok(StatusCode::OK)
}

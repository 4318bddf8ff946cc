//! The analyst console: presence and capacity, the live queue, and active chats side by
//! side. The page is a frame; `static/console.js` fills it from the desk WebSocket.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::session::PageUser;
use super::{PageError, render};
use crate::error::Error;
use crate::http::AppState;

pub async fn console(State(state): State<AppState>, page: PageUser) -> Result<Response, PageError> {
    if !page.user.is_analyst() {
        return Err(Error::forbidden("the console is for analysts").into());
    }
    let (online, max_chats) = state.desk.presence(&page.user).await?;
    let status = if online { "online" } else { "offline" };
    render(
        &state,
        StatusCode::OK,
        "console",
        "Analyst console",
        Some(&page),
        json!({"presence": {"status": status, "online": online, "max_chats": max_chats}}),
    )
}

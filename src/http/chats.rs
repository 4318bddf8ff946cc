//! Chat endpoints for users and analysts: start, read, write, suggestions, handoff,
//! accept, transfer, end, links and files.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::call::parse_reference;
use crate::domain::chat::TransferTarget;
use crate::domain::ids::{ArticleId, CallId, ChatId};
use crate::engine::Upload;
use crate::error::Error;

pub fn router(attachment_max_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/chat/availability", get(availability))
        .route("/chats", post(start).get(in_progress))
        .route("/chats/{id}", get(show))
        .route("/chats/{id}/messages", post(post_message))
        .route(
            "/chats/{id}/suggestions/{article_id}/accept",
            post(accept_suggestion),
        )
        .route(
            "/chats/{id}/suggestions/{article_id}/decline",
            post(decline_suggestion),
        )
        .route("/chats/{id}/handoff", post(handoff))
        .route("/chats/{id}/accept", post(accept))
        .route("/chats/{id}/end", post(end))
        .route("/chats/{id}/transfer", post(transfer))
        .route("/chats/{id}/leave", post(leave))
        .route("/chats/{id}/rating", post(rate))
        .route("/chats/{id}/links", post(link))
        .route("/chats/{id}/assist", get(assist))
        .route("/chats/{id}/articles", post(share_article))
        .route(
            "/chats/{id}/attachments",
            // Room for the multipart framing around the largest allowed file.
            post(attach).layer(DefaultBodyLimit::max(attachment_max_bytes + 64 * 1024)),
        )
}

type Created = (StatusCode, Json<Value>);

async fn availability(
    State(state): State<AppState>,
    CurrentUser(_): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.desk.availability().await?)))
}

#[derive(Deserialize)]
struct StartChat {
    description: String,
}

async fn start(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(body): JsonBody<StartChat>,
) -> Result<Created, ApiError> {
    let started = state.chats.start_chat(&user, &body.description).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "chat": started.chat,
            "call": started.call,
            "suggestions": started.suggestions,
        })),
    ))
}

async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
) -> Result<Json<Value>, ApiError> {
    let (chat, messages) = state.chats.chat(&user, id).await?;
    let mut body = json!(chat);
    body["messages"] = json!(messages);
    Ok(Json(body))
}

#[derive(Deserialize)]
struct PostMessage {
    text: String,
    client_id: Option<String>,
}

async fn post_message(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
    JsonBody(body): JsonBody<PostMessage>,
) -> Result<Created, ApiError> {
    let (message, _) = state
        .chats
        .post_message(&user, id, &body.text, body.client_id.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(message))))
}

/// The article a suggestion's path names; one that is no article id was never offered.
fn suggested(article_id: &str) -> Result<ArticleId, Error> {
    ArticleId::parse(article_id).map_err(|_| Error::NotFound("suggestion"))
}

async fn accept_suggestion(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((id, article_id)): ApiPath<(ChatId, String)>,
) -> Result<Json<Value>, ApiError> {
    let call = state
        .chats
        .accept_suggestion(&user, id, &suggested(&article_id)?)
        .await?;
    Ok(Json(json!({"call": call})))
}

async fn decline_suggestion(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath((id, article_id)): ApiPath<(ChatId, String)>,
) -> Result<Json<Value>, ApiError> {
    state
        .chats
        .decline_suggestion(&user, id, &suggested(&article_id)?)
        .await?;
    Ok(Json(json!({"declined": article_id})))
}

async fn assist(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.chats.assist(&user, id).await?)))
}

#[derive(Deserialize)]
struct ShareArticle {
    article_id: String,
}

async fn share_article(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
    JsonBody(body): JsonBody<ShareArticle>,
) -> Result<Created, ApiError> {
    let message = state
        .chats
        .share_article(&user, id, &body.article_id)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(message))))
}

async fn handoff(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.chats.handoff(&user, id).await?)))
}

async fn accept(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.desk.accept_chat(&user, id).await?)))
}

async fn end(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
) -> Result<Json<Value>, ApiError> {
    let call = state.chats.end_chat(&user, id).await?;
    Ok(Json(json!({"call": call})))
}

#[derive(Deserialize)]
struct Transfer {
    /// An analyst's username, or `"queue"`.
    to: String,
}

async fn transfer(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
    JsonBody(body): JsonBody<Transfer>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        state
            .desk
            .transfer_chat(&user, id, &TransferTarget::try_from(body.to.as_str())?)
            .await?
    )))
}

#[derive(Deserialize)]
struct Link {
    /// A call id (`42`) or reference (`"CALL-000042"`).
    call_id: Value,
}

async fn link(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
    JsonBody(body): JsonBody<Link>,
) -> Result<Json<Value>, ApiError> {
    let call_id = match &body.call_id {
        Value::Number(n) => n.as_i64().map(CallId),
        Value::String(s) => parse_reference(s),
        _ => None,
    }
    .ok_or(Error::invalid(
        "call_id",
        "give a call id or a reference like CALL-000042",
    ))?;
    let linked = state.calls.link_call(&user, id, call_id).await?;
    Ok(Json(json!({"chat_id": id, "linked_calls": linked})))
}

async fn attach(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
    mut multipart: Multipart,
) -> Result<Created, ApiError> {
    while let Some(field) = multipart.next_field().await? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("attachment").to_owned();
        let bytes = field.bytes().await?.to_vec();
        let info = state
            .chats
            .attach(&user, id, Upload { name, bytes })
            .await?;
        return Ok((StatusCode::CREATED, Json(json!(info))));
    }
    Err(Error::invalid("file", "send the file in a multipart field named \"file\"").into())
}

/// The caller's chats that have not ended, newest first.
async fn in_progress(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.chats.chats_in_progress(&user).await?)))
}

/// Sent by the chat window as its tab closes: the chat ends shortly unless the user is
/// back (the chat service's `windows`). `202`: it will happen, or not, later.
async fn leave(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.chats.leave(&user, id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"leaving": id}))))
}

#[derive(Deserialize)]
struct RateChat {
    score: i64,
    comment: Option<String>,
}

/// The user's rating of an ended chat: `201` with it.
async fn rate(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<ChatId>,
    JsonBody(body): JsonBody<RateChat>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rating = state
        .chats
        .rate_chat(&user, id, body.score, body.comment.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(rating))))
}

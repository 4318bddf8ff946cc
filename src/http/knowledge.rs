//! Knowledge endpoints: search for analysts and authors; article editing and reindexing
//! for authors.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{ApiPath, ApiQuery, CurrentUser};
use super::{ApiError, AppState};
use crate::error::Error;

/// Articles are small text files; this leaves room for long ones.
const ARTICLE_MAX_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/knowledge/search", get(search))
        .route("/knowledge/articles", get(list))
        .route(
            "/knowledge/articles/{id}",
            get(source)
                .put(save)
                .delete(remove)
                .layer(DefaultBodyLimit::max(ARTICLE_MAX_BYTES)),
        )
        .route("/knowledge/articles/{id}/view", get(view))
        .route("/knowledge/reindex", post(reindex))
}

#[derive(Deserialize)]
struct Search {
    q: String,
    k: Option<usize>,
}

async fn search(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(q): ApiQuery<Search>,
) -> Result<Json<Value>, ApiError> {
    if !user.is_analyst() && !user.is_author() {
        return Err(Error::forbidden("only analysts and authors search the knowledge base").into());
    }
    let k = q.k.unwrap_or(10).clamp(1, 50);
    Ok(Json(json!(state.knowledge.search(&q.q, k).await?)))
}

async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.knowledge.list_articles(&user).await?)))
}

async fn source(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let text = state.knowledge.article_source(&user, &id).await?;
    Ok(([(CONTENT_TYPE, "text/markdown; charset=utf-8")], text))
}

/// `{"id", "title", "tags", "html"}`: the article to read in the chat window.
async fn view(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.knowledge.article_view(&user, &id).await?)))
}

async fn save(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| Error::invalid("article", "the article must be UTF-8 text"))?;
    Ok(Json(json!(
        state.knowledge.put_article(&user, &id, text).await?
    )))
}

async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state.knowledge.delete_article(&user, &id).await?;
    Ok(Json(json!({"deleted": id})))
}

async fn reindex(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.knowledge.reindex(&user).await?)))
}

//! The analysts' calls: the calls page (every call, by status, user and words) and the
//! call page's forms for analysts (resolve, reopen, internal notes). Each form posts,
//! then sends the browser back to the call, so a reload never posts twice.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{PageForm, PagePath};
use super::session::PageUser;
use super::{PageError, render};
use crate::domain::call::CallStatus;
use crate::domain::ids::CallId;
use crate::error::Error;
use crate::http::AppState;

/// How many calls the calls page lists.
const LISTED: i64 = 100;

#[derive(Deserialize)]
pub struct CallsQuery {
    /// `open` (the default), `resolved` or `all`.
    status: Option<String>,
    user: Option<String>,
    q: Option<String>,
}

pub async fn calls_page(
    State(state): State<AppState>,
    page: PageUser,
    Query(query): Query<CallsQuery>,
) -> Result<Response, PageError> {
    if !page.user.is_analyst() {
        return Err(Error::forbidden("the calls page is for analysts").into());
    }
    let chosen = query.status.as_deref().unwrap_or("open");
    let status = match chosen {
        "all" => None,
        other => Some(other.parse::<CallStatus>().map_err(|_| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "Choose open, resolved or all calls.",
            )
        })?),
    };
    let calls = state
        .calls
        .calls(
            &page.user,
            status,
            query.user.as_deref(),
            query.q.as_deref(),
            LISTED,
        )
        .await?;
    let rows: Vec<Value> = calls.iter().map(super::self_service::call_view).collect();
    let statuses: Vec<Value> = ["open", "resolved", "all"]
        .iter()
        .map(|s| json!({"value": s, "selected": *s == chosen}))
        .collect();
    render(
        &state,
        StatusCode::OK,
        "calls",
        "Calls",
        Some(&page),
        json!({
            "calls": rows,
            "statuses": statuses,
            "user_filter": query.user.unwrap_or_default(),
            "q": query.q.unwrap_or_default(),
            "limit": LISTED,
        }),
    )
}

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    resolution: String,
}

pub async fn resolve_from_form(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(call_id): PagePath<CallId>,
    PageForm(form): PageForm<ResolveForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state
        .calls
        .resolve_call(&page.user, call_id, &form.resolution)
        .await?;
    Ok(Redirect::to(&format!("/calls/{call_id}")).into_response())
}

#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn reopen_from_form(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(call_id): PagePath<CallId>,
    PageForm(form): PageForm<PlainForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state.calls.reopen_call(&page.user, call_id).await?;
    Ok(Redirect::to(&format!("/calls/{call_id}")).into_response())
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

pub async fn note_from_form(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(call_id): PagePath<CallId>,
    PageForm(form): PageForm<NoteForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state
        .calls
        .add_note(&page.user, call_id, &form.text)
        .await?;
    Ok(Redirect::to(&format!("/calls/{call_id}#notes")).into_response())
}

//! The user's pages: the self-service portal with its Chat option and recently logged
//! calls, the chat request window, the chat window, and a call's page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{PageForm, PagePath};
use super::session::PageUser;
use super::{PageError, render};
use crate::domain::Timestamp;
use crate::domain::availability::AvailabilityStatus;
use crate::domain::call::{Call, CallStatus, reference};
use crate::domain::chat::ChatStatus;
use crate::domain::ids::{CallId, ChatId};
use crate::domain::message::EventKind;
use crate::error::Error;
use crate::http::AppState;
use crate::transcript::{indented, one_line, who};

/// How many calls the portal lists.
const RECENT_CALLS: i64 = 10;

/// `2026-11-24T01:40:12.5Z` as `2026-11-24 01:40 UTC`: what a page says in a `<time>`
/// element before `common.js` rewrites it in the viewer's zone (and without scripts).
pub(super) fn readable(at: Timestamp) -> String {
    format!("{} UTC", to_the_minute(at))
}

/// `2026-11-24 01:40`, in UTC.
pub(super) fn to_the_minute(at: Timestamp) -> String {
    let minute = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    at.utc().format(&minute).unwrap_or_else(|_| at.to_string())
}

/// A call for a page: its fields, with `logged_at` for a `<time>` element.
pub(super) fn call_view(call: &Call) -> Value {
    let mut v = json!(call);
    v["logged_at"] = json!(call.created_at);
    v["logged_at_text"] = json!(readable(call.created_at));
    v
}

fn size_text(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

pub async fn portal(State(state): State<AppState>, page: PageUser) -> Result<Response, PageError> {
    let availability = state.desk.availability().await?;
    let calls = state.calls.recent_calls(&page.user, RECENT_CALLS).await?;
    let recent: Vec<Value> = calls.iter().map(call_view).collect();
    let in_progress: Vec<Value> = state
        .chats
        .chats_in_progress(&page.user)
        .await?
        .iter()
        .map(|c| {
            let progress = match (c.status, c.queue_position) {
                (ChatStatus::Queued, Some(n)) => format!("number {n} in the queue"),
                (ChatStatus::Queued, None) => "waiting for an analyst".to_owned(),
                (ChatStatus::Active, _) => match &c.analyst {
                    Some(a) => format!("with {}", a.name),
                    None => "with an analyst".to_owned(),
                },
                _ => "with the assistant".to_owned(),
            };
            json!({"id": c.id, "call_reference": c.call_reference,
                   "description": c.description, "progress": progress})
        })
        .collect();
    render(
        &state,
        StatusCode::OK,
        "portal",
        "Self-service portal",
        Some(&page),
        json!({"availability": availability, "recent_calls": recent, "in_progress": in_progress}),
    )
}

/// The chat request window's state: when nobody is online it says so, and the setting
/// decides whether the bot may still take the chat.
async fn request_context(
    state: &AppState,
    description: &str,
    error: Option<String>,
) -> Result<Value, PageError> {
    let availability = state.desk.availability().await?;
    let offline = availability.status == AvailabilityStatus::Offline;
    let disabled = offline && !state.settings.chat.allow_when_offline;
    Ok(json!({
        "availability": availability,
        "offline": offline,
        "disabled": disabled,
        "allow_when_offline": state.settings.chat.allow_when_offline,
        "description": description,
        "error": error,
    }))
}

pub async fn request_page(
    State(state): State<AppState>,
    page: PageUser,
) -> Result<Response, PageError> {
    if !page.user.can_chat() {
        return Err(Error::forbidden("you do not have the chat permission").into());
    }
    let context = request_context(&state, "", None).await?;
    render(
        &state,
        StatusCode::OK,
        "chat_request",
        "Chat with the service desk",
        Some(&page),
        context,
    )
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    description: String,
}

/// Logs the call and starts the bot, then opens the chat window.
pub async fn request_chat(
    State(state): State<AppState>,
    page: PageUser,
    PageForm(form): PageForm<RequestForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    match state.chats.start_chat(&page.user, &form.description).await {
        Ok(started) => Ok(Redirect::to(&format!("/chats/{}", started.chat.id)).into_response()),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. } | Error::TooLarge(_))) => {
            let api = crate::http::ApiError::from(e);
            let message = api.message().to_owned();
            let context = request_context(&state, &form.description, Some(message)).await?;
            render(
                &state,
                api.status(),
                "chat_request",
                "Chat with the service desk",
                Some(&page),
                context,
            )
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn chat_window(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(chat_id): PagePath<ChatId>,
) -> Result<Response, PageError> {
    let (chat, _) = state.chats.chat(&page.user, chat_id).await?;
    let call = state
        .calls
        .call_details(&page.user, chat.call_id)
        .await?
        .call;
    let viewer_role = if call.user.id == page.user.id {
        "user"
    } else {
        "analyst"
    };
    render(
        &state,
        StatusCode::OK,
        "chat",
        &reference(call.id),
        Some(&page),
        json!({"chat": chat, "call": call_view(&call), "viewer_role": viewer_role}),
    )
}

pub async fn call_page(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(call_id): PagePath<CallId>,
) -> Result<Response, PageError> {
    let details = state.calls.call_details(&page.user, call_id).await?;
    let transcript: Vec<Value> = details
        .transcript
        .iter()
        .map(|e| {
            // The speaker has a column of their own.
            let who = who(e.author.as_ref());
            let text = e
                .text
                .strip_prefix(&format!("{who}: "))
                .or_else(|| e.text.strip_prefix(&format!("{who} ")))
                // A file's line names its uploader without the role.
                .or_else(|| {
                    let name = one_line(&e.author.as_ref()?.name);
                    (e.kind == EventKind::Attachment)
                        .then(|| e.text.strip_prefix(&format!("{name} ")))
                        .flatten()
                })
                .unwrap_or(&e.text);
            json!({
                "at": e.at,
                "at_text": readable(e.at),
                "speaker": e.author.as_ref().map_or("chatdesk", |a| a.name.as_str()),
                "role": e.author.as_ref().map_or("system".to_owned(), |a| a.role.to_string()),
                // Later lines indented, so none can pass for a record of its own.
                "text": indented(text),
            })
        })
        .collect();
    let attachments: Vec<Value> = details
        .attachments
        .iter()
        .map(|a| {
            let mut v = json!(a.info);
            v["size_text"] = json!(size_text(a.info.size));
            v["url"] = json!(crate::http::calls::attachment_url(&a.info.id));
            v["at"] = json!(a.at);
            v["at_text"] = json!(readable(a.at));
            v
        })
        .collect();
    let linked: Vec<Value> = details
        .linked_chats
        .iter()
        .map(|l| json!({"chat_id": l.chat_id, "call_id": l.call_id, "call_reference": l.call_reference, "status": l.status}))
        .collect();
    let notes: Option<Vec<Value>> = details.notes.as_ref().map(|notes| {
        notes
            .iter()
            .map(|n| {
                let mut v = json!(n);
                v["at_text"] = json!(readable(n.at));
                v
            })
            .collect()
    });
    let user_calls: Option<Vec<Value>> = details
        .user_calls
        .as_ref()
        .map(|calls| calls.iter().map(call_view).collect());
    render(
        &state,
        StatusCode::OK,
        "call",
        &details.call.reference,
        Some(&page),
        json!({
            "call": call_view(&details.call),
            "call_id": call_id,
            "is_open": details.call.status == CallStatus::Open,
            // The desk's side of the call: analysts looking at someone else's call.
            "desk": notes.is_some(),
            "transcript": transcript,
            "attachments": attachments,
            "linked_chats": linked,
            "linked_calls": details.linked_calls.iter().map(call_view).collect::<Vec<_>>(),
            "notes": notes,
            "user_calls": user_calls,
            "offered": details.offered,
            "rating": details.rating.as_ref().map(|r| json!({
                "score": r.score,
                "comment": r.comment,
                "word": SCORE_WORDS[(r.score.clamp(1, 5) - 1) as usize],
                "at": r.at,
                "at_text": readable(r.at),
            })),
            "ratable_chat": details.ratable_chat,
            "scores": SCORE_WORDS
                .iter()
                .enumerate()
                .map(|(i, word)| json!({"value": i + 1, "word": word}))
                .collect::<Vec<_>>(),
        }),
    )
}

/// What each score means, 1 to 5, on the rating form and beside a rating.
const SCORE_WORDS: [&str; 5] = ["Poor", "Fair", "Good", "Very good", "Excellent"];

#[derive(Deserialize)]
pub struct RatingForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    chat_id: ChatId,
    score: i64,
    #[serde(default)]
    comment: String,
}

/// The call page's rating form: rates the chat, then shows the call again.
pub async fn rate_from_form(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(call_id): PagePath<CallId>,
    PageForm(form): PageForm<RatingForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state
        .chats
        .rate_chat(&page.user, form.chat_id, form.score, Some(&form.comment))
        .await?;
    Ok(Redirect::to(&format!("/calls/{call_id}#rating")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes_read_well() {
        assert_eq!(
            readable("2026-11-24T01:40:12.5Z".parse().unwrap()),
            "2026-11-24 01:40 UTC"
        );
        assert_eq!(size_text(900), "900 bytes");
        assert_eq!(size_text(2048), "2.0 KB");
        assert_eq!(size_text(3 * 1024 * 1024), "3.0 MB");
    }
}

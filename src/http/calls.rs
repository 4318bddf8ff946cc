//! Calls and the files on them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{
    CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::extract::{ApiPath, ApiQuery, CurrentUser, JsonBody};
use super::{ApiError, AppState};
use crate::domain::call::CallStatus;
use crate::domain::ids::{AttachmentId, CallId};
use crate::engine::Download;
use crate::error::Error;

/// RFC 5987 `attr-char`s kept as they are in `filename*=`; everything else is encoded.
const FILENAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calls", get(list))
        .route("/calls/{id}", get(show))
        .route("/calls/{id}/resolve", post(resolve))
        .route("/calls/{id}/reopen", post(reopen))
        .route("/calls/{id}/notes", post(add_note))
        .route("/attachments/{id}", get(download))
}

#[derive(Deserialize)]
struct ListCalls {
    #[serde(default)]
    recent: bool,
    limit: Option<i64>,
    /// `open`, `resolved` or `all` (the default).
    status: Option<String>,
    user: Option<String>,
    q: Option<String>,
}

/// `recent=true`, or anyone but an analyst: the caller's own recent calls. Analysts
/// otherwise: every call, filtered.
async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(q): ApiQuery<ListCalls>,
) -> Result<Json<Value>, ApiError> {
    if q.recent || !user.is_analyst() {
        let calls = state
            .calls
            .recent_calls(&user, q.limit.unwrap_or(10))
            .await?;
        return Ok(Json(json!(calls)));
    }
    let status = match q.status.as_deref().unwrap_or("all") {
        "all" => None,
        other => Some(
            other
                .parse::<CallStatus>()
                .map_err(|_| Error::invalid("status", "use open, resolved or all"))?,
        ),
    };
    let calls = state
        .calls
        .calls(
            &user,
            status,
            q.user.as_deref(),
            q.q.as_deref(),
            q.limit.unwrap_or(50),
        )
        .await?;
    Ok(Json(json!(calls)))
}

#[derive(Deserialize)]
struct Resolve {
    resolution: String,
}

async fn resolve(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<CallId>,
    JsonBody(body): JsonBody<Resolve>,
) -> Result<Json<Value>, ApiError> {
    let call = state
        .calls
        .resolve_call(&user, id, &body.resolution)
        .await?;
    Ok(Json(json!(call)))
}

async fn reopen(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<CallId>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.calls.reopen_call(&user, id).await?)))
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

async fn add_note(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<CallId>,
    JsonBody(body): JsonBody<NewNote>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let note = state.calls.add_note(&user, id, &body.text).await?;
    Ok((StatusCode::CREATED, Json(json!(note))))
}

async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<CallId>,
) -> Result<Json<Value>, ApiError> {
    let details = state.calls.call_details(&user, id).await?;
    let mut body = json!(details);
    if let Some(files) = body["attachments"].as_array_mut() {
        for (file, a) in files.iter_mut().zip(&details.attachments) {
            file["url"] = json!(attachment_url(&a.info.id));
        }
    }
    Ok(Json(body))
}

/// Where a file on a call is downloaded (`GET`, this module's route).
pub(super) fn attachment_url(id: &AttachmentId) -> String {
    format!("/api/v1/attachments/{id}")
}

/// `filename*=` with percent-encoding, so no name can break out of the header.
fn disposition(name: &str) -> String {
    format!(
        "attachment; filename*=UTF-8''{}",
        utf8_percent_encode(name, FILENAME)
    )
}

async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let file = state.chats.download(&user, &id).await?;
    Ok(file_response(file))
}

/// A stored file as a download: its type only when a browser merely displays it, its
/// name, and nothing that lets it run as this site's page.
pub(super) fn file_response(file: Download) -> Response {
    (
        [
            (CONTENT_TYPE, served_type(&file.content_type).to_owned()),
            (CONTENT_DISPOSITION, disposition(&file.name)),
            (X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            // Opened anyway (a browser's "open" on a download), it runs no script and
            // reaches nothing of this origin.
            (CONTENT_SECURITY_POLICY, "sandbox".to_owned()),
            (CONTENT_LENGTH, file.size.to_string()),
        ],
        axum::body::Body::from_stream(file.body),
    )
        .into_response()
}

/// The type a file is served with: its own when a browser only displays it (pictures,
/// sound, video, PDF, plain text, archives), else `application/octet-stream`, so that
/// HTML, SVG, XML and the like that someone uploaded never run as this site's pages.
fn served_type(stored: &str) -> &str {
    let essence = stored.split(';').next().unwrap_or(stored).trim();
    let passive = match essence.split_once('/') {
        Some(("image", sub)) => !sub.contains("svg"),
        Some(("audio" | "video", _)) => true,
        _ => matches!(
            essence,
            "text/plain"
                | "application/pdf"
                | "application/zip"
                | "application/gzip"
                | "application/x-7z-compressed"
                | "application/x-tar"
        ),
    };
    if passive {
        stored
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn active_types_are_served_as_bytes() {
        use super::served_type;
        for active in [
            "text/html",
            "text/xml",
            "image/svg+xml",
            "application/xml",
            "text/javascript",
            "application/xhtml+xml",
        ] {
            assert_eq!(served_type(active), "application/octet-stream", "{active}");
        }
        for passive in [
            "image/png",
            "text/plain; charset=utf-16le",
            "application/pdf",
            "video/mp4",
        ] {
            assert_eq!(served_type(passive), passive);
        }
    }

    #[test]
    fn dispositions_cannot_be_broken_out_of() {
        assert_eq!(
            super::disposition("a \"b\".pdf"),
            "attachment; filename*=UTF-8''a%20%22b%22.pdf"
        );
    }
}

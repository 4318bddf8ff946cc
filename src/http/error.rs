//! Errors as clients see them: a status and `{"error": {"code", "message"}}`. Internal
//! details ride along in a response extension for the logging middleware, never in the body.

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Error, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    detail: Option<String>,
    /// Whole seconds, for `Retry-After`.
    retry_after: Option<u64>,
}

/// The cause of a 5xx with its whole cause chain, for the log line.
#[derive(Clone)]
pub struct ErrorDetail(pub String);

/// The status each code is sent with.
fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        BadRequest | InvalidJson | InvalidFrame | UnknownType | InvalidMultipart => {
            StatusCode::BAD_REQUEST
        }
        Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Unauthorized => StatusCode::UNAUTHORIZED,
        Forbidden => StatusCode::FORBIDDEN,
        NotFound => StatusCode::NOT_FOUND,
        Conflict | AlreadyExists | UsernameTaken | ChatEnded | AlreadyTaken | NotQueued
        | AlreadyQueued | AlreadyActive | InvalidState | NotYourChat | NoAnalystsOnline
        | AnalystOffline | AtCapacity => StatusCode::CONFLICT,
        RateLimited | QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The code for a status the framework chose (a rejection, a timeout).
fn code_of(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::TooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::Invalid,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::Unavailable,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// When to try again, in whole seconds (rounded up), for a 429.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The cause chain of a 5xx; `None` for errors that are the client's.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        let detail = matches!(
            e,
            Error::Unavailable(_) | Error::Database(_) | Error::Internal(_)
        )
        .then(|| e.chain());
        let retry_after = match &e {
            Error::TooManyRequests { retry_after, .. } => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            _ => None,
        };
        Self {
            status: status_of(code),
            code,
            message: e.to_string(),
            detail,
            retry_after,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match &r {
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
            JsonRejection::JsonSyntaxError(_) => ErrorCode::InvalidJson,
            JsonRejection::JsonDataError(_) => ErrorCode::Invalid,
            JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::BadRequest,
        };
        Self::new(status_of(code), code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such resource",
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Invalid,
            r.body_text(),
        )
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::TooLarge
        } else {
            ErrorCode::InvalidMultipart
        };
        Self::new(status, code, e.body_text())
    }
}

/// Gives any error response that is not already JSON the contract's error shape: axum's
/// own rejections (a bad multipart body, a wrong method), timeouts and the like.
pub async fn ensure_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let mut fixed = ApiError::new(status, code_of(status), text.trim()).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *fixed.extensions_mut() = parts.extensions;
    fixed
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
        }
        // Every 429 says when to come back, also one whose wait nobody computed.
        let retry_after = self
            .retry_after
            .or((self.status == StatusCode::TOO_MANY_REQUESTS).then_some(1));
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

//! The browser pages: server-rendered with handlebars, plus small scripts (served from
//! `/static`) that talk to the JSON API and the WebSockets for everything live. A page
//! without a session sends the browser to the sign-in page; forms carry the session's CSRF
//! token. Every page is sent with a strict Content-Security-Policy: no inline script at all.

mod assets;
mod authoring;
mod charts;
mod connections;
mod console;
mod desk_calls;
mod extract;
mod gaps;
mod reports;
mod self_service;
mod session;
mod templates;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use templates::Templates;

use self::session::PageUser;
use super::AppState;
use crate::error::Error;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(self_service::portal))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route(
            "/chat/new",
            get(self_service::request_page).post(self_service::request_chat),
        )
        .route("/chats/{id}", get(self_service::chat_window))
        .route("/calls", get(desk_calls::calls_page))
        .route("/calls/{id}", get(self_service::call_page))
        .route("/calls/{id}/rating", post(self_service::rate_from_form))
        .route("/calls/{id}/resolve", post(desk_calls::resolve_from_form))
        .route("/calls/{id}/reopen", post(desk_calls::reopen_from_form))
        .route("/calls/{id}/notes", post(desk_calls::note_from_form))
        .route("/analyst", get(console::console))
        .route("/knowledge", get(authoring::list))
        .route("/knowledge/new", get(authoring::new_article))
        .route("/knowledge/gaps", get(gaps::gaps_page))
        .route("/reports", get(reports::reports_page))
        .route("/knowledge/{id}/edit", get(authoring::edit))
        .route(
            "/knowledge/save",
            // Form encoding can triple an article's size; the article itself is checked
            // against the engine's own limits.
            post(authoring::save).layer(DefaultBodyLimit::max(authoring::FORM_MAX_BYTES)),
        )
        .route("/knowledge/delete", post(authoring::delete))
        .route("/knowledge/reindex", post(authoring::reindex))
        .route("/admin/connections", get(connections::connections_page))
        .route("/admin/channels", post(connections::add_channel))
        .route(
            "/admin/channels/{id}/remove",
            post(connections::remove_channel),
        )
        .route("/admin/webhooks", post(connections::add_webhook))
        .route("/admin/webhooks/{id}", get(connections::webhook_page))
        .route(
            "/admin/webhooks/{id}/remove",
            post(connections::remove_webhook),
        )
        .route("/static/{name}", get(assets::asset))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            error_pages,
        ))
        .layer(axum::middleware::map_response(security_headers))
}

/// What a browser may do with our pages: scripts and styles from this origin only, no
/// framing, no type guessing, no referrer to other sites.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// A page that could not be shown, rendered as a friendly error page.
#[derive(Clone, Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
    /// The cause chain of a 5xx, for the one log line `observe` writes.
    detail: Option<String>,
    /// Seconds, for a 429.
    retry_after: Option<u64>,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        let api = super::ApiError::from(e);
        Self {
            detail: api.detail().map(str::to_owned),
            retry_after: api.retry_after(),
            ..Self::new(api.status(), api.message().to_owned())
        }
    }
}

impl IntoResponse for PageError {
    /// The templates are not reachable from here: the failure rides in an extension, and
    /// [`error_pages`] renders it.
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Turns a [`PageError`] into the error page. A 5xx is logged once, with its cause
/// chain, by the `observe` middleware around every route.
async fn error_pages(State(state): State<AppState>, response: Response) -> Response {
    let Some(failure) = response.extensions().get::<PageError>().cloned() else {
        return response;
    };
    let context = json!({"status": failure.status.as_u16(), "message": failure.message});
    let title = failure.status.canonical_reason().unwrap_or("Error");
    let mut page = match render(&state, failure.status, "error", title, None, context) {
        Ok(page) => page,
        Err(_) => (failure.status, failure.message).into_response(),
    };
    if let Some(detail) = failure.detail {
        page.extensions_mut()
            .insert(crate::http::error::ErrorDetail(detail));
    }
    // Every 429 says when to come back, pages too.
    if failure.status == StatusCode::TOO_MANY_REQUESTS {
        let secs = failure.retry_after.unwrap_or(1);
        page.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    page
}

/// Renders a page: `context` gets the title, the viewer and the CSRF token added.
fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    title: &str,
    page: Option<&PageUser>,
    mut context: Value,
) -> Result<Response, PageError> {
    if let Value::Object(map) = &mut context {
        map.insert("title".into(), json!(title));
        if let Some(page) = page {
            map.insert("user".into(), page.view());
            map.insert("csrf".into(), json!(page.csrf));
        }
    }
    let html = state.pages.render(template, &context).map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "template failed");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This page could not be shown.",
        )
    })?;
    Ok((status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

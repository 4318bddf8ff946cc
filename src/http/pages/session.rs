//! Who is looking at a page: the session cookie's user, or a trip to the sign-in page.
//! Also signing in and out with plain HTML forms, and the CSRF check those forms need.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::extract::PageForm;
use super::{PageError, render};
use crate::domain::capitalised;
use crate::domain::user::User;
use crate::engine::{Attempt, DEVICE_COOKIE};
use crate::error::Error;
use crate::http::AppState;
use crate::http::extract::{
    SESSION_COOKIE, client_ip, cookie, csrf_token, request_token, same_origin, same_secret,
    signed_in_cookies,
};

/// Characters a path keeps in a query value: RFC 3986 unreserved, and `/`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The signed-in user of a page, with the session's CSRF token for its forms and scripts.
pub struct PageUser {
    pub user: User,
    pub csrf: String,
}

impl PageUser {
    /// What every page shows of its viewer.
    pub fn view(&self) -> Value {
        let u = &self.user;
        json!({
            "id": u.id,
            "name": u.username,
            "display_name": u.display_name,
            "is_chat_user": u.can_chat(),
            "is_analyst": u.is_analyst(),
            "is_author": u.is_author(),
            "reads_insights": u.reads_insights(),
            "reads_gaps": u.reads_insights() || u.is_author(),
            "is_admin": u.has(crate::domain::user::Role::Admin),
        })
    }

    /// Refuses a form that does not carry this session's token (another site posted it).
    pub fn check_form(&self, sent: &str) -> Result<(), PageError> {
        if same_secret(sent, &self.csrf) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired or came from another site. Go back, reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let query = query_pair("next", &next);
            Redirect::to(&format!("/login?{query}")).into_response()
        };
        let Some(token) = request_token(parts) else {
            return Err(to_login());
        };
        match state.accounts.authenticate(&token).await {
            Ok(user) => {
                state.chats.page_loaded(user.id);
                Ok(Self {
                    user,
                    csrf: csrf_token(&token),
                })
            }
            Err(Error::Unauthorized) => Err(to_login()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// `name=value` with the value percent-encoded for a query string.
fn query_pair(name: &str, value: &str) -> String {
    format!("{name}={}", utf8_percent_encode(value, QUERY_VALUE))
}

/// Only paths on this site. Browsers drop tabs and line breaks inside URLs and read `\`
/// as `/`, so `/<TAB>/evil.example` would leave it: the path may hold only plain URL
/// characters, and may not begin with two slashes.
fn safe_next(next: Option<&str>) -> &str {
    let plain = |n: &str| {
        n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.~?=&%+".contains(&b))
    };
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && plain(n) => n,
        _ => "/",
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Result<Response, PageError> {
    render(
        &state,
        StatusCode::OK,
        "login",
        "Sign in",
        None,
        json!({"next": safe_next(q.next.as_deref())}),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// Signs in from the form. Another site's form may not sign a browser in (to an account
/// of its choosing, to read what the victim then types).
pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    if !same_origin(&parts) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Sign in from the chatdesk sign-in page.",
        ));
    }
    let next = safe_next(form.next.as_deref());
    let device = cookie(&parts, DEVICE_COOKIE);
    let attempt = Attempt {
        from: client_ip(&parts, &state.settings.trusted_proxies),
        device_cookie: device.as_deref(),
    };
    let failed = |status: StatusCode, error: String| {
        render(
            &state,
            status,
            "login",
            "Sign in",
            None,
            json!({"error": error, "username": form.username, "next": next}),
        )
    };
    match state
        .accounts
        .login(&form.username, &form.password, attempt)
        .await
    {
        Ok(signed_in) => Ok((
            signed_in_cookies(&state.settings, &signed_in),
            Redirect::to(next),
        )
            .into_response()),
        Err(Error::Unauthorized) => failed(
            StatusCode::UNAUTHORIZED,
            "That user name and password do not match.".to_owned(),
        ),
        Err(Error::TooManyRequests { retry_after, .. }) => {
            let secs = (retry_after.as_secs_f64().ceil() as u64).max(1);
            let mut page = failed(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed attempts. Try again in {} minute(s).",
                    secs.div_ceil(60)
                ),
            )?;
            page.headers_mut().insert(RETRY_AFTER, secs.into());
            Ok(page)
        }
        Err(e @ (Error::Invalid { .. } | Error::Forbidden(_))) => {
            let status = if matches!(e, Error::Forbidden(_)) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            failed(status, format!("{}.", capitalised(&e.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    page: PageUser,
    parts: Parts,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    if let Some(token) = request_token(&parts) {
        state.accounts.logout(&token).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok(([(SET_COOKIE, clear)], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/chats/4")), "/chats/4");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(
            safe_next(Some("/knowledge?q=vpn%20drops")),
            "/knowledge?q=vpn%20drops"
        );
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn next_is_encoded_for_the_query() {
        assert_eq!(
            query_pair("next", "/knowledge?q=a b&x=1"),
            "next=/knowledge%3Fq%3Da%20b%26x%3D1"
        );
    }
}

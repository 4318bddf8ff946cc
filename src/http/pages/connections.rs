//! The admins' Connections page: the channels chatdesk is reached through (Direct Line
//! secrets for sites' Web Chat, and the Teams channel the settings make) and the webhook
//! endpoints it tells, each added with its secret shown once, removed, and for webhooks
//! their latest deliveries. A form that shows a secret renders the page at once rather
//! than redirecting, so that the secret is never in a URL or a second response.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{PageForm, PagePath};
use super::session::PageUser;
use super::{PageError, render};
use crate::domain::ids::{ChannelId, WebhookId};
use crate::domain::user::Role;
use crate::domain::webhook::WebhookEvent;
use crate::error::Error;
use crate::http::AppState;

fn require_admin(page: &PageUser) -> Result<(), PageError> {
    if page.user.has(Role::Admin) {
        Ok(())
    } else {
        Err(Error::forbidden("the Connections page is for admins").into())
    }
}

/// What the page shows besides the lists: a secret just made, or a form's error.
#[derive(Default)]
struct Shown {
    channel_secret: Option<(String, String)>,
    webhook_secret: Option<(String, String)>,
    error: Option<String>,
}

async fn page_with(
    state: &AppState,
    page: &PageUser,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, PageError> {
    let channels = state.channels.list(&page.user).await?;
    let webhooks = state.webhooks.list(&page.user).await?;
    let events: Vec<Value> = <WebhookEvent as strum::VariantArray>::VARIANTS
        .iter()
        .map(|e| json!({"name": e.as_str()}))
        .collect();
    let webhooks: Vec<Value> = webhooks
        .iter()
        .map(|w| {
            json!({
                "id": w.id,
                "url": w.url,
                "events": w.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
                "disabled": w.disabled_at.is_some(),
                "created_at": w.created_at,
            })
        })
        .collect();
    let mut response = render(
        state,
        status,
        "connections",
        "Connections",
        Some(page),
        json!({
            "channels": channels,
            "webhooks": webhooks,
            "events": events,
            "teams_on": state.teams.is_some(),
            "channel_secret": shown.channel_secret.map(|(name, secret)| json!({"name": name, "secret": secret})),
            "webhook_secret": shown.webhook_secret.map(|(url, secret)| json!({"url": url, "secret": secret})),
            "error": shown.error,
        }),
    )?;
    // A secret may be on it: never kept by a browser's or a proxy's cache.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn connections_page(
    State(state): State<AppState>,
    page: PageUser,
) -> Result<Response, PageError> {
    require_admin(&page)?;
    page_with(&state, &page, Shown::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ChannelForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn add_channel(
    State(state): State<AppState>,
    page: PageUser,
    PageForm(form): PageForm<ChannelForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    require_admin(&page)?;
    let shown = match state
        .channels
        .create(&page.user, "directline", &form.name)
        .await
    {
        Ok(created) => Shown {
            channel_secret: Some((created.channel.name, created.secret)),
            ..Shown::default()
        },
        Err(e @ Error::Invalid { .. }) => {
            return page_with(
                &state,
                &page,
                Shown {
                    error: Some(e.to_string()),
                    ..Shown::default()
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    page_with(&state, &page, shown, StatusCode::CREATED).await
}

#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn remove_channel(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<PlainForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state.channels.remove(&page.user, ChannelId(id)).await?;
    Ok(Redirect::to("/admin/connections").into_response())
}

/// The webhook form: `url`, and one checkbox `event:NAME` per event.
pub async fn add_webhook(
    State(state): State<AppState>,
    page: PageUser,
    PageForm(form): PageForm<HashMap<String, String>>,
) -> Result<Response, PageError> {
    page.check_form(form.get("_csrf").map_or("", String::as_str))?;
    require_admin(&page)?;
    let url = form.get("url").cloned().unwrap_or_default();
    let mut events: Vec<String> = form
        .keys()
        .filter_map(|k| k.strip_prefix("event:"))
        .map(str::to_owned)
        .collect();
    events.sort();
    match state.webhooks.create(&page.user, &url, &events).await {
        Ok(created) => {
            let shown = Shown {
                webhook_secret: Some((created.webhook.url, created.secret)),
                ..Shown::default()
            };
            page_with(&state, &page, shown, StatusCode::CREATED).await
        }
        Err(e @ Error::Invalid { .. }) => {
            let shown = Shown {
                error: Some(e.to_string()),
                ..Shown::default()
            };
            page_with(&state, &page, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn remove_webhook(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<PlainForm>,
) -> Result<Response, PageError> {
    page.check_form(&form.csrf)?;
    state.webhooks.remove(&page.user, WebhookId(id)).await?;
    Ok(Redirect::to("/admin/connections").into_response())
}

pub async fn webhook_page(
    State(state): State<AppState>,
    page: PageUser,
    PagePath(id): PagePath<i64>,
) -> Result<Response, PageError> {
    require_admin(&page)?;
    let id = WebhookId(id);
    let deliveries = state.webhooks.deliveries(&page.user, id).await?;
    let webhook = state
        .webhooks
        .list(&page.user)
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or(Error::NotFound("webhook"))?;
    render(
        &state,
        StatusCode::OK,
        "webhook_deliveries",
        "Webhook deliveries",
        Some(&page),
        json!({"webhook": webhook, "deliveries": deliveries}),
    )
}

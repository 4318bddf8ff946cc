//! Sending activities to a Bot Framework connector (the Connector REST API,
//! <https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference>):
//! `POST {serviceUrl}/v3/conversations/{conversationId}/activities[/{replyToId}]` with a
//! bearer token from OAuth 2.0 client credentials, kept until shortly before it expires,
//! and retried with exponential backoff (backon) when the connector or the network fails.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::channels::activity::Activity;
use crate::config::BotFrameworkSettings;

/// A token is fetched again this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long one request to the connector or the token endpoint may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an activity did not reach the connector.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// It may go through later (the network, 429, 5xx, a token that would not come).
    #[error("the connector could not be reached or failed: {0}")]
    Transient(String),
    /// The connector refused it for good (another 4xx: the bot was removed, the
    /// conversation is gone); sending it again would not help.
    #[error("the connector refused the activity: {0}")]
    Refused(String),
}

impl SendError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

struct Token {
    value: String,
    until: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// A connector client for one bot registration.
pub struct Connector {
    app_id: String,
    app_password: String,
    token_url: String,
    scope: String,
    http: reqwest::Client,
    token: Mutex<Option<Token>>,
    backoff: ExponentialBuilder,
}

impl Connector {
    /// A client for the registration in `settings`, retrying a failed send up to
    /// `retries` times, waiting from `first_wait` and doubling (with jitter) up to a minute.
    /// `None` when the Bot Framework is off.
    pub fn new(
        settings: &BotFrameworkSettings,
        http: reqwest::Client,
        first_wait: Duration,
        retries: usize,
    ) -> Option<Self> {
        let (app_id, app_password) = settings.credentials()?;
        Some(Self {
            app_id: app_id.to_owned(),
            app_password: app_password.to_owned(),
            token_url: settings.token_url.clone(),
            scope: settings.token_scope.clone(),
            http,
            token: Mutex::new(None),
            backoff: ExponentialBuilder::default()
                .with_min_delay(first_wait)
                .with_max_delay(Duration::from_secs(60))
                .with_max_times(retries)
                .with_jitter(),
        })
    }

    /// Sends `activity` into `conversation` at `service_url`, as a reply to `reply_to`
    /// when given; the connector's id for it.
    ///
    /// # Errors
    /// `Transient` after the last retry; `Refused` at once for a 4xx other than 401
    /// and 429.
    pub async fn send(
        &self,
        service_url: &str,
        conversation: &str,
        reply_to: Option<&str>,
        activity: &Activity,
    ) -> Result<Option<String>, SendError> {
        let mut url = format!(
            "{}/v3/conversations/{}/activities",
            service_url.trim_end_matches('/'),
            utf8_percent_encode(conversation, NON_ALPHANUMERIC)
        );
        if let Some(reply_to) = reply_to {
            url.push('/');
            url.extend(utf8_percent_encode(reply_to, NON_ALPHANUMERIC));
        }
        (|| self.send_once(&url, activity))
            .retry(self.backoff)
            .when(SendError::is_transient)
            .notify(|e, wait| {
                tracing::warn!(error = %e, ?wait, "sending to the Bot Framework connector failed; retrying");
            })
            .await
    }

    async fn send_once(&self, url: &str, activity: &Activity) -> Result<Option<String>, SendError> {
        let token = self.token().await?;
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT)
            .json(activity)
            .send()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            #[derive(Deserialize)]
            struct Sent {
                id: Option<String>,
            }
            let sent: Option<Sent> = response.json().await.ok();
            return Ok(sent.and_then(|s| s.id));
        }
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let what = format!("{status} from {url}: {body}");
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // The token may have been revoked early: the next try fetches another.
            *self.token.lock().await = None;
            return Err(SendError::Transient(what));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(SendError::Transient(what));
        }
        Err(SendError::Refused(what))
    }

    /// A token from client credentials, fetched when none is in hand or it is about to
    /// expire.
    async fn token(&self) -> Result<String, SendError> {
        let mut token = self.token.lock().await;
        if let Some(t) = token.as_ref()
            && Instant::now() < t.until
        {
            return Ok(t.value.clone());
        }
        let transient = |e: reqwest::Error| SendError::Transient(format!("token: {e}"));
        let response: TokenResponse = self
            .http
            .post(&self.token_url)
            .timeout(REQUEST_TIMEOUT)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.app_id),
                ("client_secret", &self.app_password),
                ("scope", &self.scope),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(transient)?
            .json()
            .await
            .map_err(transient)?;
        let lasts = Duration::from_secs(response.expires_in).saturating_sub(TOKEN_MARGIN);
        *token = Some(Token {
            value: response.access_token.clone(),
            until: Instant::now() + lasts,
        });
        Ok(response.access_token)
    }
}

//! A simulated person: an API token, JSON calls over HTTP and the chat WebSocket. With
//! several instances, each request and each socket goes to one of them at random, as
//! behind a load balancer without sticky sessions.

use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Sink = SplitSink<Stream, WsMessage>;
pub type Source = SplitStream<Stream>;

#[derive(Clone)]
pub struct Person {
    pub token: String,
    /// `{root}/api/v1` of each instance.
    apis: Arc<[String]>,
    http: reqwest::Client,
}

impl Person {
    pub fn new(roots: &[String], token: String, http: reqwest::Client) -> Self {
        Self {
            token,
            apis: roots.iter().map(|root| format!("{root}/api/v1")).collect(),
            http,
        }
    }

    /// The API of the instance the next request goes to.
    fn api(&self) -> &str {
        &self.apis[rand::random::<usize>() % self.apis.len()]
    }

    /// Sends a JSON request and returns the body of a success; anything else is an error
    /// that names the call and the server's answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api()))
            .bearer_auth(&self.token);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, body).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, Value::Null).await
    }

    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, body).await
    }

    /// The body of a successful `GET` that is not JSON (a CSV export).
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .get(format!("{}{path}", self.api()))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {text}");
        }
        Ok(text)
    }

    /// Creates an account (this person must be an admin).
    pub async fn create_account(&self, username: &str, roles: &[&str]) -> anyhow::Result<Person> {
        let body = self
            .post(
                "/users",
                json!({"username": username, "display_name": username, "roles": roles}),
            )
            .await?;
        let token = body["token"].as_str().context("no token")?.to_owned();
        Ok(Person {
            token,
            apis: self.apis.clone(),
            http: self.http.clone(),
        })
    }

    /// Opens the chat's WebSocket, replaying nothing before `after`.
    pub async fn chat_socket(&self, chat_id: i64, after: i64) -> anyhow::Result<Stream> {
        let url = format!(
            "{}/chats/{chat_id}/ws?after={after}",
            self.api().replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse()?);
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("opening the socket of chat {chat_id}"))?;
        Ok(stream)
    }
}

pub fn message_frame(text: &str, client_id: &str) -> WsMessage {
    WsMessage::Text(
        json!({"type": "message", "text": text, "client_id": client_id})
            .to_string()
            .into(),
    )
}

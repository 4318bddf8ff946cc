//! Spawns chatdesk on a random port with a fresh database (a temporary SQLite file, or a
//! new PostgreSQL database), and talks to it over real HTTP and WebSockets.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use chatdesk::config::Settings;
use chatdesk::domain::user::Role;
use chatdesk::engine::Engine;
use chatdesk::engine::clock::{Clock, ManualClock, SystemClock};
use chatdesk::startup::Application;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[path = "../common/pg.rs"]
mod pg;
pub use pg::{fresh_pg_database, pg_admin_url};

pub struct TestApp {
    pub base: String,
    pub ws_base: String,
    pub engine: Engine,
    /// The engine's clock, for apps spawned on one the test moves
    /// ([`TestApp::spawn_on_clock`]).
    pub clock: Option<Arc<ManualClock>>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Timers not yet due hold the engine, which holds the clock: let both go.
        if let Some(clock) = &self.clock {
            clock.clear();
        }
    }
}

pub struct TestUser {
    pub token: String,
    base: String,
    ws_base: String,
    http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_on(backend, tweak, None).await
    }

    /// An app whose clock stands at `start` until the test moves it (`app.clock()`):
    /// timers run when it is moved past them, instead of after real time.
    pub async fn spawn_on_clock(
        backend: Backend,
        start: i64,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::spawn_on(backend, tweak, Some(Arc::new(ManualClock::new(start)))).await
    }

    /// The clock the test moves.
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_deref()
            .expect("an app spawned on a manual clock")
    }

    async fn spawn_on(
        backend: Backend,
        tweak: impl FnOnce(&mut Settings),
        clock: Option<Arc<ManualClock>>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("chatdesk.db").display()),
            Backend::Postgres => fresh_pg_database().await,
        };
        let mut settings = Settings::from_sources(None, Vec::new()).expect("default settings");
        settings.database_url = chatdesk::config::Secret(database_url);
        settings.bind = "127.0.0.1:0".into();
        settings.data_dir = dir.path().join("data");
        settings.knowledge_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge").into();
        settings.model_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/all-MiniLM-L6-v2").into();
        // Shared by every test app, so the starter articles are encoded once per machine.
        settings.knowledge.vector_cache_dir =
            Some(concat!(env!("CARGO_TARGET_TMPDIR"), "/vector-cache").into());
        tweak(&mut settings);
        let engine_clock: Arc<dyn Clock> = match &clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let app = Application::build_on(settings, engine_clock)
            .await
            .expect("app builds");
        let addr = app.local_addr();
        let engine = app.engine().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}/api/v1"),
            ws_base: format!("ws://{addr}/api/v1"),
            engine,
            clock,
            http: reqwest::Client::new(),
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    /// Waits until the server holds `n` chat sockets (its `chatdesk_open_websockets`
    /// gauge): a socket the test closed is then closed on the server's side too, and its
    /// window on the chat with it.
    pub async fn chat_sockets_are(&self, n: usize) {
        let expected = format!("chatdesk_open_websockets {n}\n");
        for _ in 0..200 {
            if self.metrics().await.contains(&expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the server still holds other than {n} chat sockets after 5 s");
    }

    /// Starts a graceful shutdown, as SIGTERM would.
    pub fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub fn root(&self) -> String {
        self.base.trim_end_matches("/api/v1").to_owned()
    }

    /// What `/metrics` shows now.
    pub async fn metrics(&self) -> String {
        let resp = self.http.get(format!("{}/metrics", self.root())).send();
        resp.await.expect("request").text().await.expect("body")
    }

    /// Creates an account with these roles and signs it in with its API token.
    pub async fn user(&self, name: &str, roles: &[Role]) -> TestUser {
        let display = format!("{} Test", capitalise(name));
        let (_, token) = self
            .engine
            .accounts
            .create_user(name, Some(&display), None, roles)
            .await
            .expect("user created");
        TestUser {
            token: token.0,
            base: self.base.clone(),
            ws_base: self.ws_base.clone(),
            http: self.http.clone(),
        }
    }

    pub async fn chat_user(&self, name: &str) -> TestUser {
        self.user(name, &[Role::User, Role::ChatUser]).await
    }

    /// An analyst who is online with room for `max_chats` chats.
    pub async fn online_analyst(&self, name: &str, max_chats: u32) -> TestUser {
        let a = self.user(name, &[Role::Analyst]).await;
        let (status, body) = a
            .put(
                "/analyst/status",
                json!({"status": "online", "max_chats": max_chats}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        a
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

async fn into_json(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

impl TestUser {
    /// Someone signed in with `token` on the server at `root` (`http://HOST:PORT`).
    pub fn at(root: &str, token: String, http: reqwest::Client) -> Self {
        Self {
            token,
            base: format!("{root}/api/v1"),
            ws_base: format!("{}/api/v1", root.replacen("http", "ws", 1)),
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        into_json(
            request
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.patch(self.url(path)).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    /// The raw response to a JSON `POST /api/v1{path}`, for its headers.
    pub async fn http_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        self.send(request).await
    }

    pub async fn put_raw(&self, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .put(self.url(path))
            .header("content-type", content_type)
            .body(body.to_owned());
        self.send(request).await
    }

    pub async fn upload(&self, chat_id: i64, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let url = self.url(&format!("/chats/{chat_id}/attachments"));
        self.send(self.http.post(url).multipart(form)).await
    }

    /// The raw response to `GET /api/v1{path}`, for bodies that are not JSON.
    pub async fn http_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    /// The body of `path` on the server (a page, outside `/api/v1`), signed in.
    pub async fn text(&self, path: &str) -> String {
        let root = self.base.trim_end_matches("/api/v1");
        let resp = self
            .http
            .get(format!("{root}{path}"))
            .bearer_auth(&self.token);
        resp.send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body")
    }

    pub async fn download(&self, attachment_id: &str) -> (StatusCode, Vec<u8>) {
        let resp = self
            .http
            .get(self.url(&format!("/attachments/{attachment_id}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        (resp.status(), resp.bytes().await.expect("body").to_vec())
    }

    /// Starts a chat; returns (chat id, the whole response).
    pub async fn start_chat(&self, description: &str) -> (i64, Value) {
        let (status, body) = self
            .post("/chats", json!({"description": description}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (body["chat"]["id"].as_i64().expect("chat id"), body)
    }

    pub async fn queued_chat(&self, description: &str) -> i64 {
        let (id, _) = self.start_chat(description).await;
        let (status, body) = self.post(&format!("/chats/{id}/handoff"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    pub async fn ws(&self, path: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("{}{path}", self.ws_base)
            .into_client_request()
            .expect("ws request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().expect("header"),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Socket { stream })
    }

    pub async fn chat_ws(&self, chat_id: i64) -> Socket {
        self.ws(&format!("/chats/{chat_id}/ws"))
            .await
            .expect("socket opens")
    }
}

pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

const WAIT: Duration = Duration::from_secs(10);

impl Socket {
    /// A socket to `url` without credentials of its own (they ride in the URL).
    pub async fn open(url: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let (stream, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { stream })
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .expect("send frame");
    }

    pub async fn send_raw(&mut self, message: WsMessage) {
        self.stream.send(message).await.expect("send frame");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(WsMessage::Text(text.to_owned().into()))
            .await
            .expect("send frame");
    }

    /// The next JSON frame, or `None` when the socket closes.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame within 10 s")?;
            match msg.ok()? {
                WsMessage::Text(t) => return Some(serde_json::from_str(&t).expect("JSON frame")),
                WsMessage::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads frames until one matches; panics after 10 s.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = tokio::time::timeout(left, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap_or_else(|| panic!("socket closed while waiting for {what}"));
            if pred(&frame) {
                return frame;
            }
        }
    }

    /// Every frame that arrives within `quiet` of the previous one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(Some(f)) = tokio::time::timeout(quiet, self.next()).await {
            frames.push(f);
        }
        frames
    }

    /// Reads until the server closes the socket; the close frame's code, or `None` when
    /// the connection dropped without one.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("the socket closes within 10 s")?;
            match msg {
                Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }

    pub fn into_inner(self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        self.stream
    }
}

pub fn is_type(frame: &Value, kind: &str) -> bool {
    frame["type"] == kind
}

/// Runs each scenario once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

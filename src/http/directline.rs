//! Direct Line 3.0 over HTTP (`/v3/directline`), for Web Chat and any Direct Line client
//! pointed here with its `domain` option: tokens, conversations, activities by POST and
//! by poll, and the WebSocket stream (`streamUrl`, the token in its query string). Any
//! origin may call it (CORS): the bearer secret or token is the credential, never a
//! cookie.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, State};
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderName, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::cors::{Any, CorsLayer};

use super::extract::{ApiPath, ApiQuery, JsonBody, forwarded_proto};
use super::{ApiError, AppState, ws};
use crate::channels::activity::Activity;
use crate::channels::directline::{ActivityStream, Conversation, PersonIn};
use crate::engine::Upload;
use crate::error::Error;

const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const INTERNAL_ERROR: u16 = 1011;
/// What a client may send on the stream: keepalives, nothing more.
const MAX_CLIENT_FRAME: usize = 4 * 1024;
const TOO_MANY_STREAMS: &str = "too many open streams and chat windows: close some and retry";

/// `upload_max_bytes` bounds an upload's body (its files and the activity together).
pub fn router(upload_max_bytes: usize) -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            HeaderName::from_static("x-ms-bot-agent"),
            HeaderName::from_static("x-requested-with"),
        ]);
    Router::new()
        .route("/tokens/generate", post(generate_token))
        .route("/tokens/refresh", post(refresh_token))
        .route("/conversations", post(start_conversation))
        .route("/conversations/{id}", get(reconnect))
        .route(
            "/conversations/{id}/activities",
            post(post_activity).get(activities),
        )
        .route("/conversations/{id}/stream", get(stream))
        .route(
            "/conversations/{id}/upload",
            post(upload).layer(DefaultBodyLimit::max(upload_max_bytes)),
        )
        .route("/files/{id}", get(file))
        .layer(cors)
}

/// The bearer secret or token of a Direct Line request; 401 without one.
struct Bearer(String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Self(t.trim().to_owned()))
            .filter(|t| !t.0.is_empty())
            .ok_or_else(|| Error::Unauthorized.into())
    }
}

/// Where this request reached chatdesk (`public_url`, else `SCHEME://host` with the
/// scheme a trusted proxy forwarded, else `http`), for the links Direct Line hands out:
/// `streamUrl` and files' `contentUrl`.
struct PublicBase(String);

impl PublicBase {
    /// The same address for WebSockets: `ws://` or `wss://`.
    fn sockets(&self) -> String {
        match self.0.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{}", self.0),
        }
    }
}

impl FromRequestParts<AppState> for PublicBase {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(public) = &state.settings.public_url {
            return Ok(Self(public.trim_end_matches('/').to_owned()));
        }
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| Error::invalid("host", "a Host header is required"))?;
        let scheme = forwarded_proto(parts, &state.settings.trusted_proxies).unwrap_or("http");
        Ok(Self(format!("{scheme}://{host}")))
    }
}

/// A body that names the person: `{"user": {"id", "name"}}` (Microsoft's samples also
/// write `User`, `Id` and `Name`).
#[derive(Default, Deserialize)]
struct PersonBody {
    #[serde(default, alias = "User")]
    user: Option<PersonFields>,
}

#[derive(Default, Deserialize)]
struct PersonFields {
    #[serde(default, alias = "Id")]
    id: Option<String>,
    #[serde(default, alias = "Name")]
    name: Option<String>,
}

impl PersonBody {
    fn person(self) -> PersonIn {
        let fields = self.user.unwrap_or_default();
        PersonIn {
            id: fields.id.filter(|id| !id.is_empty()),
            name: fields.name,
        }
    }
}

/// An optional JSON body: empty is the default.
async fn person_of(body: axum::body::Bytes) -> Result<PersonIn, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PersonIn::default());
    }
    let parsed: PersonBody = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("not a person: {e}")))?;
    Ok(parsed.person())
}

fn conversation_json(c: &Conversation, base: Option<&PublicBase>) -> Value {
    let mut shown = json!({
        "conversationId": c.id,
        "token": c.token,
        "expires_in": c.expires_in,
    });
    if let Some(base) = base {
        shown["streamUrl"] = json!(format!(
            "{}/v3/directline/conversations/{}/stream?t={}",
            base.sockets(),
            c.id,
            c.token
        ));
    }
    shown
}

async fn generate_token(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let person = person_of(body).await?;
    let c = state.directline.generate_token(&bearer, person).await?;
    Ok(Json(conversation_json(&c, None)))
}

async fn refresh_token(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
) -> Result<Json<Value>, ApiError> {
    let c = state.directline.refresh_token(&bearer).await?;
    Ok(Json(conversation_json(&c, None)))
}

async fn start_conversation(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
    base: PublicBase,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let person = person_of(body).await?;
    let (c, fresh) = state.directline.start_conversation(&bearer, person).await?;
    let status = if fresh {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(conversation_json(&c, Some(&base)))))
}

/// A client reconnecting: its new `streamUrl` resumes after the watermark it gives.
async fn reconnect(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
    base: PublicBase,
    ApiPath(id): ApiPath<String>,
    ApiQuery(watermark): ApiQuery<Watermark>,
) -> Result<Json<Value>, ApiError> {
    let after = watermark.after()?;
    let c = state.directline.reconnect(&bearer, &id, after).await?;
    let mut shown = conversation_json(&c, Some(&base));
    if let (Some(after), Some(url)) = (after, shown["streamUrl"].as_str()) {
        shown["streamUrl"] = json!(format!("{url}&watermark={after}"));
    }
    Ok(Json(shown))
}

async fn post_activity(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
    ApiPath(id): ApiPath<String>,
    JsonBody(activity): JsonBody<Activity>,
) -> Result<Json<Value>, ApiError> {
    let posted = state
        .directline
        .post_activity(&bearer, &id, &activity)
        .await?;
    Ok(Json(json!({ "id": posted })))
}

#[derive(Deserialize)]
struct Watermark {
    #[serde(default)]
    watermark: Option<String>,
}

impl Watermark {
    /// The `seq` after which to read; `None` for from the start (empty or absent).
    fn after(&self) -> Result<Option<i64>, Error> {
        match self.watermark.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(w) => w
                .parse::<i64>()
                .ok()
                .filter(|w| *w >= 0)
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid("watermark", "must be a watermark this service gave")
                }),
        }
    }
}

async fn activities(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
    base: PublicBase,
    ApiPath(id): ApiPath<String>,
    ApiQuery(watermark): ApiQuery<Watermark>,
) -> Result<Json<Value>, ApiError> {
    let set = state
        .directline
        .activities(&bearer, &id, watermark.after()?, &base.0)
        .await?;
    Ok(Json(json!(set)))
}

#[derive(Deserialize)]
struct StreamQuery {
    t: String,
    #[serde(default)]
    watermark: Option<String>,
}

async fn stream(
    State(state): State<AppState>,
    base: PublicBase,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<StreamQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let after = Watermark {
        watermark: query.watermark,
    }
    .after()?;
    let stream = state
        .directline
        .stream(&query.t, &id, after, &base.0)
        .await?;
    let shutdown = state.shutdown.clone();
    let sockets = state.sockets.clone();
    let ws = ws
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .read_buffer_size(MAX_CLIENT_FRAME)
        .write_buffer_size(0);
    // Streams count with the person's chat and desk sockets.
    let Some(slot) = state.accounts.socket_slot(stream.user_id()) else {
        return Ok(
            ws.on_upgrade(|socket| ws::refuse(socket, ws::POLICY_VIOLATION, TOO_MANY_STREAMS))
        );
    };
    Ok(ws.on_upgrade(move |socket| {
        sockets.track_future(async move {
            run(socket, stream, shutdown).await;
            drop(slot);
        })
    }))
}

/// Sends each activity set as a text frame until the conversation ends, the client goes
/// or the server stops; what the client sends (Direct Line clients send empty keepalives)
/// is read and dropped. The stream runs in a task of its own, so that reading the client
/// never interrupts it half way through a set.
async fn run(
    socket: WebSocket,
    mut stream: ActivityStream,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (mut tx, mut rx) = socket.split();
    let (sets, mut ready) = tokio::sync::mpsc::channel(8);
    let producer = tokio::spawn(async move {
        loop {
            let next = stream.next().await;
            let last = !matches!(next, Ok(Some(_)));
            if sets.send(next).await.is_err() || last {
                return;
            }
        }
    });
    let close = |code, reason| {
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }))
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = tx.send(close(GOING_AWAY, "server shutting down")).await;
                break;
            }
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            next = ready.recv() => match next {
                Some(Ok(Some(set))) => {
                    let text = serde_json::to_string(&set).expect("activity sets serialize");
                    if tx.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(None)) | None => {
                    let _ = tx.send(close(NORMAL, "the conversation has ended")).await;
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "a Direct Line stream failed");
                    let _ = tx.send(close(INTERNAL_ERROR, "the stream failed; reconnect")).await;
                    break;
                }
            },
        }
    }
    producer.abort();
}

/// `POST /conversations/{id}/upload?userId=`: a part named `activity` (the activity, as
/// JSON) and parts named `file`, as Web Chat sends them.
async fn upload(
    State(state): State<AppState>,
    Bearer(bearer): Bearer,
    ApiPath(id): ApiPath<String>,
    mut multipart: Multipart,
) -> Result<Json<Value>, ApiError> {
    let mut activity = Activity {
        kind: "message".into(),
        ..Activity::default()
    };
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await? {
        match field.name() {
            Some("activity") => {
                let bytes = field.bytes().await?;
                activity = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::invalid("activity", format!("not an activity: {e}")))?;
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("attachment").to_owned();
                let bytes = field.bytes().await?.to_vec();
                files.push(Upload { name, bytes });
            }
            _ => {}
        }
    }
    let posted = state
        .directline
        .upload(&bearer, &id, &activity, files)
        .await?;
    Ok(Json(json!({ "id": posted })))
}

#[derive(Deserialize)]
struct FileLink {
    expires: i64,
    sig: String,
}

/// A file by the link an activity's `contentUrl` gave: no other credentials.
async fn file(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(link): ApiQuery<FileLink>,
) -> Result<Response, ApiError> {
    let download = state
        .chats
        .download_by_link(&id, link.expires, &link.sig)
        .await?;
    Ok(super::calls::file_response(download))
}

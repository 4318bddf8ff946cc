//! WebSockets: a chat's live feed (with replay after `?after=SEQ`) and the analysts' desk
//! feed. Rights are checked before the upgrade. Each chat socket runs a writer (feed and
//! replies) and a reader (client frames). At shutdown the reader finishes the frame in
//! hand and stops; the writer sends what the feed already holds (the acknowledgement of
//! that last message among it) and then a close frame.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::extract::{ApiPath, ApiQuery, Authenticated};
use super::{ApiError, AppState};
use crate::domain::ids::ChatId;
use crate::domain::user::User;
use crate::engine::{AccessWatch, ChatFeed, DeskFeed, Revoked};
use crate::error::{Error, ErrorCode};
use crate::events::{self, ClientFrame, Frame};

/// Client frames are small JSON objects; a message's text is bounded well below this.
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Small buffers keep idle connections cheap (the default read buffer is 128 KiB).
const READ_BUFFER: usize = 4 * 1024;
/// The feed has ended for this viewer (the chat was transferred away, or taken by another
/// analyst): not worth reconnecting.
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_DATA: u16 = 1007;
/// The person already holds `limits.sockets_per_user` sockets (RFC 6455 "policy
/// violation").
pub(super) const POLICY_VIOLATION: u16 = 1008;
const MESSAGE_TOO_BIG: u16 = 1009;
/// The session behind the socket ended (signed out, expired, revoked, account disabled):
/// sign in again before reconnecting. Private-use codes (RFC 6455 §7.4.2), mirroring
/// HTTP 401 and 403.
const SIGNED_OUT: u16 = 4401;
/// The account lost a role it had when the socket was opened.
const ROLE_LOST: u16 = 4403;
/// At shutdown, a socket's feed is flushed until it has been quiet this long (and has
/// reached what the socket's own reader stored)...
const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// ...but for no longer than this.
const DRAIN_SOCKET_LIMIT: Duration = Duration::from_secs(5);
/// After its close frame, a socket waits this long for the client's before dropping the
/// connection.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chats/{id}/ws", get(chat_socket))
        .route("/analyst/ws", get(desk_socket))
}

fn upgrade(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
}

fn text(frame: &Frame) -> Message {
    Message::Text(Utf8Bytes::from(&*frame.text))
}

fn going_away() -> Message {
    Message::Close(Some(CloseFrame {
        code: GOING_AWAY,
        reason: Utf8Bytes::from_static("server shutting down"),
    }))
}

/// The close frame for a frame the WebSocket layer could not take: too big (1009), not
/// UTF-8 (1007), or otherwise broken (1002).
fn refusal(e: &axum::Error) -> Message {
    let detail = e.to_string();
    let (code, reason) = if detail.contains("too long") || detail.contains("too big") {
        (
            MESSAGE_TOO_BIG,
            "frame too big: messages are limited to 64 KiB",
        )
    } else if detail.contains("UTF-8") || detail.contains("utf-8") {
        (INVALID_DATA, "text frames must be UTF-8")
    } else {
        (PROTOCOL_ERROR, "malformed WebSocket frame")
    };
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// The close frame for a socket whose right to stay open has ended.
fn revoked_close(revoked: Revoked) -> Message {
    let code = match revoked {
        Revoked::SignedOut => SIGNED_OUT,
        Revoked::RoleLost => ROLE_LOST,
    };
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(revoked.reason()),
    }))
}

/// Closes a socket its person may not open now, with a code that says why, and waits
/// briefly for the client's close.
pub(super) async fn refuse(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(msg)) = socket.next().await {
            if matches!(msg, Message::Close(_)) {
                return;
            }
        }
    })
    .await;
}

const TOO_MANY_SOCKETS: &str = "too many open chat and desk windows: close some and retry";

#[derive(Deserialize)]
struct Resume {
    after: Option<i64>,
}

async fn chat_socket(
    State(state): State<AppState>,
    signed_in: Authenticated,
    ApiPath(chat_id): ApiPath<ChatId>,
    ApiQuery(resume): ApiQuery<Resume>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let user = signed_in.owner.user.clone();
    let Some(slot) = state.accounts.socket_slot(user.id) else {
        return Ok(
            upgrade(ws).on_upgrade(|socket| refuse(socket, POLICY_VIOLATION, TOO_MANY_SOCKETS))
        );
    };
    let feed = state
        .chats
        .open_feed(&user, chat_id, resume.after.unwrap_or(0))
        .await?;
    // One watch for each half of the socket: the writer closes it, the reader checks
    // before storing.
    let access = (
        state
            .accounts
            .watch_access(&signed_in.token, &signed_in.owner),
        state
            .accounts
            .watch_access(&signed_in.token, &signed_in.owner),
    );
    // Counted from now: a shutdown between the upgrade and the session's start waits too.
    let tracked = state.sockets.token();
    Ok(upgrade(ws).on_upgrade(move |socket| async move {
        chat_session(socket, state, user, chat_id, feed, access).await;
        drop(slot);
        drop(tracked);
    }))
}

async fn chat_session(
    socket: WebSocket,
    state: AppState,
    user: User,
    chat_id: ChatId,
    mut feed: ChatFeed,
    (mut writer_access, reader_access): (AccessWatch, AccessWatch),
) {
    state.metrics.open_sockets.increment(1.0);
    let (mut sink, stream) = socket.split();
    let (reply_tx, mut replies) = mpsc::channel::<Message>(16);
    let shutdown = state.shutdown.clone();
    // Cancelled when the writer is done, so that the reader stops too.
    let closing = CancellationToken::new();
    // The highest `seq` the reader has stored; at shutdown the writer sends the feed at
    // least that far, so the last message's acknowledgement goes out before the close.
    let stored = AtomicI64::new(0);

    // The reader stops taking frames at shutdown, but the one in hand is finished first;
    // when it stops it drops `reply_tx`, which tells the writer.
    let reader = read_frames(
        &state,
        &user,
        chat_id,
        stream,
        reply_tx,
        &closing,
        &stored,
        reader_access,
    );

    // The writer ends the session: when the feed ends, the client goes, or the reader has
    // stopped for shutdown (then it sends what the feed already holds, such as the
    // acknowledgement of the last message, and a close frame).
    let writer = async {
        let _done = closing.clone().drop_guard();
        let revoked = writer_access.revoked();
        tokio::pin!(revoked);
        loop {
            let frame = tokio::select! {
                revoked = &mut revoked => {
                    let _ = sink.send(revoked_close(revoked)).await;
                    return;
                }
                next = feed.next() => match next {
                    Ok(Some(frame)) => frame,
                    Ok(None) => {
                        let _ = sink.send(Message::Close(Some(CloseFrame {
                            code: NORMAL,
                            reason: Utf8Bytes::from_static("this chat's feed has ended for you"),
                        }))).await;
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%chat_id, error = %e.chain(), "chat feed failed");
                        let _ = sink.send(text(&events::error_frame(ErrorCode::Unavailable, "the chat feed stopped; reconnect with ?after="))).await;
                        return;
                    }
                },
                reply = replies.recv() => match reply {
                    // The reader refused the connection (a frame too big, not UTF-8).
                    Some(close @ Message::Close(_)) => {
                        let _ = sink.send(close).await;
                        return;
                    }
                    Some(reply) => {
                        if sink.send(reply).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    None => break,
                },
            };
            if sink.send(text(&frame)).await.is_err() {
                return;
            }
            delivered(&state, &user, &frame);
        }
        if shutdown.is_cancelled() {
            let drained = drain(&mut sink, &mut feed, &stored, &state, &user);
            let _ = tokio::time::timeout(DRAIN_SOCKET_LIMIT, drained).await;
            let _ = sink.send(going_away()).await;
        }
    };

    tokio::join!(writer, reader);
    // The socket counts until its window on the chat has closed.
    drop(feed);
    state.metrics.open_sockets.decrement(1.0);
}

/// At shutdown, sends what the feed holds: at least up to `stored` (the reader's last
/// stored message, so its acknowledgement goes out), then until it is quiet for
/// `DRAIN_QUIET`.
async fn drain(
    sink: &mut SplitSink<WebSocket, Message>,
    feed: &mut ChatFeed,
    stored: &AtomicI64,
    state: &AppState,
    user: &User,
) {
    loop {
        let behind = feed.last_seq() < stored.load(Ordering::Acquire);
        let next = if behind {
            feed.next().await
        } else {
            match tokio::time::timeout(DRAIN_QUIET, feed.next()).await {
                Ok(next) => next,
                Err(_) => return,
            }
        };
        let Ok(Some(frame)) = next else { return };
        if sink.send(text(&frame)).await.is_err() {
            return;
        }
        delivered(state, user, &frame);
    }
}

/// Records how long a live message took from its commit to this socket, when this
/// socket is the other side's.
fn delivered(state: &AppState, user: &User, frame: &Frame) {
    if let Some(delivery) = frame.delivery
        && delivery.author != Some(user.id)
    {
        state
            .metrics
            .delivery
            .record(delivery.committed.elapsed().as_secs_f64());
    }
}

/// Reads client frames until the client leaves, the server shuts down or the writer is
/// done, handing each reply to the writer. A frame the protocol layer refuses ends the
/// connection with a close frame that says why, and so does a frame that arrives after
/// the person's right to the socket has gone (nothing of it is stored). Afterwards it
/// reads on (discarding) until the client's close or a second has passed, so that
/// closing does not reset the connection under frames still in flight.
#[allow(clippy::too_many_arguments)]
async fn read_frames(
    state: &AppState,
    user: &User,
    chat_id: ChatId,
    mut stream: SplitStream<WebSocket>,
    replies: mpsc::Sender<Message>,
    closing: &CancellationToken,
    stored: &AtomicI64,
    mut access: AccessWatch,
) {
    loop {
        let msg = tokio::select! {
            biased;
            () = state.shutdown.cancelled() => break,
            () = closing.cancelled() => break,
            msg = stream.next() => msg,
        };
        let msg = match msg {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                let _ = replies.send(refusal(&e)).await;
                break;
            }
            None => break,
        };
        if matches!(msg, Message::Text(_))
            && let Err(revoked) = access.check().await
        {
            let _ = replies.send(revoked_close(revoked)).await;
            break;
        }
        let (reply, seq) = match msg {
            Message::Text(t) => handle_frame(state, user, chat_id, t.as_str()).await,
            Message::Binary(_) => (
                Some(events::error_frame(
                    ErrorCode::InvalidFrame,
                    "send JSON text frames",
                )),
                None,
            ),
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => (None, None),
        };
        if let Some(seq) = seq {
            stored.fetch_max(seq, Ordering::AcqRel);
        }
        if let Some(reply) = reply
            && replies.send(text(&reply)).await.is_err()
        {
            break;
        }
    }
    drop(replies);
    closing.cancelled().await;
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                return;
            }
        }
    })
    .await;
}

/// Acts on one client frame; returns what to tell this client directly, if anything, and
/// the `seq` of the message it stored.
async fn handle_frame(
    state: &AppState,
    user: &User,
    chat_id: ChatId,
    raw: &str,
) -> (Option<Frame>, Option<i64>) {
    let frame = match ClientFrame::parse(raw) {
        Ok(frame) => frame,
        Err((code, message)) => return (Some(events::error_frame(code, &message)), None),
    };
    let outcome = match frame {
        ClientFrame::Message { text, client_id } => loop {
            match state
                .chats
                .post_message(user, chat_id, &text, client_id.as_deref())
                .await
            {
                // Too fast: this socket waits its turn (and stops reading, so a flood
                // backs up on the sender's side) instead of failing the message.
                Err(Error::TooManyRequests { retry_after, .. }) => {
                    tokio::time::sleep(retry_after).await;
                }
                // A new message reaches its sender through the feed, with its client_id;
                // a repeated one is acknowledged here, since nothing new is broadcast.
                other => {
                    break other.map(|(message, duplicate)| {
                        let reply = duplicate.then(|| events::message_frame(&message));
                        (reply, Some(message.seq))
                    });
                }
            }
        },
        ClientFrame::Typing { typing } => state
            .chats
            .typing(user, chat_id, typing)
            .await
            .map(|()| (None, None)),
    };
    match outcome {
        Ok(reply) => reply,
        Err(e) => (Some(error_reply(&e)), None),
    }
}

fn error_reply(e: &Error) -> Frame {
    if matches!(e, Error::Database(_) | Error::Internal(_)) {
        tracing::error!(error = %e.chain(), "socket frame failed");
    }
    events::error_frame(e.code(), &e.to_string())
}

async fn desk_socket(
    State(state): State<AppState>,
    signed_in: Authenticated,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let user = &signed_in.owner.user;
    let Some(slot) = state.accounts.socket_slot(user.id) else {
        return Ok(
            upgrade(ws).on_upgrade(|socket| refuse(socket, POLICY_VIOLATION, TOO_MANY_SOCKETS))
        );
    };
    let feed = state.desk.open_desk_feed(user).await?;
    let access = state
        .accounts
        .watch_access(&signed_in.token, &signed_in.owner);
    let tracked = state.sockets.token();
    Ok(upgrade(ws).on_upgrade(move |socket| async move {
        desk_session(socket, state, feed, access).await;
        drop(slot);
        drop(tracked);
    }))
}

async fn desk_session(
    socket: WebSocket,
    state: AppState,
    mut feed: DeskFeed,
    mut access: AccessWatch,
) {
    let (mut sink, mut stream) = socket.split();
    let writer = async {
        let revoked = access.revoked();
        tokio::pin!(revoked);
        loop {
            let frame = tokio::select! {
                revoked = &mut revoked => {
                    let _ = sink.send(revoked_close(revoked)).await;
                    break;
                }
                next = feed.next() => match next {
                    Ok(Some(frame)) => frame,
                    Ok(None) | Err(_) => break,
                },
                () = state.shutdown.cancelled() => {
                    let _ = sink.send(going_away()).await;
                    break;
                }
            };
            if sink.send(text(&frame)).await.is_err() {
                break;
            }
        }
    };
    let reader = async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    };
    tokio::select! {
        () = writer => {},
        () = reader => {},
    }
}

//! Killed mid-chat with SIGKILL and started again on the same database: every message
//! that was acknowledged is there, in order; the queue keeps its order; a client that
//! reconnects with `?after=` misses nothing; retries store nothing twice; and no call is
//! left half-written. SIGTERM drains instead: the last message is acknowledged and the
//! sockets get a close frame.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::{Backend, TestUser, is_type};
use crate::on_both_databases;
use crate::process::ServerProcess;

on_both_databases!(
    a_killed_server_loses_nothing_acknowledged,
    sigterm_drains,
    sigterm_stops_with_rankings_queued
);

const SENDS: usize = 120;

/// A socket that sends `SENDS` messages as fast as it can while another task collects
/// every frame it receives (and, last, `{"close_code"}` if the server closed it), until
/// the connection ends. `acks` counts the acknowledgements seen so far.
struct Blast {
    frames: tokio::task::JoinHandle<Vec<Value>>,
    sender: tokio::task::JoinHandle<()>,
    acks: watch::Receiver<usize>,
}

async fn blast(who: &TestUser, chat_id: i64, tag: &'static str) -> Blast {
    blast_n(who, chat_id, tag, SENDS).await
}

/// [`blast`] with `sends` messages.
async fn blast_n(who: &TestUser, chat_id: i64, tag: &'static str, sends: usize) -> Blast {
    let (mut tx, mut rx) = who.chat_ws(chat_id).await.into_inner().split();
    let (count, acks) = watch::channel(0);
    let frames = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(Ok(msg)) = rx.next().await {
            match msg {
                WsMessage::Text(t) => {
                    let frame: Value = serde_json::from_str(&t).expect("JSON frame");
                    if frame["client_id"]
                        .as_str()
                        .is_some_and(|c| c.starts_with(tag))
                    {
                        count.send_modify(|n| *n += 1);
                    }
                    frames.push(frame);
                }
                // Kept as a last pseudo-frame.
                WsMessage::Close(close) => {
                    frames.push(json!({"close_code": close.map(|c| u16::from(c.code))}));
                    break;
                }
                _ => {}
            }
        }
        frames
    });
    let sender = tokio::spawn(async move {
        for i in 1..=sends {
            let frame = json!({"type": "message", "text": format!("{tag} says {i}"), "client_id": format!("{tag}-{i}")});
            if tx
                .send(WsMessage::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Blast {
        frames,
        sender,
        acks,
    }
}

/// `client_id -> seq` of the acknowledgements among `frames` for `tag`'s messages.
fn acked(frames: &[Value], tag: &str) -> BTreeMap<String, i64> {
    frames
        .iter()
        .filter(|f| is_type(f, "message"))
        .filter_map(|f| {
            let id = f["client_id"].as_str()?;
            id.starts_with(tag)
                .then(|| (id.to_owned(), f["seq"].as_i64().expect("seq")))
        })
        .collect()
}

fn index_of(client_id: &str) -> usize {
    client_id.rsplit('-').next().unwrap().parse().unwrap()
}

/// The chat ids in the queue, oldest first, as an analyst sees them.
async fn queued(analyst: &TestUser) -> Vec<i64> {
    let (_, queue) = analyst.get("/analyst/queue").await;
    queue
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["chat_id"].as_i64().unwrap())
        .collect()
}

async fn messages(who: &TestUser, chat_id: i64) -> Vec<Value> {
    let (status, chat) = who.get(&format!("/chats/{chat_id}")).await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    chat["messages"].as_array().expect("messages").clone()
}

/// A chat's call is either still open with no final transcript, or its chat ended and
/// the call holds the transcript, ending with the `ended` event: never in between.
async fn assert_whole(who: &TestUser, chat_id: i64) {
    let (_, chat) = who.get(&format!("/chats/{chat_id}")).await;
    let call_id = chat["call_id"].as_i64().unwrap();
    let (_, call) = who.get(&format!("/calls/{call_id}")).await;
    let transcript = call["transcript"].as_array().unwrap();
    let ended = chat["status"] == "ended";
    assert_eq!(
        call["transcript_text"].is_string(),
        ended,
        "chat {chat_id} is {} but its call's transcript is {}",
        chat["status"],
        call["transcript_text"]
    );
    assert_eq!(
        transcript.last().is_some_and(|e| e["kind"] == "ended"),
        ended,
        "chat {chat_id}: the ended event and the status disagree"
    );
}

async fn a_killed_server_loses_nothing_acknowledged(backend: Backend) {
    let mut server = ServerProcess::start(backend).await;
    let alice = server.account("alice", &["user", "chat-user"]).await;
    let erin = server.account("erin", &["user", "chat-user"]).await;
    let carol = server.account("carol", &["user", "chat-user"]).await;
    let dave = server.account("dave", &["user", "chat-user"]).await;
    let bob = server.account("bob", &["analyst"]).await;
    let (status, body) = bob
        .put(
            "/analyst/status",
            json!({"status": "online", "max_chats": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Two live chats with bob; two more wait in the queue behind them.
    let talk = alice.queued_chat("my vpn keeps dropping").await;
    let ending = erin
        .queued_chat("outlook keeps asking for my password")
        .await;
    for chat in [talk, ending] {
        let (status, body) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let first = carol.queued_chat("the printer is offline").await;
    let second = dave.queued_chat("teams has no sound").await;
    let queue_before = queued(&bob).await;
    assert_eq!(queue_before, vec![first, second]);

    // Both sides of the live chat send as fast as they can; the kill comes mid-stream,
    // together with an end of the other chat.
    let mut user_side = blast(&alice, talk, "a").await;
    let analyst_side = blast(&bob, talk, "b").await;
    user_side
        .acks
        .wait_for(|n| *n >= 20)
        .await
        .expect("acknowledgements arrive");
    let end = {
        let bob = TestUser::at(&server.root, bob.token.clone(), server.http.clone());
        tokio::spawn(async move { bob.post(&format!("/chats/{ending}/end"), json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    server.kill();
    let _ = end.await;
    user_side.sender.abort();
    analyst_side.sender.abort();
    let alice_frames = user_side.frames.await.unwrap();
    let bob_frames = analyst_side.frames.await.unwrap();
    let acknowledged: BTreeMap<String, i64> = acked(&alice_frames, "a")
        .into_iter()
        .chain(acked(&bob_frames, "b"))
        .collect();
    assert!(acknowledged.len() >= 20);

    server.restart().await;

    // Every acknowledged message is stored with the seq it was acknowledged with.
    let stored = messages(&alice, talk).await;
    let by_client: BTreeMap<String, (i64, String)> = stored
        .iter()
        .filter_map(|m| {
            Some((
                m["client_id"].as_str()?.to_owned(),
                (m["seq"].as_i64()?, m["text"].as_str()?.to_owned()),
            ))
        })
        .collect();
    for (client_id, seq) in &acknowledged {
        let (stored_seq, text) = by_client
            .get(client_id)
            .unwrap_or_else(|| panic!("acknowledged {client_id} (seq {seq}) was lost"));
        assert_eq!(stored_seq, seq, "{client_id}");
        assert!(text.ends_with(&format!(" says {}", index_of(client_id))));
    }
    // In order: each side's stored messages are the first k it sent, in seq order.
    for tag in ["a-", "b-"] {
        let sent: Vec<usize> = stored
            .iter()
            .filter_map(|m| m["client_id"].as_str())
            .filter(|c| c.starts_with(tag))
            .map(index_of)
            .collect();
        assert_eq!(sent, (1..=sent.len()).collect::<Vec<_>>(), "{tag} order");
    }

    // Reconnecting after the last seq alice saw replays exactly the rest.
    let seen: Vec<i64> = alice_frames
        .iter()
        .filter_map(|f| f["seq"].as_i64())
        .collect();
    let last_seen = seen.iter().copied().max().unwrap_or(0);
    let mut ws = alice
        .ws(&format!("/chats/{talk}/ws?after={last_seen}"))
        .await
        .unwrap();
    let replay = ws.drain(Duration::from_millis(500)).await;
    let mut all: Vec<i64> = seen
        .iter()
        .copied()
        .chain(replay.iter().filter_map(|f| f["seq"].as_i64()))
        .collect();
    all.sort_unstable();
    all.dedup();
    let last = stored
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .max()
        .unwrap();
    assert_eq!(
        all,
        (1..=last).collect::<Vec<_>>(),
        "gaps after reconnecting"
    );
    ws.close().await;

    // Retrying every message after the crash stores each exactly once.
    for (who, tag) in [(&alice, "a"), (&bob, "b")] {
        for i in 1..=SENDS {
            let (status, body) = who
                .post(
                    &format!("/chats/{talk}/messages"),
                    json!({"text": format!("{tag} says {i}"), "client_id": format!("{tag}-{i}")}),
                )
                .await;
            assert!(status.is_success(), "{status} {body}");
        }
    }
    let after_retries = messages(&alice, talk).await;
    let client_ids: Vec<&str> = after_retries
        .iter()
        .filter_map(|m| m["client_id"].as_str())
        .collect();
    assert_eq!(client_ids.len(), 2 * SENDS, "each message once");
    for m in &after_retries {
        if let Some(id) = m["client_id"].as_str()
            && let Some(seq) = acknowledged.get(id)
        {
            assert_eq!(m["seq"].as_i64(), Some(*seq), "{id} moved");
        }
    }

    // The queue kept its order, and no call is half-written.
    let queue_after = queued(&bob).await;
    assert_eq!(queue_after, queue_before);
    assert_whole(&erin, ending).await;
    assert_whole(&alice, talk).await;
    let (status, body) = bob.post(&format!("/chats/{talk}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_whole(&alice, talk).await;
}

async fn sigterm_drains(backend: Backend) {
    let mut server = ServerProcess::start(backend).await;
    let alice = server.account("alice", &["user", "chat-user"]).await;
    let bob = server.account("bob", &["analyst"]).await;
    bob.put("/analyst/status", json!({"status": "online"}))
        .await;
    let chat = alice.queued_chat("my laptop will not charge").await;
    let (status, body) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut user_side = blast(&alice, chat, "a").await;
    user_side
        .acks
        .wait_for(|n| *n >= 5)
        .await
        .expect("acknowledgements arrive");
    let status = server.terminate().await;
    assert!(status.success(), "clean exit: {status:?}\n{}", server.log());
    user_side.sender.abort();
    let frames = user_side.frames.await.unwrap();
    assert_eq!(
        frames.last().map(|f| f["close_code"].clone()),
        Some(json!(1001)),
        "the socket got a going-away close frame"
    );
    assert!(server.log().contains("drained"), "{}", server.log());

    // Draining finished the frame in hand and sent its acknowledgement: what was stored
    // is exactly what was acknowledged.
    server.restart().await;
    let acknowledged: Vec<String> = acked(&frames, "a").into_keys().collect();
    let mut stored: Vec<String> = messages(&alice, chat)
        .await
        .iter()
        .filter_map(|m| m["client_id"].as_str().map(str::to_owned))
        .collect();
    stored.sort();
    assert_eq!(stored, acknowledged);
}

/// The server's drain limit (`startup::DRAIN_LIMIT`): requests still running this long
/// after SIGTERM are cut off.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// Messages in the flood: each once queued its own agent-assist ranking.
const FLOOD: usize = 2000;

/// A user floods an active chat that its analyst watches (every message asks for agent
/// assist, which ranks the conversation) while four users in the bot stage send messages
/// the bot re-ranks on: SIGTERM still stops the server within its drain limit, because
/// queued background rankings are dropped, not run (before, thousands of them queued on
/// the blocking pool and the server ran them all before it exited).
async fn sigterm_stops_with_rankings_queued(backend: Backend) {
    let mut server = ServerProcess::start(backend).await;
    let alice = server.account("alice", &["user", "chat-user"]).await;
    let bob = server.account("bob", &["analyst"]).await;
    bob.put("/analyst/status", json!({"status": "online"}))
        .await;
    let chat = alice
        .queued_chat("my vpn keeps dropping every few minutes")
        .await;
    let (status, body) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Assist is for the analyst's socket on the chat: without one nothing is ranked.
    let mut watching = bob.chat_ws(chat).await;
    let mut flood = blast_n(&alice, chat, "a", FLOOD).await;
    let mut asking = Vec::new();
    for i in 0..4 {
        let user = server
            .account(&format!("user{i}"), &["user", "chat-user"])
            .await;
        let (id, _) = user.start_chat("the printer prints blank pages").await;
        asking.push(blast(&user, id, "b").await);
    }
    flood
        .acks
        .wait_for(|n| *n >= FLOOD)
        .await
        .expect("the flood is acknowledged");
    watching
        .wait_for("an assist frame", |f| is_type(f, "assist"))
        .await;

    let signalled = std::time::Instant::now();
    let status = server.terminate().await;
    let took = signalled.elapsed();
    assert!(status.success(), "clean exit: {status:?}\n{}", server.log());
    assert!(
        took < DRAIN_LIMIT,
        "stopped {took:?} after SIGTERM, over the drain limit\n{}",
        server.log()
    );
    flood.sender.abort();
    for b in asking {
        b.sender.abort();
    }
}

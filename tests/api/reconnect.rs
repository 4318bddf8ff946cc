//! Reconnecting with `?after=SEQ` replays exactly what was missed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, is_type};
use crate::on_both_databases;

on_both_databases!(
    reconnecting_with_after_replays_what_was_missed,
    retried_messages_are_stored_once
);

async fn reconnecting_with_after_replays_what_was_missed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let chat = alice.queued_chat("Teams has no sound").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;

    let mut ws = alice.chat_ws(chat).await;
    let frames = ws.drain(Duration::from_millis(300)).await;
    let seen: Vec<i64> = frames.iter().filter_map(|f| f["seq"].as_i64()).collect();
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "replay in order: {seen:?}"
    );
    let last = *seen.last().expect("history replayed");
    ws.close().await;

    for text in ["first while away", "second while away"] {
        let (status, _) = bob
            .post(&format!("/chats/{chat}/messages"), json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    let mut ws = alice
        .ws(&format!("/chats/{chat}/ws?after={last}"))
        .await
        .expect("reconnects");
    let frames = ws.drain(Duration::from_millis(300)).await;
    let replayed: Vec<_> = frames.iter().filter(|f| f["seq"].is_i64()).collect();
    assert_eq!(replayed.len(), 2, "exactly the missed events: {frames:?}");
    assert_eq!(replayed[0]["seq"], last + 1);
    assert_eq!(replayed[0]["text"], "first while away");
    assert_eq!(replayed[1]["text"], "second while away");
    assert!(
        frames
            .iter()
            .any(|f| is_type(f, "status") && f["status"] == "active")
    );

    // Live events keep coming after the replay, without gaps.
    bob.post(
        &format!("/chats/{chat}/messages"),
        json!({"text": "live again"}),
    )
    .await;
    let live = ws.wait_for("live message", |f| is_type(f, "message")).await;
    assert_eq!(live["seq"], last + 3);
}

async fn retried_messages_are_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice.start_chat("my laptop battery drains fast").await;
    let path = format!("/chats/{chat}/messages");
    let body = json!({"text": "it lasts one hour", "client_id": "retry-1"});
    let (s1, first) = alice.post(&path, body.clone()).await;
    let (s2, again) = alice.post(&path, body.clone()).await;
    assert_eq!(s1, StatusCode::CREATED);
    assert_eq!(s2, StatusCode::CREATED);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["seq"], again["seq"]);

    // Over the socket, a repeat is acknowledged with the first message.
    let mut ws = alice.chat_ws(chat).await;
    ws.drain(Duration::from_millis(200)).await;
    ws.send(json!({"type": "message", "text": "it lasts one hour", "client_id": "retry-1"}))
        .await;
    let ack = ws.wait_for("ack", |f| is_type(f, "message")).await;
    assert_eq!(ack["id"], first["id"]);

    let (_, chat_body) = alice.get(&format!("/chats/{chat}")).await;
    let copies = chat_body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"] == "it lasts one hour")
        .count();
    assert_eq!(copies, 1);
}

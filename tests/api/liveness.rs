//! Liveness: an analyst with no socket and no request for `chat.presence_timeout_secs` is
//! set offline and the desk hears of it; a typing indicator ends when the typer's last
//! socket on the chat closes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, is_type};
use crate::on_both_databases;
use chatdesk::domain::now_millis;
use chatdesk::domain::user::Role;

on_both_databases!(
    presence_lapses_without_a_socket_or_a_request,
    typing_ends_when_the_typers_last_socket_closes,
);

async fn presence_lapses_without_a_socket_or_a_request(backend: Backend) {
    let app =
        TestApp::spawn_on_clock(backend, now_millis(), |s| s.chat.presence_timeout_secs = 1).await;
    let alice = app.chat_user("alice").await;
    // Bob goes online and then closes his browser: no socket, no requests.
    let bob = app.user("bob", &[Role::Analyst]).await;
    let (status, _) = bob
        .put(
            "/analyst/status",
            json!({"status": "online", "max_chats": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Ann keeps the console open: her desk socket keeps her online.
    let ann = app.online_analyst("ann", 3).await;
    let mut desk = ann.ws("/analyst/ws").await.unwrap();
    let (_, avail) = alice.get("/chat/availability").await;
    assert_eq!(avail["online_analysts"], 2, "{avail}");

    app.clock().advance(Duration::from_millis(1500)).await;
    let lapsed = desk
        .wait_for("the desk without bob", |f| {
            is_type(f, "queue") && f["availability"]["online_analysts"] == 1
        })
        .await;
    assert_eq!(lapsed["availability"]["available_analysts"], 1);
    let (_, avail) = alice.get("/chat/availability").await;
    assert_eq!(avail["online_analysts"], 1, "{avail}");
    assert_eq!(avail["label"], "Chat: 1 analyst available");
    // Ann is still online well past the timeout; Bob stays offline until he says
    // otherwise, even if he makes a request now.
    bob.get("/me").await;
    app.clock().advance(Duration::from_millis(1500)).await;
    let (_, avail) = alice.get("/chat/availability").await;
    assert_eq!(avail["online_analysts"], 1, "{avail}");
}

async fn typing_ends_when_the_typers_last_socket_closes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let mut analyst = bob.chat_ws(chat).await;
    let mut phone = alice.chat_ws(chat).await;
    let laptop = alice.chat_ws(chat).await;
    analyst.drain(Duration::from_millis(300)).await;

    phone.send(json!({"type": "typing", "typing": true})).await;
    let on = analyst
        .wait_for("typing", |f| is_type(f, "typing") && f["typing"] == true)
        .await;
    assert_eq!(on["role"], "user");

    // One of her two windows closes: she may still be typing in the other.
    phone.close().await;
    let frames = analyst.drain(Duration::from_millis(500)).await;
    assert!(
        !frames.iter().any(|f| is_type(f, "typing")),
        "typing ended while a window was open: {frames:?}"
    );
    // Her last window closes: typing ends, announced like any change.
    laptop.close().await;
    let off = analyst
        .wait_for("typing off", |f| {
            is_type(f, "typing") && f["typing"] == false
        })
        .await;
    assert_eq!(off["role"], "user");
    assert_eq!(off["name"], "Alice Test");
}

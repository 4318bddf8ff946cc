//! A chat ends only when someone ends it: a dropped socket or another page ends nothing, a
//! queued chat keeps its place, and the portal lists it to return to; closing the chat's
//! tab ends it unless the user is back within seconds; a user away too long ends it, and
//! the call stays open for analysts.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestUser, is_type};
use crate::on_both_databases;
use chatdesk::domain::now_millis;
use chatdesk::engine::LEAVING_WINDOW;

on_both_databases!(
    a_queued_chat_keeps_its_place_while_its_user_is_away,
    closing_the_tab_ends_the_chat_unless_the_user_comes_back,
    a_user_away_too_long_ends_the_chat_and_the_call_stays_open,
);

async fn status_of(user: &TestUser, chat: i64) -> String {
    let (status, body) = user.get(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["status"].as_str().unwrap().to_owned()
}

async fn a_queued_chat_keeps_its_place_while_its_user_is_away(backend: Backend) {
    let app = TestApp::spawn_on_clock(backend, now_millis(), |s| s.chat.leave_grace_secs = 1).await;
    let alice = app.chat_user("alice").await;
    let pat = app.chat_user("pat").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    let later = pat.queued_chat("outlook will not open").await;

    // Alice's window goes (a dropped connection, another page); nothing ends.
    alice.chat_ws(chat).await.close().await;
    app.chat_sockets_are(0).await;
    let (status, _) = alice.get("/me").await;
    assert_eq!(status, StatusCode::OK);
    app.clock().advance(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&alice, chat).await, "queued");

    // The portal lists it with its place, to return to; only her own.
    let (status, open) = alice.get("/chats").await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["id"], chat);
    assert_eq!(open[0]["queue_position"], 1);
    let (_, theirs) = pat.get("/chats").await;
    assert_eq!(theirs[0]["id"], later);
    let page = alice.text("/").await;
    assert!(page.contains("You have a chat in progress"), "{page}");
    assert!(page.contains(&format!("href=\"/chats/{chat}\"")), "{page}");

    // An analyst who comes online later finds it first in the queue.
    let bob = app.online_analyst("bob", 3).await;
    let (_, queue) = bob.get("/analyst/queue").await;
    assert_eq!(queue[0]["chat_id"], chat, "{queue}");
    let (status, body) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(status_of(&alice, chat).await, "active");
}

async fn closing_the_tab_ends_the_chat_unless_the_user_comes_back(backend: Backend) {
    let app = TestApp::spawn_on_clock(backend, now_millis(), |s| s.chat.leave_grace_secs = 1).await;
    let alice = app.chat_user("alice").await;
    let mallory = app.chat_user("mallory").await;
    let leave = |chat: i64| format!("/chats/{chat}/leave");

    // A reload: the tab says it is leaving, and a new window opens at once.
    let (chat, _) = alice.start_chat("my screen is black").await;
    let window = alice.chat_ws(chat).await;
    let (status, _) = alice.post(&leave(chat), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    window.close().await;
    let window = alice.chat_ws(chat).await;
    app.chat_sockets_are(1).await;
    app.clock().advance(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&alice, chat).await, "bot");

    // Another page of the site: its page is requested just before the old page unloads
    // and says it is leaving; nothing else follows.
    alice.text("/").await;
    alice.post(&leave(chat), json!({})).await;
    window.close().await;
    app.chat_sockets_are(0).await;
    app.clock().advance(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&alice, chat).await, "bot");
    // A page loaded after the request counts too (the back button, a slow unload).
    let window = alice.chat_ws(chat).await;
    alice.post(&leave(chat), json!({})).await;
    window.close().await;
    app.chat_sockets_are(0).await;
    alice.text("/").await;
    app.clock().advance(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&alice, chat).await, "bot");

    // Nobody else can make her leave.
    let (status, _) = mallory.post(&leave(chat), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The tab closed for good, while another tab keeps asking the API for the Chat
    // label: the chat ends, and the call stays open with the reason.
    let window = alice.chat_ws(chat).await;
    app.clock().advance(LEAVING_WINDOW).await;
    alice.post(&leave(chat), json!({})).await;
    window.close().await;
    app.chat_sockets_are(0).await;
    for _ in 0..3 {
        alice.get("/chat/availability").await;
        app.clock().advance(Duration::from_millis(500)).await;
    }
    let (_, shown) = alice.get(&format!("/chats/{chat}")).await;
    assert_eq!(shown["status"], "ended", "{shown}");
    let call_id = shown["call_id"].as_i64().unwrap();
    let (_, call) = alice.get(&format!("/calls/{call_id}")).await;
    assert_eq!(call["status"], "open", "{call}");
    let text = call["transcript_text"].as_str().unwrap();
    assert!(
        text.contains("Alice Test closed the chat window."),
        "{text}"
    );
    let (_, open) = alice.get("/chats").await;
    assert_eq!(open, json!([]));
    // Leaving an ended chat changes nothing.
    let (status, _) = alice.post(&leave(chat), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

async fn a_user_away_too_long_ends_the_chat_and_the_call_stays_open(backend: Backend) {
    let app = TestApp::spawn_on_clock(backend, now_millis(), |s| s.chat.away_end_secs = 1).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let pat = app.chat_user("pat").await;
    let chat = alice.queued_chat("my mapped drive is missing").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let mut analyst_ws = bob.chat_ws(chat).await;

    // A queued chat keeps its place however long its user is away.
    let waiting = pat.queued_chat("outlook will not open").await;
    pat.chat_ws(waiting).await.close().await;

    // Away and back within the time: the chat goes on.
    alice.chat_ws(chat).await.close().await;
    let window = alice.chat_ws(chat).await;
    app.chat_sockets_are(2).await;
    app.clock().advance(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&alice, chat).await, "active");

    // Away for good: the chat ends, the analyst is told, the call stays open.
    window.close().await;
    app.chat_sockets_are(1).await;
    app.clock().advance(Duration::from_millis(1500)).await;
    let ended = analyst_ws.wait_for("ended", |f| is_type(f, "ended")).await;
    let call_id = ended["call"]["id"].as_i64().unwrap();
    let (_, call) = bob.get(&format!("/calls/{call_id}")).await;
    assert_eq!(call["status"], "open", "{call}");
    let text = call["transcript_text"].as_str().unwrap();
    assert!(
        text.contains("Alice Test left and did not come back."),
        "{text}"
    );
    assert!(text.contains("Chat ended by the user."), "{text}");
    assert_eq!(status_of(&pat, waiting).await, "queued");
}

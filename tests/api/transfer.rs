//! Transfer: the analyst in a chat hands it to a colleague who is online with room, or
//! back to the queue at its first place; the transcript goes on with every speaker, and a
//! transfer that cannot happen (target offline or full, even in a race) changes nothing.
//! Supervisors watch any chat without taking part.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser, is_type};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(
    analysts_transfer_to_a_colleague_and_back_to_the_queue,
    a_transfer_that_cannot_happen_changes_nothing,
    of_analysts_racing_to_fill_one_place_one_wins,
    supervisors_watch_any_chat_without_taking_part,
);

async fn transfer(analyst: &TestUser, chat: i64, to: &str) -> (StatusCode, Value) {
    analyst
        .post(&format!("/chats/{chat}/transfer"), json!({"to": to}))
        .await
}

/// The chat's analyst as its user sees it.
async fn analyst_of(user: &TestUser, chat: i64) -> Value {
    let (status, shown) = user.get(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    shown["analyst"]["username"].clone()
}

async fn analysts_transfer_to_a_colleague_and_back_to_the_queue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let erin = app.online_analyst("erin", 2).await;
    app.user("carol", &[Role::Author]).await;
    let alice = app.chat_user("alice").await;
    let dave = app.chat_user("dave").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    let later = dave.queued_chat("my screen is black").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    bob.post(
        &format!("/chats/{chat}/messages"),
        json!({"text": "Which VPN client do you use?"}),
    )
    .await;
    let mut alice_ws = alice.chat_ws(chat).await;
    let mut bob_ws = bob.chat_ws(chat).await;
    let mut erin_desk = erin.ws("/analyst/ws").await.expect("desk opens");

    // Bob sees who has room.
    let (status, team) = bob.get("/analyst/team").await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let erin_row = team
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "erin")
        .expect("erin listed")
        .clone();
    assert_eq!(erin_row["has_room"], true, "{team}");
    assert_eq!(erin_row["active_chats"], 0);

    // Who cannot be a target.
    for (to, code) in [
        ("bob", StatusCode::UNPROCESSABLE_ENTITY),
        ("carol", StatusCode::UNPROCESSABLE_ENTITY),
        ("no such name!", StatusCode::UNPROCESSABLE_ENTITY),
        ("nobody", StatusCode::NOT_FOUND),
    ] {
        let (status, body) = transfer(&bob, chat, to).await;
        assert_eq!(status, code, "to {to}: {body}");
    }
    let (status, _) = transfer(&alice, chat, "erin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "users do not transfer");

    // Bob hands the chat to Erin.
    let (status, moved) = transfer(&bob, chat, "erin").await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["analyst"]["username"], "erin");
    assert_eq!(moved["status"], "active");
    let assigned = erin_desk
        .wait_for("the chat arriving on Erin's desk", |f| {
            is_type(f, "assigned")
        })
        .await;
    assert_eq!(assigned["chat"]["id"], chat, "{assigned}");
    assert_eq!(assigned["from"]["username"], "bob");
    alice_ws
        .wait_for("the takeover message", |f| {
            is_type(f, "message")
                && f["author"]["role"] == "system"
                && f["text"]
                    == "Bob Test transferred the chat to Erin Test, who takes over from here."
        })
        .await;
    alice_ws
        .wait_for("a status naming Erin", |f| {
            is_type(f, "status") && f["analyst"]["username"] == "erin"
        })
        .await;

    // Bob's socket on the chat says who took over, then closes for good.
    bob_ws
        .wait_for("the status naming Erin", |f| {
            is_type(f, "status") && f["analyst"]["username"] == "erin"
        })
        .await;
    assert_eq!(bob_ws.close_code().await, Some(1000));
    assert!(
        bob.ws(&format!("/chats/{chat}/ws")).await.is_err(),
        "not Bob's to watch"
    );

    // Erin writes; Bob no longer can, nor sees the chat.
    let (status, _) = erin
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "Erin here."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = bob
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "still me"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, bobs) = bob.get("/analyst/chats").await;
    assert!(bobs.as_array().unwrap().iter().all(|c| c["id"] != chat));
    let (_, erins) = erin.get("/analyst/chats").await;
    assert!(erins.as_array().unwrap().iter().any(|c| c["id"] == chat));

    // The transcript goes on, every line with its speaker.
    let (_, shown) = alice.get(&format!("/chats/{chat}")).await;
    let lines: Vec<(String, String)> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"]["role"] == "analyst")
        .map(|m| {
            (
                m["author"]["name"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("Bob Test".into(), "Which VPN client do you use?".into()),
            ("Erin Test".into(), "Erin here.".into())
        ]
    );

    // Erin puts it back in the queue: ahead of Dave, who queued later.
    let (status, back) = transfer(&erin, chat, "queue").await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["status"], "queued");
    assert_eq!(back["queue_position"], 1, "{back}");
    let (_, queue) = bob.get("/analyst/queue").await;
    let order: Vec<i64> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["chat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [chat, later]);
    alice_ws
        .wait_for("place 1 again", |f| {
            is_type(f, "status") && f["status"] == "queued" && f["queue_position"] == 1
        })
        .await;
    // A queued chat is nobody's to transfer.
    let (status, _) = transfer(&erin, chat, "bob").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(app.metrics().await.contains("chatdesk_transfers_total 2"));
}

async fn a_transfer_that_cannot_happen_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let erin = app.online_analyst("erin", 1).await;
    let alice = app.chat_user("alice").await;
    let dave = app.chat_user("dave").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let erins = dave.queued_chat("my screen is black").await;
    erin.post(&format!("/chats/{erins}/accept"), json!({}))
        .await;

    // Erin is full.
    let (status, body) = transfer(&bob, chat, "erin").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "at_capacity");
    assert_eq!(analyst_of(&alice, chat).await, "bob");

    // Erin is offline.
    erin.post(&format!("/chats/{erins}/end"), json!({})).await;
    erin.put("/analyst/status", json!({"status": "offline"}))
        .await;
    let (status, body) = transfer(&bob, chat, "erin").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "analyst_offline");
    assert_eq!(analyst_of(&alice, chat).await, "bob");
    let (status, _) = bob
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "still here"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "Bob keeps the chat");

    // Racing Erin going offline: either she has it, or Bob still does.
    erin.put(
        "/analyst/status",
        json!({"status": "online", "max_chats": 1}),
    )
    .await;
    let (moved, _) = tokio::join!(
        transfer(&bob, chat, "erin"),
        erin.put("/analyst/status", json!({"status": "offline"}))
    );
    match moved.0 {
        StatusCode::OK => assert_eq!(analyst_of(&alice, chat).await, "erin"),
        StatusCode::CONFLICT => {
            assert_eq!(moved.1["error"]["code"], "analyst_offline", "{}", moved.1);
            assert_eq!(analyst_of(&alice, chat).await, "bob");
        }
        other => panic!("transfer racing offline: {other} {}", moved.1),
    }

    // An ended chat goes nowhere.
    let owner = if analyst_of(&alice, chat).await == "bob" {
        &bob
    } else {
        &erin
    };
    owner.post(&format!("/chats/{chat}/end"), json!({})).await;
    let (status, body) = transfer(owner, chat, "queue").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "chat_ended");
}

async fn of_analysts_racing_to_fill_one_place_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let erin = app.online_analyst("erin", 1).await;
    let mut senders = Vec::new();
    for name in ["bob", "cole", "finn", "gus"] {
        let analyst = app.online_analyst(name, 1).await;
        let user = app.chat_user(&format!("{name}-user")).await;
        let chat = user
            .queued_chat(&format!("{name}'s user cannot print"))
            .await;
        let (status, body) = analyst
            .post(&format!("/chats/{chat}/accept"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        senders.push((analyst, user, chat));
    }
    let outcomes = futures_util::future::join_all(
        senders
            .iter()
            .map(|(a, _, chat)| transfer(a, *chat, "erin")),
    )
    .await;
    let won: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s == StatusCode::OK)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(won.len(), 1, "one place, one winner: {outcomes:?}");
    for (i, ((status, body), (_, user, chat))) in outcomes.iter().zip(&senders).enumerate() {
        if i == won[0] {
            assert_eq!(analyst_of(user, *chat).await, "erin");
        } else {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "at_capacity");
            assert_ne!(analyst_of(user, *chat).await, "erin", "left where it was");
        }
    }
    let (_, erins) = erin.get("/analyst/chats").await;
    assert_eq!(erins.as_array().unwrap().len(), 1);
}

async fn supervisors_watch_any_chat_without_taking_part(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let erin = app.online_analyst("erin", 3).await;
    let sam = app.user("sam", &[Role::Supervisor]).await;
    let alice = app.chat_user("alice").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;

    // Another analyst cannot see Bob's chat; the supervisor can, live.
    let (status, _) = erin.get(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, shown) = sam.get(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let mut watching = sam.chat_ws(chat).await;
    bob.post(
        &format!("/chats/{chat}/messages"),
        json!({"text": "Restart the VPN client, please."}),
    )
    .await;
    watching
        .wait_for("Bob's message", |f| {
            is_type(f, "message") && f["text"] == "Restart the VPN client, please."
        })
        .await;

    // Watching is not taking part.
    let (status, body) = sam
        .post(&format!("/chats/{chat}/messages"), json!({"text": "hello"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = sam.post(&format!("/chats/{chat}/end"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = transfer(&sam, chat, "erin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // But a supervisor is an analyst: the queue, presence and calls are theirs too.
    let (status, _) = sam
        .put(
            "/analyst/status",
            json!({"status": "online", "max_chats": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sam.get("/calls?status=open").await;
    assert_eq!(status, StatusCode::OK);
}

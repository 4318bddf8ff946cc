//! The queue: every waiting user sees their place and the free analysts change live, and
//! two analysts racing for one chat cannot both get it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Socket, TestApp, is_type};
use crate::on_both_databases;

on_both_databases!(
    three_waiting_users_see_their_places_as_two_analysts_accept,
    two_analysts_racing_for_one_chat_have_one_winner,
    analysts_work_within_their_capacity,
    queued_users_see_a_wait_estimate_once_there_is_history,
);

/// Waits for a `status` frame with this queue position and number of free analysts.
async fn expect_place(ws: &mut Socket, position: i64, available: i64) -> Value {
    ws.wait_for(&format!("position {position} with {available} free"), |f| {
        is_type(f, "status")
            && f["status"] == "queued"
            && f["queue_position"] == position
            && f["available_analysts"] == available
    })
    .await
}

async fn three_waiting_users_see_their_places_as_two_analysts_accept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.online_analyst("ann", 1).await;
    let bob = app.online_analyst("bob", 1).await;
    let mut desk = ann.ws("/analyst/ws").await.expect("desk feed opens");
    let mut users = Vec::new();
    for name in ["una", "vic", "wes"] {
        let u = app.chat_user(name).await;
        let chat = u.queued_chat(&format!("{name} cannot print")).await;
        let ws = u.chat_ws(chat).await;
        users.push((u, chat, ws));
    }
    // Analysts watch the queue fill up live.
    let picture = desk
        .wait_for("three waiting", |f| {
            is_type(f, "queue") && f["items"].as_array().is_some_and(|q| q.len() == 3)
        })
        .await;
    assert_eq!(picture["items"][2]["description"], "wes cannot print");
    assert_eq!(picture["availability"]["available_analysts"], 2);

    // On connecting, each sees their place: 1, 2, 3 with both analysts free.
    for (i, (_, _, ws)) in users.iter_mut().enumerate() {
        expect_place(ws, i as i64 + 1, 2).await;
    }
    let (_, avail) = users[0].0.get("/chat/availability").await;
    assert_eq!(avail["queue_length"], 3);
    assert_eq!(avail["label"], "Chat: 2 analysts available");

    let (_, queue) = ann.get("/analyst/queue").await;
    let order: Vec<i64> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["chat_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        users.iter().map(|u| u.1).collect::<Vec<_>>(),
        "oldest first"
    );

    // Ann takes the first chat: the others move up and one analyst is left.
    let first = users[0].1;
    let (status, _) = ann.post(&format!("/chats/{first}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    expect_place(&mut users[1].2, 1, 1).await;
    expect_place(&mut users[2].2, 2, 1).await;

    // Bob takes the second: the last user is next, and nobody is free.
    let second = users[1].1;
    let (status, _) = bob
        .post(&format!("/chats/{second}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    expect_place(&mut users[2].2, 1, 0).await;
    let (_, avail) = users[2].0.get("/chat/availability").await;
    assert_eq!(avail["status"], "busy");
    assert_eq!(avail["label"], "Chat: all analysts are busy (1 waiting)");

    // Ann finishes her chat: the last user sees an analyst free up.
    let (status, _) = ann.post(&format!("/chats/{first}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    expect_place(&mut users[2].2, 1, 1).await;
}

async fn two_analysts_racing_for_one_chat_have_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.online_analyst("ann", 3).await;
    let bob = app.online_analyst("bob", 3).await;
    let user = app.chat_user("una").await;
    for round in 0..5 {
        let chat = user
            .queued_chat(&format!("race {round}: my screen is black"))
            .await;
        let path = format!("/chats/{chat}/accept");
        let (a, b) = tokio::join!(ann.post(&path, json!({})), bob.post(&path, json!({})));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{a:?} {b:?}"
        );
        let loser = if a.0 == StatusCode::CONFLICT {
            a.1
        } else {
            b.1
        };
        assert_eq!(loser["error"]["code"], "already_taken", "{loser}");
        user.post(&format!("/chats/{chat}/end"), json!({})).await;
    }
}

async fn analysts_work_within_their_capacity(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.online_analyst("ann", 1).await;
    let user = app.chat_user("una").await;
    let first = user.queued_chat("first problem with the vpn").await;
    let second = user.queued_chat("second problem with the printer").await;
    let (status, _) = ann.post(&format!("/chats/{first}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ann
        .post(&format!("/chats/{second}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "at_capacity");

    let (_, _) = ann
        .put("/analyst/status", json!({"status": "offline"}))
        .await;
    let (status, body) = ann
        .post(&format!("/chats/{second}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "analyst_offline");
    let (_, avail) = user.get("/chat/availability").await;
    assert_eq!(avail["label"], "Chat: no analysts online");
}

async fn queued_users_see_a_wait_estimate_once_there_is_history(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.chat.wait_estimate_min_accepts = 3).await;
    let bob = app.online_analyst("bob", 10).await;
    let una = app.chat_user("una").await;

    // No history yet: the estimate is there, and null.
    let first = una.queued_chat("my vpn drops").await;
    let (_, shown) = una.get(&format!("/chats/{first}")).await;
    assert_eq!(shown["wait_estimate"], Value::Null, "{shown}");
    assert!(shown.as_object().unwrap().contains_key("wait_estimate"));

    // Three chats taken from the queue make a pace.
    bob.post(&format!("/chats/{first}/accept"), json!({})).await;
    for n in 0..2 {
        let chat = una.queued_chat(&format!("problem {n}")).await;
        bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    }
    let vic = app.chat_user("vic").await;
    let (waiting, _) = vic.start_chat("my printer jams").await;
    let (status, queued) = vic
        .post(&format!("/chats/{waiting}/handoff"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    let estimate = &queued["wait_estimate"];
    let (low, high) = (
        estimate["low_secs"].as_u64().expect("a range"),
        estimate["high_secs"].as_u64().expect("a range"),
    );
    assert!(low <= high, "{estimate}");
    let mut ws = vic.chat_ws(waiting).await;
    ws.wait_for("a status with the estimate", |f| {
        is_type(f, "status") && f["wait_estimate"]["high_secs"].is_u64()
    })
    .await;

    // Nobody online: nobody can say.
    bob.put("/analyst/status", json!({"status": "offline"}))
        .await;
    ws.wait_for("a status without an estimate", |f| {
        is_type(f, "status") && f["status"] == "queued" && f["wait_estimate"].is_null()
    })
    .await;
}

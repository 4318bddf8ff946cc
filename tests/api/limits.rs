//! Rate limits: sign-in guessing is stopped per account (and per address), a message
//! flood slows its sender and nobody else, and passwords and tokens never reach the logs.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use chatdesk::domain::user::Role;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;
use crate::process::ServerProcess;

on_both_databases!(
    sign_in_attempts_are_limited_per_account,
    a_flood_slows_its_sender_and_nobody_else,
    passwords_and_tokens_never_reach_the_log
);

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/login", app.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn sign_in_attempts_are_limited_per_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["alice", "bob"] {
        app.engine
            .accounts
            .create_user(name, None, Some("correct horse".into()), &[Role::User])
            .await
            .unwrap();
    }
    for _ in 0..5 {
        assert_eq!(
            login(&app, "alice", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The sixth try is refused before the password is looked at, even the right one.
    let refused = login(&app, "Alice", "correct horse").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Another account from the same address is not locked out.
    assert_eq!(
        login(&app, "bob", "correct horse").await.status(),
        StatusCode::OK
    );
    // A success clears an account's failures.
    for _ in 0..4 {
        login(&app, "bob", "guess").await;
    }
    assert_eq!(
        login(&app, "bob", "correct horse").await.status(),
        StatusCode::OK
    );
    for _ in 0..4 {
        assert_eq!(
            login(&app, "bob", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn a_flood_slows_its_sender_and_nobody_else(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.messages_per_sec = 20;
        s.limits.message_burst = 10;
    })
    .await;
    let alice = app.chat_user("alice").await;
    let carol = app.chat_user("carol").await;
    let bob = app.online_analyst("bob", 2).await;
    let flooded = alice.queued_chat("my vpn drops").await;
    let calm = carol.queued_chat("my mouse is slow").await;
    for chat in [flooded, calm] {
        bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    }

    // Alice sends 130 messages at once: 10 go through, then 20 a second (6 s in all).
    let (mut tx, mut rx) = alice.chat_ws(flooded).await.into_inner().split();
    let started = Instant::now();
    for i in 0..130 {
        let frame =
            json!({"type": "message", "text": format!("flood {i}"), "client_id": format!("f{i}")});
        tx.send(WsMessage::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
    let flood = tokio::spawn(async move {
        let mut acks = 0;
        while acks < 130 {
            let Some(Ok(WsMessage::Text(t))) = rx.next().await else {
                panic!("socket closed")
            };
            let frame: Value = serde_json::from_str(&t).unwrap();
            assert_ne!(frame["type"], "error", "{frame}");
            if frame["client_id"]
                .as_str()
                .is_some_and(|c| c.starts_with('f'))
            {
                acks += 1;
            }
        }
        started.elapsed()
    });

    // Meanwhile Carol's messages go through at once, while Alice's still trickle in.
    let mut ws = carol.chat_ws(calm).await;
    for i in 0..3 {
        ws.send(
            json!({"type": "message", "text": format!("calm {i}"), "client_id": format!("c{i}")}),
        )
        .await;
        ws.wait_for("carol's acknowledgement", |f| {
            f["client_id"] == format!("c{i}")
        })
        .await;
    }
    assert!(!flood.is_finished(), "carol waited for alice's flood");
    let took = flood.await.unwrap();
    assert!(
        took >= Duration::from_secs(5),
        "the flood was not slowed: {took:?}"
    );
    let (_, chat) = alice.get(&format!("/chats/{flooded}")).await;
    let stored = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["client_id"].is_string())
        .count();
    assert_eq!(stored, 130, "slowed, not dropped");

    // Over REST the answer is 429 with Retry-After (sent at once, so that the bucket
    // cannot refill in between on a slow machine).
    let posts = (0..40).map(|i| {
        let alice = &alice;
        async move {
            alice
                .post(
                    &format!("/chats/{flooded}/messages"),
                    json!({"text": format!("rest {i}")}),
                )
                .await
        }
    });
    let mut statuses = Vec::new();
    for (status, body) in futures_util::future::join_all(posts).await {
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
        statuses.push(status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

async fn passwords_and_tokens_never_reach_the_log(backend: Backend) {
    const PASSWORD: &str = "hunter2-secret-passphrase";
    let mut server = ServerProcess::start_with_log(backend, "debug").await;
    let admin = server.admin();
    let (status, body) = admin
        .post(
            "/users",
            json!({"username": "alice", "roles": ["user", "chat-user"], "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let api_token = body["token"].as_str().unwrap().to_owned();
    let login = |password: &'static str| {
        server
            .http
            .post(format!("{}/api/v1/login", server.root))
            .json(&json!({"username": "alice", "password": password}))
            .send()
    };
    assert_eq!(
        login("wrong-password-guess").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let session: Value = login(PASSWORD).await.unwrap().json().await.unwrap();
    let session_token = session["token"].as_str().unwrap().to_owned();
    let alice =
        crate::helpers::TestUser::at(&server.root, session_token.clone(), server.http.clone());
    let (chat, _) = alice.start_chat("my password expired").await;
    let ws = alice.chat_ws(chat).await;
    ws.close().await;
    server.terminate().await;
    let log = server.log();
    assert!(
        log.contains("/api/v1/login"),
        "requests are logged at debug:\n{log}"
    );
    for secret in [
        PASSWORD,
        "wrong-password-guess",
        &api_token,
        &session_token,
        &server.admin_token(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

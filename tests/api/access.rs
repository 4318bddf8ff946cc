//! Nobody reads or writes across an owner boundary, and roles are enforced.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(
    users_cannot_reach_other_users_chats_calls_or_files,
    roles_decide_who_may_do_what,
    signing_in_sets_a_session_cookie,
);

async fn users_cannot_reach_other_users_chats_calls_or_files(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let mallory = app.chat_user("mallory").await;
    let (chat, started) = alice.start_chat("my shared drive is missing").await;
    let call = started["call"]["id"].as_i64().unwrap();
    let (status, file) = alice
        .upload(chat, "notes.txt", b"drive letter S".to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let file_id = file["id"].as_str().unwrap();

    let not_found = StatusCode::NOT_FOUND;
    assert_eq!(mallory.get(&format!("/chats/{chat}")).await.0, not_found);
    assert_eq!(mallory.get(&format!("/calls/{call}")).await.0, not_found);
    assert_eq!(mallory.download(file_id).await.0, not_found);
    for (path, body) in [
        (format!("/chats/{chat}/messages"), json!({"text": "hi"})),
        (format!("/chats/{chat}/handoff"), json!({})),
        (format!("/chats/{chat}/end"), json!({})),
    ] {
        let (status, body) = mallory.post(&path, body).await;
        assert_eq!(status, not_found, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    assert_eq!(
        mallory.upload(chat, "x.txt", b"x".to_vec()).await.0,
        not_found
    );
    assert!(
        mallory.ws(&format!("/chats/{chat}/ws")).await.is_err(),
        "socket refused"
    );
    let (_, mine) = mallory.get("/calls?recent=true").await;
    assert_eq!(mine.as_array().unwrap().len(), 0);

    // The owner's chat is untouched.
    let (status, body) = alice.get(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "bot");
}

async fn roles_decide_who_may_do_what(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let plain = app.user("pat", &[Role::User]).await;
    let alice = app.chat_user("alice").await;
    let ann = app.online_analyst("ann", 3).await;
    let bob = app.online_analyst("bob", 3).await;

    let (status, body) = plain.post("/chats", json!({"description": "help"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chat-user")
    );

    let unsigned = app
        .http
        .get(format!("{}/chat/availability", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let bad_token = app
        .http
        .get(format!("{}/chat/availability", app.base))
        .bearer_auth("cdt_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(alice.get("/analyst/queue").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        alice
            .put("/analyst/status", json!({"status": "online"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let chat = alice.queued_chat("my monitor shows no signal").await;
    assert_eq!(
        alice
            .post(&format!("/chats/{chat}/accept"), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Any analyst may look at a queued chat, but not write in it.
    assert_eq!(bob.get(&format!("/chats/{chat}")).await.0, StatusCode::OK);
    assert_eq!(
        bob.post(&format!("/chats/{chat}/messages"), json!({"text": "hi"}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let mut onlooker = bob.chat_ws(chat).await;
    onlooker.drain(std::time::Duration::from_millis(200)).await;
    ann.post(&format!("/chats/{chat}/accept"), json!({})).await;
    ann.post(
        &format!("/chats/{chat}/messages"),
        json!({"text": "private words"}),
    )
    .await;
    // Bob's open socket stops once the chat is Ann's, before her message reaches it.
    let seen = onlooker.drain(std::time::Duration::from_millis(500)).await;
    assert!(
        seen.iter().all(|f| f["text"] != "private words"),
        "{seen:?}"
    );
    assert!(
        onlooker.next().await.is_none(),
        "the onlooker's socket is closed"
    );
    // Once Ann has it, Bob can no longer see or act on it.
    assert_eq!(
        bob.get(&format!("/chats/{chat}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.post(&format!("/chats/{chat}/end"), json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert!(bob.ws(&format!("/chats/{chat}/ws")).await.is_err());
    assert_eq!(
        ann.post(&format!("/chats/{chat}/messages"), json!({"text": "hello"}))
            .await
            .0,
        StatusCode::CREATED
    );
    // Only the user accepts the bot's fixes or asks for an analyst.
    assert_eq!(
        ann.post(&format!("/chats/{chat}/handoff"), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert!(plain.ws("/analyst/ws").await.is_err());
    assert!(ann.ws("/analyst/ws").await.is_ok());
}

async fn signing_in_sets_a_session_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.engine
        .accounts
        .create_user(
            "carol",
            Some("Carol"),
            Some("correct horse battery".into()),
            &[Role::User, Role::ChatUser],
        )
        .await
        .unwrap();
    let login = |password: &'static str| {
        app.http
            .post(format!("{}/login", app.base))
            .json(&json!({"username": "carol", "password": password}))
            .send()
    };
    let wrong = login("wrong password").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = login("correct horse battery").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me = app
        .http
        .get(format!("{}/me", app.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let body: serde_json::Value = me.json().await.unwrap();
    assert_eq!(body["user"]["username"], "carol");

    let out = app
        .http
        .post(format!("{}/logout", app.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let after = app
        .http
        .get(format!("{}/me", app.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

//! Canned responses: analysts save, edit and delete one shared set; listed for a chat, each
//! comes with `{user}` and `{call}` filled in; nobody else may read or change them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(
    analysts_keep_canned_responses_and_use_them_in_a_chat,
    only_analysts_reach_canned_responses,
);

async fn delete(app: &TestApp, user: &TestUser, path: &str) -> (StatusCode, Value) {
    let resp = app
        .http
        .delete(format!("{}{path}", app.base))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn titles(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect()
}

async fn analysts_keep_canned_responses_and_use_them_in_a_chat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let ann = app.user("ann", &[Role::Analyst]).await;
    let alice = app.chat_user("alice").await;

    let (status, greeting) = bob
        .post(
            "/canned",
            json!({"title": "  Greeting ", "text": "Hello {user}, I'm looking at {call} now."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{greeting}");
    assert_eq!(greeting["title"], "Greeting");
    assert_eq!(greeting["author"], "bob");
    let (status, _) = bob
        .post(
            "/canned",
            json!({"title": "Closing", "text": "Anything else, {user}?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Shared: another analyst sees both, by title, placeholders as saved.
    let (status, list) = ann.get("/canned").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(titles(&list), ["Closing", "Greeting"]);
    assert_eq!(list[1]["text"], "Hello {user}, I'm looking at {call} now.");
    assert!(list[1].get("filled").is_none(), "{list}");

    // Listed for a chat, the placeholders are filled in from that chat.
    let chat_id = alice.queued_chat("my vpn keeps dropping").await;
    let (_, chat) = alice.get(&format!("/chats/{chat_id}")).await;
    let reference = chat["call_reference"].as_str().unwrap().to_owned();
    let name = chat["user"]["name"].as_str().unwrap().to_owned();
    let (status, list) = bob.get(&format!("/canned?chat={chat_id}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list[1]["filled"],
        format!("Hello {name}, I'm looking at {reference} now.")
    );
    assert_eq!(list[0]["filled"], format!("Anything else, {name}?"));

    // Edits keep the id; whoever edited last is the author.
    let id = greeting["id"].as_i64().unwrap();
    let (status, edited) = ann
        .put(
            &format!("/canned/{id}"),
            json!({"title": "Greeting", "text": "Hi {user}!"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["id"], id);
    assert_eq!(edited["author"], "ann");
    let (_, list) = bob.get("/canned").await;
    assert_eq!(list[1]["text"], "Hi {user}!");

    // Bad input is refused with the field, and nothing stored changes.
    for (body, field) in [
        (json!({"title": " ", "text": "x"}), "title"),
        (json!({"title": "t".repeat(121), "text": "x"}), "title"),
        (json!({"title": "t", "text": ""}), "text"),
        (json!({"title": "t", "text": "x".repeat(4001)}), "text"),
    ] {
        let (status, err) = bob.put(&format!("/canned/{id}"), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(field),
            "{err}"
        );
    }
    let (status, err) = bob.post("/canned", json!({"title": "no text"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (_, list) = bob.get("/canned").await;
    assert_eq!(titles(&list), ["Closing", "Greeting"]);
    assert_eq!(list[1]["text"], "Hi {user}!");

    // Deleted once; a second time, or an unknown id, is not found.
    let (status, _) = delete(&app, &bob, &format!("/canned/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = delete(&app, &bob, &format!("/canned/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, _) = bob
        .put(&format!("/canned/{id}"), json!({"title": "a", "text": "b"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = bob.get("/canned").await;
    assert_eq!(titles(&list), ["Closing"]);
    // A chat that does not exist cannot be filled in.
    let (status, _) = bob.get("/canned?chat=999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn only_analysts_reach_canned_responses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.user("bob", &[Role::Analyst]).await;
    let alice = app.chat_user("alice").await;
    let dave = app.user("dave", &[Role::Author]).await;
    let (_, saved) = bob
        .post("/canned", json!({"title": "Greeting", "text": "Hi {user}"}))
        .await;
    let id = saved["id"].as_i64().unwrap();
    let chat_id = alice.start_chat("printer prints blank pages").await.0;
    for user in [&alice, &dave] {
        assert_eq!(user.get("/canned").await.0, StatusCode::FORBIDDEN);
        let (status, _) = user
            .post("/canned", json!({"title": "x", "text": "y"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = user
            .put(&format!("/canned/{id}"), json!({"title": "x", "text": "y"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            delete(&app, user, &format!("/canned/{id}")).await.0,
            StatusCode::FORBIDDEN
        );
    }
    // The user's own chat in the bot stage is not an analyst's to fill in.
    let (status, _) = bob.get(&format!("/canned?chat={chat_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = bob.get("/canned").await;
    assert_eq!(list[0]["text"], "Hi {user}");
}

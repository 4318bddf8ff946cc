//! Ratings: the user rates a chat once, from its end, 1 to 5 with an optional comment;
//! the call shows it to the user and to analysts, as text and never as markup.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(users_rate_an_ended_chat_once_and_the_call_shows_it);

async fn users_rate_an_ended_chat_once_and_the_call_shows_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let mallory = app.chat_user("mallory").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let rate = format!("/chats/{chat}/rating");

    // Not while the chat is open, and only by its user.
    let (status, body) = alice.post(&rate, json!({"score": 5})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "invalid_state");
    let (status, _) = bob.post(&format!("/chats/{chat}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob.post(&rate, json!({"score": 5})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = mallory.post(&rate, json!({"score": 5})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The call offers the rating to its user.
    let (_, ended) = alice.get(&format!("/chats/{chat}")).await;
    let call = ended["call_id"].as_i64().unwrap();
    let (_, shown) = alice.get(&format!("/calls/{call}")).await;
    assert_eq!(shown["ratable_chat"], chat, "{shown}");
    assert_eq!(shown["rating"], json!(null));
    let page = alice.text(&format!("/calls/{call}")).await;
    assert!(page.contains("id=\"rating-form\""), "{page}");

    // Bad scores are refused with the field; a good one is kept once.
    for score in [0, 6] {
        let (status, body) = alice.post(&rate, json!({"score": score})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("score"));
    }
    let (status, body) = alice.post(&rate, json!({"score": "five"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let comment = "Quick <b>fix</b>, thanks";
    let (status, rating) = alice
        .post(
            &rate,
            json!({"score": 4, "comment": format!("  {comment} ")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rating}");
    assert_eq!(rating["score"], 4);
    assert_eq!(rating["comment"], comment);
    let (status, body) = alice.post(&rate, json!({"score": 1})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_exists");

    // The call shows it to its user and to analysts; the page shows the comment as text.
    for viewer in [&alice, &bob] {
        let (_, shown) = viewer.get(&format!("/calls/{call}")).await;
        assert_eq!(shown["rating"]["score"], 4, "{shown}");
        assert_eq!(shown["rating"]["comment"], comment);
        assert!(shown.get("ratable_chat").is_none(), "{shown}");
    }
    let page = alice.text(&format!("/calls/{call}")).await;
    assert!(page.contains("4 out of 5"), "{page}");
    assert!(page.contains("Quick &lt;b&gt;fix&lt;/b&gt;"), "{page}");
    assert!(!page.contains("id=\"rating-form\""), "{page}");
}

//! Agent assist over real HTTP and WebSockets: the chat's analyst gets the bot's articles
//! for the whole conversation, with the one the user declined marked; fresh ones arrive on
//! the analyst's socket when the user writes, and never on the user's or a watching
//! supervisor's; an article sent
//! in one click reaches the user as a message that names it.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, is_type};
use crate::on_both_databases;

on_both_databases!(the_analyst_gets_the_bots_articles_and_sends_one);

async fn the_analyst_gets_the_bots_articles_and_sends_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let erin = app.online_analyst("erin", 3).await;
    let alice = app.chat_user("alice").await;
    let sam = app
        .user("sam", &[chatdesk::domain::user::Role::Supervisor])
        .await;

    let (chat, started) = alice
        .start_chat("My VPN keeps disconnecting every few minutes")
        .await;
    let declined = started["suggestions"][0]["article_id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .post(
            &format!("/chats/{chat}/suggestions/{declined}/decline"),
            json!({}),
        )
        .await;
    alice
        .post(&format!("/chats/{chat}/handoff"), json!({}))
        .await;
    let (status, body) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The whole conversation is ranked; nothing is left out, the declined one is marked.
    let (status, assist) = bob.get(&format!("/chats/{chat}/assist")).await;
    assert_eq!(status, StatusCode::OK, "{assist}");
    let items = assist["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.len() <= 5, "{assist}");
    let marked = items
        .iter()
        .find(|i| i["article_id"] == declined.as_str())
        .unwrap_or_else(|| panic!("the declined article is still shown: {assist}"));
    assert_eq!(marked["declined"], true);
    assert_eq!(marked["offered"], true);
    assert!(
        items
            .iter()
            .filter(|i| i["article_id"] != declined.as_str())
            .all(|i| i["declined"] == false),
        "{assist}"
    );
    assert!(items[0]["title"].as_str().is_some_and(|t| !t.is_empty()));

    // Only the chat's analyst gets it.
    assert_eq!(
        alice.get(&format!("/chats/{chat}/assist")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        erin.get(&format!("/chats/{chat}/assist")).await.0,
        StatusCode::NOT_FOUND
    );

    // The user writes: the analyst's socket gets fresh articles for the new words.
    let mut bob_ws = bob.chat_ws(chat).await;
    let mut alice_ws = alice.chat_ws(chat).await;
    let mut sam_ws = sam.chat_ws(chat).await;
    alice
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "Also my Outlook will not sync my mailbox since this morning"}),
        )
        .await;
    let pushed = bob_ws
        .wait_for("an assist frame", |f| is_type(f, "assist"))
        .await;
    assert!(
        pushed["through_seq"].as_i64().unwrap() > assist["through_seq"].as_i64().unwrap(),
        "ranked on the new message too: {pushed}"
    );
    let titles: Vec<&str> = pushed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.iter().any(|t| {
            let t = t.to_lowercase();
            t.contains("outlook") || t.contains("mail")
        }),
        "the user's new words count: {titles:?}"
    );

    // One click: the article reaches the user as a message naming it.
    let sent = pushed["items"][0]["article_id"].as_str().unwrap();
    let title = pushed["items"][0]["title"].as_str().unwrap();
    let (status, message) = bob
        .post(
            &format!("/chats/{chat}/articles"),
            json!({"article_id": sent}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(
        message["article"],
        json!({"article_id": sent, "title": title})
    );
    assert!(message["text"].as_str().unwrap().contains(title));
    // The user's socket, and a supervisor's watching, get the message and nothing of
    // the assist before it.
    let mut shown = Vec::new();
    for socket in [&mut alice_ws, &mut sam_ws] {
        shown.push(loop {
            let frame = socket.next().await.expect("the socket stays open");
            assert!(!is_type(&frame, "assist"), "only the analyst gets {frame}");
            if is_type(&frame, "message") && frame["article"]["article_id"] == sent {
                break frame;
            }
        });
    }
    let shown = &shown[0];
    assert_eq!(shown["author"]["role"], "analyst", "{shown}");

    // Refusals: the user cannot send articles, an unknown article is not found.
    let (status, _) = alice
        .post(
            &format!("/chats/{chat}/articles"),
            json!({"article_id": sent}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob
        .post(
            &format!("/chats/{chat}/articles"),
            json!({"article_id": "no-such-article"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The panel remembers what was sent.
    let (_, after) = bob.get(&format!("/chats/{chat}/assist")).await;
    let items = after["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["article_id"] == sent), "{after}");
    for item in items {
        assert_eq!(item["sent"], item["article_id"] == sent, "{after}");
    }

    // The call keeps it.
    bob.post(&format!("/chats/{chat}/end"), json!({})).await;
    let call = started["call"]["id"].as_i64().unwrap();
    let (_, details) = bob.get(&format!("/calls/{call}")).await;
    let transcript = details["transcript_text"].as_str().unwrap_or_default();
    assert!(transcript.contains(title), "{details}");
}

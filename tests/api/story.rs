//! The whole story: a user logs a call by chatting, the bot suggests fixes, the user hands
//! off, an analyst accepts, they talk, a file goes across, the user ends the chat and the
//! call holds it all.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, is_type};
use crate::on_both_databases;

on_both_databases!(
    the_whole_story_ends_on_the_call,
    accepting_a_suggestion_resolves_the_call_by_the_bot,
    follow_ups_rerank_and_declined_articles_are_not_offered_again,
    analysts_link_a_chat_to_more_calls,
);

async fn the_whole_story_ends_on_the_call(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;

    let (status, avail) = alice.get("/chat/availability").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(avail["status"], "available");
    assert_eq!(avail["label"], "Chat: 1 analyst available");

    // Starting the chat logs the call at once, and the bot offers fixes.
    let (chat_id, started) = alice
        .start_chat("My VPN keeps disconnecting every few minutes")
        .await;
    let call = &started["call"];
    let call_id = call["id"].as_i64().unwrap();
    assert!(
        call["reference"].as_str().unwrap().starts_with("CALL-0"),
        "{call}"
    );
    assert_eq!(call["status"], "open");
    assert_eq!(call["source"], "chat");
    assert_eq!(call["user"]["username"], "alice");
    assert_eq!(started["chat"]["status"], "bot");
    let suggestions = started["suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty());
    assert_eq!(suggestions[0]["article_id"], "vpn-disconnects");
    assert!(!suggestions[0]["explanation"].as_str().unwrap().is_empty());
    let (_, recent) = alice.get("/calls?recent=true").await;
    assert_eq!(recent[0]["id"], call_id, "the call is listed at once");

    let mut user_ws = alice.chat_ws(chat_id).await;
    user_ws
        .wait_for("the bot's suggestions", |f| is_type(f, "suggestions"))
        .await;

    // Declining the bot's help queues the chat.
    let (status, queued) = alice
        .post(&format!("/chats/{chat_id}/handoff"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["queue_position"], 1);
    assert_eq!(queued["available_analysts"], 1);
    let (_, queue) = bob.get("/analyst/queue").await;
    assert_eq!(queue[0]["chat_id"], chat_id);
    assert_eq!(queue[0]["position"], 1);
    assert_eq!(
        queue[0]["description"],
        "My VPN keeps disconnecting every few minutes"
    );

    let (status, accepted) = bob
        .post(&format!("/chats/{chat_id}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["status"], "active");
    let active = user_ws
        .wait_for("the chat becoming active", |f| {
            is_type(f, "status") && f["status"] == "active"
        })
        .await;
    assert_eq!(active["analyst"]["name"], "Bob Test");

    // The analyst sees the whole transcript, bot stage included.
    let (_, seen) = bob.get(&format!("/chats/{chat_id}")).await;
    let texts: Vec<&str> = seen["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts[0].contains("I've logged your call"), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("Bob Test joined")));

    let mut analyst_ws = bob.chat_ws(chat_id).await;
    analyst_ws.drain(Duration::from_millis(200)).await;

    // Messages both ways, with typing indicators.
    analyst_ws
        .send(json!({"type": "typing", "typing": true}))
        .await;
    let typing = user_ws.wait_for("typing", |f| is_type(f, "typing")).await;
    assert_eq!(typing["role"], "analyst");
    assert_eq!(typing["typing"], true);

    user_ws
        .send(json!({"type": "message", "text": "It drops when I join calls", "client_id": "u-1"}))
        .await;
    let ack = user_ws
        .wait_for("own message back", |f| {
            is_type(f, "message") && f["client_id"] == "u-1"
        })
        .await;
    let got = analyst_ws
        .wait_for("the user's message", |f| {
            is_type(f, "message") && f["author"]["role"] == "user"
        })
        .await;
    assert_eq!(got["text"], "It drops when I join calls");
    assert_eq!(got["seq"], ack["seq"]);

    let (status, sent) = bob
        .post(
            &format!("/chats/{chat_id}/messages"),
            json!({"text": "Let's check your client version"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(sent["seq"].as_i64().unwrap() > ack["seq"].as_i64().unwrap());
    let got = user_ws
        .wait_for("the analyst's message", |f| {
            is_type(f, "message") && f["author"]["role"] == "analyst"
        })
        .await;
    assert_eq!(got["text"], "Let's check your client version");

    // A file goes across and lands on the call.
    let log = b"12:00 vpn tunnel reset\n12:03 vpn tunnel reset\n".to_vec();
    let (status, file) = alice.upload(chat_id, "vpn.log", log.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    assert_eq!(file["content_type"], "text/plain");
    assert_eq!(file["size"], log.len());
    let event = analyst_ws
        .wait_for("the attachment", |f| is_type(f, "attachment"))
        .await;
    assert_eq!(event["attachment"]["name"], "vpn.log");

    // The user closes the window: the chat ends and the call holds everything.
    let (status, ended) = alice
        .post(&format!("/chats/{chat_id}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    let ended_event = user_ws.wait_for("ended", |f| is_type(f, "ended")).await;
    assert_eq!(ended_event["call"]["id"], call_id);
    analyst_ws.wait_for("ended", |f| is_type(f, "ended")).await;

    let (status, call) = alice.get(&format!("/calls/{call_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let transcript = serde_json::to_string(&call["transcript"]).unwrap();
    for expected in [
        "I've logged your call",
        "suggested: 1.",
        "It drops when I join calls",
        "Let's check your client version",
        "attached vpn.log",
        "Chat ended by the user",
    ] {
        assert!(
            transcript.contains(expected),
            "missing {expected:?} in {transcript}"
        );
    }
    let text = call["transcript_text"].as_str().unwrap();
    assert!(
        text.contains("Bob Test (analyst): Let's check your client version"),
        "{text}"
    );
    assert_eq!(call["attachments"][0]["name"], "vpn.log");
    let attachment_id = call["attachments"][0]["id"].as_str().unwrap();
    assert_eq!(
        call["attachments"][0]["url"],
        format!("/api/v1/attachments/{attachment_id}"),
        "the call says where its file is downloaded"
    );
    let (status, bytes) = alice.download(attachment_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, log);
    let (status, bytes) = bob.download(attachment_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, log);

    let (_, recent) = alice.get("/calls?recent=true").await;
    assert_eq!(recent[0]["id"], call_id);

    // Nothing more can be written to an ended chat.
    let (status, body) = alice
        .post(
            &format!("/chats/{chat_id}/messages"),
            json!({"text": "hello?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "chat_ended");
}

async fn accepting_a_suggestion_resolves_the_call_by_the_bot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat_id, started) = alice
        .start_chat("I forgot my password and can't log in")
        .await;
    let article = started["suggestions"][0]["article_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let call_id = started["call"]["id"].as_i64().unwrap();

    let (status, body) = alice
        .post(
            &format!("/chats/{chat_id}/suggestions/not-offered/accept"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = alice
        .post(
            &format!("/chats/{chat_id}/suggestions/{article}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["call"]["status"], "resolved");
    assert_eq!(body["call"]["resolved_by"], "bot");

    let (_, chat) = alice.get(&format!("/chats/{chat_id}")).await;
    assert_eq!(chat["status"], "ended");
    let (_, call) = alice.get(&format!("/calls/{call_id}")).await;
    assert_eq!(call["status"], "resolved");
    assert!(
        call["transcript_text"]
            .as_str()
            .unwrap()
            .contains("fixed it")
    );
    let (status, _) = alice
        .post(&format!("/chats/{chat_id}/handoff"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn follow_ups_rerank_and_declined_articles_are_not_offered_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat_id, started) = alice
        .start_chat("my printer is not printing anything")
        .await;
    let first = started["suggestions"][0]["article_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = alice
        .post(
            &format!("/chats/{chat_id}/suggestions/{first}/decline"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut ws = alice.chat_ws(chat_id).await;
    ws.drain(Duration::from_millis(200)).await;
    let (status, _) = alice
        .post(
            &format!("/chats/{chat_id}/messages"),
            json!({"text": "it says offline and nothing prints"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let offer = ws
        .wait_for("new suggestions", |f| is_type(f, "suggestions"))
        .await;
    let ids: Vec<&str> = offer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["article_id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&first.as_str()),
        "{first} was declined but offered again: {ids:?}"
    );
    assert!(ids.iter().any(|id| id.contains("print")), "{ids:?}");
}

async fn analysts_link_a_chat_to_more_calls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let (_, earlier) = alice.start_chat("Outlook will not open").await;
    let earlier_call = earlier["call"]["id"].as_i64().unwrap();
    let earlier_ref = earlier["call"]["reference"].as_str().unwrap().to_owned();
    let chat_id = alice
        .queued_chat("Outlook still crashes after the fix")
        .await;
    bob.post(&format!("/chats/{chat_id}/accept"), json!({}))
        .await;

    let (status, linked) = bob
        .post(
            &format!("/chats/{chat_id}/links"),
            json!({"call_id": earlier_ref}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    assert_eq!(linked["linked_calls"][0]["id"], earlier_call);

    let (status, _) = bob
        .post(
            &format!("/chats/{chat_id}/links"),
            json!({"call_id": 999_999}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = alice
        .post(
            &format!("/chats/{chat_id}/links"),
            json!({"call_id": earlier_call}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, call) = bob.get(&format!("/calls/{earlier_call}")).await;
    assert_eq!(call["linked_chats"][0]["chat_id"], chat_id);
    assert!(
        !call["linked_chats"][0]["transcript"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The link shows from the chat's own call too, to the analyst and to its user.
    let (_, chat) = alice.get(&format!("/chats/{chat_id}")).await;
    let own_call = chat["call_id"].as_i64().unwrap();
    for viewer in [&bob, &alice] {
        let (_, own) = viewer.get(&format!("/calls/{own_call}")).await;
        assert_eq!(own["linked_calls"][0]["reference"], earlier_ref, "{own}");
    }
}

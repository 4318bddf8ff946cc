//! The analysts' side of calls: listing and searching every call, resolving with a
//! resolution, reopening, the user's other calls, and internal notes that never reach the
//! call's user anywhere they can look.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(
    analysts_list_resolve_and_reopen_calls,
    internal_notes_never_reach_the_user,
    analysts_see_what_the_bot_offered_and_how_it_went,
);

fn references(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|c| c["reference"].as_str().unwrap().to_owned())
        .collect()
}

async fn analysts_list_resolve_and_reopen_calls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let pat = app.chat_user("pat").await;
    let (_, a) = alice.start_chat("my vpn keeps dropping").await;
    let (_, b) = alice.start_chat("the Printer prints blank pages").await;
    let (_, c) = pat.start_chat("outlook will not open").await;
    let [a, b, c] = [&a, &b, &c].map(|s| s["call"]["reference"].as_str().unwrap().to_owned());
    let a_id = a.trim_start_matches("CALL-").parse::<i64>().unwrap();

    // Every call for analysts, newest first, filtered by user, words or reference.
    let (status, all) = bob.get("/calls").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(references(&all), [c.as_str(), b.as_str(), a.as_str()]);
    assert_eq!(
        references(&bob.get("/calls?user=alice").await.1),
        [b.as_str(), a.as_str()]
    );
    assert_eq!(
        references(&bob.get("/calls?q=printer").await.1),
        [b.as_str()]
    );
    assert_eq!(
        references(&bob.get(&format!("/calls?q={a}")).await.1),
        [a.as_str()]
    );
    assert_eq!(
        references(&bob.get("/calls?q=nothing%20like%20it").await.1),
        Vec::<String>::new()
    );
    // LIKE's wildcards in the text are only text.
    assert_eq!(
        references(&bob.get("/calls?q=%25").await.1),
        Vec::<String>::new()
    );
    assert_eq!(
        references(&bob.get("/calls?q=_").await.1),
        Vec::<String>::new()
    );
    let (status, body) = bob.get("/calls?status=lost").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A user still sees only their own.
    assert_eq!(
        references(&alice.get("/calls").await.1),
        [b.as_str(), a.as_str()]
    );

    // Resolved with a resolution, once; by analysts only.
    let resolve = format!("/calls/{a_id}/resolve");
    let (status, _) = alice.post(&resolve, json!({"resolution": "fixed"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = bob.post(&resolve, json!({"resolution": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, call) = bob
        .post(&resolve, json!({"resolution": "Reset the VPN profile"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["status"], "resolved");
    assert_eq!(call["resolution"], "Reset the VPN profile");
    assert_eq!(call["resolved_by"], "bob");
    let (status, body) = bob.post(&resolve, json!({"resolution": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "invalid_state");
    assert_eq!(
        references(&bob.get("/calls?status=resolved").await.1),
        [a.as_str()]
    );
    assert_eq!(
        references(&bob.get("/calls?status=open").await.1),
        [c.as_str(), b.as_str()]
    );
    let (_, shown) = alice.get(&format!("/calls/{a_id}")).await;
    assert_eq!(shown["resolution"], "Reset the VPN profile");

    // Reopened by its user (or an analyst), not by anyone else.
    let reopen = format!("/calls/{a_id}/reopen");
    let (status, _) = pat.post(&reopen, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, call) = alice.post(&reopen, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    assert_eq!(call["status"], "open");
    assert!(call.get("resolution").is_none(), "{call}");
    let (status, _) = alice.post(&reopen, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Analysts see the user's other calls and the notes; the user sees neither.
    let (_, seen) = bob.get(&format!("/calls/{a_id}")).await;
    assert_eq!(references(&seen["user_calls"]), [b.as_str()]);
    assert_eq!(seen["notes"], json!([]));
    let (_, own) = alice.get(&format!("/calls/{a_id}")).await;
    assert!(
        own.get("notes").is_none() && own.get("user_calls").is_none(),
        "{own}"
    );
}

async fn internal_notes_never_reach_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let chat = alice.queued_chat("my vpn keeps dropping").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let mut window = alice.chat_ws(chat).await;
    window.drain(Duration::from_millis(200)).await;
    let (_, shown) = alice.get(&format!("/chats/{chat}")).await;
    let call = shown["call_id"].as_i64().unwrap();
    let notes = format!("/calls/{call}/notes");

    let secret = "SECRET-NOTE-7: user reused an old password";
    let (status, _) = alice.post(&notes, json!({"text": "mine"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = bob.post(&notes, json!({"text": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, note) = bob.post(&notes, json!({"text": secret})).await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["text"], secret);
    assert_eq!(note["author"], "bob");
    assert!(note["at"].is_string() && note["id"].is_i64());
    let (_, seen) = bob.get(&format!("/calls/{call}")).await;
    assert_eq!(seen["notes"][0]["text"], secret);

    // Everything the user can reach, live and after the chat ends, is free of it.
    let leaks = |what: &str, text: &str| {
        assert!(
            !text.contains("SECRET-NOTE-7"),
            "the note reached the user in {what}: {text}"
        );
    };
    for frame in window.drain(Duration::from_millis(500)).await {
        leaks("a socket frame", &frame.to_string());
    }
    let (status, _) = bob.post(&format!("/chats/{chat}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    for frame in window.drain(Duration::from_millis(500)).await {
        leaks("a socket frame", &frame.to_string());
    }
    for path in [
        format!("/chats/{chat}"),
        format!("/calls/{call}"),
        "/calls?recent=true".to_owned(),
        "/calls".to_owned(),
        "/chats".to_owned(),
    ] {
        let (status, body) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        leaks(&path, &body.to_string());
    }
    let (_, own) = alice.get(&format!("/calls/{call}")).await;
    assert!(
        own["transcript_text"]
            .as_str()
            .unwrap()
            .contains("Chat ended")
    );
    for page in [
        "/".to_owned(),
        format!("/calls/{call}"),
        format!("/chats/{chat}"),
    ] {
        leaks(&page, &alice.text(&page).await);
    }
    let mut replay = alice.chat_ws(chat).await;
    for frame in replay.drain(Duration::from_millis(500)).await {
        leaks("a replayed frame", &frame.to_string());
    }

    // An analyst who logs a call of their own does not read the notes on it either.
    let ann = app
        .user("ann", &[Role::User, Role::ChatUser, Role::Analyst])
        .await;
    let (_, started) = ann.start_chat("my laptop battery drains fast").await;
    let own_call = started["call"]["id"].as_i64().unwrap();
    let (status, _) = bob
        .post(&format!("/calls/{own_call}/notes"), json!({"text": secret}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, own) = ann.get(&format!("/calls/{own_call}")).await;
    assert!(own.get("notes").is_none(), "{own}");
    leaks("an analyst's own call", &own.to_string());
}

async fn analysts_see_what_the_bot_offered_and_how_it_went(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    // A question three articles answer well enough for the bot to offer all three.
    let (chat, started) = alice
        .start_chat("I can't print to the printer on floor 3 since yesterday")
        .await;
    let call = started["call"]["id"].as_i64().unwrap();
    let ids: Vec<String> = started["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["article_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.len() >= 3, "three suggestions to work with: {started}");
    let (status, _) = alice
        .post(
            &format!("/chats/{chat}/suggestions/{}/decline", ids[0]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = alice
        .post(
            &format!("/chats/{chat}/suggestions/{}/accept", ids[1]),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, seen) = bob.get(&format!("/calls/{call}")).await;
    let offered = seen["offered"].as_array().expect("offered for analysts");
    let outcome_of = |id: &str| {
        offered
            .iter()
            .find(|o| o["article_id"] == id)
            .unwrap_or_else(|| panic!("{id} offered: {seen}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome_of(&ids[0]), "declined");
    assert_eq!(outcome_of(&ids[1]), "accepted");
    assert_eq!(outcome_of(&ids[2]), "none");
    assert!(
        offered
            .iter()
            .all(|o| !o["title"].as_str().unwrap().is_empty())
    );
    let (_, own) = alice.get(&format!("/calls/{call}")).await;
    assert!(own.get("offered").is_none(), "{own}");
}

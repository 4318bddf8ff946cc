//! Knowledge gaps over real HTTP: a scripted set of calls (three about something no
//! article covers, two where the same article was offered and declined, one the bot
//! fixed, one still reading suggestions) gives exactly the expected groups; supervisors,
//! admins and authors may read them, nobody else.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(the_calls_the_bot_could_not_help_are_grouped_by_meaning);

/// Starts a chat, declines every article the bot offered, and asks for an analyst;
/// returns what was offered.
async fn declined_and_handed_off(user: &TestUser, question: &str) -> Vec<String> {
    let (chat, started) = user.start_chat(question).await;
    let offered: Vec<String> = started["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["article_id"].as_str().unwrap().to_owned())
        .collect();
    for article in &offered {
        let (status, body) = user
            .post(
                &format!("/chats/{chat}/suggestions/{article}/decline"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = user
        .post(&format!("/chats/{chat}/handoff"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    offered
}

async fn the_calls_the_bot_could_not_help_are_grouped_by_meaning(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let sam = app.user("sam", &[Role::Supervisor]).await;
    let root = app.user("root", &[Role::Admin]).await;
    let carol = app.user("carol", &[Role::Author]).await;

    // Nothing in the knowledge base is about the coffee machine.
    let coffee = [
        "The coffee machine in the kitchen shows error E12",
        "coffee machine error E12 again",
        "the kitchen coffee machine says E12 and makes no coffee",
    ];
    for question in coffee {
        alice.queued_chat(question).await;
    }
    // The VPN article is offered twice and declined twice.
    let vpn = [
        "My VPN keeps disconnecting every few minutes",
        "the VPN connection drops every few minutes",
    ];
    let mut declined = Vec::new();
    for question in vpn {
        declined.push(declined_and_handed_off(&alice, question).await);
    }
    let failing = declined[0][0].clone();
    assert!(
        declined[1].contains(&failing),
        "both were offered {failing}: {declined:?}"
    );
    // The bot fixes one, and one user is still reading its suggestions: neither is a gap.
    let (fixed, started) = alice.start_chat("my VPN keeps disconnecting").await;
    let article = started["suggestions"][0]["article_id"].as_str().unwrap();
    alice
        .post(
            &format!("/chats/{fixed}/suggestions/{article}/accept"),
            json!({}),
        )
        .await;
    alice.start_chat("Outlook will not sync my mailbox").await;

    let (status, gaps) = carol.get("/insights/knowledge-gaps").await;
    assert_eq!(status, StatusCode::OK, "{gaps}");
    let gaps = gaps.as_array().unwrap();
    assert_eq!(gaps.len(), 2, "{gaps:?}");

    assert_eq!(gaps[0]["calls"], 3, "largest first: {gaps:?}");
    assert_eq!(gaps[0]["kind"], "no_article");
    assert!(gaps[0].get("article_id").is_none());
    let label = gaps[0]["label"].as_str().unwrap();
    assert!(label.contains("coffee") && label.contains("e12"), "{label}");
    let mut queries: Vec<&str> = gaps[0]["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap())
        .collect();
    queries.sort_unstable();
    let mut asked = coffee.to_vec();
    asked.sort_unstable();
    assert_eq!(queries, asked);

    assert_eq!(gaps[1]["calls"], 2, "{gaps:?}");
    assert_eq!(gaps[1]["kind"], "failing_article");
    assert_eq!(gaps[1]["article_id"], failing.as_str());
    assert!(
        gaps[1]["label"].as_str().unwrap().contains("vpn"),
        "{gaps:?}"
    );

    // The same for supervisors and admins; a range without calls has no gaps.
    for who in [&sam, &root] {
        let (status, same) = who.get("/insights/knowledge-gaps").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(same.as_array().unwrap(), gaps);
    }
    let (_, none) = carol
        .get("/insights/knowledge-gaps?from=2000-01-01&to=2000-01-31")
        .await;
    assert_eq!(none, json!([]));
    let (status, _) = carol.get("/insights/knowledge-gaps?to=someday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for who in [&bob, &alice] {
        let (status, body) = who.get("/insights/knowledge-gaps").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = who.get("/insights/knowledge-gaps?to=someday").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "rights before dates: {body}");
    }
}

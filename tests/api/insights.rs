//! Insights over real HTTP: a scripted desk (the bot fixes one call, a user gives up
//! waiting, an analyst helps and resolves one, one is still with the bot) gives exactly
//! the expected counts, rates and CSV rows; the desk's times are histograms in
//! `/metrics`; supervisors and admins may read insights, nobody else.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(a_scripted_desk_gives_exact_figures_and_rows);

async fn csv_of(user: &TestUser, query: &str) -> (StatusCode, String, String) {
    let resp = user.http_get(&format!("/insights/calls.csv{query}")).await;
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, resp.text().await.unwrap())
}

async fn a_scripted_desk_gives_exact_figures_and_rows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let sam = app.user("sam", &[Role::Supervisor]).await;
    let root = app.user("root", &[Role::Admin]).await;
    let carol = app.user("carol", &[Role::Author]).await;

    // The bot fixes the first call.
    let (fixed, started) = alice
        .start_chat("My VPN keeps disconnecting every few minutes")
        .await;
    let article = started["suggestions"][0]["article_id"].as_str().unwrap();
    let (status, _) = alice
        .post(
            &format!("/chats/{fixed}/suggestions/{article}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The user gives up waiting on the second.
    let gave_up = alice.queued_chat("my printer jams").await;
    alice
        .post(&format!("/chats/{gave_up}/end"), json!({}))
        .await;
    // Bob helps with the third, resolves it, and the user rates it 5.
    let helped = alice.queued_chat("my laptop will not charge").await;
    bob.post(&format!("/chats/{helped}/accept"), json!({}))
        .await;
    bob.post(
        &format!("/chats/{helped}/messages"),
        json!({"text": "Try another socket."}),
    )
    .await;
    let (_, ended) = bob.post(&format!("/chats/{helped}/end"), json!({})).await;
    let helped_call = ended["call"]["id"].as_i64().unwrap();
    bob.post(
        &format!("/calls/{helped_call}/resolve"),
        json!({"resolution": "New charger"}),
    )
    .await;
    alice
        .post(&format!("/chats/{helped}/rating"), json!({"score": 5}))
        .await;
    // The fourth is still with the bot.
    alice.start_chat("my mouse is slow").await;

    let (status, figures) = sam.get("/insights").await;
    assert_eq!(status, StatusCode::OK, "{figures}");
    assert_eq!(figures["calls"], 4, "{figures}");
    assert_eq!(figures["bot_resolved"], 1);
    assert_eq!(figures["deflection_rate"], 0.25);
    assert_eq!(figures["handed_off"], 2);
    assert_eq!(figures["abandoned"], 1);
    assert_eq!(figures["abandonment_rate"], 0.5);
    for time in ["wait_secs", "first_response_secs", "handle_secs"] {
        let p50 = figures[time]["p50"]
            .as_f64()
            .unwrap_or_else(|| panic!("{time}: {figures}"));
        assert!((0.0..60.0).contains(&p50), "{time}: {figures}");
        assert_eq!(
            figures[time]["p50"], figures[time]["p90"],
            "one value: {figures}"
        );
    }
    assert_eq!(
        figures["rating"],
        json!({"responses": 1, "mean": 5.0, "share_4_or_5": 1.0})
    );

    // The CSV has the same calls, oldest first.
    let (status, kind, csv) = csv_of(&root, "").await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(kind, "text/csv; charset=utf-8");
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "reference",
            "logged_at",
            "outcome",
            "wait_secs",
            "first_response_secs",
            "handle_secs",
            "analyst",
            "rating"
        ]
    );
    let outcomes: Vec<&str> = rows[1..].iter().map(|r| r[2]).collect();
    assert_eq!(
        outcomes,
        ["bot_resolved", "abandoned", "analyst_resolved", "open"]
    );
    assert_eq!(rows[3][6], "bob");
    assert_eq!(rows[3][7], "5");
    assert!(rows[1][3].is_empty(), "the bot's call never waited: {csv}");

    // A range without calls, and ranges that do not read.
    let (_, none) = sam.get("/insights?from=2000-01-01&to=2000-01-31").await;
    assert_eq!(none["calls"], 0);
    assert_eq!(none["deflection_rate"], json!(null));
    assert_eq!(none["wait_secs"], json!({"p50": null, "p90": null}));
    for query in ["?from=last-week", "?from=2026-12-02&to=2026-12-01"] {
        let (status, body) = sam.get(&format!("/insights{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
    }

    // Who may read them.
    for who in [&bob, &alice, &carol] {
        let (status, _) = who.get("/insights").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(csv_of(who, "").await.0, StatusCode::FORBIDDEN);
        // Rights come first: bad dates from someone without them are not looked at.
        let (status, _) = who.get("/insights?from=last-week").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // The same times, as they happened, in /metrics.
    let metrics = app.metrics().await;
    for line in [
        "chatdesk_queue_wait_seconds_count 1",
        "chatdesk_first_response_seconds_count 1",
        "chatdesk_handle_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

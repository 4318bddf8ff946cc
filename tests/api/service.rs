//! Health, readiness and metrics.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    health_readiness_and_metrics_answer,
    latencies_are_histograms,
    shutting_down_closes_sockets_cleanly
);

async fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    alice.start_chat("outlook search is not working").await;
    for path in ["/healthz", "/readyz"] {
        let resp = app
            .http
            .get(format!("{}{path}", app.root()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("chatdesk_chats_started_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/chats",status="201""#),
        "{metrics}"
    );
}

/// The count of a histogram's observations, from the Prometheus text.
fn observations(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

async fn latencies_are_histograms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let chat = alice.queued_chat("my second screen stays black").await;
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let mut bob_ws = bob.chat_ws(chat).await;
    bob_ws.drain(Duration::from_millis(200)).await;
    for text in ["hello?", "still black"] {
        let (status, _) = alice
            .post(&format!("/chats/{chat}/messages"), json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        bob_ws.wait_for("the message", |f| f["text"] == text).await;
    }
    // The delivery is recorded just after the frame is written to the socket: give the
    // second one a moment to land.
    let mut metrics = app.metrics().await;
    for _ in 0..20 {
        if observations(&metrics, "chatdesk_message_delivery_seconds_count") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = app.metrics().await;
    }
    assert_eq!(
        observations(&metrics, "chatdesk_message_delivery_seconds_count"),
        2,
        "two messages reached the analyst's socket"
    );
    assert!(observations(&metrics, "chatdesk_ranking_duration_seconds_count") >= 1);
    assert!(
        metrics.contains(
            r#"chatdesk_http_request_duration_seconds_bucket{method="POST",route="/api/v1/chats/{id}/messages",status="201",le="+Inf"} 2"#
        ),
        "{metrics}"
    );
}

async fn shutting_down_closes_sockets_cleanly(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice
        .start_chat("my keyboard types the wrong characters")
        .await;
    let mut ws = alice.chat_ws(chat).await;
    ws.drain(Duration::from_millis(200)).await;
    app.shut_down();
    // The socket gets a close frame rather than a dropped connection.
    assert_eq!(ws.close_code().await, Some(1001), "going away");
}

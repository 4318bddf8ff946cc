//! Health, readiness and metrics.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    health_readiness_and_metrics_answer,
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
    let metrics = app
        .http
        .get(format!("{}/metrics", app.root()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("chatdesk_chats_started_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/api/v1/chats",status="201""#),
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

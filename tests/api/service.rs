//! Health, readiness and metrics.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(health_readiness_and_metrics_answer);

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

//! Registering webhook endpoints, over real HTTP: what admins may register and what is
//! refused with a clear error and nothing stored. (Deliveries, signatures, retries and
//! restarts are tested with the Standard Webhooks library as the receiver, in
//! `tests/browser/webhooks.test.mjs`.)

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use chatdesk::domain::user::Role;

async fn webhook_urls_and_events_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.user("root", &[Role::Admin]).await;
    let events = json!(["chat.started", "chat.ended"]);
    for (case, url) in [
        ("not http", "ftp://93.184.216.34/hook"),
        ("not a URL", "hook me"),
        ("loopback", "http://127.0.0.1:8080/hook"),
        ("loopback v6", "http://[::1]/hook"),
        ("private", "http://10.0.0.7/hook"),
        (
            "link-local (cloud metadata)",
            "http://169.254.169.254/latest",
        ),
        ("a name for loopback", "http://localhost:9000/hook"),
    ] {
        let (status, body) = admin
            .post("/webhooks", json!({"url": url, "events": events}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
        assert_eq!(body["error"]["code"], "invalid", "{case}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("url"),
            "{case}: {body}"
        );
    }
    for (case, events) in [
        ("no events", json!([])),
        ("an unknown event", json!(["chat.started", "chat.exploded"])),
    ] {
        let (status, body) = admin
            .post(
                "/webhooks",
                json!({"url": "https://93.184.216.34/hook", "events": events}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
    }
    let (_, listed) = admin.get("/webhooks").await;
    assert_eq!(listed, json!([]), "nothing was stored");

    // A public address is taken; the secret is shown once.
    let (status, made) = admin
        .post(
            "/webhooks",
            json!({"url": "https://93.184.216.34/hook", "events": ["chat.ended", "chat.started", "chat.ended"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(made["events"], json!(["chat.started", "chat.ended"]));
    let (_, listed) = admin.get("/webhooks").await;
    assert_eq!(listed[0]["url"], "https://93.184.216.34/hook");
    assert!(listed[0].get("secret").is_none(), "{listed}");
    let id = made["id"].as_i64().unwrap();
    let (status, deliveries) = admin.get(&format!("/webhooks/{id}/deliveries")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deliveries, json!([]));

    // Only admins; unknown endpoints are 404.
    let ann = app.chat_user("ann").await;
    assert_eq!(ann.get("/webhooks").await.0, StatusCode::FORBIDDEN);
    let (status, _) = ann
        .post(
            "/webhooks",
            json!({"url": "https://93.184.216.34/h", "events": ["chat.started"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(admin.delete("/webhooks/999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        admin.get("/webhooks/999/deliveries").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = admin.delete(&format!("/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = admin.get("/webhooks").await;
    assert_eq!(listed, json!([]));
}

/// With `webhooks.allow_private_targets`, a private network's receivers are allowed.
async fn private_targets_are_allowed_when_set(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.webhooks.allow_private_targets = true).await;
    let admin = app.user("root", &[Role::Admin]).await;
    let (status, body) = admin
        .post(
            "/webhooks",
            json!({"url": "http://10.0.0.7/hook", "events": ["chat.started"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/webhooks",
            json!({"url": "file:///etc/passwd", "events": ["chat.started"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

crate::on_both_databases!(
    webhook_urls_and_events_are_checked,
    private_targets_are_allowed_when_set,
);

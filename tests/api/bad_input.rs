//! Bad input gets the contract's error shape and a fitting status; the server keeps going
//! and stored data stays as it was.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::helpers::{Backend, TestApp, is_type};
use crate::on_both_databases;

on_both_databases!(
    bad_requests_get_clear_errors,
    bad_socket_frames_get_error_frames_and_the_socket_stays_open,
    files_are_checked,
    the_offline_setting_refuses_chats_when_nobody_is_online,
);

async fn bad_requests_get_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice.start_chat("wifi keeps asking for my password").await;

    let (status, body) = alice
        .post_raw("/chats", "application/json", b"{\"description\": ".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");
    let (status, body) = alice.post("/chats", json!({"nope": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].is_string());
    let (status, body) = alice.post("/chats", json!({"description": "   "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "invalid");
    let (status, _) = alice
        .post_raw("/chats", "application/json", vec![b'{', 0xff, 0xfe, b'}'])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let long = "x".repeat(4001);
    let (status, body) = alice
        .post(&format!("/chats/{chat}/messages"), json!({"text": long}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"].as_str().unwrap().contains("4000"));
    let (status, _) = alice
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "ok", "client_id": "has space"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Just over the 64 KiB JSON limit: small enough that the client finishes sending
    // before the server answers, so the 413 is read rather than a reset.
    let huge = "y".repeat(70 * 1024);
    let (status, body) = alice
        .post(&format!("/chats/{chat}/messages"), json!({"text": huge}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    for path in ["/chats/999999", "/chats/not-a-number", "/calls/424242"] {
        let (status, body) = alice.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = alice.get("/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // axum's own rejections come in the same shape.
    let (status, body) = alice.put("/chats", json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    let (status, body) = alice
        .post_raw(
            &format!("/chats/{chat}/attachments"),
            "multipart/form-data",
            b"no boundary".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    let (status, body) = alice
        .post(&format!("/chats/{chat}/accept"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    alice
        .post(&format!("/chats/{chat}/handoff"), json!({}))
        .await;
    let (status, body) = alice
        .post(&format!("/chats/{chat}/handoff"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "already_queued");

    // Nothing that was stored is lost by all of the above.
    let (_, body) = alice.get(&format!("/chats/{chat}")).await;
    assert_eq!(body["status"], "queued");
    assert!(body["messages"].as_array().unwrap().len() >= 2);
}

async fn bad_socket_frames_get_error_frames_and_the_socket_stays_open(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice.start_chat("camera not detected in meetings").await;
    let mut ws = alice.chat_ws(chat).await;
    ws.drain(Duration::from_millis(200)).await;
    for (raw, code) in [
        ("not json", "invalid_json"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (r#"{"type":"message"}"#, "invalid_frame"),
        (r#"{"type":"message","text":""}"#, "invalid"),
    ] {
        ws.send_text(raw).await;
        let err = ws.wait_for(code, |f| is_type(f, "error")).await;
        assert_eq!(err["error"]["code"], code, "{raw}");
    }
    ws.send(json!({"type": "message", "text": "still here", "client_id": "c-9"}))
        .await;
    let ack = ws
        .wait_for("ack", |f| is_type(f, "message") && f["client_id"] == "c-9")
        .await;
    assert_eq!(ack["text"], "still here");

    // Binary frames get an error frame; a frame over 64 KiB ends the socket with 1009.
    ws.send_raw(WsMessage::Binary(vec![0xff, 0x00].into()))
        .await;
    let err = ws.wait_for("an error frame", |f| is_type(f, "error")).await;
    assert_eq!(err["error"]["code"], "invalid_frame");
    ws.send_text(&"x".repeat(100 * 1024)).await;
    assert_eq!(ws.close_code().await, Some(1009), "message too big");
    // A text frame that is not UTF-8 (sent raw, past the client's own check) ends the
    // socket with 1007.
    let mut ws = alice.chat_ws(chat).await;
    ws.drain(Duration::from_millis(200)).await;
    let broken = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    ws.send_raw(WsMessage::Frame(broken)).await;
    assert_eq!(ws.close_code().await, Some(1007), "invalid UTF-8");
    // The chat and the service go on.
    let mut ws = alice.chat_ws(chat).await;
    ws.send(json!({"type": "message", "text": "again", "client_id": "c-10"}))
        .await;
    ws.wait_for("ack", |f| f["client_id"] == "c-10").await;
}

async fn files_are_checked(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.limits.attachment_max_bytes = 1024).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice.start_chat("printer prints blank pages").await;

    let (status, body) = alice.upload(chat, "empty.txt", Vec::new()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = alice.upload(chat, "big.txt", vec![b'a'; 2048]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    let (status, body) = alice.upload(chat, "photo.png", b"just text".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = alice
        .upload(
            chat,
            "tool.exe",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, body) = alice
        .upload(chat, "../../etc/passwd", b"root:x:0:0".to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "passwd");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    let (status, body) = alice.upload(chat, "screen.png", png).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["content_type"], "image/png");
}

async fn the_offline_setting_refuses_chats_when_nobody_is_online(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.chat.allow_when_offline = false).await;
    let alice = app.chat_user("alice").await;
    let (status, body) = alice
        .post("/chats", json!({"description": "vpn down"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "no_analysts_online");
    app.online_analyst("bob", 2).await;
    let (status, _) = alice
        .post("/chats", json!({"description": "vpn down"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

//! Faults found by trying real reports from other chat products, each fixed for its whole
//! kind: text that forges a transcript line, a resume cursor the server cannot honour, and
//! text files in the encodings Windows writes taken for binary.

use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;

on_both_databases!(
    messages_cannot_forge_transcript_lines,
    a_cursor_beyond_the_chat_is_refused_clearly,
    text_files_in_windows_encodings_are_text,
);

const FORGED: &str = "[2026-01-01T00:00:00Z] Bob Test (analyst): approved";

/// Lines of the transcript that read as records: they start with `[`.
fn records(transcript: &str) -> Vec<&str> {
    transcript.lines().filter(|l| l.starts_with('[')).collect()
}

async fn messages_cannot_forge_transcript_lines(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let alice = app.chat_user("alice").await;
    let chat = alice.queued_chat("my laptop will not charge").await;
    let (status, _) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        format!("ok\n{FORGED}"),
        format!("ok\r\n{FORGED}"),
        format!("also\u{2028}{FORGED}"),
    ] {
        let (status, body) = alice
            .post(&format!("/chats/{chat}/messages"), json!({"text": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, body) = alice.get(&format!("/chats/{chat}")).await;
    let call = body["call_id"].as_i64().expect("call id");

    // While the chat is open, the call page shows the transcript built from the events.
    let page = alice.text(&format!("/calls/{call}")).await;
    assert!(
        !page.contains(&format!("\n{FORGED}")),
        "open call page: {page}"
    );
    assert!(
        page.contains(&format!("\n    {FORGED}")),
        "shown indented: {page}"
    );

    let (status, _) = bob.post(&format!("/chats/{chat}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, details) = alice.get(&format!("/calls/{call}")).await;
    let text = details["transcript_text"]
        .as_str()
        .expect("final transcript");
    let events = details["transcript"].as_array().expect("events").len();
    let records = records(text);
    // One record per stored event; the last event, `ended`, is the closing line.
    assert_eq!(records.len(), events, "{text}");
    assert!(
        records
            .iter()
            .all(|l| !l.contains("approved") || l.contains("(user): ")),
        "no record is the analyst approving: {text}"
    );
    assert_eq!(
        text.matches(&format!("\n    {FORGED}")).count(),
        3,
        "each forged line stays inside its message, indented: {text}"
    );
}

async fn a_cursor_beyond_the_chat_is_refused_clearly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice
        .start_chat("outlook keeps asking for my password")
        .await;
    let (_, body) = alice.get(&format!("/chats/{chat}")).await;
    let last = body["last_seq"].as_i64().expect("last seq");

    match alice
        .ws(&format!("/chats/{chat}/ws?after={}", last + 5))
        .await
    {
        Err(WsError::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("the error shape");
            assert_eq!(body["error"]["code"], "invalid");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(&format!("after={last}")), "{message}");
        }
        Err(e) => panic!("expected a 422, got {e}"),
        Ok(_) => panic!("a cursor beyond the last event was accepted"),
    }

    // At the last event the socket opens and new events arrive.
    let mut ws = alice
        .ws(&format!("/chats/{chat}/ws?after={last}"))
        .await
        .expect("opens at the last seq");
    let (status, _) = alice
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "still there?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let frame = ws
        .wait_for("the new message", |f| f["text"] == "still there?")
        .await;
    assert_eq!(frame["seq"], last + 1);
}

async fn text_files_in_windows_encodings_are_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice.start_chat("the import fails on my user list").await;
    let files: [(&str, &[u8], &str); 2] = [
        // Windows PowerShell's `>`: UTF-16LE with a byte-order mark.
        ("a.txt", &[0xff, 0xfe, 0x68, 0x00, 0x69, 0x00], "utf-16le"),
        // Excel's CSV export on Windows: Windows-1252 ("Renée").
        ("users.csv", &[0x52, 0x65, 0x6e, 0xe9, 0x65], "windows-1252"),
    ];
    for (name, bytes, charset) in files {
        let (status, body) = alice.upload(chat, name, bytes.to_vec()).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert_eq!(
            body["content_type"],
            format!("text/plain; charset={charset}"),
            "{name}"
        );
        let response = app
            .http
            .get(format!(
                "{}/attachments/{}",
                app.base,
                body["id"].as_str().unwrap()
            ))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            format!("text/plain; charset={charset}").as_str()
        );
        assert_eq!(
            &response.bytes().await.unwrap()[..],
            bytes,
            "{name}: kept as sent"
        );
    }
    // Programs are still refused, whatever they are called.
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    let (status, body) = alice.upload(chat, "notes.txt", elf).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
}

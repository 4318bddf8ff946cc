//! Every endpoint and socket against every role and against someone else's chat, call
//! and file, as one table: no read or write crosses an owner boundary, and roles hold.
//! Writes that would change the chat for later rows (ending it, accepting a fix) are
//! checked for those who must be refused; the stories check them succeeding.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_databases;
use chatdesk::domain::user::Role;

on_both_databases!(every_endpoint_against_every_role);

/// Columns of the table.
const ACTORS: [&str; 9] = [
    "anonymous",
    "pat (user)",
    "alice (owner)",
    "mallory (other user)",
    "ann (its analyst)",
    "bob (other analyst)",
    "dave (author)",
    "root (admin)",
    "sam (supervisor)",
];

/// `None`: not exercised here (it would change what later rows see).
type Row = (&'static str, String, Body, [Option<u16>; 9]);

/// Expected statuses in `ACTORS` order; `-` for not exercised.
fn e(statuses: &str) -> [Option<u16>; 9] {
    let v: Vec<Option<u16>> = statuses
        .split_whitespace()
        .map(|s| s.parse().ok())
        .collect();
    v.try_into().expect("nine statuses")
}

enum Body {
    None,
    Json(Value),
    File,
    Socket,
}

async fn status_of(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &Body,
) -> u16 {
    if let Body::Socket = body {
        let mut request = format!("{}{path}", app.ws_base)
            .into_client_request()
            .unwrap();
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        return match tokio_tungstenite::connect_async(request).await {
            Ok(_) => 101,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            Err(e) => panic!("{path}: {e}"),
        };
    }
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = match body {
        Body::Json(v) => request.json(v),
        Body::File => request.multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"probe".to_vec()).file_name("probe.txt"),
        )),
        Body::None | Body::Socket => request,
    };
    request.send().await.unwrap().status().as_u16()
}

async fn every_endpoint_against_every_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pat = app.user("pat", &[Role::User]).await;
    let alice = app.chat_user("alice").await;
    let mallory = app.chat_user("mallory").await;
    let ann = app.online_analyst("ann", 3).await;
    let bob = app.online_analyst("bob", 3).await;
    let dave = app.user("dave", &[Role::Author]).await;
    let root = app.user("root", &[Role::Admin]).await;
    let sam = app.user("sam", &[Role::Supervisor]).await;

    // Alice's chat, live with Ann, with a file on its call; Mallory has a call of her own.
    let (chat, started) = alice.start_chat("my vpn keeps dropping").await;
    let call = started["call"]["id"].as_i64().unwrap();
    let article = started["suggestions"][0]["article_id"]
        .as_str()
        .unwrap_or("account-locked-out")
        .to_owned();
    alice
        .post(&format!("/chats/{chat}/handoff"), json!({}))
        .await;
    let (status, body) = ann.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, file) = alice.upload(chat, "notes.txt", b"vpn log".to_vec()).await;
    let file = file["id"].as_str().unwrap().to_owned();
    let (_, other) = mallory.start_chat("my screen is black").await;
    let other_call = other["call"]["id"].as_i64().unwrap();

    let tokens: [Option<&TestUser>; 9] = [
        None,
        Some(&pat),
        Some(&alice),
        Some(&mallory),
        Some(&ann),
        Some(&bob),
        Some(&dave),
        Some(&root),
        Some(&sam),
    ];
    let article_text = "---\ntitle: Access probe\n---\nProbe body.\n".to_owned();
    let (_, canned) = ann
        .post("/canned", json!({"title": "Probe", "text": "Hi {user}"}))
        .await;
    let canned = canned["id"].as_i64().unwrap();
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        // Statuses for: anonymous, pat, alice, mallory, ann, bob, dave, root, sam.
        ("GET", "/me".into(), Body::None, e("401 200 200 200 200 200 200 200 200")),
        ("GET", "/chat/availability".into(), Body::None, e("401 200 200 200 200 200 200 200 200")),
        ("POST", "/chats".into(), Body::Json(json!({"description": "probe"})), e("401 403 - - 403 403 403 403 403")),
        ("GET", format!("/chats/{chat}"), Body::None, e("401 404 200 404 200 404 404 200 200")),
        ("POST", format!("/chats/{chat}/messages"), Body::Json(json!({"text": "probe"})), e("401 404 201 404 201 404 404 409 409")),
        ("POST", format!("/chats/{chat}/suggestions/{article}/accept"), Body::Json(json!({})), e("401 404 - 404 403 404 404 403 403")),
        ("POST", format!("/chats/{chat}/suggestions/{article}/decline"), Body::Json(json!({})), e("401 404 - 404 403 404 404 403 403")),
        ("POST", format!("/chats/{chat}/handoff"), Body::Json(json!({})), e("401 404 - 404 403 404 404 403 403")),
        ("POST", format!("/chats/{chat}/accept"), Body::Json(json!({})), e("401 403 403 403 - - 403 - -")),
        ("POST", format!("/chats/{chat}/links"), Body::Json(json!({"call_id": other_call})), e("401 403 403 403 200 404 403 - -")),
        ("POST", format!("/chats/{chat}/attachments"), Body::File, e("401 404 201 404 201 404 404 409 409")),
        ("GET", format!("/attachments/{file}"), Body::None, e("401 404 200 404 200 200 404 200 200")),
        ("GET", format!("/calls/{call}"), Body::None, e("401 404 200 404 200 200 404 200 200")),
        ("GET", format!("/calls/{other_call}"), Body::None, e("401 404 404 200 200 200 404 200 200")),
        ("GET", "/calls?recent=true".into(), Body::None, e("401 200 200 200 200 200 200 200 200")),
        ("GET", "/calls?status=open&q=vpn".into(), Body::None, e("401 200 200 200 200 200 200 200 200")),
        ("POST", format!("/calls/{other_call}/resolve"), Body::Json(json!({"resolution": "probe"})), e("401 403 403 403 - - 403 - -")),
        ("POST", format!("/calls/{call}/reopen"), Body::Json(json!({})), e("401 404 409 404 409 409 404 409 409")),
        ("POST", format!("/calls/{call}/notes"), Body::Json(json!({"text": "probe"})), e("401 403 403 403 201 201 403 201 201")),
        ("PUT", "/analyst/status".into(), Body::Json(json!({"status": "online", "max_chats": 3})), e("401 403 403 403 200 200 403 200 200")),
        ("GET", "/analyst/queue".into(), Body::None, e("401 403 403 403 200 200 403 200 200")),
        ("GET", "/analyst/chats".into(), Body::None, e("401 403 403 403 200 200 403 200 200")),
        ("GET", "/knowledge/search?q=vpn".into(), Body::None, e("401 403 403 403 200 200 200 200 200")),
        ("GET", "/knowledge/articles".into(), Body::None, e("401 403 403 403 - - 200 200 200")),
        ("GET", format!("/knowledge/articles/{article}/view"), Body::None, e("401 403 200 200 200 200 200 200 200")),
        ("PUT", "/knowledge/articles/access-probe".into(), Body::Json(Value::String(article_text)), e("401 403 403 403 403 403 - - 403")),
        ("DELETE", "/knowledge/articles/access-probe".into(), Body::None, e("401 403 403 403 403 403 - - 403")),
        ("POST", "/knowledge/reindex".into(), Body::None, e("401 403 403 403 403 403 - - 403")),
        ("POST", "/users".into(), Body::Json(json!({"username": "eve", "roles": ["admin"]})), e("401 403 403 403 403 403 403 - 403")),
        ("PATCH", "/users/pat".into(), Body::Json(json!({"disabled": true})), e("401 403 403 403 403 403 403 - 403")),
        ("DELETE", "/users/pat/tokens".into(), Body::None, e("401 403 403 403 403 403 403 - 403")),
        ("POST", format!("/chats/{chat}/end"), Body::Json(json!({})), e("401 404 - 404 - 404 404 403 403")),
        ("GET", format!("/chats/{chat}/ws"), Body::Socket, e("401 404 101 404 101 404 404 101 101")),
        ("GET", "/analyst/ws".into(), Body::Socket, e("401 403 403 403 101 101 403 101 101")),
        ("GET", "/chats".into(), Body::None, e("401 200 200 200 200 200 200 200 200")),
        ("POST", format!("/chats/{chat}/leave"), Body::Json(json!({})), e("401 404 - 404 403 404 404 403 403")),
        ("POST", format!("/chats/{chat}/rating"), Body::Json(json!({"score": 5})), e("401 404 409 404 403 404 404 403 403")),
        ("GET", "/canned".into(), Body::None, e("401 403 403 403 200 200 403 200 200")),
        ("GET", format!("/canned?chat={chat}"), Body::None, e("401 403 403 403 200 404 403 200 200")),
        ("POST", "/canned".into(), Body::Json(json!({"title": "probe", "text": "x"})), e("401 403 403 403 201 201 403 201 201")),
        ("PUT", format!("/canned/{canned}"), Body::Json(json!({"title": "Probe", "text": "Hi {user}"})), e("401 403 403 403 200 200 403 200 200")),
        ("DELETE", format!("/canned/{canned}"), Body::None, e("401 403 403 403 - - 403 - -")),
        ("GET", "/insights".into(), Body::None, e("401 403 403 403 403 403 403 200 200")),
        ("GET", "/insights/calls.csv".into(), Body::None, e("401 403 403 403 403 403 403 200 200")),
        ("GET", "/insights/knowledge-gaps".into(), Body::None, e("401 403 403 403 403 403 200 200 200")),
        ("GET", format!("/chats/{chat}/assist"), Body::None, e("401 404 403 404 200 404 404 403 403")),
        ("POST", format!("/chats/{chat}/articles"), Body::Json(json!({"article_id": article})), e("401 404 403 404 201 404 404 403 403")),
        ("GET", "/analyst/team".into(), Body::None, e("401 403 403 403 200 200 403 200 200")),
        ("POST", format!("/chats/{chat}/transfer"), Body::Json(json!({"to": "bob"})), e("401 404 403 404 - 404 404 403 403")),
    ];

    let mut wrong = Vec::new();
    for (method, path, body, expected) in &rows {
        for (i, want) in expected.iter().enumerate() {
            let Some(want) = want else { continue };
            let token = tokens[i].map(|u| u.token.as_str());
            let got = status_of(&app, token, method, path, body).await;
            if got != *want {
                wrong.push(format!(
                    "{method} {path} as {}: {got}, expected {want}",
                    ACTORS[i]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "access table:\n{}", wrong.join("\n"));

    // Nothing anyone was refused changed Alice's chat, and listings stay per user.
    let (_, shown) = alice.get(&format!("/chats/{chat}")).await;
    assert_eq!(shown["status"], "active");
    let (_, mine) = mallory.get("/calls?recent=true").await;
    assert!(
        mine.as_array().unwrap().iter().all(|c| c["id"] != call),
        "{mine}"
    );
}

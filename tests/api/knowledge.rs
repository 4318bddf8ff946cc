//! The knowledge base: plain questions find the obvious article, authors edit articles
//! and the bot uses them at once, reindexing never interrupts searches, and bad articles
//! are reported and skipped.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_databases;
use chatdesk::domain::user::Role;
use chatdesk::knowledge::index::CALIBRATION;

on_both_databases!(
    plain_questions_find_the_obvious_article,
    articles_open_as_clean_html_for_chat_users,
    authors_edit_articles_and_the_bot_uses_them_at_once,
    searches_keep_answering_through_reindexes,
    bad_articles_in_the_folder_are_reported_and_skipped,
);

async fn top(user: &TestUser, query: &str) -> Vec<String> {
    let (status, body) = user
        .get(&format!("/knowledge/search?q={}&k=3", urlencode(query)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|s| s["article_id"].as_str().unwrap().to_owned())
        .collect()
}

/// An author's `PUT /knowledge/articles/{id}` of Markdown: the status and the answer.
async fn put_article(user: &TestUser, id: &str, markdown: &str) -> (StatusCode, Value) {
    let path = format!("/knowledge/articles/{id}");
    user.put_raw(&path, "text/markdown", markdown).await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn plain_questions_find_the_obvious_article(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.online_analyst("bob", 3).await;
    let mut first = Vec::new();
    for (query, expected) in [
        ("I forgot my password", "forgotten-password"),
        ("my vpn keeps dropping every few minutes", "vpn-disconnects"),
        ("the printer says it is offline", "printer-offline"),
        ("my C drive is full", "c-drive-full"),
        ("Outlook won't open", "outlook-wont-open"),
        (
            "I got a new phone, how do I move my authenticator",
            "mfa-new-phone",
        ),
        (
            "my laptop keeps crashing with a blue screen",
            "blue-screen-crash",
        ),
        (
            "I clicked a link in a phishing email",
            "clicked-suspicious-link",
        ),
        ("my account is locked", "account-locked-out"),
        (
            "can't connect to the office wifi",
            "wifi-corporate-cannot-join",
        ),
        ("my laptop was stolen", "lost-stolen-laptop"),
    ] {
        let ranked = top(&bob, query).await;
        assert!(
            ranked.iter().take(2).any(|a| a == expected),
            "{query}: {ranked:?}"
        );
        if ranked[0] != expected {
            first.push(format!("{query}: {ranked:?}"));
        }
    }
    // One article per article vector blurs the "I clicked a link" symptom of
    // clicked-suspicious-link: "How to report a phishing e-mail" comes first for it.
    assert!(first.len() <= 1, "{first:?}");
    // Each suggestion says why it matched, with one confidence; matched words leave out
    // stop words and fragments of contractions.
    let (_, body) = bob
        .get("/knowledge/search?q=I%27m%20sure%20my%20vpn%20disconnects&k=5")
        .await;
    let why = body[0]["explanation"].as_str().unwrap();
    assert!(why.contains("“vpn”") && why.contains("confidence"), "{why}");
    assert!(!why.contains("“m”") && !why.contains("“my”"), "{why}");
    // The percentage shown is the suggestion's confidence.
    let confidence = body[0]["confidence"].as_f64().unwrap();
    assert!(
        why.ends_with(&format!("confidence {}%", (confidence * 100.0).round())),
        "{why} / {confidence}"
    );
    // Snippets are whole sentences.
    let snippet = body[0]["snippet"].as_str().unwrap();
    let end = snippet.trim_end_matches(['"', '”', '’', ')']);
    assert!(end.ends_with(['.', '!', '?', ':']), "{snippet}");
    // The bot offers the suggestions after a confident first one only when they are
    // likely enough themselves: the search shows what it leaves out.
    let slow = "My laptop is very slow since the update last night";
    let (_, ranked) = bob
        .get(&format!("/knowledge/search?q={}&k=3", urlencode(slow)))
        .await;
    let floor = CALIBRATION.follow_up_confidence;
    let likely = |s: &Value| s["confidence"].as_f64().unwrap() as f32 >= floor;
    let ranked = ranked.as_array().unwrap();
    let kept: Vec<Value> = ranked[1..].iter().filter(|s| likely(s)).cloned().collect();
    // The third, "Windows updates stuck or failing", is rated at about 2%.
    assert!(kept.len() < 2, "{ranked:?}");
    let carla = app.chat_user("carla").await;
    let (_, started) = carla.start_chat(slow).await;
    let offered = started["suggestions"].as_array().unwrap();
    assert!(!offered.is_empty(), "{started}");
    let ids =
        |list: &[Value]| -> Vec<Value> { list.iter().map(|s| s["article_id"].clone()).collect() };
    assert_eq!(
        offered[0]["article_id"], ranked[0]["article_id"],
        "{started}"
    );
    assert_eq!(ids(&offered[1..]), ids(&kept), "{started}");

    // A description that matches nothing gets no suggestions, and the bot says so.
    let alice = app.chat_user("alice").await;
    let (_, started) = alice.start_chat("zxqv wlorp fnord").await;
    assert_eq!(
        started["suggestions"].as_array().unwrap().len(),
        0,
        "{started}"
    );
}

const COFFEE: &str = "---\ntitle: The coffee machine shows error E42\ntags: [kitchen]\n---\n\
## Symptoms\nThe coffee machine in the kitchen beeps and shows E42; no coffee comes out.\n\n\
## Fix\n1. Empty the drip tray.\n2. Refill the water tank.\n";

const HOSTILE: &str = "---\ntitle: Printer <script>alert(1)</script> jam\ntags: [printer]\n---\n\
## Fix\n1. Open the **front** cover.\n2. Pull the paper out [slowly](javascript:alert(2)).\n\n\
<script>alert(3)</script>\n<img src=x onerror=alert(4)>\n<iframe src=https://evil.example></iframe>\n\n\
See [the portal](https://portal.example/printers).\n";

async fn articles_open_as_clean_html_for_chat_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let carol = app.user("carol", &[Role::Author]).await;
    let alice = app.chat_user("alice").await;
    let (status, saved) = put_article(&carol, "printer-hostile", HOSTILE).await;
    assert_eq!(status, StatusCode::OK, "{saved}");

    let (status, view) = alice.get("/knowledge/articles/printer-hostile/view").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["title"], "Printer <script>alert(1)</script> jam");
    assert_eq!(view["tags"], json!(["printer"]));
    let html = view["html"].as_str().unwrap();
    // The steps are numbered, formatting and safe links stay.
    assert!(html.contains("<ol>"), "{html}");
    assert!(html.contains("<strong>front</strong>"), "{html}");
    assert!(
        html.contains("href=\"https://portal.example/printers\""),
        "{html}"
    );
    // Nothing active survives.
    for bad in ["<script", "javascript:", "onerror", "<iframe", "alert(3)"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    let (status, body) = alice.get("/knowledge/articles/no-such-article/view").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
}

async fn authors_edit_articles_and_the_bot_uses_them_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let carol = app.user("carol", &[Role::Author]).await;
    let alice = app.chat_user("alice").await;
    let (status, saved) = put_article(&carol, "coffee-e42", COFFEE).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["result"], "added");
    assert_eq!(
        top(&carol, "coffee machine error E42").await[0],
        "coffee-e42"
    );
    let (_, started) = alice.start_chat("the coffee machine says E42").await;
    assert_eq!(started["suggestions"][0]["article_id"], "coffee-e42");
    // The steps in a snippet keep their numbers; whole blocks come before the match.
    let (_, found) = carol
        .get("/knowledge/search?q=refill%20the%20water%20tank&k=1")
        .await;
    let snippet = found[0]["snippet"].as_str().unwrap();
    assert!(
        snippet.starts_with("The coffee machine in the kitchen beeps")
            && snippet.ends_with("1. Empty the drip tray. 2. Refill the water tank."),
        "{snippet}"
    );
    // A reason names the telling words, never function words such as "out".
    let (_, found) = carol
        .get("/knowledge/search?q=water%20comes%20out&k=5")
        .await;
    let coffee = found
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["article_id"] == "coffee-e42")
        .expect("the coffee article");
    let why = coffee["explanation"].as_str().unwrap();
    assert!(why.contains("“water”") && why.contains("“comes”"), "{why}");
    assert!(!why.contains("“out”"), "{why}");

    let (_, again) = put_article(&carol, "coffee-e42", COFFEE).await;
    assert_eq!(again["result"], "unchanged");

    // Bad edits are refused with the reason, and the stored article stays as it was.
    let (status, body) = put_article(&carol, "coffee-e42", "---\ntitle: [broken\n---\nbody").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("front matter"),
        "{body}"
    );
    let (status, body) = put_article(
        &carol,
        "coffee-e42",
        &COFFEE.replace("title:", "id: other\ntitle:"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = put_article(&carol, "Bad Id", COFFEE).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let source = app
        .http
        .get(format!("{}/knowledge/articles/coffee-e42", app.base))
        .bearer_auth(&carol.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(source, COFFEE);

    let (status, _) = put_article(&alice, "coffee-e42", COFFEE).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let delete = |id: &str| {
        app.http
            .delete(format!("{}/knowledge/articles/{id}", app.base))
            .bearer_auth(&carol.token)
            .send()
    };
    assert_eq!(delete("coffee-e42").await.unwrap().status(), StatusCode::OK);
    assert!(
        !top(&carol, "coffee machine error E42")
            .await
            .contains(&"coffee-e42".to_owned())
    );
    assert_eq!(
        delete("coffee-e42").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let (_, list) = carol.get("/knowledge/articles").await;
    assert!(list.as_array().unwrap().len() >= 80);
    let locked = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "account-locked-out")
        .expect("a bundled article is listed");
    assert_eq!(
        locked["tags"],
        json!(["account", "password"]),
        "the list shows tags"
    );
}

async fn searches_keep_answering_through_reindexes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let carol = app.user("carol", &[Role::Author, Role::Analyst]).await;
    let searcher = app.user("sam", &[Role::Analyst]).await;
    let searches = async {
        let mut answered = 0;
        for i in 0..60 {
            let q = if i % 2 == 0 {
                "vpn drops"
            } else {
                "printer offline"
            };
            let ranked = top(&searcher, q).await;
            assert!(!ranked.is_empty(), "search {i} came back empty");
            answered += 1;
        }
        answered
    };
    let edits = async {
        for round in 0..3 {
            let (status, report) = carol.post("/knowledge/reindex", json!({})).await;
            assert_eq!(status, StatusCode::OK, "{report}");
            assert!(report["articles"].as_u64().unwrap() >= 80);
            assert!(report["took_ms"].is_u64());
            let body = COFFEE.replace("E42", &format!("E4{round}"));
            let (status, saved) = put_article(&carol, "coffee", &body).await;
            assert_eq!(status, StatusCode::OK, "{saved}");
        }
    };
    let (answered, ()) = tokio::join!(searches, edits);
    assert_eq!(answered, 60);
}

fn copy_articles(from: &Path, to: &Path, ids: &[&str]) {
    for id in ids {
        std::fs::copy(from.join(format!("{id}.md")), to.join(format!("{id}.md"))).unwrap();
    }
}

async fn bad_articles_in_the_folder_are_reported_and_skipped(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    copy_articles(
        &starter,
        folder.path(),
        &["vpn-disconnects", "printer-offline", "c-drive-full"],
    );
    std::fs::write(
        folder.path().join("broken.md"),
        "---\ntitle: x\ntags: [a\n---\nbody",
    )
    .unwrap();
    let dir = folder.path().to_owned();
    let app = TestApp::spawn_with(backend, move |s| s.knowledge_dir = dir).await;
    let carol = app.user("carol", &[Role::Author, Role::Analyst]).await;

    let (status, report) = carol.post("/knowledge/reindex", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["articles"], 3);
    let skipped = &report["skipped"][0];
    assert!(
        skipped["file"].as_str().unwrap().ends_with("broken.md"),
        "{report}"
    );
    assert!(skipped["line"].is_u64(), "{report}");
    assert!(
        skipped["reason"].as_str().unwrap().contains("front matter"),
        "{report}"
    );
    assert_eq!(top(&carol, "vpn drops").await[0], "vpn-disconnects");

    // A file removed from the folder leaves the index; a new one joins it.
    std::fs::remove_file(folder.path().join("c-drive-full.md")).unwrap();
    copy_articles(&starter, folder.path(), &["outlook-wont-open"]);
    let (_, report) = carol.post("/knowledge/reindex", json!({})).await;
    assert_eq!(report["removed"], json!(["c-drive-full"]), "{report}");
    assert_eq!(report["added"], json!(["outlook-wont-open"]), "{report}");
    assert_eq!(report["articles"], 3);

    // An article an author deleted stays deleted, though its file is still there.
    let resp = app
        .http
        .delete(format!("{}/knowledge/articles/printer-offline", app.base))
        .bearer_auth(&carol.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, report) = carol.post("/knowledge/reindex", json!({})).await;
    assert_eq!(report["articles"], 2, "{report}");
    assert!(
        !top(&carol, "printer offline")
            .await
            .contains(&"printer-offline".to_owned())
    );
}

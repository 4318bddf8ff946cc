//! Abuse limits, written as the attacks they stop: made-up methods that would grow
//! `/metrics`, a colleague locking erin out by failing against her account, a socket that
//! outlives its sign-out, and one person filling the server (chats, bytes, sockets,
//! typing). Each refusal for volume is a 429 with `Retry-After`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use chatdesk::domain::now_millis;
use chatdesk::domain::user::{Role, TokenKind};
use chatdesk::store::NewToken;

use crate::helpers::{Backend, TestApp, TestUser, is_type};
use crate::on_both_databases;

on_both_databases!(
    made_up_methods_leave_metrics_the_same_size,
    failures_against_an_account_never_lock_out_its_own_browser,
    only_a_trusted_proxy_names_the_client,
    a_socket_closes_when_its_right_goes_and_keeps_nothing_sent_after,
    admins_disable_accounts_change_roles_and_revoke_tokens,
    one_person_cannot_fill_the_server,
    uploaded_pages_are_served_as_inert_bytes,
    the_bots_cost_per_message_does_not_grow_with_the_chat
);

const PASSWORD: &str = "correct horse battery";

/// The series `/metrics` holds: each sample line without its value.
fn series(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_owned()))
        .collect()
}

async fn made_up_methods_leave_metrics_the_same_size(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let root = app.root();
    let made_up = |i: usize| {
        let name = format!("XMETHOD{}{i}", "A".repeat(290));
        reqwest::Method::from_bytes(name.as_bytes()).unwrap()
    };
    // One made-up method first, and two scrapes, so every series the test touches exists.
    let first = app.http.request(made_up(0), format!("{root}/")).send();
    assert!(first.await.unwrap().status().is_client_error());
    app.metrics().await;
    let before = app.metrics().await;
    for i in 1..=30 {
        let resp = app.http.request(made_up(i), format!("{root}/")).send();
        assert!(resp.await.unwrap().status().is_client_error());
    }
    let after = app.metrics().await;
    assert!(
        !after.contains("XMETHOD"),
        "a client's method became a label"
    );
    assert_eq!(series(&before), series(&after), "new series appeared");
    assert!(
        after.len() < before.len() + 200,
        "{} bytes grew to {}",
        before.len(),
        after.len()
    );
    assert!(after.contains(r#"method="other""#), "{after}");
}

/// A client as a browser: it keeps the device cookie it is given, and connects from
/// `from`.
struct Browser {
    http: reqwest::Client,
    base: String,
    device_cookie: Option<String>,
}

impl Browser {
    fn new(app: &TestApp, from: Ipv4Addr) -> Self {
        Self {
            http: reqwest::Client::builder()
                .local_address(IpAddr::V4(from))
                .build()
                .unwrap(),
            base: app.base.clone(),
            device_cookie: None,
        }
    }

    async fn sign_in(&mut self, username: &str, password: &str) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/login", self.base))
            .json(&json!({"username": username, "password": password}));
        if let Some(cookie) = &self.device_cookie {
            request = request.header("cookie", format!("chatdesk_device={cookie}"));
        }
        let resp = request.send().await.unwrap();
        if let Some(cookie) = device_cookie_of(&resp) {
            self.device_cookie = Some(cookie);
        }
        resp
    }
}

fn device_cookie_of(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("chatdesk_device="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

async fn failures_against_an_account_never_lock_out_its_own_browser(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["erin", "frank"] {
        app.engine
            .accounts
            .create_user(name, None, Some(PASSWORD.into()), &[Role::Analyst])
            .await
            .unwrap();
    }
    let mut erins_browser = Browser::new(&app, Ipv4Addr::LOCALHOST);
    assert_eq!(
        erins_browser.sign_in("erin", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert!(
        erins_browser.device_cookie.is_some(),
        "no device cookie set"
    );

    // Someone else fails against erin's account from another address until refused...
    let mut attacker = Browser::new(&app, Ipv4Addr::new(127, 0, 0, 2));
    for _ in 0..5 {
        let resp = attacker.sign_in("erin", "guess").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = attacker.sign_in("erin", PASSWORD).await;
    assert_eq!(
        refused.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one"
    );
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // ...and goes on failing while erin signs in from her browser, which keeps its own
    // budget.
    let attack = tokio::spawn(async move {
        for _ in 0..20 {
            let status = attacker.sign_in("erin", "guess").await.status();
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    });
    for _ in 0..3 {
        let resp = erins_browser.sign_in("erin", PASSWORD).await;
        assert_eq!(resp.status(), StatusCode::OK, "erin was locked out");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["user"]["username"], "erin");
    }
    attack.await.unwrap();

    // A browser that has never signed in as erin is an untrusted client: locked out.
    let mut new_browser = Browser::new(&app, Ipv4Addr::LOCALHOST);
    let resp = new_browser.sign_in("erin", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // Erin's cookie names erin: it earns nothing for frank, whose budget is his own.
    let mut borrowed = Browser::new(&app, Ipv4Addr::LOCALHOST);
    borrowed.device_cookie = erins_browser.device_cookie.clone();
    for _ in 0..5 {
        assert_eq!(
            borrowed.sign_in("frank", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
        borrowed.device_cookie = erins_browser.device_cookie.clone();
    }
    assert_eq!(
        borrowed.sign_in("frank", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        erins_browser.sign_in("erin", PASSWORD).await.status(),
        StatusCode::OK
    );

    // The sign-in page's form sets the device cookie too.
    let form = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/login", app.root()))
        .header(
            "cookie",
            format!(
                "chatdesk_device={}",
                erins_browser.device_cookie.clone().unwrap()
            ),
        )
        .form(&[("username", "erin"), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        form.status(),
        StatusCode::SEE_OTHER,
        "the form's sign-in was refused"
    );
    assert!(
        device_cookie_of(&form).is_some(),
        "the form set no device cookie"
    );

    // A username longer than any account's is refused before any work: 150 of
    // them spend nothing of the address's budget of 100 failures.
    let mut flooder = Browser::new(&app, Ipv4Addr::new(127, 0, 0, 3));
    let long = "x".repeat(60_000);
    for _ in 0..150 {
        let resp = flooder.sign_in(&long, "guess").await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let resp = flooder.sign_in(&long, "guess").await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    assert!(
        !body.to_string().contains(&long[..100]),
        "the name was echoed"
    );
    assert_eq!(
        flooder.sign_in("frank2", "guess").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Failed sign-ins from `browser`, each against a new made-up name (so that no account's
/// budget is what refuses), claiming `forwarded` as the client; the statuses.
async fn guesses(browser: &Browser, forwarded: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let name = format!("nobody{}", rand_suffix());
        let resp = browser
            .http
            .post(format!("{}/login", browser.base))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": name, "password": "guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    statuses
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Behind a proxy every client shares the proxy's address: with the proxy trusted, each
/// forwarded client has its own sign-in budget; anyone else who sends the header is
/// limited by their own address however they vary it.
async fn only_a_trusted_proxy_names_the_client(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.login_attempts_per_address = 3;
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let proxy = Browser::new(&app, Ipv4Addr::LOCALHOST);
    assert_eq!(
        guesses(&proxy, "198.51.100.1", 4).await,
        [401, 401, 401, 429]
    );
    assert_eq!(
        guesses(&proxy, "198.51.100.2", 1).await,
        [401],
        "another client behind the proxy has its own budget"
    );
    assert_eq!(
        guesses(&proxy, "6.6.6.6, 198.51.100.1", 1).await,
        [429],
        "what the client claimed left of the proxy's entry is not believed"
    );

    let direct = Browser::new(&app, Ipv4Addr::new(127, 0, 0, 2));
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.extend(guesses(&direct, &format!("203.0.113.{i}"), 1).await);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "an untrusted peer's header is ignored"
    );
}

/// Signs `username` in with the password over the API; the session's token.
async fn session_of(app: &TestApp, username: &str) -> TestUser {
    let resp = app
        .http
        .post(format!("{}/login", app.base))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    TestUser::at(
        &app.root(),
        body["token"].as_str().unwrap().to_owned(),
        app.http.clone(),
    )
}

/// Reads frames until the socket closes; its close code, within 5 seconds of now.
async fn closed_within_5s(socket: &mut crate::helpers::Socket) -> Option<u16> {
    let started = Instant::now();
    let code = socket.close_code().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    code
}

async fn a_socket_closes_when_its_right_goes_and_keeps_nothing_sent_after(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, api_token) = app
        .engine
        .accounts
        .create_user(
            "alice",
            None,
            Some(PASSWORD.into()),
            &[Role::User, Role::ChatUser],
        )
        .await
        .unwrap();
    let alice_api = TestUser::at(&app.root(), api_token.0, app.http.clone());
    let alice = session_of(&app, "alice").await;
    let (chat, _) = alice.start_chat("my printer jams on every page").await;
    let mut ws = alice.chat_ws(chat).await;
    ws.send(json!({"type": "message", "text": "before", "client_id": "m1"}))
        .await;
    ws.wait_for("the acknowledgement", |f| f["client_id"] == "m1")
        .await;

    let (status, _) = alice.post("/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // Sent after the sign-out returned: refused, and the socket closes with 4401.
    ws.send(json!({"type": "message", "text": "after sign-out", "client_id": "m2"}))
        .await;
    assert_eq!(closed_within_5s(&mut ws).await, Some(4401));
    let (_, body) = alice_api.get(&format!("/chats/{chat}")).await;
    let texts: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(texts.contains(&"before"), "{texts:?}");
    assert!(
        !texts.contains(&"after sign-out"),
        "stored after sign-out: {texts:?}"
    );
    let reopened = alice.ws(&format!("/chats/{chat}/ws")).await;
    assert!(reopened.is_err(), "the session still opens sockets");

    // A quiet socket closes too, and a session that expires closes its socket at expiry.
    let quiet = session_of(&app, "alice").await;
    let mut quiet_ws = quiet.chat_ws(chat).await;
    let (status, _) = quiet.post("/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(closed_within_5s(&mut quiet_ws).await, Some(4401));

    let token = "cdt_expiring_test_token_0123456789";
    let alice_id = app
        .engine
        .store()
        .user_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let hash = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(token.as_bytes()))
    };
    app.engine
        .store()
        .insert_token(&NewToken {
            token_hash: &hash,
            user_id: alice_id,
            kind: TokenKind::Session,
            now: now_millis(),
            expires_at: Some(now_millis() + 1_500),
        })
        .await
        .unwrap();
    let expiring = TestUser::at(&app.root(), token.to_owned(), app.http.clone());
    let mut expiring_ws = expiring.chat_ws(chat).await;
    assert_eq!(closed_within_5s(&mut expiring_ws).await, Some(4401));
}

async fn admins_disable_accounts_change_roles_and_revoke_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.user("root", &[Role::Admin]).await;
    let (_, token) = app
        .engine
        .accounts
        .create_user(
            "erin",
            None,
            Some(PASSWORD.into()),
            &[Role::Analyst, Role::Author],
        )
        .await
        .unwrap();
    let erin_api = TestUser::at(&app.root(), token.0, app.http.clone());
    let erin = session_of(&app, "erin").await;

    // Disabling signs erin out everywhere: her desk socket closes, no token works, and
    // her password no longer signs her in.
    let mut desk = erin.ws("/analyst/ws").await.unwrap();
    let (status, body) = admin.patch("/users/erin", json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["disabled"], true);
    assert_eq!(closed_within_5s(&mut desk).await, Some(4401));
    assert_eq!(erin.get("/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(erin_api.get("/me").await.0, StatusCode::UNAUTHORIZED);
    let resp = app
        .http
        .post(format!("{}/login", app.base))
        .json(&json!({"username": "erin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Enabled again, her API token works (her old session stays signed out).
    let (status, _) = admin.patch("/users/erin", json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(erin_api.get("/me").await.0, StatusCode::OK);
    assert_eq!(erin.get("/me").await.0, StatusCode::UNAUTHORIZED);

    // A role taken away closes the sockets opened with it: 4403.
    let mut desk = erin_api.ws("/analyst/ws").await.unwrap();
    let (status, body) = admin
        .patch("/users/erin", json!({"roles": ["author"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["roles"], json!(["author"]));
    assert_eq!(closed_within_5s(&mut desk).await, Some(4403));

    // Revoking every token closes the rest and signs every client out.
    let (status, _) = admin
        .patch("/users/erin", json!({"roles": ["analyst"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut desk = erin_api.ws("/analyst/ws").await.unwrap();
    let (status, body) = admin.delete("/users/erin/tokens").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 1);
    assert_eq!(closed_within_5s(&mut desk).await, Some(4401));
    assert_eq!(erin_api.get("/me").await.0, StatusCode::UNAUTHORIZED);

    // Only admins manage accounts; unknown names and empty changes are clear errors.
    let (status, _) = erin_api
        .patch("/users/root", json!({"disabled": true}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let other = app.user("someone", &[Role::Supervisor]).await;
    let (status, body) = other.patch("/users/erin", json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = admin
        .patch("/users/nobody", json!({"disabled": true}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = admin.patch("/users/erin", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = admin.patch("/users/root", json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an admin disabled themself");
    // A refused change writes nothing of itself: root keeps the admin role.
    let both = json!({"roles": ["analyst"], "disabled": true});
    let (status, _) = admin.patch("/users/root", both).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = admin.get("/me").await;
    assert_eq!(body["user"]["roles"], json!(["admin"]), "{status} {body}");
}

async fn one_person_cannot_fill_the_server(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.chats_per_hour = 2;
        s.limits.upload_bytes_per_day = 1_000;
        s.limits.sockets_per_user = 2;
        s.limits.typing_per_sec = 2;
    })
    .await;
    let alice = app.chat_user("alice").await;
    let bob = app.chat_user("bob").await;

    // Chats an hour.
    let (chat, _) = alice.start_chat("my screen flickers").await;
    alice.start_chat("my keyboard types twice").await;
    let resp = alice
        .http_post("/chats", json!({"description": "my mouse is slow"}))
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    bob.start_chat("my mouse is slow").await;

    // Bytes a day.
    let (status, body) = alice.upload(chat, "a.txt", vec![b'a'; 600]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = alice.upload(chat, "b.txt", vec![b'b'; 600]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let (status, body) = alice.upload(chat, "c.txt", vec![b'c'; 300]).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "what is left still fits: {body}"
    );

    // Open sockets: the third is closed with 1008; bob's are his own.
    let mut first = alice.chat_ws(chat).await;
    let _second = alice.chat_ws(chat).await;
    let mut third = alice.chat_ws(chat).await;
    assert_eq!(third.close_code().await, Some(1008));
    let (bobs_chat, _) = bob.start_chat("my webcam is dark").await;
    let _bobs = bob.chat_ws(bobs_chat).await;

    // Typing frames: past the rate they are refused, not shown.
    for _ in 0..10 {
        first.send(json!({"type": "typing", "typing": true})).await;
    }
    let frames = first.drain(Duration::from_millis(500)).await;
    let refused = frames
        .iter()
        .filter(|f| is_type(f, "error") && f["error"]["code"] == "rate_limited")
        .count();
    let shown = frames.iter().filter(|f| is_type(f, "typing")).count();
    assert!(refused >= 5 && shown <= 5, "{frames:?}");
}

async fn uploaded_pages_are_served_as_inert_bytes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice.start_chat("this page shows an error").await;
    let page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let (status, body) = alice.upload(chat, "error.html", page.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let resp = alice.http_get(&format!("/attachments/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/octet-stream");
    assert_eq!(header("content-security-policy"), "sandbox");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-disposition").starts_with("attachment"));
    // API responses carry a policy too.
    let resp = alice.http_get("/me").await;
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

async fn the_bots_cost_per_message_does_not_grow_with_the_chat(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.messages_per_sec = 1000;
        s.limits.message_burst = 1000;
    })
    .await;
    let alice = app.chat_user("alice").await;
    let (chat, _) = alice
        .start_chat("outlook keeps asking for my password")
        .await;
    let mut ws = alice.chat_ws(chat).await;
    // Each message a different long paragraph, so nothing is cached between them.
    let words = [
        "vpn",
        "printer",
        "outlook",
        "password",
        "wifi",
        "laptop",
        "screen",
        "teams",
        "disk",
        "backup",
        "certificate",
        "proxy",
        "browser",
        "update",
        "driver",
        "license",
    ];
    let mut took = Vec::new();
    for i in 0..100 {
        // Nearly the longest message there may be (4,000 characters).
        let mut text = String::new();
        for w in 0.. {
            let word = format!("{}{} ", words[(i * 7 + w) % words.len()], w % 13);
            if text.len() + word.len() > 3_990 {
                break;
            }
            text.push_str(&word);
        }
        let started = Instant::now();
        ws.send(json!({"type": "message", "text": text, "client_id": format!("m{i}")}))
            .await;
        ws.wait_for("the bot's answer", |f| is_type(f, "suggestions"))
            .await;
        took.push(started.elapsed());
    }
    let median = |xs: &[Duration]| {
        let mut xs = xs.to_vec();
        xs.sort();
        xs[xs.len() / 2]
    };
    let (first, last) = (median(&took[..7]), median(&took[93..]));
    assert!(
        last < first * 3 + Duration::from_millis(50),
        "the first messages took {first:?}, the last {last:?}"
    );
}

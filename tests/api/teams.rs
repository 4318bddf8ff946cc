//! Microsoft Teams through the Bot Framework, over real HTTP: a stand-in for Microsoft's
//! side on loopback publishes OpenID metadata and a key set, signs each activity's token
//! with a local key, hands out client-credentials tokens, and is the connector that
//! receives everything chatdesk says back. (Microsoft publishes no Teams channel to run;
//! the tokens are made and checked with the same RS256 JWTs the real one uses.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::process::ServerProcess;
use chatdesk::config::Secret;
use chatdesk::domain::user::Role;

const APP_ID: &str = "6f1c2a9e-chatdesk-test-app";
const APP_PASSWORD: &str = "test-password";
const ISSUER: &str = "https://api.botframework.com";
const KEY_ID: &str = "chatdesk-test-key";
const SIGNING_KEY: &[u8] = include_bytes!("../fixtures/botframework/signing-key.der");
const OTHER_KEY: &[u8] = include_bytes!("../fixtures/botframework/other-key.der");
const JWKS: &str = include_str!("../fixtures/botframework/jwks.json");
/// The connector's token the stand-in hands out, which every reply must carry.
const CONNECTOR_TOKEN: &str = "connector-token-from-client-credentials";

/// One request the stand-in connector received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    authorization: String,
    activity: Value,
}

#[derive(Default)]
struct Connector {
    received: Vec<Received>,
    /// Requests still to fail with 503.
    failures: usize,
    /// Every request for the activities routes, answered or failed.
    attempts: usize,
    /// Token requests, as form bodies.
    token_requests: Vec<String>,
}

/// Microsoft's side: OpenID metadata, keys, tokens and the connector, on a random port.
#[derive(Clone)]
struct BotService {
    base: String,
    state: Arc<Mutex<Connector>>,
}

impl BotService {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(Connector::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let jwks_uri = format!("{base}/keys");
        let router = Router::new()
            .route(
                "/openid",
                get(move || async move {
                    Json(json!({
                        "issuer": ISSUER,
                        "jwks_uri": jwks_uri,
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }))
                }),
            )
            .route(
                "/keys",
                get(|| async { Json(serde_json::from_str::<Value>(JWKS).unwrap()) }),
            )
            .route("/token", post(token))
            .route("/v3/conversations/{conversation}/activities", post(receive))
            .route(
                "/v3/conversations/{conversation}/activities/{reply_to}",
                post(receive_reply),
            )
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, state }
    }

    /// The address activities name as `serviceUrl`.
    fn service_url(&self) -> String {
        format!("{}/", self.base)
    }

    fn configure(&self, settings: &mut chatdesk::config::Settings) {
        settings.botframework.app_id = Some(APP_ID.into());
        settings.botframework.app_password = Some(Secret(APP_PASSWORD.into()));
        settings.botframework.openid_metadata_url = format!("{}/openid", self.base);
        settings.botframework.token_url = format!("{}/token", self.base);
    }

    fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().failures = n;
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits for a received activity that `pred` accepts; every one received so far.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Received> {
        for _ in 0..300 {
            let received = self.received();
            if received.iter().any(|r| pred(&r.activity)) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the connector never received {what}: {:#?}",
            self.received()
        );
    }

    /// A token for an activity whose replies go to `service_url`, with `claims` changed.
    fn token(&self, key: &[u8], change: impl FnOnce(&mut Value)) -> String {
        let now = chrono_now();
        let mut claims = json!({
            "iss": ISSUER,
            "aud": APP_ID,
            "exp": now + 3600,
            "nbf": now - 60,
            "serviceurl": self.service_url(),
        });
        change(&mut claims);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KEY_ID.into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_der(key)).unwrap()
    }
}

/// A token that names the test key but is not signed at all (`alg` `none`).
fn unsigned_token(service: &BotService) -> String {
    use base64::Engine as _;
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({"iss": ISSUER, "aud": APP_ID, "exp": chrono_now() + 600, "serviceurl": service.service_url()});
    format!(
        "{}.{}.",
        part(json!({"alg": "none", "typ": "JWT", "kid": KEY_ID})),
        part(claims)
    )
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn token(State(state): State<Arc<Mutex<Connector>>>, body: String) -> Json<Value> {
    state.lock().unwrap().token_requests.push(body);
    Json(json!({"token_type": "Bearer", "expires_in": 3600, "access_token": CONNECTOR_TOKEN}))
}

async fn receive(
    State(state): State<Arc<Mutex<Connector>>>,
    Path(conversation): Path<String>,
    headers: HeaderMap,
    Json(activity): Json<Value>,
) -> (AxumStatus, Json<Value>) {
    record(
        &state,
        format!("/v3/conversations/{conversation}/activities"),
        &headers,
        activity,
    )
}

async fn receive_reply(
    State(state): State<Arc<Mutex<Connector>>>,
    Path((conversation, reply_to)): Path<(String, String)>,
    headers: HeaderMap,
    Json(activity): Json<Value>,
) -> (AxumStatus, Json<Value>) {
    record(
        &state,
        format!("/v3/conversations/{conversation}/activities/{reply_to}"),
        &headers,
        activity,
    )
}

fn record(
    state: &Mutex<Connector>,
    path: String,
    headers: &HeaderMap,
    activity: Value,
) -> (AxumStatus, Json<Value>) {
    let mut state = state.lock().unwrap();
    state.attempts += 1;
    if state.failures > 0 {
        state.failures -= 1;
        return (
            AxumStatus::SERVICE_UNAVAILABLE,
            Json(json!({"error": "try later"})),
        );
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.received.push(Received {
        path,
        authorization,
        activity,
    });
    let id = format!("connector-{}", state.received.len());
    (AxumStatus::OK, Json(json!({"id": id})))
}

/// A person in Teams writing to the bot.
struct TeamsUser<'a> {
    service: &'a BotService,
    app: &'a TestApp,
    conversation: String,
    http: reqwest::Client,
}

impl TeamsUser<'_> {
    fn activity(&self, id: &str, text: &str, value: Option<Value>) -> Value {
        let mut activity = json!({
            "type": "message",
            "id": id,
            "timestamp": "2026-12-07T10:00:00.000Z",
            "serviceUrl": self.service.service_url(),
            "channelId": "msteams",
            "from": {"id": "29:1a-teams-user", "name": "Tess Teams", "aadObjectId": "aad-7d3e"},
            "conversation": {"conversationType": "personal", "tenantId": "t-1", "id": self.conversation},
            "recipient": {"id": format!("28:{APP_ID}"), "name": "IT Help"},
            "text": text,
            "textFormat": "plain",
            "locale": "en-US",
            "channelData": {"tenant": {"id": "t-1"}}
        });
        if let Some(value) = value {
            activity["value"] = value;
        }
        activity
    }

    async fn send_with(&self, token: &str, activity: &Value) -> (StatusCode, String) {
        let response = self
            .http
            .post(format!("{}/api/messages", self.app.root()))
            .bearer_auth(token)
            .json(activity)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    async fn send(&self, activity: &Value) -> (StatusCode, String) {
        let token = self.service.token(SIGNING_KEY, |_| {});
        self.send_with(&token, activity).await
    }

    async fn say(&self, id: &str, text: &str) {
        let (status, body) = self.send(&self.activity(id, text, None)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn click(&self, id: &str, value: Value) -> (StatusCode, String) {
        self.send(&self.activity(id, "", Some(value))).await
    }
}

fn text_has(text: &str) -> impl Fn(&Value) -> bool + '_ {
    move |a| a["text"].as_str().is_some_and(|t| t.contains(text))
}

async fn spawn(backend: Backend, service: &BotService) -> TestApp {
    TestApp::spawn_with(backend, |s| service.configure(s)).await
}

async fn a_teams_user_reaches_the_bot_and_an_analyst(backend: Backend) {
    let service = BotService::start().await;
    let app = spawn(backend, &service).await;
    let tess = TeamsUser {
        service: &service,
        app: &app,
        conversation: "a:1xTess-personal-chat".into(),
        http: reqwest::Client::new(),
    };

    // The first message logs the call; the bot's cards come back as a reply to it,
    // with the connector's token; a retry of it (Teams retries after 15 s) is nothing new.
    tess.say("act-1", "my vpn keeps dropping").await;
    tess.say("act-1", "my vpn keeps dropping").await;
    let received = service
        .wait_for("the bot's cards", |a| {
            a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.hero"
        })
        .await;
    let cards = received
        .iter()
        .find(|r| r.activity["attachments"].is_array())
        .unwrap();
    assert_eq!(
        cards.path, "/v3/conversations/a:1xTess-personal-chat/activities/act-1",
        "the cards reply to the first message"
    );
    assert_eq!(cards.authorization, format!("Bearer {CONNECTOR_TOKEN}"));
    assert_eq!(cards.activity["from"]["id"], format!("28:{APP_ID}"));
    assert_eq!(
        cards.activity["conversation"]["id"],
        "a:1xTess-personal-chat"
    );
    assert_eq!(cards.activity["replyToId"], "act-1");
    assert_eq!(
        cards.activity["suggestedActions"]["actions"][0]["value"],
        json!({"action": "handoff"})
    );
    assert!(
        !received
            .iter()
            .any(|r| text_has("my vpn keeps dropping")(&r.activity)),
        "the person's own words are not sent back to Teams"
    );
    let tokens = service.state.lock().unwrap().token_requests.clone();
    assert_eq!(
        tokens.len(),
        1,
        "the token is fetched once and kept: {tokens:?}"
    );
    assert!(
        tokens[0].contains("grant_type=client_credentials"),
        "{tokens:?}"
    );
    assert!(
        tokens[0].contains(&format!("client_id={APP_ID}")),
        "{tokens:?}"
    );

    // A card action for an article never offered is refused; "Talk to an analyst" queues.
    let (status, body) = tess
        .click(
            "act-2",
            json!({"action": "accept", "article_id": "never-offered"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = tess.click("act-3", json!({"action": "handoff"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    service
        .wait_for("the place in the queue", text_has("in the queue"))
        .await;

    // An analyst in the console sees the channel, accepts and answers; the connector
    // fails twice on the way and the answer still arrives, once.
    let bob = app.online_analyst("bob", 2).await;
    let (_, queue) = bob.get("/analyst/queue").await;
    let chat = queue[0]["chat_id"].as_i64().expect("the chat is queued");
    assert_eq!(queue[0]["source"], "teams", "{queue}");
    let (status, _) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    service.fail_next(2);
    let (status, _) = bob
        .post(
            &format!("/chats/{chat}/messages"),
            json!({"text": "Hi Tess, which VPN client?"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    service
        .wait_for("the analyst's words", text_has("which VPN client"))
        .await;
    tess.say("act-4", "The IT one").await;
    tess.say("act-4", "The IT one").await;
    let (status, ended) = bob.post(&format!("/chats/{chat}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    let received = service
        .wait_for("the end", |a| a["type"] == "endOfConversation")
        .await;
    let from_bob: Vec<&Received> = received
        .iter()
        .filter(|r| text_has("which VPN client")(&r.activity))
        .collect();
    assert_eq!(from_bob.len(), 1, "once, after the retries: {from_bob:?}");
    assert!(
        from_bob[0].activity["text"]
            .as_str()
            .unwrap()
            .starts_with("Bob"),
        "the analyst's name is in the words: {:?}",
        from_bob[0].activity
    );

    // The call holds the transcript, from Teams, each message once.
    let (_, call) = bob.get(&format!("/calls/{}", ended["call"]["id"])).await;
    assert_eq!(call["source"], "teams", "{call}");
    assert_eq!(call["description"], "my vpn keeps dropping");
    let transcript = call["transcript"].to_string();
    assert_eq!(transcript.matches("The IT one").count(), 1, "{transcript}");
    assert!(transcript.contains("which VPN client"), "{transcript}");

    // The repeated first message logged one call.
    let (_, calls) = bob.get("/calls?status=all").await;
    let logged = calls
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["description"] == "my vpn keeps dropping")
        .count();
    assert_eq!(logged, 1, "{calls}");

    // The conversation outlives the chat: the next message logs a new call.
    tess.say("act-5", "now my printer is offline").await;
    let (_, calls) = bob.get("/calls?status=all").await;
    let descriptions = calls.to_string();
    assert!(
        descriptions.contains("now my printer is offline"),
        "a second call: {descriptions}"
    );
}

/// What the Bot Framework's SDKs refuse is refused: each token below is `401` and
/// nothing is stored; malformed activities get a clear error.
async fn teams_refuses_what_it_must(backend: Backend) {
    let service = BotService::start().await;
    let app = spawn(backend, &service).await;
    let tess = TeamsUser {
        service: &service,
        app: &app,
        conversation: "a:1xRefusals".into(),
        http: reqwest::Client::new(),
    };
    let activity = tess.activity("bad-1", "my vpn keeps dropping", None);
    let now = chrono_now();
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            service.token(SIGNING_KEY, |c| {
                c["exp"] = json!(now - 600);
                c["nbf"] = json!(now - 3600);
            }),
        ),
        (
            "wrong audience",
            service.token(SIGNING_KEY, |c| c["aud"] = json!("another-bot")),
        ),
        (
            "wrong issuer",
            service.token(SIGNING_KEY, |c| c["iss"] = json!("https://evil.example")),
        ),
        ("wrong key", service.token(OTHER_KEY, |_| {})),
        (
            "mismatched serviceurl",
            service.token(SIGNING_KEY, |c| {
                c["serviceurl"] = json!("https://smba.example.com/")
            }),
        ),
        ("not a JWT", "not-a-token".into()),
        ("unsigned (alg none)", unsigned_token(&service)),
        (
            "HS256, keyed with the published key",
            jsonwebtoken::encode(
                &Header {
                    kid: Some(KEY_ID.into()),
                    ..Header::new(Algorithm::HS256)
                },
                &json!({"iss": ISSUER, "aud": APP_ID, "exp": now + 600, "serviceurl": service.service_url()}),
                &EncodingKey::from_secret(JWKS.as_bytes()),
            )
            .unwrap(),
        ),
    ];
    for (case, token) in cases {
        let (status, body) = tess.send_with(&token, &activity).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {body}");
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["code"], "unauthorized", "{case}: {body}");
    }
    let response = reqwest::Client::new()
        .post(format!("{}/api/messages", app.root()))
        .json(&activity)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "no token at all"
    );
    // The key is endorsed for Teams only: an activity from another channel is refused.
    let mut webchat = activity.clone();
    webchat["channelId"] = json!("webchat");
    let (status, body) = tess
        .send_with(&service.token(SIGNING_KEY, |_| {}), &webchat)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("not endorsed"), "{body}");
    // Within the 5 minutes of skew, a token just expired still counts.
    let skewed = service.token(SIGNING_KEY, |c| c["exp"] = json!(now - 120));
    let (status, body) = tess
        .send_with(&skewed, &tess.activity("ok-1", "hello there", None))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Malformed activities: a clear error, nothing stored.
    let token = service.token(SIGNING_KEY, |_| {});
    let mut no_conversation = tess.activity("bad-2", "hi", None);
    no_conversation["conversation"]["id"] = json!("");
    let mut empty = tess.activity("bad-3", "   ", None);
    empty["value"] = Value::Null;
    let mut unknown_action = tess.activity("bad-4", "", None);
    unknown_action["value"] = json!({"action": "explode"});
    for (case, bad) in [
        ("no conversation", no_conversation),
        ("no words", empty),
        ("unknown action", unknown_action),
    ] {
        let (status, body) = tess.send_with(&token, &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
    }
    let response = reqwest::Client::new()
        .post(format!("{}/api/messages", app.root()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"type\": \"message\", ")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "malformed JSON");
    let huge = tess.activity("bad-5", &"x".repeat(200_000), None);
    let (status, _) = tess.send_with(&token, &huge).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "an oversized activity"
    );

    // Only the one good activity logged a call.
    let ann = app.user("ann", &[Role::Analyst]).await;
    let (_, calls) = ann.get("/calls?status=all").await;
    let text = calls.to_string();
    assert!(text.contains("hello there"), "{text}");
    assert!(!text.contains("my vpn keeps dropping"), "{text}");
    // The Teams channel is made by the settings, not by admins.
    let admin = app.user("root", &[Role::Admin]).await;
    let (status, body) = admin
        .post("/channels", json!({"kind": "teams", "name": "mine"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// A connector down while chatdesk restarts (the real binary, SIGTERM): the new process
/// resumes the delivery from the database, and nothing is lost.
async fn deliveries_resume_after_a_restart(backend: Backend) {
    let service = BotService::start().await;
    let openid = format!("{}/openid", service.base);
    let token_url = format!("{}/token", service.base);
    let mut server = ServerProcess::start_with_env(
        backend,
        "info",
        &[
            ("CHATDESK_BOTFRAMEWORK__APP_ID", APP_ID),
            ("CHATDESK_BOTFRAMEWORK__APP_PASSWORD", APP_PASSWORD),
            ("CHATDESK_BOTFRAMEWORK__OPENID_METADATA_URL", &openid),
            ("CHATDESK_BOTFRAMEWORK__TOKEN_URL", &token_url),
        ],
    )
    .await;
    service.fail_next(usize::MAX);
    let activity = json!({
        "type": "message",
        "id": "r-1",
        "serviceUrl": service.service_url(),
        "channelId": "msteams",
        "from": {"id": "29:1a-restart", "name": "Rita", "aadObjectId": "aad-restart"},
        "conversation": {"id": "a:1xRestart"},
        "recipient": {"id": format!("28:{APP_ID}"), "name": "IT Help"},
        "text": "my vpn keeps dropping"
    });
    let response = server
        .http
        .post(format!("{}/api/messages", server.root))
        .bearer_auth(service.token(SIGNING_KEY, |_| {}))
        .json(&activity)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The connector is down: the cards wait in the database while chatdesk stops.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.terminate().await.success(), "{}", server.log());
    assert!(
        service.state.lock().unwrap().attempts > 0,
        "the connector was tried before the restart"
    );
    assert!(service.received().is_empty());
    service.fail_next(0);
    server.restart().await;
    service
        .wait_for("the cards, from the new process", |a| {
            a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.hero"
        })
        .await;
    let cards = service
        .received()
        .iter()
        .filter(|r| r.activity["attachments"].is_array())
        .count();
    assert_eq!(cards, 1, "the cards once");
}

crate::on_both_databases!(
    a_teams_user_reaches_the_bot_and_an_analyst,
    teams_refuses_what_it_must,
    deliveries_resume_after_a_restart,
);

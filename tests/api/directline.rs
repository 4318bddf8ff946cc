//! Direct Line 3.0 from the client's side, over real HTTP and WebSockets: a person on a
//! site's Web Chat (here, raw requests as `botframework-directlinejs` makes them; the
//! library itself runs in `tests/browser/directline.test.mjs`) reaches the same bot,
//! queue, analyst and call as chatdesk's own chat window.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Socket, TestApp, TestUser};
use chatdesk::domain::user::Role;

/// A Direct Line client: the base address and the bearer it uses (secret or token).
struct Client {
    base: String,
    bearer: String,
    http: reqwest::Client,
}

impl Client {
    fn new(app: &TestApp, bearer: &str) -> Self {
        Self {
            base: format!("{}/v3/directline", app.root()),
            bearer: bearer.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Posts a message as Web Chat does; the activity id.
    async fn say(&self, conversation: &str, text: &str, client_id: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/conversations/{conversation}/activities"),
                json!({
                    "type": "message",
                    "text": text,
                    "textFormat": "plain",
                    "attachments": [],
                    "channelData": {"clientActivityID": client_id, "attachmentSizes": []},
                    "channelId": "webchat",
                    "from": {"id": "ignored-by-chatdesk", "role": "user"},
                    "locale": "en-US",
                    "localTimestamp": "2026-12-07T10:00:00.000+01:00",
                    "entities": [{"type": "ClientCapabilities", "requiresBotState": true}]
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["id"].as_str().expect("an activity id").to_owned()
    }

    /// Clicks a `messageBack` button: posts its value as Web Chat does.
    async fn click(&self, conversation: &str, value: Value) -> (StatusCode, Value) {
        self.post(
            &format!("/conversations/{conversation}/activities"),
            json!({
                "type": "message",
                "value": value,
                "channelData": {"clientActivityID": "click-1", "messageBack": {}},
                "from": {"id": "x", "role": "user"}
            }),
        )
        .await
    }
}

/// An admin makes a Direct Line channel; its secret.
async fn channel_secret(app: &TestApp) -> String {
    let admin = app.user("root", &[Role::Admin]).await;
    let (status, made) = admin
        .post(
            "/channels",
            json!({"kind": "directline", "name": "Intranet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned()
}

/// The site's server gets a token for `person` (`{"id", "name"}`) and Web Chat starts its
/// conversation with it: the client, and the conversation as started.
async fn web_chat_for(app: &TestApp, secret: &str, person: Value) -> (Client, Value) {
    let site = Client::new(app, secret);
    let (status, token) = site.post("/tokens/generate", json!({"user": person})).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let web_chat = Client::new(app, token["token"].as_str().unwrap());
    let (status, started) = web_chat.post("/conversations", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    (web_chat, started)
}

/// Activity sets from the stream until one activity matches; every activity seen.
async fn until(socket: &mut Socket, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let set = socket.wait_for(what, |_| true).await;
        let activities = set["activities"]
            .as_array()
            .expect("an activity set")
            .clone();
        assert!(set["watermark"].is_string(), "{set}");
        let found = activities.iter().any(&pred);
        seen.extend(activities);
        if found {
            return seen;
        }
    }
}

fn text_is(text: &str) -> impl Fn(&Value) -> bool + '_ {
    move |a| a["type"] == "message" && a["text"].as_str().is_some_and(|t| t.contains(text))
}

async fn a_web_chat_user_reaches_the_bot_and_an_analyst(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = channel_secret(&app).await;
    // The site's server trades its secret for a token naming its signed-in person.
    let site = Client::new(&app, &secret);
    let (status, token) = site
        .post(
            "/tokens/generate",
            json!({"user": {"id": "dl_ann", "name": "Ann Example"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let web_chat = Client::new(&app, token["token"].as_str().unwrap());
    let (status, started) = web_chat.post("/conversations", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let conversation = started["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(conversation, token["conversationId"]);
    let mut stream = Socket::open(started["streamUrl"].as_str().unwrap())
        .await
        .expect("the stream opens");

    // The first message logs the call and starts the bot; it comes back with its id, and
    // a retry of it is the same activity.
    let first = web_chat
        .say(&conversation, "my vpn keeps dropping", "c-1")
        .await;
    let again = web_chat
        .say(&conversation, "my vpn keeps dropping", "c-1")
        .await;
    assert_eq!(again, first);
    let seen = until(&mut stream, "the bot's articles", |a| {
        a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.hero"
    })
    .await;
    let echo = &seen[0];
    assert_eq!(echo["id"], first);
    assert_eq!(echo["channelData"]["clientActivityID"], "c-1");
    assert_eq!(echo["from"]["id"], "dl_ann");
    assert_eq!(echo["from"]["role"], "user");
    let cards = seen.last().unwrap();
    assert_eq!(cards["from"]["role"], "bot");
    assert_eq!(
        cards["suggestedActions"]["actions"][0]["value"],
        json!({"action": "handoff"})
    );
    let card = &cards["attachments"][0]["content"];
    let read = card["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["value"]["action"] == "read")
        .expect("a read button")["value"]
        .clone();
    assert_eq!(card["buttons"][0]["type"], "messageBack");

    // "Read it" brings the whole article; an article never offered is refused.
    let (status, _) = web_chat.click(&conversation, read.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let title = card["title"].as_str().unwrap().to_owned();
    until(
        &mut stream,
        "the article in full",
        text_is(&format!("**{title}**")),
    )
    .await;
    let (status, refused) = web_chat
        .click(
            &conversation,
            json!({"action": "accept", "article_id": "never-offered"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");

    // "Talk to an analyst": the queue is told, an analyst accepts and answers.
    let (status, _) = web_chat
        .click(&conversation, json!({"action": "handoff"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut queued = until(
        &mut stream,
        "the place in the queue",
        text_is("in the queue"),
    )
    .await;
    // Someone queues behind Ann: her place is sent again unchanged, and not said again.
    app.chat_user("carol")
        .await
        .queued_chat("the printer jams")
        .await;
    let bob = app.online_analyst("bob", 2).await;
    let (_, queue) = bob.get("/analyst/queue").await;
    let chat = queue[0]["chat_id"].as_i64().expect("the chat is queued");
    assert_eq!(
        queue[0]["source"], "directline",
        "the desk sees the channel"
    );
    let (status, _) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // Bob's typing shows as from the account his words come from.
    let mut bobs_socket = bob.chat_ws(chat).await;
    bobs_socket
        .send(json!({"type": "typing", "typing": true}))
        .await;
    let seen = until(&mut stream, "Bob typing", |a| a["type"] == "typing").await;
    let typing = seen.iter().find(|a| a["type"] == "typing").unwrap();
    assert_eq!(typing["from"]["id"], "analyst:bob", "{typing}");
    queued.extend(seen);
    bob_says(&bob, chat, "Hi Ann, which VPN client?").await;
    let seen = until(
        &mut stream,
        "the analyst's words",
        text_is("which VPN client"),
    )
    .await;
    queued.extend(seen.iter().cloned());
    let places: Vec<&str> = queued
        .iter()
        .filter(|a| a["id"].as_str().is_some_and(|id| id.contains("|queue-")))
        .filter_map(|a| a["text"].as_str())
        .collect();
    assert!(
        places.len() >= 2 && places.windows(2).all(|w| w[0] != w[1]),
        "the place said once per change: {places:?}"
    );
    let from_bob = seen
        .iter()
        .find(|a| text_is("which VPN client")(a))
        .unwrap();
    assert_eq!(from_bob["from"]["id"], "analyst:bob");
    assert_eq!(from_bob["from"]["role"], "bot");
    let watermark = seen_watermark(&seen);

    // The socket drops; Bob writes meanwhile; the client reconnects with its watermark
    // and gets what it missed, once.
    stream.close().await;
    bob_says(&bob, chat, "Are you still there?").await;
    let (status, again) = web_chat
        .get(&format!(
            "/conversations/{conversation}?watermark={watermark}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let url = again["streamUrl"].as_str().unwrap();
    assert!(url.ends_with(&format!("&watermark={watermark}")), "{url}");
    let mut stream = Socket::open(url).await.expect("the stream opens again");
    let missed = until(&mut stream, "what was missed", text_is("still there")).await;
    assert!(
        !missed.iter().any(text_is("which VPN client")),
        "nothing seen twice: {missed:?}"
    );
    web_chat.say(&conversation, "Yes, the IT one", "c-2").await;
    until(&mut stream, "the echo", |a| {
        a["channelData"]["clientActivityID"] == "c-2"
    })
    .await;

    // Bob ends it: the stream says so; the call keeps every word, from Direct Line.
    let (status, ended) = bob.post(&format!("/chats/{chat}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    let end = until(&mut stream, "the end", |a| a["type"] == "endOfConversation").await;
    assert!(
        end.iter().any(text_is("This chat has ended.")),
        "the end is said in words too: {end:?}"
    );
    let (_, call) = bob.get(&format!("/calls/{}", ended["call"]["id"])).await;
    assert_eq!(call["source"], "directline", "{call}");
    assert_eq!(call["description"], "my vpn keeps dropping");
    let transcript = call["transcript"].to_string();
    for said in [
        "VPN keeps disconnecting",
        "which VPN client",
        "Yes, the IT one",
    ] {
        assert!(transcript.contains(said), "{said}: {transcript}");
    }

    // A poll from the start holds the whole conversation, each activity once.
    let (status, all) = web_chat
        .get(&format!(
            "/conversations/{conversation}/activities?watermark="
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let ids: Vec<&str> = all["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "each activity once: {ids:?}");
    assert_eq!(ids[0], first);
    let described = all["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| text_is("my vpn keeps dropping")(a))
        .count();
    assert_eq!(described, 1, "the retried first message is there once");
    // Everything read, the conversation is over: polls and reconnects say so.
    let last = all["watermark"].as_str().unwrap();
    for path in [
        format!("/conversations/{conversation}/activities?watermark={last}"),
        format!("/conversations/{conversation}?watermark={last}"),
    ] {
        assert_eq!(web_chat.get(&path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

async fn bob_says(bob: &TestUser, chat: i64, text: &str) {
    let (status, body) = bob
        .post(&format!("/chats/{chat}/messages"), json!({"text": text}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The watermark a client holds after these activities: the `seq` in the last stored
/// activity's id.
fn seen_watermark(seen: &[Value]) -> i64 {
    seen.iter()
        .filter_map(|a| a["id"].as_str()?.rsplit_once('|')?.1.parse::<i64>().ok())
        .max()
        .expect("a stored activity")
}

/// What no holder of a secret or token may do: a wrong bearer, another conversation, a
/// malformed activity, a removed channel.
async fn direct_line_refuses_what_it_must(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = channel_secret(&app).await;
    let site = Client::new(&app, &secret);
    let (_, mine) = site.post("/tokens/generate", json!({})).await;
    let (_, theirs) = site
        .post("/tokens/generate", json!({"user": {"id": "dl_zed"}}))
        .await;
    let me = Client::new(&app, mine["token"].as_str().unwrap());
    let conversation = mine["conversationId"].as_str().unwrap();

    let stranger = Client::new(&app, "not-a-secret");
    assert_eq!(
        stranger.post("/conversations", json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    let forged = format!("{}x", mine["token"].as_str().unwrap());
    assert_eq!(
        Client::new(&app, &forged)
            .post("/conversations", json!({}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // A token opens its own conversation only.
    let other = theirs["conversationId"].as_str().unwrap();
    assert_eq!(
        me.get(&format!("/conversations/{other}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        me.get("/conversations/no-such-thing/activities").await.0,
        StatusCode::NOT_FOUND
    );
    // A token cannot make tokens; a secret cannot be refreshed.
    assert_eq!(
        me.post("/tokens/generate", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        site.post("/tokens/refresh", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, refreshed) = me.post("/tokens/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refreshed["conversationId"], conversation);

    // Malformed or empty activities store nothing.
    let path = format!("/conversations/{conversation}/activities");
    let (status, body) = me
        .post(&path, json!({"type": "message", "text": "  "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    let (status, _) = me.post(&path, json!({"text": "no type"})).await;
    assert!(status.is_client_error(), "{status}");
    let (status, body) = me
        .post(
            &path,
            json!({"type": "message", "value": {"action": "explode"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = me.get(&format!("{path}?watermark=-3")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, all) = me.get(&format!("{path}?watermark=")).await;
    assert_eq!(all["activities"], json!([]), "nothing was stored");
    // A watermark no client was given is refused, not echoed back.
    me.say(conversation, "hello", "c-1").await;
    let (status, body) = me.get(&format!("{path}?watermark=99")).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "beyond the end: {body}"
    );

    // A disabled account's conversation goes no further.
    let admin = app.user("root2", &[Role::Admin]).await;
    let (_, calls) = admin.get("/calls?status=all").await;
    let username = calls[0]["user"]["username"].as_str().unwrap().to_owned();
    let (status, body) = admin
        .patch(&format!("/users/{username}"), json!({"disabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = me.get(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = me
        .post(&path, json!({"type": "message", "text": "still here?"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Removed, the channel's secret and tokens stop at once.
    let (_, channels) = admin.get("/channels").await;
    assert!(channels[0].get("secret").is_none(), "{channels}");
    let id = channels[0]["id"].as_i64().unwrap();
    let (status, _) = admin.delete(&format!("/channels/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        site.post("/conversations", json!({})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me.get(&path).await.0, StatusCode::UNAUTHORIZED);
    // Only admins manage channels.
    let ann = app.chat_user("ann").await;
    let (status, _) = ann
        .post("/channels", json!({"kind": "directline", "name": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = admin
        .post("/channels", json!({"kind": "carrier-pigeon", "name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// Files both ways: the person uploads one as Web Chat does (an `activity` part and a
/// `file` part), it joins the call; the analyst's file reaches the person as an
/// attachment whose address opens without other credentials, and an altered address
/// opens nothing.
async fn files_cross_direct_line_both_ways(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = channel_secret(&app).await;
    let site = Client::new(&app, &secret);
    let (_, started) = site
        .post("/conversations", json!({"user": {"id": "dl_ann"}}))
        .await;
    let conversation = started["conversationId"].as_str().unwrap().to_owned();
    let web_chat = Client::new(&app, started["token"].as_str().unwrap());
    web_chat
        .say(&conversation, "my printer is offline", "c-1")
        .await;
    let mut stream = Socket::open(started["streamUrl"].as_str().unwrap())
        .await
        .expect("the stream opens");

    let form = reqwest::multipart::Form::new()
        .part(
            "activity",
            reqwest::multipart::Part::text(
                json!({"type": "message", "channelData": {"clientActivityID": "c-2"}}).to_string(),
            )
            .mime_str("application/vnd.microsoft.activity")
            .unwrap(),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"printer says E-42".to_vec()).file_name("error.txt"),
        );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/conversations/{conversation}/upload?userId=dl_ann",
            web_chat.base
        ))
        .bearer_auth(&web_chat.bearer)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::OK);
    // The person's file comes back as theirs, and the activity with its client id.
    let seen = until(&mut stream, "the person's file", |a| {
        a["attachments"][0]["name"] == "error.txt" && a["from"]["role"] == "user"
    })
    .await;
    assert!(
        seen.iter()
            .any(|a| a["channelData"]["clientActivityID"] == "c-2"),
        "the upload's echo: {seen:?}"
    );

    let bob = app.online_analyst("bob", 2).await;
    let (status, _) = web_chat
        .click(&conversation, json!({"action": "handoff"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, queue) = bob.get("/analyst/queue").await;
    let chat = queue[0]["chat_id"].as_i64().unwrap();
    bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    let (status, sent) = bob
        .upload(chat, "driver.pdf", b"%PDF-1.4 driver".to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let seen = until(&mut stream, "the analyst's file", |a| {
        a["attachments"][0]["name"] == "driver.pdf"
    })
    .await;
    let url = seen.last().unwrap()["attachments"][0]["contentUrl"]
        .as_str()
        .expect("a contentUrl")
        .to_owned();
    assert!(url.starts_with("http://"), "an absolute address: {url}");
    let plain = reqwest::get(&url).await.expect("download");
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.bytes().await.unwrap().as_ref(), b"%PDF-1.4 driver");
    let altered = url.replace("sig=", "sig=0");
    assert_eq!(
        reqwest::get(&altered).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let (_, call) = bob.get(&format!("/chats/{chat}")).await;
    let (_, call) = bob.get(&format!("/calls/{}", call["call_id"])).await;
    let names: Vec<&str> = call["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["error.txt", "driver.pdf"], "{call}");
}

/// Typing that you want a person does what the button does, in the order it was said.
async fn asking_for_a_person_in_words_joins_the_queue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = channel_secret(&app).await;
    let (web_chat, started) = web_chat_for(&app, &secret, json!({"id": "dl_dan"})).await;
    let conversation = started["conversationId"].as_str().unwrap().to_owned();
    let mut stream = Socket::open(started["streamUrl"].as_str().unwrap())
        .await
        .expect("the stream opens");
    web_chat
        .say(&conversation, "my vpn keeps dropping", "c-1")
        .await;
    until(&mut stream, "the bot's articles", |a| {
        a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.hero"
    })
    .await;

    web_chat
        .say(&conversation, "Can I talk to a human please?", "c-2")
        .await;
    until(&mut stream, "the queue", text_is("in the queue")).await;
    let bob = app.online_analyst("bob", 2).await;
    let (_, queue) = bob.get("/analyst/queue").await;
    assert_eq!(queue.as_array().map(Vec::len), Some(1), "{queue}");

    let (_, all) = web_chat
        .get(&format!(
            "/conversations/{conversation}/activities?watermark="
        ))
        .await;
    let texts: Vec<&str> = all["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["text"].as_str())
        .collect();
    let asked = texts.iter().position(|t| t.contains("talk to a human"));
    let queued = texts.iter().position(|t| t.contains("in the queue"));
    assert!(
        asked.is_some() && asked < queued,
        "the words, then the queue's note: {texts:?}"
    );
    let after = &texts[asked.unwrap() + 1..];
    assert!(
        !after.is_empty() && after.iter().all(|t| t.contains("queue")),
        "after the words only the queue speaks, not the bot: {texts:?}"
    );
}

/// A conversation's streams count with the person's sockets: one past the limit is
/// closed with 1008, and a place comes back when a stream closes.
async fn streams_are_held_to_the_socket_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.limits.sockets_per_user = 2).await;
    let secret = channel_secret(&app).await;
    let site = Client::new(&app, &secret);
    let (web_chat, started) = web_chat_for(&app, &secret, json!({"id": "dl_eve"})).await;
    let url = started["streamUrl"].as_str().unwrap().to_owned();
    let first = Socket::open(&url).await.expect("the stream opens");
    let mut second = Socket::open(&url).await.expect("a second stream opens");
    let mut third = Socket::open(&url).await.expect("the handshake completes");
    assert_eq!(third.close_code().await, Some(1008));
    // Another person's stream is their own.
    let (_, other) = site
        .post("/tokens/generate", json!({"user": {"id": "dl_fay"}}))
        .await;
    let (_, theirs) = Client::new(&app, other["token"].as_str().unwrap())
        .post("/conversations", json!({}))
        .await;
    let _theirs = Socket::open(theirs["streamUrl"].as_str().unwrap())
        .await
        .expect("their stream opens");
    // A closed stream frees its place (the server has seen the close long before the
    // bot has answered on the other stream).
    first.close().await;
    let conversation = started["conversationId"].as_str().unwrap();
    web_chat
        .say(conversation, "my vpn keeps dropping", "c-1")
        .await;
    until(&mut second, "the bot's answer", |a| {
        a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.hero"
    })
    .await;
    let mut again = Socket::open(&url).await.expect("the stream opens again");
    until(
        &mut again,
        "the conversation so far",
        text_is("my vpn keeps dropping"),
    )
    .await;
}

/// With the secret, as a site's server or a page holding it uses Direct Line, the person is
/// the one each conversation's first activity names in `from`: the same id is the same
/// person across conversations, and their words come back from that id.
async fn the_secrets_holder_names_the_person_by_from(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = channel_secret(&app).await;
    let site = Client::new(&app, &secret);
    let gail = json!({"id": "site-user-7", "name": "Gail Example", "role": "user"});
    let first_words = |text: &str, from: &Value, client_id: &str| {
        json!({
            "type": "message",
            "text": text,
            "channelData": {"clientActivityID": client_id},
            "from": from,
        })
    };
    let mut conversations = Vec::new();
    for (i, from) in [gail.clone(), gail.clone(), json!({"id": "site-user-8"})]
        .iter()
        .enumerate()
    {
        let (status, started) = site.post("/conversations", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        let conversation = started["conversationId"].as_str().unwrap().to_owned();
        let mut stream = Socket::open(started["streamUrl"].as_str().unwrap())
            .await
            .expect("the stream opens");
        let (status, posted) = site
            .post(
                &format!("/conversations/{conversation}/activities"),
                first_words("my vpn keeps dropping", from, &format!("c-{i}")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{posted}");
        let seen = until(&mut stream, "the bot's articles", |a| {
            a["attachments"][0]["contentType"] == "application/vnd.microsoft.card.hero"
        })
        .await;
        assert_eq!(seen[0]["from"]["id"], from["id"], "{:?}", seen[0]);
        // Once the chat has started, `from` names nobody else.
        let (status, _) = site
            .post(
                &format!("/conversations/{conversation}/activities"),
                first_words("also my mail", &json!({"id": "someone-else"}), "x"),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = site
            .post(
                &format!("/conversations/{conversation}/activities"),
                json!({"type": "message", "value": {"action": "handoff"}, "from": from}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        conversations.push(conversation);
    }
    // A first message and its copy at once, one naming the person and one not: one
    // call, and the conversation goes on whoever won.
    for i in 0..4 {
        let (_, started) = site.post("/conversations", json!({})).await;
        let conversation = started["conversationId"].as_str().unwrap();
        let path = format!("/conversations/{conversation}/activities");
        let hal = json!({"id": format!("site-user-hal-{i}"), "name": "Hal"});
        let (named, unnamed) = tokio::join!(
            site.post(&path, first_words("my disk is full", &hal, "h-1")),
            site.post(&path, first_words("my disk is full", &json!({}), "h-1")),
        );
        assert_eq!(named.0, StatusCode::OK, "{}", named.1);
        assert_eq!(unnamed.0, StatusCode::OK, "{}", unnamed.1);
        let (status, later) = site
            .post(&path, first_words("still full", &hal, "h-2"))
            .await;
        assert_eq!(status, StatusCode::OK, "the conversation goes on: {later}");
        let (status, all) = site
            .get(&format!("/conversations/{conversation}/activities"))
            .await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let described = all["activities"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["text"] == "my disk is full")
            .count();
        assert_eq!(described, 1, "{all}");
    }

    // With a token the token's person speaks, whatever `from` says.
    let (_, token) = site
        .post(
            "/tokens/generate",
            json!({"user": {"id": "dl_zed", "name": "Zed"}}),
        )
        .await;
    let zed = Client::new(&app, token["token"].as_str().unwrap());
    let (_, started) = zed.post("/conversations", json!({})).await;
    let conversation = started["conversationId"].as_str().unwrap();
    for body in [
        first_words("my printer is offline", &gail, "z-1"),
        json!({"type": "message", "value": {"action": "handoff"}, "from": gail}),
    ] {
        let (status, posted) = zed
            .post(&format!("/conversations/{conversation}/activities"), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{posted}");
    }
    let bad = json!({"id": "x".repeat(200)});
    let (status, started) = site.post("/conversations", json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, refused) = site
        .post(
            &format!(
                "/conversations/{}/activities",
                started["conversationId"].as_str().unwrap()
            ),
            first_words("hello", &bad, "c-bad"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    let bob = app.online_analyst("bob", 4).await;
    let (_, queue) = bob.get("/analyst/queue").await;
    let users: Vec<&Value> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["user"])
        .collect();
    assert_eq!(users.len(), 4, "{queue}");
    assert_eq!(users[0]["id"], users[1]["id"], "one person: {queue}");
    assert_eq!(users[0]["name"], "Gail Example");
    assert_ne!(users[2]["id"], users[0]["id"], "another person: {queue}");
    assert_eq!(users[2]["name"], "Visitor");
    assert_eq!(users[3]["name"], "Zed", "the token's person: {queue}");
}

/// Behind a proxy that terminates TLS, the addresses handed out follow the scheme it
/// forwards, when it is trusted; anyone else's header is not believed.
async fn links_follow_a_trusted_proxys_scheme(backend: Backend) {
    for (trusted, expected) in [(true, "wss://"), (false, "ws://")] {
        let app = TestApp::spawn_with(backend, |s| {
            if trusted {
                s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            }
        })
        .await;
        let secret = channel_secret(&app).await;
        let started: Value = reqwest::Client::new()
            .post(format!("{}/v3/directline/conversations", app.root()))
            .bearer_auth(&secret)
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        let url = started["streamUrl"].as_str().expect("a streamUrl");
        assert!(url.starts_with(expected), "trusted {trusted}: {url}");
    }
}

crate::on_both_databases!(
    links_follow_a_trusted_proxys_scheme,
    the_secrets_holder_names_the_person_by_from,
    streams_are_held_to_the_socket_limit,
    asking_for_a_person_in_words_joins_the_queue,
    a_web_chat_user_reaches_the_bot_and_an_analyst,
    direct_line_refuses_what_it_must,
    files_cross_direct_line_both_ways,
);

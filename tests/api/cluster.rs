//! Several instances on one PostgreSQL (contract, "Additions: several instances on one
//! PostgreSQL"): three `chatdesk serve` processes on one database, and people whose
//! requests and sockets land on any of them. After each scenario every socket has had
//! the chat's stored events, each `seq` once, in order.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Socket, TestUser, is_type};
use crate::process::ServerProcess;

/// One person, signed in once, with a client for each instance.
struct Person {
    on: Vec<TestUser>,
}

impl Person {
    async fn new(servers: &[ServerProcess], name: &str, roles: &[&str]) -> Self {
        let first = servers[0].account(name, roles).await;
        Self {
            on: servers
                .iter()
                .map(|s| TestUser::at(&s.root, first.token.clone(), s.http.clone()))
                .collect(),
        }
    }

    /// The person's client on instance `i`.
    fn at(&self, i: usize) -> &TestUser {
        &self.on[i]
    }

    /// An analyst goes online, with room for three chats, through instance `i`.
    async fn go_online(&self, i: usize) {
        let (status, body) = self
            .at(i)
            .put(
                "/analyst/status",
                json!({"status": "online", "max_chats": 3}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `POST path` through instance `i`, which must answer `expected`.
    async fn post(&self, i: usize, path: &str, body: Value, expected: StatusCode) {
        let (status, answer) = self.at(i).post(path, body).await;
        assert_eq!(status, expected, "POST {path} on instance {i}: {answer}");
    }

    async fn accept(&self, i: usize, chat: i64) {
        let path = format!("/chats/{chat}/accept");
        self.post(i, &path, json!({}), StatusCode::OK).await;
    }

    async fn say(&self, i: usize, chat: i64, text: &str) {
        let path = format!("/chats/{chat}/messages");
        self.post(i, &path, json!({"text": text}), StatusCode::CREATED)
            .await;
    }

    async fn end(&self, i: usize, chat: i64) {
        let path = format!("/chats/{chat}/end");
        self.post(i, &path, json!({}), StatusCode::OK).await;
    }
}

/// Frames until one matches `last` (included); panics when 10 s pass without a frame.
async fn frames_until(
    socket: &mut Socket,
    what: &str,
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = socket
            .next()
            .await
            .unwrap_or_else(|| panic!("socket closed while waiting for {what}: {frames:?}"));
        let done = last(&frame);
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// Frames until each of `wanted` has matched one, in any order (a relayed frame and one
/// the reconcile tick brings may pass each other); panics when 10 s pass without a frame.
async fn frames_until_all(
    socket: &mut Socket,
    what: &str,
    wanted: &[&dyn Fn(&Value) -> bool],
) -> Vec<Value> {
    let mut frames = Vec::new();
    let mut missing: Vec<_> = wanted.iter().collect();
    while !missing.is_empty() {
        let frame = socket
            .next()
            .await
            .unwrap_or_else(|| panic!("socket closed while waiting for {what}: {frames:?}"));
        missing.retain(|w| !w(&frame));
        frames.push(frame);
    }
    frames
}

/// The `seq` of each stored event among `frames`, in the order they came.
fn seqs(frames: &[Value]) -> Vec<i64> {
    frames.iter().filter_map(|f| f["seq"].as_i64()).collect()
}

/// The chat's stored events, as a socket opened now with `after=0` replays them.
async fn stored_seqs(person: &TestUser, chat: i64) -> Vec<i64> {
    let mut socket = person.chat_ws(chat).await;
    let frames = frames_until(&mut socket, "the replay's ended event", |f| {
        is_type(f, "ended")
    })
    .await;
    seqs(&frames)
}

fn message_saying(text: &str) -> impl Fn(&Value) -> bool + '_ {
    move |f| is_type(f, "message") && f["text"] == text
}

#[tokio::test]
async fn a_chat_crosses_three_instances() {
    let servers = ServerProcess::cluster(3, &[]).await;
    let (a, b, c) = (0, 1, 2);
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    bob.go_online(b).await;
    let mut desk = bob.at(b).ws("/analyst/ws").await.expect("desk opens on B");

    // Alice starts on C and watches on A; she asks for an analyst through C.
    let (chat, _) = alice.at(c).start_chat("my vpn keeps dropping").await;
    let mut alice_ws = alice.at(a).chat_ws(chat).await;
    let handoff = format!("/chats/{chat}/handoff");
    alice.post(c, &handoff, json!({}), StatusCode::OK).await;
    desk.wait_for("the chat queued on C, on B's desk", |f| {
        is_type(f, "queue")
            && f["items"]
                .as_array()
                .is_some_and(|q| q.iter().any(|i| i["chat_id"] == chat))
    })
    .await;

    // Bob accepts through C; Alice's socket on A hears it.
    bob.accept(c, chat).await;
    let mut bob_ws = bob.at(b).chat_ws(chat).await;
    let mut alice_frames = frames_until_all(
        &mut alice_ws,
        "the chat accepted on C",
        &[&|f| is_type(f, "status") && f["status"] == "active", &|f| {
            f["text"]
                .as_str()
                .is_some_and(|t| t.ends_with("joined the chat."))
        }],
    )
    .await;

    // Bob writes through C; Alice reads on A. Alice writes on A; Bob reads on B.
    bob.say(c, chat, "Which VPN client do you use?").await;
    alice_frames.extend(
        frames_until(
            &mut alice_ws,
            "Bob's message from C",
            message_saying("Which VPN client do you use?"),
        )
        .await,
    );
    alice_ws
        .send(json!({"type": "typing", "typing": true}))
        .await;
    alice_ws
        .send(json!({"type": "message", "text": "The one from IT", "client_id": "x-1"}))
        .await;
    let mut bob_frames = frames_until_all(
        &mut bob_ws,
        "Alice typing and writing on A",
        &[
            &|f| is_type(f, "typing") && f["typing"] == true,
            &message_saying("The one from IT"),
        ],
    )
    .await;

    // Bob ends the chat on B; both sockets hear it, and their events are the stored ones.
    bob.end(b, chat).await;
    alice_frames.extend(frames_until(&mut alice_ws, "the end", |f| is_type(f, "ended")).await);
    bob_frames.extend(frames_until(&mut bob_ws, "the end", |f| is_type(f, "ended")).await);
    let stored = stored_seqs(alice.at(c), chat).await;
    assert_eq!(stored, (1..=stored.len() as i64).collect::<Vec<_>>());
    assert_eq!(seqs(&alice_frames), stored, "Alice's socket on A");
    assert_eq!(seqs(&bob_frames), stored, "Bob's socket on B");
}

#[tokio::test]
async fn a_socket_resumes_on_another_instance_with_after() {
    let servers = ServerProcess::cluster(3, &[]).await;
    let (a, b, c) = (0, 1, 2);
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    bob.go_online(a).await;
    let chat = alice.at(b).queued_chat("outlook will not open").await;
    bob.accept(a, chat).await;

    // Alice's socket on A has everything so far, then closes.
    let mut first = alice.at(a).chat_ws(chat).await;
    let mut frames = frames_until(&mut first, "the accept", |f| {
        is_type(f, "status") && f["status"] == "active"
    })
    .await;
    let seen = *seqs(&frames).last().expect("events before the accept");
    first.close().await;

    // Bob writes twice through C while she is away; she comes back on B after `seen`.
    for text in ["Try restarting it", "Then sign in again"] {
        bob.say(c, chat, text).await;
    }
    let mut again = alice
        .at(b)
        .ws(&format!("/chats/{chat}/ws?after={seen}"))
        .await
        .expect("socket opens on B");
    frames.extend(
        frames_until(
            &mut again,
            "what was missed",
            message_saying("Then sign in again"),
        )
        .await,
    );
    // And live from there, from an instance she is not on.
    bob.say(a, chat, "Did that work?").await;
    frames.extend(
        frames_until(
            &mut again,
            "Bob's next message",
            message_saying("Did that work?"),
        )
        .await,
    );
    alice.end(c, chat).await;
    frames.extend(frames_until(&mut again, "the end", |f| is_type(f, "ended")).await);
    assert_eq!(seqs(&frames), stored_seqs(alice.at(a), chat).await);
}

/// Presence is kept in the database: an analyst whose only socket is on B stays online
/// while A and C sweep, and one with no socket and no request lapses, on every instance.
/// (The instances run on the system clock: this test waits for it.)
#[tokio::test]
async fn an_idle_analyst_stays_online_while_other_instances_sweep() {
    let servers = ServerProcess::cluster(3, &[("CHATDESK_CHAT__PRESENCE_TIMEOUT_SECS", "2")]).await;
    let (a, b, c) = (0, 1, 2);
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    let carl = Person::new(&servers, "carl", &["analyst"]).await;
    for analyst in [&bob, &carl] {
        analyst.go_online(a).await;
    }
    // Bob's console is on B, and he does nothing else; Carl has gone home.
    let mut desk = bob.at(b).ws("/analyst/ws").await.expect("desk opens on B");
    desk.wait_for("Carl's lapse, on B", |f| {
        is_type(f, "queue") && f["availability"]["online_analysts"] == 1
    })
    .await;
    // Two timeouts later Bob is still online, whichever instance is asked.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    for i in [a, b, c] {
        let (status, avail) = alice.at(i).get("/chat/availability").await;
        assert_eq!(status, StatusCode::OK, "{avail}");
        assert_eq!(avail["online_analysts"], 1, "instance {i}: {avail}");
    }
    let (status, team) = bob.at(c).get("/analyst/team").await;
    assert_eq!(status, StatusCode::OK, "{team}");
    let online = |name: &str| {
        team.as_array()
            .and_then(|t| t.iter().find(|a| a["username"] == name))
            .map(|a| a["online"].clone())
    };
    assert_eq!(online("bob"), Some(json!(true)), "{team}");
    assert_eq!(online("carl"), Some(json!(false)), "{team}");
}

/// The connection an instance listens for hints on is killed in the middle of a stream
/// of messages: its sockets still get every message, once, in order.
#[tokio::test]
async fn a_killed_listener_connection_loses_nothing() {
    use sqlx::Connection;
    let servers = ServerProcess::cluster(2, &[]).await;
    let (a, b) = (0, 1);
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    bob.go_online(a).await;
    let chat = alice.at(a).queued_chat("printer offline").await;
    bob.accept(a, chat).await;
    let mut alice_ws = alice.at(b).chat_ws(chat).await;

    let mut db = sqlx::PgConnection::connect(servers[0].database_url())
        .await
        .expect("the test database");
    for i in 1..=20 {
        if i == 5 {
            let killed: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%' \
                 AND pg_terminate_backend(pid)",
            )
            .fetch_all(&mut db)
            .await
            .expect("listeners terminated");
            assert_eq!(killed.len(), 2, "one listener per instance");
        }
        bob.say(a, chat, &format!("step {i}")).await;
    }
    let mut frames = frames_until(&mut alice_ws, "the last step", message_saying("step 20")).await;
    bob.end(a, chat).await;
    frames.extend(frames_until(&mut alice_ws, "the end", |f| is_type(f, "ended")).await);
    assert_eq!(seqs(&frames), stored_seqs(alice.at(a), chat).await);
    assert!(
        servers[1].log().contains("listening for hints again"),
        "B saw its listener reconnect"
    );
}

/// With SQLite chatdesk is one instance: a second `serve` on the same file exits at once
/// with an error that says so, and the first goes on serving; commands still run beside.
#[tokio::test]
async fn a_second_server_on_one_sqlite_file_refuses_to_start() {
    let server = ServerProcess::start(crate::helpers::Backend::Sqlite).await;
    let second = server.run_beside(&["serve"]);
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(
        said.contains("another chatdesk serve is running") && said.contains("PostgreSQL"),
        "{said}"
    );
    let added = server.run_beside(&["user", "add", "dora", "--role", "user"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let (status, _) = server.admin().get("/me").await;
    assert_eq!(status, StatusCode::OK, "the first server still serves");
}

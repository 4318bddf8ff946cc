//! Several instances on one PostgreSQL (contract, "Additions: several instances on one
//! PostgreSQL"): three `chatdesk serve` processes on one database, and people whose
//! requests and sockets land on any of them. After each scenario every socket has had
//! the chat's stored events, each `seq` once, in order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Socket, TestUser, is_type};
use crate::process::ServerProcess;
use crate::proxy::Nginx;

/// How a scenario's clients reach the instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// Each client picks its instance.
    Direct,
    /// Through Debian's nginx with `docs/nginx/chatdesk.conf`: round-robin.
    Nginx,
}

/// The instances of one scenario on one fresh PostgreSQL database, and the proxy in
/// front of them when there is one.
struct Cluster {
    servers: Vec<ServerProcess>,
    proxy: Option<Nginx>,
}

impl Cluster {
    /// `n` instances with `extra` settings, reached `via`.
    async fn start(n: usize, extra: &[(&str, &str)], via: Via) -> Self {
        let mut extra = extra.to_vec();
        if via == Via::Nginx {
            extra.push(("CHATDESK_TRUSTED_PROXIES", "127.0.0.1"));
        }
        Self::of(ServerProcess::cluster(n, &extra).await, via).await
    }

    async fn of(servers: Vec<ServerProcess>, via: Via) -> Self {
        let proxy = match via {
            Via::Direct => None,
            Via::Nginx => {
                let roots: Vec<String> = servers.iter().map(|s| s.root.clone()).collect();
                Some(Nginx::start(&roots).await)
            }
        };
        Self { servers, proxy }
    }

    /// Where a client sends its requests for "instance i": the instance itself, or the
    /// proxy (which picks one) for every i.
    fn entries(&self) -> Vec<String> {
        match &self.proxy {
            None => self.servers.iter().map(|s| s.root.clone()).collect(),
            Some(proxy) => vec![proxy.root.clone(); self.servers.len()],
        }
    }

    /// Checks that the proxy, if any, spread the scenario over every instance.
    fn spread_over_all(&self) {
        if let Some(proxy) = &self.proxy {
            let log = proxy.access_log();
            for server in &self.servers {
                let addr = server.root.trim_start_matches("http://");
                assert!(log.contains(addr), "nginx sent nothing to {addr}");
            }
        }
    }
}

impl std::ops::Deref for Cluster {
    type Target = [ServerProcess];

    fn deref(&self) -> &[ServerProcess] {
        &self.servers
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut [ServerProcess] {
        &mut self.servers
    }
}

/// Runs each scenario twice: clients straight to the instances, and through nginx.
macro_rules! direct_and_through_nginx {
    ($($name:ident),* $(,)?) => {
        mod direct {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Via::Direct).await
                }
            )*
        }
        mod nginx {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Via::Nginx).await
                }
            )*
        }
    };
}

direct_and_through_nginx!(
    a_chat_crosses_three_instances,
    a_socket_resumes_on_another_instance_with_after,
    three_analysts_race_for_fifty_chats,
    limits_hold_across_instances,
    an_article_written_on_one_instance_is_served_by_all,
    a_file_uploaded_on_one_instance_downloads_on_another,
    a_tab_closed_on_one_instance_and_reopened_on_another_goes_on,
);

/// One person, signed in once, with a client for each instance.
struct Person {
    on: Vec<TestUser>,
}

impl Person {
    async fn new(cluster: &Cluster, name: &str, roles: &[&str]) -> Self {
        let first = cluster.servers[0].account(name, roles).await;
        let http = reqwest::Client::new();
        Self {
            on: cluster
                .entries()
                .iter()
                .map(|root| TestUser::at(root, first.token.clone(), http.clone()))
                .collect(),
        }
    }

    /// The person's client on instance `i`.
    fn at(&self, i: usize) -> &TestUser {
        &self.on[i]
    }

    /// An analyst goes online, with room for three chats, through instance `i`.
    async fn go_online(&self, i: usize) {
        self.go_online_for(i, 3).await;
    }

    /// An analyst goes online, with room for `max_chats`, through instance `i`.
    async fn go_online_for(&self, i: usize, max_chats: u32) {
        let (status, body) = self
            .at(i)
            .put(
                "/analyst/status",
                json!({"status": "online", "max_chats": max_chats}),
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

/// Instances with the reconcile tick off: whatever crosses between them crossed as a
/// hint, so a scenario run on these fails if hints stop working.
async fn hints_only(n: usize, via: Via) -> Cluster {
    Cluster::start(n, &[("CHATDESK_CLUSTER__RECONCILE_MS", "0")], via).await
}

/// A chat across three instances: Alice starts it on C and watches on A, Bob's desk and
/// socket are on B, and posts go through C. Messages, typing, status, the desk and Bob's
/// agent assist all cross; every socket's events are the stored ones.
async fn a_chat_crosses_three_instances(via: Via) {
    let servers = hints_only(3, via).await;
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
    // Bob's agent assist is worked out on B, where his socket is.
    let mut bob_frames = frames_until_all(
        &mut bob_ws,
        "Alice typing and writing on A, and articles for Bob",
        &[
            &|f| is_type(f, "typing") && f["typing"] == true,
            &message_saying("The one from IT"),
            &|f| is_type(f, "assist") && f["items"].as_array().is_some_and(|i| !i.is_empty()),
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
    servers.spread_over_all();
    // Each instance counts the hints it sent, and shows the NOTIFY queue's usage.
    for server in servers.iter() {
        let metrics = reqwest::get(format!("{}/metrics", server.root))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        let sent = metrics
            .lines()
            .find_map(|l| l.strip_prefix("chatdesk_hint_transactions_total "))
            .and_then(|n| n.trim().parse::<f64>().ok());
        assert!(sent.is_some_and(|n| n > 0.0), "{metrics}");
        assert!(
            metrics.contains("chatdesk_notification_queue_usage "),
            "{metrics}"
        );
    }
}

async fn a_socket_resumes_on_another_instance_with_after(via: Via) {
    let servers = hints_only(3, via).await;
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
    let servers = Cluster::start(
        3,
        &[("CHATDESK_CHAT__PRESENCE_TIMEOUT_SECS", "2")],
        Via::Direct,
    )
    .await;
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
    let servers = Cluster::start(2, &[], Via::Direct).await;
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

/// Three analysts, each on their own instance and with room for 10, race to accept the
/// same 50 queued chats through all three: each chat is won once, nobody goes over 10,
/// and the 20 left are still queued, as every instance sees it.
async fn three_analysts_race_for_fifty_chats(via: Via) {
    let servers = Cluster::start(3, &[], via).await;
    let mut chats = Vec::new();
    for u in 0..5 {
        let user = Person::new(&servers, &format!("user{u}"), &["user", "chat-user"]).await;
        for c in 0..10 {
            let i = (u + c) % 3;
            chats.push(
                user.at(i)
                    .queued_chat(&format!("laptop {c} will not boot"))
                    .await,
            );
        }
    }
    let mut analysts = Vec::new();
    for k in 0..3 {
        let analyst = Person::new(&servers, &format!("analyst{k}"), &["analyst"]).await;
        analyst.go_online_for(k, 10).await;
        analysts.push(analyst);
    }
    let races = analysts.into_iter().enumerate().map(|(k, analyst)| {
        let chats = chats.clone();
        tokio::spawn(async move {
            let mut won = Vec::new();
            // Each analyst goes through the chats from a different place, through every
            // instance in turn.
            for j in 0..chats.len() {
                let chat = chats[(j + 17 * k) % chats.len()];
                let path = format!("/chats/{chat}/accept");
                let (status, body) = analyst.at((j + k) % 3).post(&path, json!({})).await;
                match status {
                    StatusCode::OK => won.push(chat),
                    StatusCode::CONFLICT => {}
                    other => panic!("accept answered {other}: {body}"),
                }
            }
            (analyst, won)
        })
    });
    let (analysts, won): (Vec<Person>, Vec<Vec<i64>>) = futures_util::future::join_all(races)
        .await
        .into_iter()
        .map(|r| r.expect("an analyst's race"))
        .unzip();
    let mut winners: BTreeMap<i64, usize> = BTreeMap::new();
    for (k, chats) in won.iter().enumerate() {
        assert_eq!(chats.len(), 10, "analyst{k} filled up exactly: {won:?}");
        for chat in chats {
            assert!(
                winners.insert(*chat, k).is_none(),
                "chat {chat} won twice: {won:?}"
            );
        }
    }
    let someone = Person::new(&servers, "watcher", &["analyst"]).await;
    for i in 0..3 {
        let (status, queue) = someone.at(i).get("/analyst/queue").await;
        assert_eq!(status, StatusCode::OK, "{queue}");
        let queued: Vec<i64> = queue
            .as_array()
            .expect("a queue")
            .iter()
            .map(|q| q["chat_id"].as_i64().expect("chat_id"))
            .collect();
        assert_eq!(queued.len(), 20, "instance {i}: {queue}");
        assert!(queued.iter().all(|c| !winners.contains_key(c)), "{queue}");
    }
    for (chat, k) in winners.iter().step_by(5) {
        let (status, view) = analysts[*k]
            .at((k + 1) % 3)
            .get(&format!("/chats/{chat}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["status"], "active", "{view}");
        assert!(
            view["analyst"].to_string().contains(&format!("analyst{k}")),
            "{view}"
        );
    }
    servers.spread_over_all();
}

/// Sign-in and message limits are the person's, whichever instances they use: guesses
/// spread over three instances meet one budget, and so do messages.
async fn limits_hold_across_instances(via: Via) {
    let servers = Cluster::start(
        3,
        &[
            ("CHATDESK_LIMITS__MESSAGE_BURST", "5"),
            ("CHATDESK_LIMITS__MESSAGES_PER_SEC", "1"),
        ],
        via,
    )
    .await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    let mut statuses = Vec::new();
    let entries = servers.entries();
    for attempt in 0..7 {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/login", entries[attempt % 3]))
            .json(&json!({"username": "bob", "password": "a guess"}))
            .send()
            .await
            .expect("sign-in answers");
        statuses.push(resp.status().as_u16());
    }
    // Five failures for an account (the default), then refused on every instance.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);

    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    bob.go_online(0).await;
    let chat = alice.at(0).queued_chat("no sound in meetings").await;
    bob.accept(1, chat).await;
    let started = Instant::now();
    let mut sent = 0;
    for n in 0..12 {
        let (status, body) = alice
            .at(n % 3)
            .post(
                &format!("/chats/{chat}/messages"),
                json!({"text": format!("hello {n}")}),
            )
            .await;
        match status {
            StatusCode::CREATED => sent += 1,
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(body["error"]["code"], "rate_limited"),
            other => panic!("a message answered {other}: {body}"),
        }
    }
    // A burst of 5, and one more a second: three separate budgets would have let 12 by.
    let refilled = started.elapsed().as_secs() as usize;
    assert!(
        (5..=5 + refilled + 1).contains(&sent),
        "{sent} sent in {:?}",
        started.elapsed()
    );
}

/// An article written through one instance is served by the others within 5 seconds,
/// told by a hint (their own checks are set an hour apart here).
async fn an_article_written_on_one_instance_is_served_by_all(via: Via) {
    let servers = Cluster::start(3, &[("CHATDESK_KNOWLEDGE__REFRESH_SECS", "3600")], via).await;
    let carol = Person::new(&servers, "carol", &["author", "analyst"]).await;
    let query = "/knowledge/search?q=quantum%20flux%20capacitor%20overheating&k=3";
    let found = |body: &Value| {
        body.as_array()
            .is_some_and(|s| s.iter().any(|s| s["article_id"] == "flux-capacitor"))
    };
    let (_, before) = carol.at(1).get(query).await;
    assert!(!found(&before), "{before}");
    let article = "---\ntitle: Quantum flux capacitor overheating\ntags: [hardware]\n---\n\
        When the quantum flux capacitor is overheating, unplug the capacitor and let it cool.\n";
    let (status, body) = carol
        .at(0)
        .put_raw(
            "/knowledge/articles/flux-capacitor",
            "text/markdown",
            article,
        )
        .await;
    assert!(status.is_success(), "{body}");
    let written = Instant::now();
    for i in [1, 2] {
        loop {
            let (status, body) = carol.at(i).get(query).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if found(&body) {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(5),
                "instance {i}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (status, _) = carol
        .at(2)
        .delete("/knowledge/articles/flux-capacitor")
        .await;
    assert_eq!(status, StatusCode::OK);
    let deleted = Instant::now();
    loop {
        let (_, body) = carol.at(0).get(query).await;
        if !found(&body) {
            break;
        }
        assert!(
            deleted.elapsed() < Duration::from_secs(5),
            "still served on A: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A first deploy: four instances start at the same moment on an empty database, each
/// with `--demo` and nothing encoded. All come up, the schema is made once, the folder's
/// articles are imported once and encoded once (by one instance, the others take its
/// vectors), and each demo account exists once and signs in anywhere.
#[tokio::test]
async fn many_instances_start_at_once_on_a_fresh_database() {
    use sqlx::Connection;
    let servers = Cluster::of(ServerProcess::cluster_at_once(4, &[]).await, Via::Direct).await;
    let mut db = sqlx::PgConnection::connect(servers[0].database_url())
        .await
        .expect("the test database");
    let (articles, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT id) FROM articles")
            .fetch_one(&mut db)
            .await
            .expect("articles counted");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge"))
        .expect("the knowledge folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "md"))
        })
        .count() as i64;
    assert_eq!((articles, distinct), (files, files));
    let imports = servers
        .iter()
        .filter(|s| {
            !s.log()
                .contains("this knowledge folder was imported before")
        })
        .count();
    assert_eq!(
        imports, 1,
        "one instance imported, the others found it done"
    );
    let encoded: Vec<i64> = servers
        .iter()
        .map(|s| {
            let log = without_colours(&s.log());
            let built = log
                .lines()
                .find(|l| l.contains("knowledge index swapped in"))
                .unwrap_or_else(|| panic!("an index was built:\n{log}"));
            built
                .split_whitespace()
                .find_map(|w| w.strip_prefix("encoded="))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{built}"))
        })
        .collect();
    assert_eq!(
        encoded.iter().filter(|&&n| n > 0).count(),
        1,
        "one instance encoded, the others took its vectors: {encoded:?}"
    );
    assert_eq!(encoded.iter().sum::<i64>(), files, "{encoded:?}");
    let demo: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE username IN ('alice', 'bob', 'erin', 'dana', 'carol')",
    )
    .fetch_one(&mut db)
    .await
    .expect("users counted");
    assert_eq!(demo, 5, "each demo account once");
    for server in servers.iter() {
        let signed_in = server
            .http
            .post(format!("{}/api/v1/login", server.root))
            .json(&json!({"username": "bob", "password": "chatdesk-demo"}))
            .send()
            .await
            .expect("login answers");
        assert_eq!(signed_in.status(), StatusCode::OK, "{}", server.root);
    }
    let cora = Person::new(&servers, "cora", &["author", "analyst"]).await;
    for i in 0..4 {
        let (status, found) = cora.at(i).get("/knowledge/search?q=vpn%20drops&k=1").await;
        assert_eq!(status, StatusCode::OK, "instance {i}: {found}");
        assert_eq!(
            found.as_array().map(Vec::len),
            Some(1),
            "instance {i}: {found}"
        );
    }
}

/// A rolling deploy, seen from the older release: the newer one migrated the database
/// (here: an added column and a migration this build does not know), and an instance of
/// this build restarted beside it comes up and serves, and what it stores reaches the
/// other instance.
#[tokio::test]
async fn an_older_instance_restarts_beside_a_newer_schema() {
    use sqlx::Connection;
    let mut servers = Cluster::start(2, &[], Via::Direct).await;
    let mut db = sqlx::PgConnection::connect(servers[0].database_url())
        .await
        .expect("the test database");
    for statement in [
        "ALTER TABLE chats ADD COLUMN from_a_newer_release TEXT",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer release', true, '\\x00', 1)",
    ] {
        sqlx::query(statement)
            .execute(&mut db)
            .await
            .expect("the newer release's migration");
    }
    servers[0].kill();
    servers[0].restart().await;
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let (chat, _) = alice.at(0).start_chat("my printer is offline").await;
    let mut on_b = alice.at(1).chat_ws(chat).await;
    alice.say(0, chat, "still offline").await;
    frames_until(
        &mut on_b,
        "the message from the older instance",
        message_saying("still offline"),
    )
    .await;
}

/// `log` without the terminal's colour codes (`ESC [ ... m`).
fn without_colours(log: &str) -> String {
    let mut plain = String::with_capacity(log.len());
    let mut rest = log;
    while let Some(at) = rest.find('\u{1b}') {
        plain.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    plain.push_str(rest);
    plain
}

/// A file alice uploads through A, bob and alice download through B: with the
/// attachments in a shared folder, and in an S3 bucket (moto), where the object is found
/// under its id.
async fn a_file_uploaded_on_one_instance_downloads_on_another(via: Via) {
    let shared = tempfile::tempdir().expect("temp dir");
    let folder = format!("file://{}", shared.path().join("files").display());
    let servers = Cluster::start(2, &[("CHATDESK_ATTACHMENTS_URL", &folder)], via).await;
    let id = a_file_crosses(&servers, b"the folder's file").await;
    assert!(
        shared.path().join("files").join(&id).exists(),
        "{id} in the folder"
    );
    drop(servers);

    let moto = crate::s3::Moto::start().await;
    moto.bucket("chatdesk").await;
    let settings = moto.settings("s3://chatdesk/attachments");
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let servers = Cluster::start(2, &settings, via).await;
    let id = a_file_crosses(&servers, b"the bucket's file").await;
    let objects = moto.objects("chatdesk").await;
    assert!(
        objects.contains(&(format!("attachments/{id}"), 17)),
        "{objects:?}"
    );
}

/// Uploads `bytes` on instance 0 and downloads them on instance 1; the attachment's id.
async fn a_file_crosses(servers: &Cluster, bytes: &[u8]) -> String {
    let alice = Person::new(servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(servers, "bob", &["analyst"]).await;
    bob.go_online(0).await;
    let chat = alice.at(0).queued_chat("here is the error log").await;
    bob.accept(1, chat).await;
    let (status, body) = alice.at(0).upload(chat, "error.log", bytes.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("an id").to_owned();
    for person in [&bob, &alice] {
        let (status, got) = person.at(1).download(&id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, bytes);
    }
    id
}

/// The chat window's tab closed on A (it says so, `leave`) and the chat reopened on B
/// within the grace: the chat goes on. A socket closed on A and reopened on B outlives
/// the away timer too. Left for good, the chat ends once, with one note.
async fn a_tab_closed_on_one_instance_and_reopened_on_another_goes_on(via: Via) {
    let servers = Cluster::start(
        2,
        &[
            ("CHATDESK_CHAT__LEAVE_GRACE_SECS", "2"),
            ("CHATDESK_CHAT__AWAY_END_SECS", "3"),
        ],
        via,
    )
    .await;
    let (a, b) = (0, 1);
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    bob.go_online(a).await;
    let chat = alice.at(a).queued_chat("teams has no sound").await;
    bob.accept(b, chat).await;
    let status = |i: usize| {
        let alice = alice.at(i);
        async move {
            let (_, view) = alice.get(&format!("/chats/{chat}")).await;
            view["status"].as_str().unwrap_or_default().to_owned()
        }
    };

    let window = alice.at(a).chat_ws(chat).await;
    alice
        .post(
            a,
            &format!("/chats/{chat}/leave"),
            json!({}),
            StatusCode::ACCEPTED,
        )
        .await;
    window.close().await;
    let mut window = alice.at(b).chat_ws(chat).await;
    // Past the grace and the away time on A: still going, and live on B.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(status(a).await, "active");
    bob.say(a, chat, "Still there?").await;
    frames_until(&mut window, "Bob's message", message_saying("Still there?")).await;

    // Gone for good: closed on B with nothing reopened anywhere.
    alice
        .post(
            b,
            &format!("/chats/{chat}/leave"),
            json!({}),
            StatusCode::ACCEPTED,
        )
        .await;
    window.close().await;
    let left = Instant::now();
    while status(a).await != "ended" {
        assert!(
            left.elapsed() < Duration::from_secs(10),
            "the chat did not end"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, shown) = alice.at(b).get(&format!("/chats/{chat}")).await;
    let call_id = shown["call_id"].as_i64().expect("a call");
    let (_, call) = alice.at(a).get(&format!("/calls/{call_id}")).await;
    let text = call["transcript_text"].as_str().expect("a transcript");
    assert_eq!(text.matches("closed the chat window").count(), 1, "{text}");
    assert_eq!(text.matches("did not come back").count(), 0, "{text}");
}

/// POSTs a message with `client_id` through the instances in `order`, going on to the
/// next when one cannot be reached (or fails), as a client behind a load balancer
/// retries; the message's `seq`.
async fn post_retrying(
    roots: &[String],
    token: &str,
    chat: i64,
    text: &str,
    client_id: &str,
    order: &[usize],
) -> i64 {
    let http = reqwest::Client::new();
    for &i in order {
        let sent = http
            .post(format!("{}/api/v1/chats/{chat}/messages", roots[i]))
            .bearer_auth(token)
            .json(&json!({"text": text, "client_id": client_id}))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(resp) = sent
            && resp.status().is_success()
        {
            let body: Value = resp.json().await.expect("a Message");
            return body["seq"].as_i64().expect("a seq");
        }
    }
    panic!("{client_id} could not be sent through {order:?}");
}

/// An instance is killed (SIGKILL) in the middle of a stream of messages that clients
/// retry through the others (one it had stored is sent again; later ones meet a refused
/// connection): every message is stored once, in order, the user's socket on a surviving
/// instance has each once, and the analyst whose only socket was on the dead instance
/// lapses after the presence timeout.
#[tokio::test]
async fn an_instance_killed_mid_stream_loses_and_doubles_nothing() {
    let mut servers = Cluster::start(
        3,
        &[("CHATDESK_CHAT__PRESENCE_TIMEOUT_SECS", "2")],
        Via::Direct,
    )
    .await;
    let (a, b, c) = (0, 1, 2);
    let alice = Person::new(&servers, "alice", &["user", "chat-user"]).await;
    let bob = Person::new(&servers, "bob", &["analyst"]).await;
    bob.go_online(c).await;
    let desk = bob.at(c).ws("/analyst/ws").await.expect("desk opens on C");
    let chat = alice.at(a).queued_chat("the share drive is gone").await;
    bob.accept(c, chat).await;
    let mut alice_ws = alice.at(a).chat_ws(chat).await;

    let token = alice.at(a).token.clone();
    let roots = servers.entries();
    let mut seqs_sent = Vec::new();
    for n in 1..=20 {
        let text = format!("line {n}");
        if n == 8 {
            // C stores message 8 and dies before its answer is read: the client, which
            // never saw the answer, sends it again through B, and gets the same message.
            let id = format!("m{n}");
            let first = post_retrying(&roots, &token, chat, &text, &id, &[c]).await;
            servers[c].kill();
            let again = post_retrying(&roots, &token, chat, &text, &id, &[c, b]).await;
            assert_eq!(
                again, first,
                "the retry is the stored message, not a second one"
            );
            seqs_sent.push(first);
        } else {
            let first = [c, b, a][n % 3];
            let order = [first, b, a];
            seqs_sent
                .push(post_retrying(&roots, &token, chat, &text, &format!("m{n}"), &order).await);
        }
    }
    drop(desk);
    let mut frames = frames_until(&mut alice_ws, "the last line", message_saying("line 20")).await;
    alice.end(b, chat).await;
    frames.extend(frames_until(&mut alice_ws, "the end", |f| is_type(f, "ended")).await);
    let stored = stored_seqs(alice.at(b), chat).await;
    assert_eq!(seqs(&frames), stored, "Alice's socket on A");
    let (_, view) = alice.at(a).get(&format!("/chats/{chat}")).await;
    let lines: Vec<&str> = view["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter(|t| t.starts_with("line "))
        .collect();
    let expected: Vec<String> = (1..=20).map(|n| format!("line {n}")).collect();
    assert_eq!(lines, expected, "each line once, in order");
    assert!(seqs_sent.windows(2).all(|w| w[0] < w[1]), "{seqs_sent:?}");

    // Bob's console died with C: the survivors set him offline after the timeout, once.
    let died = Instant::now();
    loop {
        let (_, avail) = alice.at(a).get("/chat/availability").await;
        if avail["online_analysts"] == 0 {
            break;
        }
        assert!(
            died.elapsed() < Duration::from_secs(10),
            "bob still online: {avail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lapses: usize = servers
        .iter()
        .map(|s| s.log().matches("presence lapsed").count())
        .sum();
    assert_eq!(lapses, 1, "bob lapsed once, on one instance");
}

//! The database going away for a while: requests get clear 503s (sockets an
//! `unavailable` error frame and stay open), nothing panics, and service resumes by
//! itself once the database is back. PostgreSQL is cut off by a TCP proxy between the
//! server and the database; SQLite by another process holding the write lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{Backend, TestApp, is_type, pg_admin_url};
use crate::on_both_databases;

on_both_databases!(a_database_outage_gives_503s_and_service_resumes);

/// Forwards TCP connections to `upstream` until cut.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (d, l) = (down.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                // Checked and registered under the lock that `cut` takes, so that no
                // link slips through a cut.
                let mut links = l.lock().unwrap();
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links.push(link.abort_handle());
            }
        });
        Self { port, down, links }
    }

    fn cut(&self) {
        let mut links = self.links.lock().unwrap();
        self.down.store(true, Ordering::SeqCst);
        for link in links.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db` with its host and port replaced.
fn through(url: &str, port: u16) -> (String, String) {
    let (scheme_user, rest) = url.split_once('@').expect("user@host");
    let (authority, db) = rest.split_once('/').expect("a database");
    (
        authority.to_owned(),
        format!("{scheme_user}@127.0.0.1:{port}/{db}"),
    )
}

/// Holds SQLite's write lock from another connection until dropped.
struct WriteLock {
    _release: tokio::sync::oneshot::Sender<()>,
}

async fn lock_sqlite(path: String) -> WriteLock {
    use sqlx::Connection;
    let (release, released) = tokio::sync::oneshot::channel();
    let (locked, is_locked) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut conn = sqlx::SqliteConnection::connect(&path).await.unwrap();
        sqlx::Executor::execute(&mut conn, "BEGIN EXCLUSIVE")
            .await
            .unwrap();
        let _ = locked.send(());
        let _ = released.await;
        sqlx::Executor::execute(&mut conn, "ROLLBACK")
            .await
            .unwrap();
    });
    is_locked.await.unwrap();
    WriteLock { _release: release }
}

async fn ready(app: &TestApp) -> StatusCode {
    app.http
        .get(format!("{}/readyz", app.root()))
        .send()
        .await
        .unwrap()
        .status()
}

enum Outage {
    Proxy(Proxy),
    Sqlite(String),
}

async fn a_database_outage_gives_503s_and_service_resumes(backend: Backend) {
    let (app, outage) = match backend {
        Backend::Postgres => {
            let (upstream, _) = through(&pg_admin_url(), 0);
            let proxy = Proxy::start(upstream).await;
            let port = proxy.port;
            let app = TestApp::spawn_with(backend, |s| {
                let url = through(s.database_url.expose(), port).1;
                s.database_url = chatdesk::config::Secret(url);
            })
            .await;
            (app, Outage::Proxy(proxy))
        }
        Backend::Sqlite => {
            let mut url = String::new();
            let app =
                TestApp::spawn_with(backend, |s| url = s.database_url.expose().to_owned()).await;
            (app, Outage::Sqlite(url))
        }
    };
    let alice = app.chat_user("alice").await;
    let bob = app.online_analyst("bob", 2).await;
    let chat = alice.queued_chat("my monitor flickers").await;
    let (status, body) = bob.post(&format!("/chats/{chat}/accept"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ws = alice.chat_ws(chat).await;
    ws.drain(Duration::from_millis(200)).await;
    let post = |text: &'static str| {
        let alice = &alice;
        async move {
            alice
                .post(&format!("/chats/{chat}/messages"), json!({"text": text}))
                .await
        }
    };

    let lock = match &outage {
        Outage::Proxy(p) => {
            p.cut();
            None
        }
        Outage::Sqlite(url) => Some(lock_sqlite(url.clone()).await),
    };
    if matches!(outage, Outage::Proxy(_)) {
        assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (status, body) = post("are you there?").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    ws.send(json!({"type": "message", "text": "hello?", "client_id": "during"}))
        .await;
    let error = ws.wait_for("an error frame", |f| is_type(f, "error")).await;
    assert_eq!(error["error"]["code"], "unavailable", "{error}");

    match &outage {
        Outage::Proxy(p) => p.restore(),
        Outage::Sqlite(_) => drop(lock),
    }
    let started = Instant::now();
    while ready(&app).await != StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not ready again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = post("back again").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The same socket carries on: the retry of the failed message goes through.
    ws.send(json!({"type": "message", "text": "hello?", "client_id": "during"}))
        .await;
    ws.wait_for("the acknowledgement", |f| f["client_id"] == "during")
        .await;
    let (_, shown) = alice.get(&format!("/chats/{chat}")).await;
    let texts: Vec<&str> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"]["role"] == "user")
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        ["back again", "hello?"],
        "nothing from the outage half-stored"
    );
}

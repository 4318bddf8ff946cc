//! The real `chatdesk serve` binary in its own process, for what an in-process server
//! cannot show: being killed with SIGKILL and started again on the same database, and
//! draining on SIGTERM.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, TestUser, fresh_pg_database};

const BIN: &str = env!("CARGO_BIN_EXE_chatdesk");

pub struct ServerProcess {
    pub root: String,
    pub http: reqwest::Client,
    env: Vec<(String, String)>,
    /// Arguments after `serve`.
    args: Vec<&'static str>,
    child: Option<Child>,
    admin_token: String,
    dir: tempfile::TempDir,
}

/// A loopback port nothing listens on now, for a process this test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl ServerProcess {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with_log(backend, "info").await
    }

    /// Starts a server logging at `level` (`CHATDESK_LOG`).
    pub async fn start_with_log(backend: Backend, level: &str) -> Self {
        Self::start_with_env(backend, level, &[]).await
    }

    /// Starts a server logging at `level`, with `extra` settings (`CHATDESK_*` variables).
    pub async fn start_with_env(backend: Backend, level: &str, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("chatdesk.db").display()),
            Backend::Postgres => fresh_pg_database().await,
        };
        let mut env = server_env(&database_url, &dir, level);
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let admin_token = add_admin(&env);
        Self::spawn_with(env, dir, admin_token).await
    }

    /// `n` instances on one fresh PostgreSQL database, each with its own port and data
    /// folder and `extra` settings (`CHATDESK_*` variables); the same admin on all.
    pub async fn cluster(n: usize, extra: &[(&str, &str)]) -> Vec<Self> {
        let database_url = fresh_pg_database().await;
        let mut admin_token = None;
        let mut servers = Vec::new();
        for _ in 0..n {
            let (env, dir) = cluster_env(&database_url, extra);
            let token = admin_token.get_or_insert_with(|| add_admin(&env)).clone();
            servers.push(Self::spawn_with(env, dir, token).await);
        }
        servers
    }

    /// `n` instances started at the same moment on one fresh, empty PostgreSQL database
    /// (not even migrated), as a first deploy starts them on new machines: each with
    /// `serve --demo` and an empty vector cache of its own. The admin is added once all
    /// are ready.
    pub async fn cluster_at_once(n: usize, extra: &[(&str, &str)]) -> Vec<Self> {
        let database_url = fresh_pg_database().await;
        let mut servers: Vec<Self> = (0..n)
            .map(|_| {
                let (mut env, dir) = cluster_env(&database_url, extra);
                // New machines: nothing encoded yet.
                env.push((
                    "CHATDESK_KNOWLEDGE__VECTOR_CACHE_DIR".to_owned(),
                    dir.path().join("vectors").display().to_string(),
                ));
                let mut server = Self::new(env, dir, String::new());
                server.args.push("--demo");
                server
            })
            .collect();
        for server in &mut servers {
            server.launch();
        }
        for server in &mut servers {
            server.until_ready().await;
        }
        let token = add_admin(&servers[0].env);
        for server in &mut servers {
            server.admin_token.clone_from(&token);
        }
        servers
    }

    fn new(env: Vec<(String, String)>, dir: tempfile::TempDir, admin_token: String) -> Self {
        let bind = env
            .iter()
            .find(|(k, _)| k == "CHATDESK_BIND")
            .map(|(_, v)| v.clone())
            .expect("a bind address");
        Self {
            root: format!("http://{bind}"),
            http: reqwest::Client::new(),
            env,
            args: Vec::new(),
            child: None,
            admin_token,
            dir,
        }
    }

    async fn spawn_with(
        env: Vec<(String, String)>,
        dir: tempfile::TempDir,
        admin_token: String,
    ) -> Self {
        let mut server = Self::new(env, dir, admin_token);
        server.spawn().await;
        server
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server processes have logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        self.launch();
        self.until_ready().await;
    }

    /// Starts the process, without waiting for it.
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(BIN)
            .arg("serve")
            .args(&self.args)
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("chatdesk serve starts");
        self.child = Some(child);
    }

    /// Waits (up to 120 s) until the process answers `/readyz`.
    async fn until_ready(&mut self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok())
                .flatten()
            {
                panic!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = self.http.get(format!("{}/readyz", self.root)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not get ready:\n{}", self.log());
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.spawn().await;
    }

    /// SIGTERM, then waits (up to 30 s) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no exit within 30 s of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `chatdesk ARGS` beside the server, with its settings but another port, to
    /// the end.
    pub fn run_beside(&self, args: &[&str]) -> std::process::Output {
        let port = free_port();
        Command::new(BIN)
            .args(args)
            .envs(self.env.iter().cloned().map(|(k, v)| {
                let v = if k == "CHATDESK_BIND" {
                    format!("127.0.0.1:{port}")
                } else {
                    v
                };
                (k, v)
            }))
            .output()
            .expect("chatdesk runs")
    }

    /// The database the server runs on.
    pub fn database_url(&self) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == "CHATDESK_DATABASE_URL")
            .map(|(_, v)| v.as_str())
            .expect("a database URL")
    }

    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    /// The admin account every server starts with.
    pub fn admin(&self) -> TestUser {
        TestUser::at(&self.root, self.admin_token.clone(), self.http.clone())
    }

    /// Creates an account through the admin API.
    pub async fn account(&self, name: &str, roles: &[&str]) -> TestUser {
        let (status, body) = self
            .admin()
            .post(
                "/users",
                json!({"username": name, "display_name": name, "roles": roles}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        TestUser::at(
            &self.root,
            body["token"].as_str().expect("token").to_owned(),
            self.http.clone(),
        )
    }
}

/// The settings of one cluster instance on `database_url`, with `extra`, and its folder.
fn cluster_env(
    database_url: &str,
    extra: &[(&str, &str)],
) -> (Vec<(String, String)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = server_env(database_url, &dir, "info");
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    (env, dir)
}

/// The settings of a server on `database_url` with its data in `dir`, on a free port.
fn server_env(database_url: &str, dir: &tempfile::TempDir, level: &str) -> Vec<(String, String)> {
    let port = free_port();
    let root = env!("CARGO_MANIFEST_DIR");
    [
        (
            "CHATDESK_CONFIG",
            dir.path().join("none.toml").display().to_string(),
        ),
        ("CHATDESK_DATABASE_URL", database_url.to_owned()),
        ("CHATDESK_BIND", format!("127.0.0.1:{port}")),
        (
            "CHATDESK_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("CHATDESK_KNOWLEDGE_DIR", format!("{root}/knowledge")),
        (
            "CHATDESK_MODEL_DIR",
            format!("{root}/models/all-MiniLM-L6-v2"),
        ),
        (
            "CHATDESK_KNOWLEDGE__VECTOR_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/vector-cache").to_owned(),
        ),
        ("CHATDESK_LOG", level.to_owned()),
        // These tests send as fast as they can on purpose.
        ("CHATDESK_LIMITS__MESSAGES_PER_SEC", "100000".to_owned()),
        ("CHATDESK_LIMITS__MESSAGE_BURST", "100000".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec()
}

/// Adds the admin account with the CLI; returns its token.
fn add_admin(env: &[(String, String)]) -> String {
    let out = Command::new(BIN)
        .args(["user", "add", "admin", "--role", "admin"])
        .envs(env.iter().cloned())
        .output()
        .expect("chatdesk user add runs");
    assert!(
        out.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .last()
        .expect("a token")
        .to_owned()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

//! The server under test: `chatdesk serve` started from this build on a free loopback
//! port with a fresh database (a temporary SQLite file or a new PostgreSQL database), or
//! several instances of it on one fresh PostgreSQL database (`--instances`), or one that
//! is already running (`--url`, loopback only).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `chatdesk` binary of this build, used unless `--server-bin` names another.
pub const BIN: &str = env!("CARGO_BIN_EXE_chatdesk");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub struct Server {
    /// `http://127.0.0.1:PORT` of the first instance.
    pub root: String,
    /// That of every instance.
    pub roots: Vec<String>,
    pub admin_token: String,
    children: Vec<Child>,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn pg_admin_url() -> String {
    std::env::var("PG_TEST_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn pg_execute(url: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .with_context(|| "connecting to PostgreSQL at PG_TEST_URL")?;
    sqlx::Executor::execute(&mut conn, sql).await?;
    Ok(())
}

/// Refuses anything but a loopback address: the load generator is not for other hosts.
pub fn check_loopback(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    let host = if rest.starts_with('[') {
        rest.split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        host
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        bail!("the load generator drives loopback servers only, not {host:?}");
    }
    Ok(url
        .trim_end_matches('/')
        .trim_end_matches("/api/v1")
        .to_owned())
}

impl Server {
    /// A server someone else started; `admin_token` belongs to an admin account on it.
    pub fn running(url: &str, admin_token: String) -> anyhow::Result<Self> {
        let root = check_loopback(url)?;
        Ok(Self {
            roots: vec![root.clone()],
            root,
            admin_token,
            children: Vec::new(),
            pg: None,
            _dir: None,
        })
    }

    /// Starts `instances` of `bin serve` on `db` ("sqlite" or "postgres"; several only on
    /// PostgreSQL) and waits until they are ready. `bin` may be another build's
    /// `chatdesk`, so two commits are measured by one generator in one sitting.
    pub async fn start(db: &str, bin: &Path, instances: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(
            instances == 1 || db == "postgres",
            "several instances share a PostgreSQL database: use --db postgres"
        );
        let dir = tempfile::tempdir()?;
        let (database_url, pg) = match db {
            "sqlite" => (
                format!("sqlite://{}", dir.path().join("load.db").display()),
                None,
            ),
            "postgres" => {
                let admin = pg_admin_url();
                let name = format!("chatdesk_load_{}", std::process::id());
                pg_execute(&admin, &format!("DROP DATABASE IF EXISTS {name}")).await?;
                pg_execute(&admin, &format!("CREATE DATABASE {name}")).await?;
                let (base, _) = admin.rsplit_once('/').context("PG_TEST_URL has no path")?;
                (format!("{base}/{name}"), Some((admin.clone(), name)))
            }
            other => bail!("--db must be sqlite or postgres, not {other:?}"),
        };
        let mut server = Self {
            root: String::new(),
            roots: Vec::new(),
            admin_token: String::new(),
            children: Vec::new(),
            pg,
            _dir: None,
        };
        for i in 0..instances {
            let port = free_port()?;
            let env = environment(
                &dir.path().join(format!("instance{i}")),
                &database_url,
                port,
            );
            if i == 0 {
                server.admin_token = admin_token(bin, &env)?;
            }
            let log = std::fs::File::create(dir.path().join(format!("server{i}.log")))?;
            let child = Command::new(bin)
                .arg("serve")
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting chatdesk serve")?;
            server.children.push(child);
            server.roots.push(format!("http://127.0.0.1:{port}"));
        }
        server.root = server.roots[0].clone();
        server._dir = Some(dir);
        for root in &server.roots {
            wait_ready(root, Duration::from_secs(120)).await?;
        }
        Ok(server)
    }

    /// Resident memory of the server processes together, when this run started them.
    pub fn rss_bytes(&self) -> Option<u64> {
        let mut total = None;
        for child in &self.children {
            let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            total = Some(total.unwrap_or(0) + kib * 1024);
        }
        total
    }

    /// NOTIFY transactions the instances have sent so far (`chatdesk_hint_transactions_total`
    /// summed over `/metrics`).
    pub async fn hint_transactions(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        for root in &self.roots {
            let text = reqwest::get(format!("{root}/metrics"))
                .await?
                .text()
                .await?;
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("chatdesk_hint_transactions_total "))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .unwrap_or(0.0) as u64;
        }
        Ok(total)
    }

    /// The first instance's log.
    pub fn log_path(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("server0.log"))
    }

    /// Stops the instances with SIGTERM (a graceful drain), one after another, and drops
    /// their PostgreSQL database. Returns the longest any took to exit, when this run
    /// started them.
    ///
    /// # Errors
    /// When an instance does not exit within 30 s of SIGTERM, or exits with a failure.
    pub async fn stop(mut self) -> anyhow::Result<Option<Duration>> {
        let mut took = None;
        for mut child in std::mem::take(&mut self.children) {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            let signalled = Instant::now();
            let deadline = signalled + Duration::from_secs(30);
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() > deadline {
                    child.kill()?;
                    bail!("the server did not stop within 30 s of SIGTERM");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            if !status.success() {
                bail!("the server exited with {status} after SIGTERM");
            }
            took = took.max(Some(signalled.elapsed()));
        }
        if let Some((admin, name)) = self.pg.take() {
            pg_execute(&admin, &format!("DROP DATABASE IF EXISTS {name}")).await?;
        }
        Ok(took)
    }
}

/// Waits until the instance at `root` answers `/readyz`.
async fn wait_ready(root: &str, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let http = reqwest::Client::new();
    while started.elapsed() < limit {
        if let Ok(r) = http.get(format!("{root}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the server at {root} did not become ready within {limit:?}")
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn environment(dir: &Path, database_url: &str, port: u16) -> Vec<(String, String)> {
    let pairs = [
        (
            "CHATDESK_CONFIG",
            dir.join("none.toml").display().to_string(),
        ),
        ("CHATDESK_DATABASE_URL", database_url.to_owned()),
        ("CHATDESK_BIND", format!("127.0.0.1:{port}")),
        ("CHATDESK_DATA_DIR", dir.join("data").display().to_string()),
        ("CHATDESK_KNOWLEDGE_DIR", format!("{ROOT}/knowledge")),
        (
            "CHATDESK_MODEL_DIR",
            format!("{ROOT}/models/all-MiniLM-L6-v2"),
        ),
        (
            "CHATDESK_KNOWLEDGE__VECTOR_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/vector-cache").to_owned(),
        ),
        ("CHATDESK_LOG", "warn".to_owned()),
        // `--webhook` receivers are on loopback.
        (
            "CHATDESK_WEBHOOKS__ALLOW_PRIVATE_TARGETS",
            "true".to_owned(),
        ),
    ];
    pairs.map(|(k, v)| (k.to_owned(), v)).to_vec()
}

/// Creates the admin account the run makes its users with; `user add` prints its token.
fn admin_token(bin: &Path, env: &[(String, String)]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["user", "add", "loadadmin", "--role", "admin"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .context("running chatdesk user add")?;
    if !out.status.success() {
        bail!(
            "chatdesk user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8(out.stdout)?;
    stdout
        .lines()
        .last()
        .map(str::to_owned)
        .context("user add printed no token")
}

//! Debian's nginx in front of the cluster, with the configuration the deployment guide
//! gives (`docs/nginx/chatdesk.conf`): round-robin over the instances and WebSocket
//! upgrades passed through. Installed by `scripts/setup --browser`; stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = include_str!("../../docs/nginx/chatdesk.conf");

pub struct Nginx {
    /// `http://127.0.0.1:PORT`
    pub root: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx on a free loopback port, in front of the servers at `roots`
    /// (`http://127.0.0.1:PORT` each).
    pub async fn start(roots: &[String]) -> Self {
        let nginx = which("nginx");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::process::free_port();
        let servers: String = roots
            .iter()
            .map(|r| format!("    server {};\n", r.trim_start_matches("http://")))
            .collect();
        let site = replace_block(
            CONFIG,
            "upstream chatdesk {",
            &format!("{servers}    keepalive 32;\n"),
        )
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        let d = dir.path().display();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  log_format upstreams '$upstream_addr $request';\n\
               access_log {d}/access.log upstreams;\n  client_body_temp_path {d}/body;\n\
               proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main).expect("nginx.conf written");
        let child = Command::new(nginx)
            .args(["-e", &format!("{d}/error.log"), "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let proxy = Self {
            root: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        let started = Instant::now();
        while reqwest::get(format!("{}/readyz", proxy.root))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not answer: {}",
                std::fs::read_to_string(proxy._dir.path().join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        proxy
    }

    /// nginx's access log: each request's upstream address, then the request line.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("access.log")).unwrap_or_default()
    }
}

/// `text` with the body of the block that opens with `opening` replaced by `body`.
fn replace_block(text: &str, opening: &str, body: &str) -> String {
    let start = text.find(opening).expect("the block") + opening.len();
    let end = start + text[start..].find('}').expect("the block's end");
    format!("{}\n{body}{}", &text[..start], &text[end..])
}

/// The path of `program` (Debian puts nginx in /usr/sbin).
fn which(program: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = format!("{dir}/{program}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{program} is missing: run scripts/setup --browser");
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

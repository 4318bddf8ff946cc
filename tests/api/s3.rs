//! A real S3 endpoint for the attachments tests: moto's server (PyPI `moto[server]`,
//! installed by `scripts/setup --browser` into `.tools/moto`), on a free loopback port,
//! stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/moto/bin/moto_server");

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts moto and waits until it answers.
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(MOTO).exists(),
            "{MOTO} is missing: run scripts/setup --browser"
        );
        let port = crate::process::free_port();
        let child = Command::new(MOTO)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let started = Instant::now();
        while reqwest::get(&moto.endpoint).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not answer"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub async fn bucket(&self, name: &str) {
        let resp = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("moto answers");
        assert!(
            resp.status().is_success(),
            "creating bucket {name}: {}",
            resp.status()
        );
    }

    /// The bucket's listing (`ListObjectsV2`, which moto answers unsigned): each
    /// object's key and size.
    pub async fn objects(&self, bucket: &str) -> Vec<(String, u64)> {
        let listing = reqwest::get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .await
            .expect("moto answers")
            .text()
            .await
            .expect("a listing");
        let field = |item: &str, tag: &str| -> String {
            let open = format!("<{tag}>");
            let start = item.find(&open).map(|i| i + open.len()).unwrap_or(0);
            let end = item[start..].find('<').map_or(item.len(), |i| start + i);
            item[start..end].to_owned()
        };
        listing
            .split("<Contents>")
            .skip(1)
            .map(|item| (field(item, "Key"), field(item, "Size").parse().unwrap_or(0)))
            .collect()
    }

    /// chatdesk's settings for attachments at `url` (`s3://BUCKET/PREFIX`) here.
    pub fn settings(&self, url: &str) -> Vec<(String, String)> {
        [
            ("CHATDESK_ATTACHMENTS_URL", url),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

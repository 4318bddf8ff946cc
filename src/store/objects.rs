//! Where the bytes of attachments live: a folder or any S3-compatible bucket, through the
//! `object_store` crate (contract: `CHATDESK_ATTACHMENTS_URL`). Rows in the database say
//! which files exist; an object is written, create-only, before its row commits, so a
//! row never names a missing object. An object whose row never committed (a crash in
//! between) is an orphan, and [`Attachments::sweep_orphans`] deletes it later.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use crate::domain::ids::AttachmentId;

/// The attachments' objects, each named by its attachment id under one prefix.
pub struct Attachments {
    objects: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

/// A file's bytes as they arrive from the store.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

impl Attachments {
    /// Opens `url`: `file:///ABSOLUTE/DIR` (made when missing) or `s3://BUCKET[/PREFIX]`,
    /// configured by the standard `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and `AWS_ALLOW_HTTP` variables.
    ///
    /// # Errors
    /// Another scheme, a folder that cannot be made, or an S3 configuration that is
    /// incomplete.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url).with_context(|| format!("attachments URL {url:?}"))?;
        match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| anyhow::anyhow!("attachments URL {url:?} is not a folder"))?;
                Self::in_folder(&dir)
            }
            "s3" | "s3a" => {
                let objects = AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()
                    .with_context(|| format!("the S3 bucket of {url:?}"))?;
                Ok(Self {
                    objects: Arc::new(objects),
                    prefix: ObjectPath::from(parsed.path().trim_matches('/')),
                })
            }
            other => anyhow::bail!(
                "attachments URL {url:?}: {other}:// is not supported; use file:///DIR or s3://BUCKET"
            ),
        }
    }

    /// Files in the folder `dir` (made when missing).
    ///
    /// # Errors
    /// The folder cannot be made.
    pub fn in_folder(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let objects = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("the attachments folder {}", dir.display()))?;
        Ok(Self {
            objects: Arc::new(objects),
            prefix: ObjectPath::default(),
        })
    }

    fn path(&self, id: &AttachmentId) -> ObjectPath {
        self.prefix.child(id.as_str())
    }

    /// Writes `bytes` as attachment `id`, never over an existing object; a reader never
    /// sees part of it.
    ///
    /// # Errors
    /// The store refused or could not be reached (an object of that id is an error too).
    pub async fn save(&self, id: &AttachmentId, bytes: Bytes) -> object_store::Result<()> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.objects
            .put_opts(&self.path(id), PutPayload::from_bytes(bytes), options)
            .await?;
        Ok(())
    }

    /// Deletes attachment `id`'s object (its row did not commit); failures are logged, and
    /// the orphan is swept later.
    pub async fn remove(&self, id: &AttachmentId) {
        if let Err(e) = self.objects.delete(&self.path(id)).await {
            tracing::warn!(attachment = %id, error = %e, "an orphaned attachment is left for the sweep");
        }
    }

    /// The bytes of attachment `id`, as they arrive.
    ///
    /// # Errors
    /// No such object, or the store could not be reached.
    pub async fn read(&self, id: &AttachmentId) -> object_store::Result<ByteStream> {
        let found = self.objects.get(&self.path(id)).await?;
        Ok(found.into_stream().map_err(std::io::Error::other).boxed())
    }

    /// Deletes the objects written between `oldest` and `youngest` ago that `known` says
    /// have no row; returns how many. Only that window is checked, so a sweep run every
    /// hour over the last day looks at each object about a day's worth of times, not
    /// forever. Names that are not attachment ids are left alone.
    ///
    /// # Errors
    /// The store could not be listed; a failed check or delete is logged and skipped.
    pub async fn sweep_orphans<F, Fut>(
        &self,
        youngest: Duration,
        oldest: Duration,
        known: F,
    ) -> object_store::Result<u64>
    where
        F: Fn(AttachmentId) -> Fut,
        Fut: Future<Output = Option<bool>>,
    {
        let (after, before) = (chrono_cutoff(oldest), chrono_cutoff(youngest));
        let mut listed = self.objects.list(Some(&self.prefix));
        let mut swept = 0;
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            if meta.last_modified > before || meta.last_modified < after {
                continue;
            }
            let Some(id) = meta
                .location
                .filename()
                .and_then(|name| AttachmentId::parse(name).ok())
            else {
                continue;
            };
            if known(id.clone()).await == Some(false) {
                match self.objects.delete(&meta.location).await {
                    Ok(()) => swept += 1,
                    Err(e) => {
                        tracing::warn!(attachment = %id, error = %e, "could not sweep an orphan")
                    }
                }
            }
        }
        Ok(swept)
    }
}

/// The moment `age` ago, in the store's time type.
fn chrono_cutoff(age: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(files: &Attachments, id: &AttachmentId) -> Vec<u8> {
        let mut body = files.read(id).await.expect("readable");
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.expect("a chunk"));
        }
        bytes
    }

    #[tokio::test]
    async fn objects_are_written_once_and_orphans_swept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("files").display());
        let files = Attachments::open(&url).unwrap();
        let (kept, orphan) = (AttachmentId::random(), AttachmentId::random());
        files
            .save(&kept, Bytes::from_static(b"kept"))
            .await
            .unwrap();
        files
            .save(&orphan, Bytes::from_static(b"orphan"))
            .await
            .unwrap();
        assert!(
            files
                .save(&kept, Bytes::from_static(b"other"))
                .await
                .is_err(),
            "create-only"
        );
        assert_eq!(read_all(&files, &kept).await, b"kept");
        std::fs::write(dir.path().join("files").join("not-an-id.txt"), b"x").unwrap();

        let day = Duration::from_secs(86_400);
        let young = files
            .sweep_orphans(Duration::from_secs(3600), day, |_| async { Some(false) })
            .await
            .unwrap();
        assert_eq!(young, 0, "an upload in progress is left alone");
        let known = kept.clone();
        let old = files
            .sweep_orphans(Duration::ZERO, Duration::ZERO, |_| async { Some(false) })
            .await
            .unwrap();
        assert_eq!(old, 0, "what is older than the window is left alone");
        let swept = files
            .sweep_orphans(Duration::ZERO, day, |id| {
                let known = id == known;
                async move { Some(known) }
            })
            .await
            .unwrap();
        assert_eq!(swept, 1);
        assert_eq!(read_all(&files, &kept).await, b"kept");
        assert!(files.read(&orphan).await.is_err());
        assert!(dir.path().join("files").join("not-an-id.txt").exists());
    }

    #[test]
    fn only_folders_and_buckets() {
        assert!(Attachments::open("ftp://example.com/x").is_err());
        assert!(Attachments::open("not a url").is_err());
    }
}

//! A cache of passage vectors keyed by content: the model, the article's passages. An
//! unchanged article is never encoded again, across reindexes and restarts. One small file
//! per article under the cache folder, written atomically.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::embed::{DIMS, Embedder};

pub struct VectorCache {
    dir: PathBuf,
}

/// Encoding is serialised process-wide, so that two indexes built at once (tests, a
/// reindex during start-up) encode each article once and the second finds it cached.
static ENCODING: Mutex<()> = Mutex::new(());

/// Articles encoded per round: enough passages to batch well by length, few enough that
/// progress moves.
const ARTICLES_PER_ROUND: usize = 32;

/// What one article needs: its cache key and passages.
pub struct Pending<'a> {
    pub key: String,
    pub passages: &'a [String],
}

impl VectorCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn key(embedder: &Embedder, passages: &[String]) -> String {
        let mut h = Sha256::new();
        h.update(embedder.id().as_bytes());
        for p in passages {
            h.update([0]);
            h.update(p.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.f32"))
    }

    /// Whether anything is cached under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.path(key).is_file()
    }

    /// The bytes cached under `key` (little-endian `f32`s), if any.
    pub fn get_bytes(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(key)).ok()
    }

    fn get(&self, key: &str, count: usize) -> Option<Vec<Vec<f32>>> {
        let bytes = self.get_bytes(key)?;
        if bytes.len() != count * DIMS * 4 {
            return None;
        }
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Some(floats.chunks(DIMS).map(<[f32]>::to_vec).collect())
    }

    fn put(&self, key: &str, vectors: &[Vec<f32>]) -> anyhow::Result<()> {
        let bytes: Vec<u8> = vectors
            .iter()
            .flatten()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        self.put_bytes(key, &bytes)
    }

    /// Caches `bytes` (little-endian `f32`s, as [`get_bytes`](Self::get_bytes) gives them)
    /// under `key`. Bytes of the wrong length for the passages are ignored when read.
    ///
    /// # Errors
    /// The cache folder cannot be written.
    pub fn put_bytes(&self, key: &str, bytes: &[u8]) -> anyhow::Result<()> {
        anyhow::ensure!(
            key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "not a vector cache key: {key:?}"
        );
        let path = self.path(key);
        let parent = path.parent().expect("cache path has a folder");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!(".{key}.{}.part", rand::random::<u64>()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Vectors for every article, from the cache or freshly encoded (and then cached).
    /// Returns the vectors in order and how many passages had to be encoded.
    pub fn vectors_for(
        &self,
        embedder: &Embedder,
        items: &[Pending<'_>],
        progress: &dyn Fn(usize),
    ) -> anyhow::Result<(Vec<Vec<Vec<f32>>>, usize)> {
        let _encoding = ENCODING.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(items.len());
        let mut encoded = 0;
        let mut batch: Vec<(usize, &Pending<'_>)> = Vec::new();
        let mut slots: Vec<Option<Vec<Vec<f32>>>> = items
            .iter()
            .map(|item| self.get(&item.key, item.passages.len()))
            .collect();
        let misses: Vec<usize> = (0..items.len()).filter(|&i| slots[i].is_none()).collect();
        progress(items.len() - misses.len());
        for chunk in misses.chunks(ARTICLES_PER_ROUND) {
            batch.clear();
            batch.extend(chunk.iter().map(|&i| (i, &items[i])));
            let texts: Vec<String> = batch
                .iter()
                .flat_map(|(_, item)| item.passages.iter().cloned())
                .collect();
            let mut vectors = embedder.encode(&texts)?.into_iter();
            encoded += texts.len();
            for (i, item) in &batch {
                let v: Vec<Vec<f32>> = vectors.by_ref().take(item.passages.len()).collect();
                if let Err(e) = self.put(&item.key, &v) {
                    tracing::warn!(error = %e, "could not cache article vectors");
                }
                slots[*i] = Some(v);
            }
            progress(batch.len());
        }
        for slot in slots {
            out.push(slot.context("every article has vectors")?);
        }
        Ok((out, encoded))
    }
}

//! The index the bot searches right now. A rebuild happens beside it; only when the new
//! index is complete is it swapped in, atomically, so searches keep answering throughout
//! and a failed rebuild leaves the old index serving.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::embed::Embedder;
use super::index::{BuildStats, KnowledgeIndex, Mode, Tuning};
use super::passages::passages;
use super::vectors::VectorCache;
use super::{Article, RankRequest, Ranker, Suggestion};

/// What an [`Indexer`] is made from (the service fills it from its settings).
#[derive(Clone, Debug)]
pub struct IndexerConfig {
    /// The sentence-embedding model (rust-bert files); unused in `bm25` mode.
    pub model_dir: PathBuf,
    /// Where passage vectors are cached by content.
    pub vector_cache_dir: PathBuf,
    pub mode: Mode,
    pub tuning: Tuning,
}

/// Everything needed to build an index, fixed at start-up.
pub struct Indexer {
    embedder: Option<Arc<Embedder>>,
    cache: VectorCache,
    mode: Mode,
    tuning: Tuning,
}

impl Indexer {
    /// Loads the model unless the mode needs none.
    ///
    /// # Errors
    /// The model cannot be loaded from `config.model_dir`.
    pub fn new(config: IndexerConfig) -> anyhow::Result<Self> {
        let embedder = match config.mode {
            Mode::Bm25 => None,
            Mode::Hybrid | Mode::Dense => Some(Embedder::shared(&config.model_dir)?),
        };
        Ok(Self {
            embedder,
            cache: VectorCache::new(config.vector_cache_dir),
            mode: config.mode,
            tuning: config.tuning,
        })
    }

    /// The vector cache key of each article's passages, in order; empty without a model
    /// (BM25 alone).
    pub fn vector_keys(&self, articles: &[Article]) -> Vec<String> {
        match &self.embedder {
            Some(embedder) => articles
                .iter()
                .map(|a| VectorCache::key(embedder, &passages(a)))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Those of `keys` this process has no vectors cached under.
    pub fn uncached_vectors(&self, keys: Vec<String>) -> Vec<String> {
        keys.into_iter()
            .filter(|k| !self.cache.contains(k))
            .collect()
    }

    /// The vectors this process has cached under any of `keys`, as `(key, bytes)`.
    pub fn cached_vectors(&self, keys: &[String]) -> Vec<(String, Vec<u8>)> {
        keys.iter()
            .filter_map(|k| self.cache.get_bytes(k).map(|b| (k.clone(), b)))
            .collect()
    }

    /// Adds vectors found elsewhere (another instance's) to this process's cache, so that
    /// the next build finds them; one that cannot be written is logged and skipped.
    pub fn add_cached_vectors(&self, rows: &[(String, Vec<u8>)]) {
        for (key, bytes) in rows {
            if let Err(e) = self.cache.put_bytes(key, bytes) {
                tracing::warn!(error = %e, "could not cache shared article vectors");
            }
        }
    }

    /// Builds an index of `articles`; `progress` is told how many articles are done.
    pub fn build(
        &self,
        articles: Vec<Article>,
        progress: &dyn Fn(usize),
    ) -> anyhow::Result<(KnowledgeIndex, BuildStats)> {
        KnowledgeIndex::build(
            articles,
            self.embedder.clone(),
            &self.cache,
            self.mode,
            self.tuning,
            progress,
        )
    }
}

pub struct LiveIndex {
    current: RwLock<Arc<KnowledgeIndex>>,
}

impl LiveIndex {
    pub fn new(index: KnowledgeIndex) -> Self {
        Self {
            current: RwLock::new(Arc::new(index)),
        }
    }

    pub fn current(&self) -> Arc<KnowledgeIndex> {
        self.current.read().expect("index lock").clone()
    }

    pub fn swap(&self, index: KnowledgeIndex) {
        *self.current.write().expect("index lock") = Arc::new(index);
    }
}

impl Ranker for LiveIndex {
    fn rank(&self, request: &RankRequest) -> anyhow::Result<Vec<Suggestion>> {
        // The lock is held only to clone the Arc; a swap never waits for a search.
        self.current().rank(request)
    }

    fn sentence_vectors(&self, texts: &[String]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        self.current().sentence_vectors(texts)
    }

    fn len(&self) -> usize {
        self.current().len()
    }
}

//! Sentence embeddings with all-MiniLM-L6-v2 through rust-bert (libtorch on the CPU).
//! Vectors are L2-normalised, so a dot product is the cosine similarity.
//!
//! One model per process and directory: loading takes a few hundred milliseconds and
//! a few hundred megabytes, so every index and ranker shares it. Inference is serialised
//! behind a mutex; libtorch already spreads one batch over the cores.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use rust_bert::pipelines::common::ModelType;
use rust_bert::pipelines::sentence_embeddings::{
    SentenceEmbeddingsConfig, SentenceEmbeddingsModel,
};
use rust_bert::resources::{LocalResource, ResourceProvider};
use tch::Device;

use super::query_encoder::QueryEncoder;

/// Dimensions of an all-MiniLM-L6-v2 vector.
pub const DIMS: usize = 384;
/// Passages per inference batch: large enough to keep libtorch busy, small enough that
/// padding to the longest passage stays cheap.
const BATCH: usize = 32;

/// The full model for batches of passages (and dense mode's queries), and the int8 forward
/// pass for single queries (see `query_encoder`). Tensors may move between threads but not be shared, hence the
/// one mutex around both.
struct Models {
    full: SentenceEmbeddingsModel,
    query: QueryEncoder,
}

pub struct Embedder {
    models: Mutex<Models>,
    /// A second copy for queries ranked beside the chats on low-priority threads (agent
    /// assist), loaded on first use: a low-priority thread that the scheduler starves
    /// while it holds `models` would hold up the bot's answers behind it.
    beside: OnceLock<Mutex<Models>>,
    dir: PathBuf,
    /// Identifies the model in cache keys, so vectors of another model are never reused.
    id: String,
}

fn resource(dir: &Path, name: &str) -> Box<dyn ResourceProvider + Send> {
    Box::new(LocalResource::from(dir.join(name)))
}

impl Models {
    /// Loads both from a sentence-transformers directory, reading the safetensors weights
    /// directly.
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let weights = dir.join("model.safetensors");
        anyhow::ensure!(
            weights.is_file(),
            "no sentence-embedding model at {} (run scripts/setup)",
            dir.display()
        );
        let config = SentenceEmbeddingsConfig {
            modules_config_resource: resource(dir, "modules.json"),
            transformer_type: ModelType::Bert,
            transformer_config_resource: resource(dir, "config.json"),
            transformer_weights_resource: resource(dir, "model.safetensors"),
            pooling_config_resource: resource(dir, "1_Pooling/config.json"),
            dense_config_resource: None,
            dense_weights_resource: None,
            sentence_bert_config_resource: resource(dir, "sentence_bert_config.json"),
            tokenizer_config_resource: resource(dir, "tokenizer_config.json"),
            tokenizer_vocab_resource: resource(dir, "vocab.txt"),
            tokenizer_merges_resource: None,
            device: Device::Cpu,
            kind: None,
        };
        let model = SentenceEmbeddingsModel::new(config).with_context(|| {
            format!(
                "loading the sentence-embedding model from {}",
                dir.display()
            )
        })?;
        let query = QueryEncoder::load(&weights)?;
        Ok(Self { full: model, query })
    }

    /// Encodes one query with the int8 forward pass.
    fn encode_one(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        let text = if text.trim().is_empty() { " " } else { text };
        let ids = self
            .full
            .tokenize(&[text])
            .tokens_ids
            .into_iter()
            .next()
            .context("the tokenizer returned nothing")?;
        let vector = self.query.encode(&ids);
        anyhow::ensure!(
            vector.len() == DIMS,
            "the query encoder returned {} dimensions",
            vector.len()
        );
        Ok(vector)
    }
}

impl Embedder {
    /// Loads the model from a sentence-transformers directory (as `scripts/setup` lays it
    /// out), reading the safetensors weights directly.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let models = Models::load(dir)?;
        let size = std::fs::metadata(dir.join("model.safetensors"))
            .map(|m| m.len())
            .unwrap_or_default();
        Ok(Self {
            models: Mutex::new(models),
            beside: OnceLock::new(),
            dir: dir.to_path_buf(),
            id: format!("all-MiniLM-L6-v2:{size}"),
        })
    }

    /// The process-wide embedder for `dir`, loaded on first use.
    pub fn shared(dir: &Path) -> anyhow::Result<Arc<Self>> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Embedder>>>> = OnceLock::new();
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut loaded = LOADED
            .get_or_init(Default::default)
            .lock()
            .expect("model cache lock");
        if let Some(e) = loaded.get(&key) {
            return Ok(e.clone());
        }
        let embedder = Arc::new(Self::load(dir)?);
        loaded.insert(key, embedder.clone());
        Ok(embedder)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encodes texts in batches; one normalised vector per text, in order. Texts are
    /// batched by length, so that short ones are not padded to the longest in the batch.
    pub fn encode(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let models = self.models.lock().expect("model lock");
        for batch in order.chunks(BATCH) {
            // The tokenizer refuses empty input; a lone space encodes as "nothing".
            let inputs: Vec<&str> = batch
                .iter()
                .map(|&i| texts[i].as_str())
                .map(|t| if t.trim().is_empty() { " " } else { t })
                .collect();
            let encoded = models.full.encode(&inputs).context("encoding text")?;
            for (&i, v) in batch.iter().zip(encoded) {
                vectors[i] = Some(v);
            }
        }
        vectors
            .into_iter()
            .map(|v| v.context("the model returned too few vectors"))
            .collect()
    }

    /// Encodes one query in full precision, exactly as the articles are encoded (and as
    /// sentence-transformers encodes it): about three times the time of [`Self::encode_one`].
    pub fn encode_exact(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        self.encode(&[text.to_owned()])?
            .pop()
            .context("the model returned no vector")
    }

    /// Encodes one query with the int8 forward pass (rust-bert's tokenizer, our layers):
    /// the same vector as [`Self::encode_exact`] to a cosine of about 0.99.
    pub fn encode_one(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        self.models.lock().expect("model lock").encode_one(text)
    }

    /// [`Self::encode_one`] on the second copy of the model, kept for work beside the
    /// chats (loaded on first use; about 0.4 s and 100 MB).
    ///
    /// # Errors
    /// The second copy cannot be loaded, or encoding fails.
    pub fn encode_one_beside(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        let models = match self.beside.get() {
            Some(models) => models,
            None => {
                let loaded = Models::load(&self.dir)?;
                // A racing first use loads a copy too; one is kept.
                let _ = self.beside.set(Mutex::new(loaded));
                self.beside
                    .get()
                    .context("the second model copy is loaded")?
            }
        };
        models.lock().expect("model lock").encode_one(text)
    }
}

/// Dot product in eight independent lanes: a plain `sum()` is one sequential chain of
/// float additions that the compiler may not reorder, and so cannot vectorise.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (x, y) in a8.iter().zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Arc<Embedder> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
        Embedder::shared(&dir).expect("the model is in place (run scripts/setup)")
    }

    #[test]
    fn similar_sentences_are_close_and_unrelated_ones_are_not() {
        let m = model();
        let v = m
            .encode(&[
                "How do I reset my password?".to_owned(),
                "I forgot my login password".to_owned(),
                "The printer on floor 3 is jammed".to_owned(),
            ])
            .unwrap();
        assert_eq!(v[0].len(), DIMS);
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4, "normalised");
        let close = dot(&v[0], &v[1]);
        let far = dot(&v[0], &v[2]);
        // Reference values from an independent float64 implementation: 0.784 and 0.12-0.16.
        assert!((close - 0.784).abs() < 0.01, "{close}");
        assert!(far < 0.2, "{far}");
    }

    #[test]
    fn the_int8_query_path_agrees_with_the_full_model() {
        let m = model();
        let queries = [
            "my vpn keeps dropping every few minutes",
            "I forgot my password and I'm locked out",
            "Teams can't hear me in meetings",
            "printer",
            "The laptop has been really slow since yesterday's update and the fan is loud",
        ];
        for q in queries {
            let full = m.encode(&[q.to_owned()]).unwrap().pop().unwrap();
            let quick = m.encode_one(q).unwrap();
            let agreement = dot(&full, &quick);
            assert!(agreement > 0.98, "{q}: cosine {agreement}");
        }
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }

    #[test]
    fn the_copy_for_background_work_gives_the_same_vectors() {
        let m = model();
        let q = "my vpn keeps dropping every few minutes";
        assert_eq!(m.encode_one_beside(q).unwrap(), m.encode_one(q).unwrap());
    }

    #[test]
    fn empty_text_still_encodes() {
        assert_eq!(model().encode_one("   ").unwrap().len(), DIMS);
    }
}

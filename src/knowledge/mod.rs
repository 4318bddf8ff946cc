//! The knowledge base the bot searches: articles parsed from Markdown with front matter,
//! and rankers that turn a user's words into ranked fix suggestions.

pub mod article;
pub mod bm25;
pub mod embed;
pub mod gaps;
pub mod index;
pub mod live;
pub mod passages;
mod quantized;
mod query_encoder;
pub mod sentences;
pub mod snippets;
pub mod vectors;
mod words;

use serde::Serialize;

pub use article::{Article, ArticleError, load_dir};

use crate::domain::ids::ArticleId;

/// One fix the bot offers, with a short reason a user can read.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Suggestion {
    pub article_id: ArticleId,
    pub title: String,
    /// Whole sentences of the article around the matched words.
    pub snippet: String,
    /// The blend the suggestions are ordered by (0 to 1, relative to this query's
    /// candidates).
    pub score: f32,
    /// How likely this article is the fix, 0 to 1, calibrated on the evaluation sets
    /// (`eval/calibrate.py`); it falls with the order. `None` in bm25 mode (and so
    /// without the model).
    pub confidence: Option<f32>,
    /// Cosine similarity of the article to the query; `None` without the model.
    #[serde(skip)]
    pub similarity: Option<f32>,
    pub explanation: String,
}

/// What to rank for: the user's words so far, how many results, and articles not to offer.
#[derive(Clone, Debug, Default)]
pub struct RankRequest {
    pub text: String,
    pub k: usize,
    pub exclude: Vec<ArticleId>,
    /// Offer nothing when the first suggestion is below the confidence floor (what the
    /// bot does); off for evaluation and for authors searching.
    pub confident_only: bool,
    /// Ranked for nobody waiting (agent assist, on a low-priority thread): the query is
    /// encoded on the model's second copy, so the bot's rankings never wait behind it.
    pub beside: bool,
}

/// Anything that ranks articles for a query. Implementations are blocking (CPU-bound
/// search and inference); callers run them on a blocking thread.
pub trait Ranker: Send + Sync {
    fn rank(&self, request: &RankRequest) -> anyhow::Result<Vec<Suggestion>>;

    /// The sentence vectors of `texts` (L2-normalised, one per text, in order) from the
    /// model the articles are ranked with; `None` when no model is loaded (bm25 mode).
    fn sentence_vectors(&self, texts: &[String]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        let _ = texts;
        Ok(None)
    }

    /// Number of articles the ranker serves.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

//! The knowledge base the bot searches: articles parsed from Markdown with front matter,
//! and rankers that turn a user's words into ranked fix suggestions.

pub mod article;
pub mod bm25;
pub mod embed;
pub mod gaps;
pub mod index;
pub mod live;
pub mod memo;
pub mod passages;
mod quantized;
mod query_encoder;
pub mod sentences;
pub mod snippets;
pub mod vectors;
mod words;

pub use crate::domain::article::Suggestion;
pub use article::{Article, ArticleError, load_dir};

use crate::domain::ids::ArticleId;

/// What to rank for: the user's words so far, how many results, and articles not to offer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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

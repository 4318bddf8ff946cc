//! The searchable knowledge index: BM25 over the words and sentence vectors over the
//! meaning, built together from one set of articles and ranked in one of three modes.
//!
//! Hybrid ranking takes candidates from both sides (not only BM25's top k), scores each by
//! its article vector's cosine similarity and its BM25 score, each scaled within the
//! candidates, and blends them. Each suggestion gets a calibrated confidence; when the
//! first suggestion is below the confidence floor the bot says it has no good match.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::bm25::Bm25Index;
use super::embed::{DIMS, Embedder, dot};
use super::passages::passages;
use super::quantized::{QuantizedVectors, quantize};
use super::sentences::sentences;
use super::snippets;
use super::vectors::{Pending, VectorCache};
use super::{Article, RankRequest, Ranker, Suggestion};

/// Candidates taken from each side before blending.
const CANDIDATES: usize = 50;
/// Matched words a reason names, the most telling first.
const SHOWN_WORDS: usize = 3;
/// Below this many articles one thread scans faster than two can start.
const PARALLEL_SCAN_FROM: usize = 8_192;

crate::domain::named_enum! {
    /// How articles are ranked: `hybrid` (words and meaning), `bm25` (words only, no
    /// model needed) or `dense` (meaning only).
    #[strum(serialize_all = "lowercase")]
    pub enum Mode {
        Hybrid,
        Bm25,
        Dense,
    }
}

impl Mode {
    /// Parses a mode someone typed, with an error that lists the modes.
    pub fn parse(text: &str) -> Result<Self, String> {
        crate::domain::parse_named("mode", text)
    }
}

/// How the blend is tuned.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Weight of the (scaled) BM25 score; the rest goes to meaning.
    pub lexical_weight: f32,
    /// When the first suggestion is less likely than this to be the fix, the bot offers
    /// none (0 to 1).
    pub min_confidence: f32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            lexical_weight: 0.3,
            min_confidence: CALIBRATION.min_confidence,
        }
    }
}

/// A logistic model of "this suggestion is the fix", fitted in hybrid mode with
/// `lexical_weight` 0.3 (in dense mode, or with another weight, the blend means something
/// else and the floor should be fitted again): `confidence = 1 / (1 + e^-(score *
/// score_weight + top_similarity * similarity_weight + intercept))`, where `score` is
/// the suggestion's blend and `top_similarity` the cosine of the query's first
/// suggestion. Within one query only `score` varies, so confidence falls with the order;
/// across queries `top_similarity` says how well the knowledge base covers the question
/// at all. Fitted by `eval/calibrate.py` on the three evaluation sets, with the floor
/// for the first suggestion that offers the fix most often while offering nothing for
/// at least 60% of the questions whose article was removed, on every set, and the floor
/// for the suggestions after it.
pub struct Calibration {
    /// Weight of the suggestion's blend (0 to 1).
    pub score_weight: f32,
    /// Weight of the cosine similarity of the query's first suggestion (-1 to 1).
    pub similarity_weight: f32,
    pub intercept: f32,
    /// The default floor: `knowledge.min_confidence`.
    pub min_confidence: f32,
    /// Once the first suggestion reaches the floor, the ones after it are offered when
    /// their own confidence reaches this: the highest value that costs the offers at
    /// most one point of "offers the fix" on the evaluation sets.
    pub follow_up_confidence: f32,
}

/// The fitted values (`python3 eval/calibrate.py`, docs/ranking.md, "No good article").
pub const CALIBRATION: Calibration = Calibration {
    score_weight: 12.06,
    similarity_weight: 2.43,
    intercept: -13.86,
    min_confidence: 0.31,
    follow_up_confidence: 0.033,
};

fn confidence(score: f32, top_similarity: f32) -> f32 {
    let c = &CALIBRATION;
    let z = score * c.score_weight + top_similarity * c.similarity_weight + c.intercept;
    1.0 / (1.0 + (-z).exp())
}

/// What a build did, for logs and the reindex summary.
#[derive(Clone, Debug, Default)]
pub struct BuildStats {
    pub articles: usize,
    /// Passages embedded: one per article (see `passages`), none without the model.
    pub passages: usize,
    /// Passages encoded by the model (the rest came from the cache).
    pub encoded: usize,
    pub took: Duration,
}

pub struct KnowledgeIndex {
    articles: Vec<Article>,
    by_id: HashMap<String, usize>,
    bm25: Bm25Index,
    embedder: Option<Arc<Embedder>>,
    /// One vector per article, in article order, flat, `DIMS` floats each; empty
    /// without the model.
    vectors: Vec<f32>,
    /// The same vectors as int8, for the first pass over every article.
    quantized: QuantizedVectors,
    mode: Mode,
    tuning: Tuning,
}

impl KnowledgeIndex {
    /// Indexes `articles`. Without an embedder only BM25 is available, whatever `mode` says.
    pub fn build(
        articles: Vec<Article>,
        embedder: Option<Arc<Embedder>>,
        cache: &VectorCache,
        mode: Mode,
        tuning: Tuning,
        progress: &dyn Fn(usize),
    ) -> anyhow::Result<(Self, BuildStats)> {
        let started = Instant::now();
        let bm25 = Bm25Index::build(&articles)?;
        let by_id = articles
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str().to_owned(), i))
            .collect();
        let mut stats = BuildStats {
            articles: articles.len(),
            ..BuildStats::default()
        };
        let mut vectors = Vec::new();
        match &embedder {
            Some(embedder) => {
                let split: Vec<Vec<String>> = articles.iter().map(passages).collect();
                let pending: Vec<Pending<'_>> = split
                    .iter()
                    .map(|p| Pending {
                        key: VectorCache::key(embedder, p),
                        passages: p,
                    })
                    .collect();
                let (per_article, encoded) = cache.vectors_for(embedder, &pending, progress)?;
                stats.encoded = encoded;
                for article_vectors in per_article {
                    let first = article_vectors
                        .first()
                        .context("every article has one vector")?;
                    vectors.extend_from_slice(first);
                }
                stats.passages = articles.len();
            }
            None => progress(articles.len()),
        }
        let mode = if embedder.is_none() { Mode::Bm25 } else { mode };
        let quantized = QuantizedVectors::new(&vectors);
        stats.took = started.elapsed();
        Ok((
            Self {
                articles,
                by_id,
                bm25,
                embedder,
                vectors,
                quantized,
                mode,
                tuning,
            },
            stats,
        ))
    }

    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// Each article's similarity to the query from the int8 vectors (see
    /// [`Self::exact`]). Large indexes are scanned in two halves on two threads: the scan
    /// is bound by memory reads, and a second core brings its own.
    fn similarities(&self, query: &[f32]) -> Vec<f32> {
        let (query, scale) = quantize(query);
        let n = self.articles.len();
        let scan = |range: Range<usize>| -> Vec<f32> {
            range
                .map(|i| self.quantized.similarity(i, &query, scale))
                .collect()
        };
        if n < PARALLEL_SCAN_FROM {
            return scan(0..n);
        }
        let middle = n / 2;
        std::thread::scope(|s| {
            let second = s.spawn(|| scan(middle..n));
            let mut first = scan(0..middle);
            first.extend(second.join().expect("scan thread"));
            first
        })
    }

    /// An article's similarity by the float vectors: the score that is blended and shown.
    fn exact(&self, query: &[f32], article: usize) -> f32 {
        dot(query, &self.vectors[article * DIMS..(article + 1) * DIMS])
    }
}

/// Why an article is suggested: the query's words it contains, or that it is close in
/// meaning, and how confident the bot is.
fn explanation(matched: &[String], by_meaning: bool, confidence: Option<f32>) -> String {
    let mut reason = if matched.is_empty() && by_meaning {
        "Close in meaning to your description".to_owned()
    } else if matched.is_empty() {
        "Related to the words in your description".to_owned()
    } else {
        let words: Vec<String> = matched
            .iter()
            .take(SHOWN_WORDS)
            .map(|w| format!("“{w}”"))
            .collect();
        format!("Matches {}", words.join(", "))
    };
    if let Some(c) = confidence {
        let percent = (c.clamp(0.0, 1.0) * 100.0).round();
        reason.push_str(&format!("; confidence {percent}%"));
    }
    reason
}

fn scaled(value: f32, max: f32) -> f32 {
    if max > 0.0 { value / max } else { 0.0 }
}

impl Ranker for KnowledgeIndex {
    fn rank(&self, request: &RankRequest) -> anyhow::Result<Vec<Suggestion>> {
        let text = request.text.trim();
        if request.k == 0 || text.is_empty() || self.articles.is_empty() {
            return Ok(Vec::new());
        }
        let query = self.bm25.parse(text);
        let lexical_search = || -> anyhow::Result<HashMap<usize, f32>> {
            if self.mode == Mode::Dense {
                return Ok(HashMap::new());
            }
            let limit = CANDIDATES.max(request.k + request.exclude.len());
            Ok(self
                .bm25
                .search(&query, limit)?
                .into_iter()
                .filter_map(|h| self.by_id.get(&h.article_id).map(|&i| (i, h.score)))
                .collect())
        };
        // The word search runs on a second thread while the query is encoded.
        let (lexical, meaning) = match (&self.embedder, self.mode) {
            (Some(embedder), Mode::Hybrid | Mode::Dense) => std::thread::scope(|s| {
                let words = s.spawn(lexical_search);
                // Dense mode ranks by the cosine alone, so near ties are decided by
                // the query vector's last digits: it gets the exact one. Hybrid, where
                // the words count too, ranks as well with the int8 pass at a third of
                // the time (docs/ranking.md, "Ranking quality").
                let encoded = if self.mode == Mode::Dense {
                    embedder.encode_exact(text)
                } else if request.beside {
                    embedder.encode_one_beside(text)
                } else {
                    embedder.encode_one(text)
                };
                let meaning = encoded.map(|q| {
                    let sims = self.similarities(&q);
                    Some((q, sims))
                });
                let lexical = words.join().expect("word search thread");
                anyhow::Ok((lexical?, meaning?))
            })?,
            _ => (lexical_search()?, None),
        };
        // Candidates: BM25's best and the best by meaning.
        let mut candidates: Vec<usize> = lexical.keys().copied().collect();
        if let Some((_, sims)) = &meaning {
            let mut by_meaning: Vec<usize> = (0..self.articles.len()).collect();
            let n = CANDIDATES.min(by_meaning.len());
            by_meaning.select_nth_unstable_by(n - 1, |a, b| sims[*b].total_cmp(&sims[*a]));
            candidates.extend(&by_meaning[..n]);
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&i| !request.exclude.contains(&self.articles[i].id));
        // The candidates' meaning scores, exact: only they are blended and shown.
        let meaning = meaning.map(|(query, mut sims)| {
            for &i in &candidates {
                sims[i] = self.exact(&query, i);
            }
            sims
        });

        let max_lexical = candidates
            .iter()
            .filter_map(|i| lexical.get(i))
            .fold(0.0f32, |m, s| m.max(*s));
        let sim_of = |i: usize| meaning.as_ref().map(|s| s[i]);
        let (min_sim, max_sim) = candidates
            .iter()
            .filter_map(|&i| sim_of(i))
            .fold((f32::MAX, f32::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
        let w = match self.mode {
            Mode::Bm25 => 1.0,
            Mode::Dense => 0.0,
            Mode::Hybrid => self.tuning.lexical_weight,
        };
        let mut scored: Vec<(f32, usize)> = candidates
            .iter()
            .map(|&i| {
                let lex = scaled(lexical.get(&i).copied().unwrap_or(0.0), max_lexical);
                // Candidates all as close as each other (one candidate, say) are all at
                // the top of the meaning scale, not at its bottom.
                let spread = max_sim - min_sim;
                let sem = sim_of(i).map_or(0.0, |s| {
                    if spread > 1e-6 {
                        (s - min_sim) / spread
                    } else {
                        1.0
                    }
                });
                (w * lex + (1.0 - w) * sem, i)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        if self.mode == Mode::Bm25 {
            scored.retain(|(_, i)| lexical.contains_key(i));
        }

        let top_similarity = scored.first().and_then(|&(_, i)| sim_of(i));
        let confidence_of = |score: f32| top_similarity.map(|top| confidence(score, top));
        // The bot offers its best suggestions only when the first is likely enough to be
        // the fix: when it is not, no article fits and the bot says so. The ones after
        // it have a floor of their own, far lower, because the fix is often second or
        // third (docs/ranking.md, "No good article").
        if request.confident_only {
            let confident = |(score, _): &(f32, usize), floor: f32| {
                confidence_of(*score).is_none_or(|c| c >= floor)
            };
            let floor = self.tuning.min_confidence;
            if scored.first().is_some_and(|first| !confident(first, floor)) {
                return Ok(Vec::new());
            }
            // A floor set below the fitted one lowers both.
            let follow_up = CALIBRATION.follow_up_confidence.min(floor);
            let mut rest = scored.split_off(scored.len().min(1));
            rest.retain(|s| confident(s, follow_up));
            scored.extend(rest);
        }
        let mut out = Vec::with_capacity(request.k);
        for (score, i) in scored.into_iter().take(request.k) {
            let similarity = sim_of(i);
            let confidence = confidence_of(score);
            let article = &self.articles[i];
            let tags = article.tags.join(", ");
            let matched = query.matched_words(&[&article.title, &tags, &article.plain_body()]);
            let prose = sentences(&article.body);
            let snippet =
                snippets::around_matches(&prose, &query).unwrap_or_else(|| snippets::lead(&prose));
            out.push(Suggestion {
                article_id: article.id.clone(),
                title: article.title.clone(),
                snippet,
                score,
                confidence,
                similarity,
                explanation: explanation(&matched, similarity.is_some(), confidence),
            });
        }
        Ok(out)
    }

    fn sentence_vectors(&self, texts: &[String]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        self.embedder.as_ref().map(|e| e.encode(texts)).transpose()
    }

    fn len(&self) -> usize {
        self.articles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_read_well() {
        assert_eq!(
            explanation(&["vpn".into()], true, Some(0.714)),
            "Matches “vpn”; confidence 71%"
        );
        assert_eq!(
            explanation(&[], true, Some(0.5)),
            "Close in meaning to your description; confidence 50%"
        );
        assert_eq!(explanation(&["x".into()], false, None), "Matches “x”");
        let five: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(explanation(&five, false, None), "Matches “a”, “b”, “c”");
        assert_eq!(
            explanation(&[], false, None),
            "Related to the words in your description"
        );
    }

    #[test]
    fn modes_parse() {
        assert_eq!("dense".parse::<Mode>().unwrap(), Mode::Dense);
        assert!("fast".parse::<Mode>().is_err());
    }
}

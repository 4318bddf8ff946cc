//! The lexical ranker: a tantivy BM25 index of every article's words, with an English
//! analyzer (contractions kept whole, stop words dropped, Snowball stems).
//!
//! A query is not parsed as query syntax: its words are analyzed like the articles' and
//! each becomes a term query, so that a user's "-", ":" or quotes are just text. What was
//! measured on the evaluation sets (nDCG@10 in bm25 mode, Debian FAQ / Python FAQ /
//! manual pages; `python3 eval/*.py --modes bm25`, docs/ranking.md, "Ranking quality"):
//!
//! - tantivy's query parser turned "file-copying" or "what's" into phrase queries and a
//!   leading "-" into a must-not: 0.634 / 0.706 / 0.648; one term query per word
//!   instead: 0.656 / 0.727 / 0.662;
//! - scoring title, tags and body as separate fields summed three BM25 scores, each with
//!   its own length norm; one field of all the words, with the title (0.3) and tags (0.5)
//!   as small extras: 0.657 / 0.748 / 0.718;
//! - adjacent query words found near each other (within 2 positions, weight 0.3) add a
//!   proximity score: 0.649 / 0.747 / 0.748 (later 0.653 / 0.760 / 0.749, contractions
//!   kept whole);
//! - the article's lead, its first three sentences of prose, as one more small extra
//!   (0.3): 0.665 / 0.778 / 0.774 (two sentences: 0.671 / 0.782 / 0.756; five: 0.654 /
//!   0.770 / 0.780; weight 0.6 with two: 0.692 / 0.764 / 0.742).
//!
//! rank_bm25 scores 0.544 / 0.663 / 0.725.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use anyhow::Context;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter,
    TextAnalyzer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};

use super::Article;
use super::sentences::sentences;
use super::words::WordTokenizer;

/// Name of the analyzer registered on every index.
const ANALYZER: &str = "en_desk";
const WRITER_MEMORY: usize = 50_000_000;
/// Extra weight of a query word found in the title or the tags, on top of the text field.
const TITLE_WEIGHT: f32 = 0.3;
const TAGS_WEIGHT: f32 = 0.5;
/// Extra weight of a query word found in the article's lead: its first sentences.
const LEAD_WEIGHT: f32 = 0.3;
/// The lead: this many first sentences of the article's prose (see `sentences`).
const LEAD_SENTENCES: usize = 3;

/// Weight of two adjacent query words found within [`PAIR_SLOP`] positions of each other.
const PAIR_WEIGHT: f32 = 0.3;
const PAIR_SLOP: u32 = 2;

/// Words that carry no meaning in a help request ("my", "how do I", "please").
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "i", "me", "my", "mine", "we", "our", "you",
    "your", "he", "she", "him", "her", "his", "its", "do", "does", "did", "doing", "done", "have",
    "has", "had", "can", "could", "would", "should", "what", "when", "how", "why", "where",
    "which", "who", "am", "been", "being", "so", "just", "from", "about", "any", "some", "please",
    "hi", "hello", "thanks", "thank", "help", "get", "got", "also", "very", "im", "i'm", "i've",
    "i'll", "i'd", "it's", "that's", "there's", "what's", "let's", "you're", "we're", "they're",
    "don't", "doesn't", "didn't", "can't", "cannot", "won't", "isn't", "aren't", "wasn't",
];

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    /// Title, tags and body together: the field every query word is scored on.
    text: Field,
    title: Field,
    tags: Field,
    /// The first sentences of prose (see [`LEAD_SENTENCES`]).
    lead: Field,
}

pub struct Bm25Index {
    reader: IndexReader,
    fields: Fields,
}

/// An article BM25 found, with its raw score.
pub struct Hit {
    pub article_id: String,
    pub score: f32,
}

/// A query ready to search, and its analyzed words (stems) for highlighting.
pub struct ParsedQuery {
    query: BooleanQuery,
    stems: HashSet<String>,
    /// Each stem's BM25 inverse document frequency in the articles,
    /// `ln(1 + (N - n + 0.5) / (n + 0.5))` for `n` of `N` articles holding it (Robertson
    /// and Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009, as
    /// tantivy scores it): how much a match on it says.
    idf: HashMap<String, f32>,
}

/// One analyzed word of a text: its stem and where it is (byte offsets).
pub struct Word {
    pub stem: String,
    pub start: usize,
    pub end: usize,
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        // Folds accents, and the typographic apostrophe to "'", before the stop words.
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

fn schema() -> (Schema, Fields) {
    let indexing = |record| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(record),
        )
    };
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        text: b.add_text_field("text", indexing(IndexRecordOption::WithFreqsAndPositions)),
        title: b.add_text_field("title", indexing(IndexRecordOption::WithFreqs)),
        tags: b.add_text_field("tags", indexing(IndexRecordOption::WithFreqs)),
        lead: b.add_text_field("lead", indexing(IndexRecordOption::WithFreqs)),
    };
    (b.build(), fields)
}

impl Bm25Index {
    /// Builds an in-memory index of `articles`.
    pub fn build(articles: &[Article]) -> anyhow::Result<Self> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(ANALYZER, analyzer());
        let mut writer = index
            .writer::<TantivyDocument>(WRITER_MEMORY)
            .context("opening the index writer")?;
        for a in articles {
            let tags = a.tags.join(", ");
            writer.add_document(doc!(
                fields.id => a.id.as_str(),
                fields.text => format!("{}\n{tags}\n{}", a.title, a.plain_body()),
                fields.title => a.title.as_str(),
                fields.tags => tags,
                fields.lead => sentences(&a.body)
                    .into_iter()
                    .take(LEAD_SENTENCES)
                    .map(|s| s.text)
                    .collect::<Vec<_>>()
                    .join(" "),
            ))?;
        }
        writer.commit().context("committing the index")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self { reader, fields })
    }

    /// The analyzed words of `text`, in order, stop words left out.
    pub fn words(text: &str) -> Vec<Word> {
        thread_local! {
            static THREAD_ANALYZER: RefCell<TextAnalyzer> = RefCell::new(analyzer());
        }
        THREAD_ANALYZER.with_borrow_mut(|analyzer| {
            let mut stream = analyzer.token_stream(text);
            let mut words = Vec::new();
            while let Some(t) = stream.next() {
                words.push(Word {
                    stem: t.text.clone(),
                    start: t.offset_from,
                    end: t.offset_to,
                });
            }
            words
        })
    }

    /// Turns user text into a query: every word is a term, nothing is syntax.
    pub fn parse(&self, text: &str) -> ParsedQuery {
        let f = self.fields;
        let stems: Vec<String> = Self::words(text).into_iter().map(|w| w.stem).collect();
        let term = |field: Field, stem: &str| Term::from_field_text(field, stem);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for stem in &stems {
            let weighted = [
                (f.text, 1.0),
                (f.title, TITLE_WEIGHT),
                (f.tags, TAGS_WEIGHT),
                (f.lead, LEAD_WEIGHT),
            ];
            for (field, weight) in weighted {
                let q = TermQuery::new(term(field, stem), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, boosted(Box::new(q), weight)));
            }
        }
        for pair in stems.windows(2) {
            let mut q = PhraseQuery::new(vec![term(f.text, &pair[0]), term(f.text, &pair[1])]);
            q.set_slop(PAIR_SLOP);
            clauses.push((Occur::Should, boosted(Box::new(q), PAIR_WEIGHT)));
        }
        let searcher = self.reader.searcher();
        let articles = searcher.num_docs() as f32;
        let idf = stems
            .iter()
            .map(|stem| {
                let holding = searcher.doc_freq(&term(f.text, stem)).unwrap_or(0) as f32;
                let idf = (1.0 + (articles - holding + 0.5) / (holding + 0.5)).ln();
                (stem.clone(), idf)
            })
            .collect();
        ParsedQuery {
            query: BooleanQuery::new(clauses),
            stems: stems.into_iter().collect(),
            idf,
        }
    }

    /// The best `limit` articles for the query, best first.
    pub fn search(&self, query: &ParsedQuery, limit: usize) -> anyhow::Result<Vec<Hit>> {
        if limit == 0 || query.stems.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let hits = searcher.search(&query.query, &TopDocs::with_limit(limit))?;
        let mut out = Vec::with_capacity(hits.len());
        for (score, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let article_id = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            out.push(Hit { article_id, score });
        }
        Ok(out)
    }
}

/// Whether a word (lowercase) says nothing about a problem, so a reason should not name
/// it: the analyzer's stop words and NLTK's English list (function words such as
/// "again", "further", "only").
fn says_nothing(word: &str) -> bool {
    static NLTK: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let word = word.replace('’', "'");
    STOP_WORDS.contains(&word.as_str())
        || NLTK
            .get_or_init(|| {
                stop_words::get(stop_words::LANGUAGE::English)
                    .iter()
                    .copied()
                    .collect()
            })
            .contains(word.as_str())
}

fn boosted(query: Box<dyn Query>, weight: f32) -> Box<dyn Query> {
    if weight == 1.0 {
        query
    } else {
        Box::new(BoostQuery::new(query, weight))
    }
}

impl ParsedQuery {
    /// Whether an analyzed word of some text is one of the query's.
    pub fn contains(&self, stem: &str) -> bool {
        self.stems.contains(stem)
    }

    /// The query's words that `texts` contain, as written there (lowercase, one form per
    /// stem): those of the first text first (a title names what matters), and within each
    /// text the most telling first (highest IDF; ties in order of appearance), leaving out
    /// single letters and the words that say nothing about a problem (see
    /// [`says_nothing`]).
    pub fn matched_words(&self, texts: &[&str]) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (n, text) in texts.iter().enumerate() {
            for w in Bm25Index::words(text) {
                let surface = text[w.start..w.end].to_lowercase();
                if surface.chars().count() > 1
                    && self.contains(&w.stem)
                    && !says_nothing(&surface)
                    && seen.insert(w.stem.clone())
                {
                    let idf = self.idf.get(&w.stem).copied().unwrap_or(0.0);
                    out.push((n, idf, surface));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        out.into_iter().map(|(_, _, w)| w).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, body: &str) -> Article {
        Article {
            id: crate::domain::ids::ArticleId::parse(id).expect("a valid id"),
            title: title.into(),
            tags: vec![],
            body: body.into(),
        }
    }

    fn index() -> Bm25Index {
        Bm25Index::build(&[
            article(
                "vpn",
                "VPN keeps disconnecting",
                "The VPN drops every few minutes.",
            ),
            article(
                "printer",
                "Printer is offline",
                "The printer shows offline.",
            ),
            article(
                "password",
                "Forgotten password",
                "Reset your password at the portal.",
            ),
        ])
        .unwrap()
    }

    #[test]
    fn stems_and_matches_one_form_per_stem() {
        let idx = index();
        let q = idx.parse("my vpn disconnected again, vpn disconnects");
        let hits = idx.search(&q, 3).unwrap();
        assert_eq!(hits[0].article_id, "vpn");
        assert_eq!(
            q.matched_words(&["VPN keeps disconnecting", "The VPN drops."]),
            vec!["vpn", "disconnecting"]
        );
    }

    #[test]
    fn contractions_are_words_not_fragments() {
        let stems: Vec<String> = Bm25Index::words("I'm sure the user’s printer isn't printing")
            .into_iter()
            .map(|w| w.stem)
            .collect();
        assert_eq!(stems, vec!["sure", "user", "printer", "print"]);
        let q = index().parse("I'm locked out, I can't reset my password");
        assert_eq!(
            q.matched_words(&["Reset your password"]),
            vec!["reset", "password"]
        );
        assert!(!q.contains("m") && !q.contains("t"));
    }

    #[test]
    fn reasons_name_the_telling_words_first_and_no_function_words() {
        let idx = Bm25Index::build(&[
            article("a", "Slow computer", "The computer is slow again."),
            article("b", "Computer restarts", "The computer restarts."),
            article("c", "Computer fan", "The computer fan is loud."),
        ])
        .unwrap();
        let q = idx.parse("my computer is very slow again");
        // "slow" is in one article, "computer" in all three; "again" says nothing.
        assert_eq!(
            q.matched_words(&["The computer is slow again."]),
            vec!["slow", "computer"]
        );
        // The title's words come first: they name what the article is about.
        assert_eq!(
            q.matched_words(&["Computer", "The computer is slow again."]),
            vec!["computer", "slow"]
        );
    }

    #[test]
    fn query_syntax_in_user_text_is_harmless() {
        let idx = index();
        let q = idx.parse("title:\"unclosed (password AND");
        assert_eq!(idx.search(&q, 3).unwrap()[0].article_id, "password");
        // A leading "-" is a hyphen, not "must not".
        let q = idx.parse("-printer offline");
        assert_eq!(idx.search(&q, 3).unwrap()[0].article_id, "printer");
        assert!(idx.search(&idx.parse(""), 3).unwrap().is_empty());
        assert!(idx.search(&idx.parse("the of and"), 3).unwrap().is_empty());
    }
}

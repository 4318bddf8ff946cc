//! The lexical ranker: a tantivy BM25 index over title (boosted), tags and body, with an
//! English analyzer (stop words, stemming) and snippets that show the matched terms.

use std::collections::HashSet;

use anyhow::Context;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, doc};

use super::{Article, RankRequest, Ranker, Suggestion};

/// Name of the analyzer registered on every index.
const ANALYZER: &str = "en_desk";
const SNIPPET_CHARS: usize = 180;
const WRITER_MEMORY: usize = 50_000_000;

/// Words that carry no meaning in a help request ("my", "how do I", "please").
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "i", "im", "i'm", "me", "my", "mine", "we", "our",
    "you", "your", "he", "she", "him", "her", "his", "its", "do", "does", "did", "doing", "done",
    "have", "has", "had", "can", "could", "would", "should", "what", "when", "how", "why", "where",
    "which", "who", "am", "been", "being", "so", "just", "from", "about", "any", "some", "please",
    "hi", "hello", "thanks", "thank", "help", "get", "got", "also", "very", "there's",
];

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    tags: Field,
    body: Field,
}

pub struct Bm25Index {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    len: usize,
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

fn schema() -> (Schema, Fields) {
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        body: b.add_text_field("body", text),
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
            writer.add_document(doc!(
                fields.id => a.id.as_str(),
                fields.title => a.title.as_str(),
                fields.tags => a.tags.join(" "),
                fields.body => a.plain_body(),
            ))?;
        }
        writer.commit().context("committing the index")?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            fields,
            len: articles.len(),
        })
    }
}

impl Ranker for Bm25Index {
    fn rank(&self, request: &RankRequest) -> anyhow::Result<Vec<Suggestion>> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.tags, f.body]);
        parser.set_field_boost(f.title, 2.5);
        parser.set_field_boost(f.tags, 1.5);
        let (query, _lenient_errors) = parser.parse_query_lenient(&request.text);
        let wanted = request.k + request.exclude.len();
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let hits = searcher.search(&*query, &TopDocs::with_limit(wanted))?;
        let mut body_snippets = SnippetGenerator::create(&searcher, &*query, f.body)?;
        body_snippets.set_max_num_chars(SNIPPET_CHARS);
        let title_snippets = SnippetGenerator::create(&searcher, &*query, f.title)?;
        let mut out = Vec::with_capacity(request.k);
        for (score, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let text = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let article_id = text(f.id);
            if request.exclude.contains(&article_id) {
                continue;
            }
            let body = body_snippets.snippet_from_doc(&doc);
            let title = title_snippets.snippet_from_doc(&doc);
            let mut matched = Vec::new();
            let mut seen = HashSet::new();
            for s in [&title, &body] {
                for r in s.highlighted() {
                    let word = s.fragment()[r.clone()].to_lowercase();
                    if seen.insert(word.clone()) {
                        matched.push(word);
                    }
                }
            }
            let snippet = if body.fragment().trim().is_empty() {
                text(f.body).chars().take(SNIPPET_CHARS).collect()
            } else {
                body.fragment().trim().to_owned()
            };
            out.push(Suggestion {
                article_id,
                title: text(f.title),
                snippet: snippet.replace('\n', " "),
                score,
                explanation: explain(&matched),
            });
            if out.len() == request.k {
                break;
            }
        }
        Ok(out)
    }

    fn len(&self) -> usize {
        self.len
    }
}

fn explain(matched: &[String]) -> String {
    match matched {
        [] => "Related to the words in your description".to_owned(),
        words => {
            let shown: Vec<String> = words.iter().take(5).map(|w| format!("“{w}”")).collect();
            format!("Matches your words {}", shown.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, body: &str) -> Article {
        Article {
            id: id.into(),
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

    fn rank(idx: &Bm25Index, text: &str, exclude: &[&str]) -> Vec<Suggestion> {
        idx.rank(&RankRequest {
            text: text.into(),
            k: 3,
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn stems_and_explains() {
        let idx = index();
        let s = rank(&idx, "my vpn disconnected again", &[]);
        assert_eq!(s[0].article_id, "vpn");
        assert!(s[0].explanation.contains("vpn"), "{}", s[0].explanation);
        assert!(s[0].snippet.contains("VPN"));
    }

    #[test]
    fn excluded_articles_are_not_offered() {
        let idx = index();
        let s = rank(&idx, "printer offline vpn", &["printer"]);
        assert!(s.iter().all(|s| s.article_id != "printer"));
        assert_eq!(s[0].article_id, "vpn");
    }

    #[test]
    fn query_syntax_in_user_text_is_harmless() {
        let idx = index();
        assert!(rank(&idx, "title:\"unclosed (password AND", &[]).len() <= 3);
        assert!(rank(&idx, "", &[]).is_empty());
    }
}

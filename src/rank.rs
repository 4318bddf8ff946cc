//! `chatdesk rank`: ranks a batch of queries against a knowledge directory, for evaluation.
//! Queries come as JSON Lines (`{"id", "query"}`, and optionally `"exclude": [article
//! ids]` to rank as if those articles were not there), results go to stdout as JSON Lines
//! (`{"id", "ranked": [article ids], "scores": [{"score", "similarity", "confidence"}]}`)
//! in input order; progress and logs go to stderr.
//! Article vectors come from the content-keyed cache, so a rerun encodes nothing new.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Settings;
use crate::domain::ids::ArticleId;
use crate::knowledge::index::Mode;
use crate::knowledge::live::Indexer;
use crate::knowledge::{RankRequest, Ranker, load_dir};

#[derive(Deserialize)]
struct Query {
    id: Value,
    query: String,
    #[serde(default)]
    exclude: Vec<ArticleId>,
}

pub fn run(
    settings: &Settings,
    knowledge: &Path,
    queries: &Path,
    k: usize,
    mode: Mode,
) -> anyhow::Result<()> {
    let (articles, errors) = load_dir(knowledge)
        .with_context(|| format!("reading the knowledge directory {}", knowledge.display()))?;
    for e in &errors {
        eprintln!("skipped {e}");
    }
    let indexer = Indexer::new(settings.indexer(mode))?;
    let total = articles.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let (index, stats) = indexer.build(articles, &|n| {
        let d = done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        eprint!("\rindexing {d}/{total} articles");
    })?;
    eprintln!(
        "\rindexed {} articles ({} passages, {} encoded) in {} ms",
        stats.articles,
        stats.passages,
        stats.encoded,
        stats.took.as_millis()
    );

    let input =
        std::fs::File::open(queries).with_context(|| format!("opening {}", queries.display()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let started = Instant::now();
    let mut count = 0usize;
    for (n, line) in std::io::BufReader::new(input).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", queries.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let q: Query = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: not a {{\"id\", \"query\"}} line",
                queries.display(),
                n + 1
            )
        })?;
        let suggestions = index.rank(&RankRequest {
            text: q.query,
            k,
            exclude: q.exclude,
            confident_only: false,
            beside: false,
        })?;
        let ranked: Vec<&str> = suggestions.iter().map(|s| s.article_id.as_str()).collect();
        let scores: Vec<Value> = suggestions
            .iter()
            .map(|s| json!({"score": s.score, "similarity": s.similarity, "confidence": s.confidence}))
            .collect();
        writeln!(
            out,
            "{}",
            json!({"id": q.id, "ranked": ranked, "scores": scores})
        )?;
        count += 1;
    }
    out.flush()?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "ranked {count} queries in {ms:.0} ms ({:.1} ms each, mode {mode:?})",
        if count > 0 { ms / count as f64 } else { 0.0 }
    );
    Ok(())
}

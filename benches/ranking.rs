//! Bot ranking speed: one query, encoding included, against 1,000 and 10,000 articles in
//! hybrid mode; and how fast articles are indexed, cold (every passage encoded) and
//! unchanged (every vector from the cache).
//!
//! The large knowledge bases repeat the starter articles under new ids, so their vectors
//! come from the cache and only the search work grows with the article count.
//!
//! The percentiles step also times the public pipeline of issue 11 (rank_bm25 and
//! sentence-transformers, `eval/public_pipeline.py --latency`) on the same 10,000 articles
//! and queries, in the same run, when its Python environment `.tools/eval-venv` exists
//! (see that script), and prints how many times faster chatdesk's p50 is.
//!
//! Run: `cargo bench --bench ranking`

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use chatdesk::domain::ids::ArticleId;
use chatdesk::knowledge::embed::Embedder;
use chatdesk::knowledge::index::{KnowledgeIndex, Mode, Tuning};
use chatdesk::knowledge::vectors::VectorCache;
use chatdesk::knowledge::{Article, RankRequest, Ranker, load_dir};

const QUERIES: &[&str] = &[
    "my vpn keeps dropping every few minutes",
    "I forgot my password and I'm locked out",
    "the printer on the third floor says offline",
    "Teams can't hear me in meetings",
    "laptop is really slow since the update",
    "how do I get access to the finance shared drive",
];

fn starter() -> Vec<Article> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge");
    load_dir(&dir).expect("starter knowledge base").0
}

fn embedder() -> Arc<Embedder> {
    Embedder::shared(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
        .expect("model (run scripts/setup)")
}

/// `n` articles: the starter base repeated under new ids.
fn knowledge_base(n: usize) -> Vec<Article> {
    let base = starter();
    (0..n)
        .map(|i| {
            let mut a = base[i % base.len()].clone();
            a.id = ArticleId::parse(&format!("{}-{i}", a.id)).expect("a valid id");
            a.tags.push(format!("copy{}", i / base.len()));
            a
        })
        .collect()
}

fn query_latency(c: &mut Criterion) {
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = VectorCache::new(cache_dir.path());
    let embedder = embedder();
    let mut group = c.benchmark_group("query");
    group.sample_size(50);
    for n in [1_000, 10_000] {
        let (index, _) = KnowledgeIndex::build(
            knowledge_base(n),
            Some(embedder.clone()),
            &cache,
            Mode::Hybrid,
            Tuning::default(),
            &|_| {},
        )
        .unwrap();
        let mut q = 0;
        group.bench_with_input(BenchmarkId::new("hybrid_top3", n), &index, |b, index| {
            b.iter(|| {
                q = (q + 1) % QUERIES.len();
                index
                    .rank(&RankRequest {
                        text: QUERIES[q].to_owned(),
                        k: 3,
                        exclude: Vec::new(),
                        confident_only: true,
                        beside: false,
                    })
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// Percentiles of `times`, in milliseconds: (p50, p99).
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (at(0.50).as_secs_f64() * 1e3, at(0.99).as_secs_f64() * 1e3)
}

/// The public pipeline's hybrid query time over the starter articles repeated to `n`, as
/// (p50, p99) in milliseconds; `None`, with the reason printed, without its environment or
/// when it fails.
fn public_pipeline(n: usize) -> Option<(f64, f64)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/eval-venv/bin/python");
    if !python.exists() {
        println!(
            "public pipeline: skipped, no {} (see eval/public_pipeline.py)",
            python.display()
        );
        return None;
    }
    let mut child = Command::new(python)
        .current_dir(root)
        .env("HF_HUB_OFFLINE", "1")
        .args([
            "eval/public_pipeline.py",
            "--latency",
            "knowledge",
            "--runs",
            "120",
        ])
        .args(["--articles", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the public pipeline");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(QUERIES.join("\n").as_bytes())
        .expect("write the queries");
    let out = child.wait_with_output().expect("public pipeline");
    let report: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    let times = report
        .as_ref()
        .and_then(|r| Some((r["p50_ms"].as_f64()?, r["p99_ms"].as_f64()?)));
    if !out.status.success() || times.is_none() {
        println!(
            "public pipeline: skipped, it failed ({}; see its messages above)",
            out.status
        );
    }
    times
}

/// Criterion reports means; service targets are percentiles, so print those too, with the
/// public pipeline's at 10,000 articles.
fn query_percentiles(_: &mut Criterion) {
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = VectorCache::new(cache_dir.path());
    for n in [1_000, 10_000] {
        let (index, _) = KnowledgeIndex::build(
            knowledge_base(n),
            Some(embedder()),
            &cache,
            Mode::Hybrid,
            Tuning::default(),
            &|_| {},
        )
        .unwrap();
        let times: Vec<Duration> = (0..300)
            .map(|i| {
                let started = std::time::Instant::now();
                index
                    .rank(&RankRequest {
                        text: QUERIES[i % QUERIES.len()].to_owned(),
                        k: 3,
                        exclude: Vec::new(),
                        confident_only: true,
                        beside: false,
                    })
                    .unwrap();
                started.elapsed()
            })
            .collect();
        let runs = times.len();
        let (p50, p99) = percentiles(times);
        println!("query/hybrid_top3/{n}: p50 {p50:.1} ms, p99 {p99:.1} ms over {runs} queries");
        if n == 10_000
            && let Some((public_p50, public_p99)) = public_pipeline(n)
        {
            println!(
                "public pipeline hybrid_top3/{n}: p50 {public_p50:.1} ms, p99 {public_p99:.1} ms; \
                 chatdesk's p50 is {:.1}x faster",
                public_p50 / p50
            );
        }
    }
}

fn indexing(c: &mut Criterion) {
    let embedder = embedder();
    let articles = starter();
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(articles.len() as u64));
    group.bench_function("cold_starter_base", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                KnowledgeIndex::build(
                    articles.clone(),
                    Some(embedder.clone()),
                    &VectorCache::new(dir.path()),
                    Mode::Hybrid,
                    Tuning::default(),
                    &|_| {},
                )
                .unwrap()
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let warm = tempfile::tempdir().unwrap();
    let cache = VectorCache::new(warm.path());
    let thousand = knowledge_base(1_000);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("unchanged_1000", |b| {
        b.iter(|| {
            KnowledgeIndex::build(
                thousand.clone(),
                Some(embedder.clone()),
                &cache,
                Mode::Hybrid,
                Tuning::default(),
                &|_| {},
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, query_latency, query_percentiles, indexing);
criterion_main!(benches);

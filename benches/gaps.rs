//! Knowledge gaps: how long grouping the bot's unanswered questions takes once their
//! sentence vectors are known (the engine keeps them between requests), for 500 and 2,000
//! distinct questions: the pairwise cosines, average-linkage clustering (kodama) and the
//! labels. Encoding is timed apart, as the first look at new questions pays it.
//!
//! The questions are templated ("my {thing} {symptom} {when}"), so every one is distinct.
//!
//! Run: `cargo bench --bench gaps`

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use chatdesk::knowledge::embed::Embedder;
use chatdesk::knowledge::gaps::{MAX_DISTANCE, group};

const THINGS: &[&str] = &[
    "laptop",
    "printer",
    "monitor",
    "phone",
    "vpn",
    "wifi",
    "outlook",
    "teams",
    "excel",
    "badge",
    "docking station",
    "headset",
    "webcam",
    "keyboard",
    "mouse",
    "scanner",
    "projector",
    "tablet",
    "shared drive",
    "password",
];
const SYMPTOMS: &[&str] = &[
    "does not turn on",
    "keeps freezing",
    "shows an error",
    "is very slow",
    "will not connect",
    "stopped working",
    "makes a strange noise",
    "asks for a password again and again",
    "crashes at start",
    "is missing",
];
const WHENS: &[&str] = &[
    "since this morning",
    "after the update",
    "every afternoon",
    "since I moved desks",
    "when I work from home",
    "after a restart",
    "since yesterday",
    "on Mondays",
    "during meetings",
    "all the time",
];

/// `n` distinct questions, spread over every thing.
fn questions(n: usize) -> Vec<String> {
    let mut all = Vec::new();
    for w in WHENS {
        for s in SYMPTOMS {
            for t in THINGS {
                all.push(format!("my {t} {s} {w}"));
            }
        }
    }
    all.truncate(n);
    all
}

fn bench(c: &mut Criterion) {
    let embedder =
        Embedder::shared(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
            .expect("model (run scripts/setup)");
    let mut encoding = c.benchmark_group("gaps/encode");
    encoding
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let hundred = questions(100);
    encoding.throughput(Throughput::Elements(hundred.len() as u64));
    encoding.bench_function("100 questions", |b| {
        b.iter(|| embedder.encode(&hundred).expect("encoded"))
    });
    encoding.finish();

    let mut grouping = c.benchmark_group("gaps/group");
    grouping
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for n in [500, 2000] {
        let texts = questions(n);
        let vectors = embedder.encode(&texts).expect("encoded");
        // Label words are encoded once (a first, untimed run), as the engine keeps them.
        let kept: RefCell<HashMap<String, Vec<f32>>> = RefCell::new(HashMap::new());
        let encode = |list: &[String]| -> anyhow::Result<Vec<Vec<f32>>> {
            let missing: Vec<String> = list
                .iter()
                .filter(|w| !kept.borrow().contains_key(*w))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let encoded = embedder.encode(&missing)?;
                kept.borrow_mut().extend(missing.into_iter().zip(encoded));
            }
            let kept = kept.borrow();
            Ok(list.iter().map(|w| kept[w].clone()).collect())
        };
        group(&texts, &vectors, MAX_DISTANCE, &encode).expect("grouped");
        grouping.throughput(Throughput::Elements(n as u64));
        grouping.bench_with_input(BenchmarkId::new("distinct questions", n), &n, |b, _| {
            b.iter(|| group(&texts, &vectors, MAX_DISTANCE, &encode).expect("grouped"))
        });
    }
    grouping.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Property-based fuzzing of the parsers that take raw outside input: knowledge articles
//! (files in `knowledge/` and API bodies), WebSocket client frames, and the text people
//! type. Each target runs for `FUZZ_SECONDS` (default 2, the short run CI keeps); the
//! long run is
//!
//! ```text
//! FUZZ_SECONDS=600 cargo test --release --test fuzz -- --nocapture --test-threads 1
//! ```
//!
//! which prints how many cases each target tried. A failure is shrunk to a minimal input.

mod articles;
mod frames;

use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

/// Runs `property` on inputs from `strategy` until `FUZZ_SECONDS` have passed.
pub fn fuzz<S: Strategy>(name: &str, strategy: S, property: impl Fn(S::Value) -> TestCaseResult) {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    const ROUND: u32 = 512;
    let config = Config {
        cases: ROUND,
        failure_persistence: None,
        ..Config::default()
    };
    let started = Instant::now();
    let mut cases = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        // A runner counts its cases; each round gets a fresh one with a fresh random seed.
        let mut runner = TestRunner::new(config.clone());
        if let Err(e) = runner.run(&strategy, &property) {
            panic!("{name}: {e}");
        }
        cases += u64::from(ROUND);
    }
    eprintln!(
        "fuzz {name}: {cases} cases in {:.0} s, no failure",
        started.elapsed().as_secs_f64()
    );
}

//! The sign-in run (`--sign-ins N`): N accounts with passwords, each signed in once
//! over `POST /api/v1/login` with `--setup-concurrency` requests in flight, as browsers
//! signing in at the start of a shift would. Reports sign-ins a second and latency; any
//! refusal is an error. Argon2 dominates, so this shows what the limits around it cost.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::client::Person;
use crate::stats::percentile;

const PASSWORD: &str = "load test password";

/// Creates `n` accounts named `s{run_id}x{i}`, then signs each in once; prints the figures.
pub async fn run(
    admin: &Person,
    root: &str,
    http: &reqwest::Client,
    run_id: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let limit = Arc::new(Semaphore::new(concurrency));
    eprintln!("creating {n} accounts with passwords");
    let names: Vec<String> = (0..n).map(|i| format!("s{run_id}x{i}")).collect();
    let made: FuturesUnordered<_> = names
        .iter()
        .map(|name| {
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await?;
                admin
                    .post(
                        "/users",
                        json!({"username": name, "roles": ["user"], "password": PASSWORD}),
                    )
                    .await
            }
        })
        .collect();
    made.collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()
        .context("creating accounts")?;

    eprintln!("signing {n} accounts in, {concurrency} at a time");
    let started = Instant::now();
    let signed: FuturesUnordered<_> = names
        .iter()
        .map(|name| {
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await?;
                let sent = Instant::now();
                let response = http
                    .post(format!("{root}/api/v1/login"))
                    .json(&json!({"username": name, "password": PASSWORD}))
                    .send()
                    .await?;
                let status = response.status();
                if !status.is_success() {
                    bail!("sign-in of {name}: {status} {}", response.text().await?);
                }
                anyhow::Ok(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32)
            }
        })
        .collect();
    let results: Vec<_> = signed.collect().await;
    let secs = started.elapsed().as_secs_f64();
    let errors = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first error: {e:#}");
    }
    let mut took: Vec<u32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .copied()
        .collect();
    took.sort_unstable();
    let at = |p: f64| percentile(&took, p);
    println!("| sign-ins | in flight | sign-ins/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {concurrency} | {:.1} | {:.1} | {:.1} | {:.1} | {errors} |",
        took.len() as f64 / secs,
        at(50.0),
        at(99.0),
        at(100.0)
    );
    if errors > 0 {
        bail!("{errors} sign-ins failed");
    }
    Ok(())
}

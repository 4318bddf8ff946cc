//! The wait estimate's calibration: users join the queue at random (a Poisson stream)
//! while analysts take chats at a pace that changes every phase. Each chat records the
//! range it was shown when it joined the queue; its actual wait (queued to accepted) is
//! read back from the server's own history (`GET /insights/calls.csv`). The figure is
//! the share of actual waits that fell inside the range shown. Seeded, so a run can be
//! repeated.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::client::Person;

pub struct Calibration {
    pub chats: usize,
    pub analysts: usize,
    /// Users joining the queue per second, on average.
    pub arrivals_per_sec: f64,
    /// Each analyst's mean time between taking chats, in seconds, phase by phase, then
    /// round again.
    pub think_secs: Vec<f64>,
    /// How long each phase lasts.
    pub phase: Duration,
    pub seed: u64,
}

/// What one queued chat was shown.
struct Shown {
    reference: String,
    range: Option<(f64, f64)>,
}

pub async fn run(admin: &Person, run_id: &str, c: &Calibration) -> anyhow::Result<()> {
    let mut analysts = Vec::new();
    for i in 0..c.analysts {
        let a = admin
            .create_account(&format!("qa{run_id}x{i}"), &["analyst"])
            .await?;
        a.put(
            "/analyst/status",
            json!({"status": "online", "max_chats": 50}),
        )
        .await?;
        analysts.push(a);
    }
    let mut users = Vec::new();
    for i in 0..c.chats {
        users.push(
            admin
                .create_account(&format!("qu{run_id}x{i}"), &["user", "chat-user"])
                .await?,
        );
    }
    eprintln!(
        "queue phase: {} chats arriving at {:.2}/s, {} analysts taking one every {:?} s \
         on average (phases of {} s)",
        c.chats,
        c.arrivals_per_sec,
        c.analysts,
        c.think_secs,
        c.phase.as_secs()
    );

    let mut rng = StdRng::seed_from_u64(c.seed);
    let started = Instant::now();
    let taken = Arc::new(AtomicUsize::new(0));
    let mut analyst_tasks = Vec::new();
    for (i, analyst) in analysts.into_iter().enumerate() {
        let taken = taken.clone();
        let total = c.chats;
        let seed = c.seed.wrapping_add(1 + i as u64);
        let (think, phase) = (c.think_secs.clone(), c.phase);
        analyst_tasks.push(tokio::spawn(async move {
            take_chats(analyst, seed, (started, phase, think), taken, total).await
        }));
    }
    let mut at = Duration::ZERO;
    let mut user_tasks = Vec::new();
    for (n, user) in users.into_iter().enumerate() {
        at += Duration::from_secs_f64(exponential(&mut rng, 1.0 / c.arrivals_per_sec));
        user_tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until((started + at).into()).await;
            join_queue(&user, n).await
        }));
    }
    let mut shown = Vec::new();
    for task in user_tasks {
        shown.push(task.await.context("a user task panicked")??);
    }
    for task in analyst_tasks {
        task.await.context("an analyst task panicked")??;
    }

    let waits = waits_from_history(admin).await?;
    let mut inside = 0;
    let (mut early, mut late, mut without) = (0, 0, 0);
    let mut widths = Vec::new();
    for s in &shown {
        let wait = *waits
            .get(&s.reference)
            .with_context(|| format!("{} has no wait in the history", s.reference))?;
        match s.range {
            None => without += 1,
            Some((low, high)) if wait < low => {
                early += 1;
                widths.push(high - low);
            }
            Some((low, high)) if wait > high => {
                late += 1;
                widths.push(high - low);
            }
            Some((low, high)) => {
                inside += 1;
                widths.push(high - low);
            }
        }
    }
    let with = inside + early + late;
    widths.sort_by(f64::total_cmp);
    println!(
        "wait estimate calibration: {} queued chats over {:.0} s, {} shown a range \
         ({without} had no estimate yet)",
        shown.len(),
        started.elapsed().as_secs_f64(),
        with
    );
    println!(
        "  inside the range: {inside} ({:.1}%); shorter: {early}; longer: {late}; \
         median width {:.0} s",
        100.0 * inside as f64 / with.max(1) as f64,
        widths.get(widths.len() / 2).copied().unwrap_or(0.0)
    );
    Ok(())
}

/// An exponentially distributed wait with this mean (inverse transform sampling).
fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.r#gen::<f64>()).ln()
}

/// Starts a chat, asks for an analyst, and keeps the range the queue showed.
async fn join_queue(user: &Person, n: usize) -> anyhow::Result<Shown> {
    let started = user
        .post(
            "/chats",
            json!({"description": format!("queue calibration {n}: my laptop is slow")}),
        )
        .await?;
    let chat_id = started["chat"]["id"].as_i64().context("no chat id")?;
    let queued = user
        .post(&format!("/chats/{chat_id}/handoff"), json!({}))
        .await?;
    let estimate = &queued["wait_estimate"];
    let range = match (
        estimate["low_secs"].as_f64(),
        estimate["high_secs"].as_f64(),
    ) {
        (Some(low), Some(high)) => Some((low, high)),
        _ => None,
    };
    Ok(Shown {
        reference: queued["call_reference"]
            .as_str()
            .context("no call reference")?
            .to_owned(),
        range,
    })
}

/// One analyst: after a think time drawn for the current phase, takes the oldest queued
/// chat and ends it at once, until every chat has been taken.
async fn take_chats(
    analyst: Person,
    seed: u64,
    (started, phase, think_secs): (Instant, Duration, Vec<f64>),
    taken: Arc<AtomicUsize>,
    total: usize,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    while taken.load(Ordering::Acquire) < total {
        let now = (started.elapsed().as_secs_f64() / phase.as_secs_f64()) as usize;
        let think = exponential(&mut rng, think_secs[now % think_secs.len()]);
        tokio::time::sleep(Duration::from_secs_f64(think)).await;
        // Wait for a chat to take, then try the oldest; another analyst may win it.
        loop {
            if taken.load(Ordering::Acquire) >= total {
                return Ok(());
            }
            let queue = analyst.get("/analyst/queue").await?;
            let Some(chat_id) = queue.get(0).and_then(|e| e["chat_id"].as_i64()) else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            match analyst
                .post(&format!("/chats/{chat_id}/accept"), json!({}))
                .await
            {
                Ok(_) => {
                    taken.fetch_add(1, Ordering::AcqRel);
                    analyst
                        .post(&format!("/chats/{chat_id}/end"), json!({}))
                        .await?;
                    break;
                }
                // Taken by someone else first: look again.
                Err(e) if format!("{e:#}").contains("409") => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Each call's wait in seconds, by reference, from the server's history.
async fn waits_from_history(admin: &Person) -> anyhow::Result<HashMap<String, f64>> {
    let csv = admin.get_text("/insights/calls.csv").await?;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut waits = HashMap::new();
    for row in reader.records() {
        let row = row?;
        if let (Some(reference), Some(wait)) = (row.get(0), row.get(3))
            && let Ok(wait) = wait.parse::<f64>()
        {
            waits.insert(reference.to_owned(), wait);
        }
    }
    Ok(waits)
}

//! What a run measured, and the idle-socket memory probe.

use std::time::{Duration, Instant};

/// Latency is also reported per stretch of this many seconds.
const WINDOW_SECS: u64 = 5;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::Args;
use crate::chat::{Live, Outcome};
use crate::server::Server;

pub struct Idle {
    pub sockets: usize,
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
}

/// Opens `n` more sockets on the live chats (as their users, like extra windows), holds
/// them idle and reads the server's resident memory before and after; then closes them.
pub async fn idle_sockets(server: &Server, live: &[Live], n: usize) -> anyhow::Result<Idle> {
    eprintln!("opening {n} idle sockets");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_bytes();
    let mut sockets = Vec::with_capacity(n);
    let mut opening = FuturesUnordered::new();
    for i in 0..n {
        let chat = &live[i % live.len()];
        opening.push(chat.user.chat_socket(chat.chat_id, 0));
        if opening.len() == 64 {
            sockets.push(opening.next().await.expect("pending")?);
        }
    }
    while let Some(s) = opening.next().await {
        sockets.push(s?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = server.rss_bytes();
    drop(sockets);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Idle {
        sockets: n,
        rss_before,
        rss_after,
    })
}

pub struct Report {
    db: String,
    chats: usize,
    analysts: usize,
    per_side: usize,
    rate: u64,
    setup_secs: f64,
    talk_secs: f64,
    end_secs: f64,
    latencies_us: Vec<(Instant, u32)>,
    sent: usize,
    delivered: usize,
    acked: usize,
    pub stored: usize,
    errors: Vec<String>,
    pub lost: Vec<String>,
    pub idle: Option<Idle>,
    instances: usize,
    /// NOTIFY transactions the instances sent while the chats talked.
    pub hint_transactions: u64,
}

/// The `p`th percentile (nearest rank) of latencies in microseconds, in milliseconds.
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl Report {
    pub fn new(args: &Args, setup_secs: f64, talk_secs: f64, end_secs: f64) -> Self {
        Self {
            db: if args.url.is_some() {
                "running server".into()
            } else {
                args.db.clone()
            },
            chats: args.chats,
            analysts: args.analysts,
            per_side: args.messages,
            rate: args.rate,
            setup_secs,
            talk_secs,
            end_secs,
            latencies_us: Vec::new(),
            sent: 0,
            delivered: 0,
            acked: 0,
            stored: 0,
            errors: Vec::new(),
            lost: Vec::new(),
            idle: None,
            instances: args.instances,
            hint_transactions: 0,
        }
    }

    pub fn add(&mut self, outcome: Outcome) {
        self.latencies_us.extend(outcome.latencies_us);
        self.sent += outcome.sent;
        self.delivered += outcome.delivered;
        self.acked += outcome.acked.len();
        self.errors.extend(outcome.errors);
    }

    /// The p99 of each stretch of `WINDOW_SECS`, by time of receipt: shows stalls.
    fn windows(&self) -> String {
        let Some(start) = self.latencies_us.iter().map(|(at, _)| *at).min() else {
            return String::new();
        };
        let mut windows: Vec<Vec<u32>> = Vec::new();
        for (at, us) in &self.latencies_us {
            let w = (at.duration_since(start).as_secs() / WINDOW_SECS) as usize;
            if windows.len() <= w {
                windows.resize(w + 1, Vec::new());
            }
            windows[w].push(*us);
        }
        windows
            .iter_mut()
            .map(|w| {
                w.sort_unstable();
                format!("{:.0}", percentile(w, 99.0))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn clean(&self) -> bool {
        self.errors.is_empty() && self.lost.is_empty() && self.acked == self.sent
    }

    pub fn print(&mut self) {
        let windows = self.windows();
        let mut l: Vec<u32> = self.latencies_us.iter().map(|(_, us)| *us).collect();
        l.sort_unstable();
        let l = &l;
        let pace = if self.rate == 0 {
            "ping-pong".to_owned()
        } else {
            format!("{}/s", self.rate)
        };
        println!();
        println!(
            "| database | chats | analysts | pace | started/s | messages | delivered/s | p50 ms | p99 ms | max ms | ended/s | errors | lost |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {} | {pace} | {:.0} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {} | {} |",
            self.db,
            self.chats,
            self.analysts,
            self.chats as f64 / self.setup_secs,
            self.delivered,
            self.delivered as f64 / self.talk_secs,
            percentile(l, 50.0),
            percentile(l, 99.0),
            percentile(l, 100.0),
            self.chats as f64 / self.end_secs,
            self.errors.len(),
            self.acked.saturating_sub(self.stored) + self.lost.len(),
        );
        println!();
        println!("p99 ms per {WINDOW_SECS} s: {windows}");
        println!(
            "sent {}, acknowledged {}, delivered {}, stored on calls {} ({} per side per chat) in {:.1} s",
            self.sent, self.acked, self.delivered, self.stored, self.per_side, self.talk_secs
        );
        if self.db == "postgres" {
            println!(
                "{} instance(s); NOTIFY transactions while talking: {} ({:.0}/s)",
                self.instances,
                self.hint_transactions,
                self.hint_transactions as f64 / self.talk_secs
            );
        }
        if let Some(idle) = &self.idle {
            match (idle.rss_before, idle.rss_after) {
                (Some(before), Some(after)) => println!(
                    "{} idle sockets: server RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB, {:.1} KiB per socket)",
                    idle.sockets,
                    mib(before),
                    mib(after),
                    mib(after.saturating_sub(before)),
                    after.saturating_sub(before) as f64 / 1024.0 / idle.sockets as f64
                ),
                _ => println!(
                    "{} idle sockets held (memory unknown: not our process)",
                    idle.sockets
                ),
            }
        }
        for e in self.errors.iter().chain(&self.lost).take(20) {
            println!("  {e}");
        }
    }
}

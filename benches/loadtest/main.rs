//! The load generator: drives a chatdesk server over real HTTP and WebSockets with
//! simulated users and analysts doing the whole story, then checks that every call holds
//! exactly the messages that were acknowledged.
//!
//! ```text
//! cargo bench --bench loadtest -- --db sqlite --chats 1000 --analysts 25 --messages 10
//! cargo bench --bench loadtest -- --db postgres --rate 1000
//! cargo bench --bench loadtest -- --idle-sockets 10000
//! cargo bench --bench loadtest -- --queue-calibration      # the wait estimate's hit rate
//! cargo bench --bench loadtest -- --sign-ins 400            # password sign-ins a second
//! ```
//!
//! Without `--url` it starts `chatdesk serve` from this build on a free loopback port
//! with a fresh database and stops it afterwards. It refuses anything but loopback.

mod chat;
mod client;
mod queueing;
mod server;
mod signins;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use chat::{Pace, converse, end, set_up, verify};
use client::Person;
use server::Server;

#[derive(Parser)]
#[command(about = "Load generator for chatdesk (loopback only)")]
struct Args {
    /// Database of the server this run starts: sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Drive a server that is already running (http://127.0.0.1:PORT) instead.
    #[arg(long, requires = "admin_token")]
    url: Option<String>,
    /// The `chatdesk` binary to start (default: this build's), to measure another commit's
    /// build with the same generator.
    #[arg(long, value_name = "PATH")]
    server_bin: Option<std::path::PathBuf>,
    /// An admin's API token on the `--url` server (`chatdesk user add NAME --role admin`).
    #[arg(long, env = "LOADTEST_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// `chatdesk serve` instances to start on one PostgreSQL database; each request and
    /// socket goes to one at random.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Chats held open at the same time.
    #[arg(long, default_value_t = 1000)]
    chats: usize,
    /// Analysts sharing them (each may take at most 50).
    #[arg(long, default_value_t = 25)]
    analysts: usize,
    /// Messages each side sends in each chat.
    #[arg(long, default_value_t = 10)]
    messages: usize,
    /// Total messages per second across all chats; 0 answers each message as soon as it
    /// arrives (one in flight per chat, as fast as the server goes).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Also open this many idle chat sockets and report the server's memory for them.
    #[arg(long, default_value_t = 0)]
    idle_sockets: usize,
    /// Requests in flight while setting chats up.
    #[arg(long, default_value_t = 32)]
    setup_concurrency: usize,
    /// Give up on a chat's conversation after this many seconds.
    #[arg(long, default_value_t = 300)]
    time_limit: u64,
    /// Instead of the load run: measure the wait estimate's calibration (users queue at
    /// random while analysts take chats at a varying pace).
    #[arg(long)]
    queue_calibration: bool,
    /// Chats in the calibration run.
    #[arg(long, default_value_t = 240)]
    queue_chats: usize,
    /// Analysts taking them.
    #[arg(long, default_value_t = 3)]
    queue_analysts: usize,
    /// Users joining the queue per second, on average.
    #[arg(long, default_value_t = 0.9)]
    arrivals: f64,
    /// Each analyst's mean seconds between taking chats, phase by phase.
    #[arg(long, value_delimiter = ',', default_values_t = [3.0, 4.5, 2.0])]
    think: Vec<f64>,
    /// Seconds each phase of the calibration run lasts.
    #[arg(long, default_value_t = 60)]
    phase_secs: u64,
    /// Seed of the calibration run's random arrivals and think times.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Instead of the load run: create this many accounts with passwords and sign each
    /// in once, `--setup-concurrency` at a time.
    #[arg(long, default_value_t = 0)]
    sign_ins: usize,
    /// Register a webhook endpoint at this loopback URL for every event before the run
    /// (a receiver that answers 2xx, such as nginx `return 204`), to measure the outbox's
    /// cost on the message path. The servers this run starts allow private targets.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.chats > 0 && args.analysts > 0,
        "--chats and --analysts must be positive"
    );
    let per_analyst = args.chats.div_ceil(args.analysts);
    anyhow::ensure!(
        per_analyst <= 50,
        "{} chats need at least {} analysts (50 chats each at most)",
        args.chats,
        args.chats.div_ceil(50)
    );
    let server = match &args.url {
        Some(url) => Server::running(url, args.admin_token.clone().unwrap_or_default())?,
        None => {
            eprintln!("starting chatdesk serve on {}", args.db);
            let bin = args
                .server_bin
                .clone()
                .unwrap_or_else(|| server::BIN.into());
            Server::start(&args.db, &bin, args.instances).await?
        }
    };
    let result = drive(&args, &server, per_analyst).await;
    if result.is_err()
        && let Some(log) = server.log_path()
    {
        eprintln!(
            "server log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    let stopped = server.stop().await;
    match &stopped {
        Ok(Some(took)) => eprintln!("stopped on SIGTERM in {:.2} s", took.as_secs_f64()),
        Ok(None) => {}
        Err(e) => eprintln!("stop: {e:#}"),
    }
    result.and(stopped.map(drop))
}

async fn drive(args: &Args, server: &Server, per_analyst: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.setup_concurrency)
        .build()?;
    let admin = Person::new(&server.roots, server.admin_token.clone(), http.clone());
    let run_id = format!("{:x}", std::process::id());
    if args.queue_calibration {
        anyhow::ensure!(
            args.queue_chats > 0
                && args.queue_analysts > 0
                && args.arrivals > 0.0
                && args.phase_secs > 0
                && !args.think.is_empty()
                && args.think.iter().all(|t| *t > 0.0),
            "--queue-chats, --queue-analysts, --arrivals, --phase-secs and --think must be positive"
        );
        let calibration = queueing::Calibration {
            chats: args.queue_chats,
            analysts: args.queue_analysts,
            arrivals_per_sec: args.arrivals,
            think_secs: args.think.clone(),
            phase: Duration::from_secs(args.phase_secs),
            seed: args.seed,
        };
        return queueing::run(&admin, &run_id, &calibration).await;
    }
    if args.sign_ins > 0 {
        return signins::run(
            &admin,
            &server.root,
            &http,
            &run_id,
            args.sign_ins,
            args.setup_concurrency,
        )
        .await;
    }

    if let Some(url) = &args.webhook {
        let events = [
            "chat.started",
            "chat.queued",
            "chat.accepted",
            "chat.transferred",
            "chat.message",
            "chat.ended",
            "call.resolved",
            "call.rated",
        ];
        admin
            .post(
                "/webhooks",
                serde_json::json!({"url": server::check_loopback(url)?, "events": events}),
            )
            .await?;
        eprintln!("webhook registered for every event: {url}");
    }
    eprintln!(
        "creating {} users and {} analysts",
        args.chats, args.analysts
    );
    let limit = Arc::new(Semaphore::new(args.setup_concurrency));
    let accounts = |prefix: &'static str, n: usize, roles: &'static [&'static str]| {
        let admin = admin.clone();
        let limit = limit.clone();
        let run_id = run_id.clone();
        async move {
            let made: FuturesUnordered<_> = (0..n)
                .map(|i| {
                    let admin = admin.clone();
                    let limit = limit.clone();
                    let name = format!("{prefix}{run_id}x{i}");
                    async move {
                        let _permit = limit.acquire().await?;
                        admin.create_account(&name, roles).await
                    }
                })
                .collect();
            made.collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<anyhow::Result<Vec<Person>>>()
        }
    };
    let users = accounts("u", args.chats, &["user", "chat-user"]).await?;
    let analysts = accounts("a", args.analysts, &["analyst"]).await?;
    for a in &analysts {
        a.put(
            "/analyst/status",
            serde_json::json!({"status": "online", "max_chats": per_analyst}),
        )
        .await?;
    }

    eprintln!(
        "starting {} chats (bot, handoff, accept, two sockets each)",
        args.chats
    );
    let started = Instant::now();
    let setups: FuturesUnordered<_> = users
        .into_iter()
        .enumerate()
        .map(|(n, user)| {
            let analyst = analysts[n % analysts.len()].clone();
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await?;
                set_up(n, user, analyst).await
            }
        })
        .collect();
    let live = setups
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()
        .context("setting up chats")?;
    let setup_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} chats live after {setup_secs:.1} s ({:.1} chats/s)",
        live.len(),
        live.len() as f64 / setup_secs
    );

    let idle = if args.idle_sockets > 0 {
        Some(stats::idle_sockets(server, &live, args.idle_sockets).await?)
    } else {
        None
    };

    let pace = |n: usize| match args.rate {
        0 => Pace::PingPong,
        rate => {
            let every = Duration::from_secs_f64(args.chats as f64 / rate as f64);
            let offset = every.mul_f64(n as f64 / args.chats as f64);
            Pace::Every { every, offset }
        }
    };
    eprintln!(
        "talking: {} messages per side in each chat, {}",
        args.messages,
        if args.rate == 0 {
            "ping-pong".to_owned()
        } else {
            format!("{} msgs/s in all", args.rate)
        }
    );
    let limit_permits = limit.clone();
    let limit = Duration::from_secs(args.time_limit);
    let hints_before = server.hint_transactions().await?;
    let started = Instant::now();
    let talks: FuturesUnordered<_> = live
        .into_iter()
        .enumerate()
        .map(|(n, chat)| tokio::spawn(converse(chat, args.messages, pace(n), limit)))
        .collect();
    let talked: Vec<_> = talks.collect().await;
    let talk_secs = started.elapsed().as_secs_f64();
    let hints = server.hint_transactions().await? - hints_before;

    eprintln!("ending {} chats", talked.len());
    let mut outcomes = Vec::with_capacity(talked.len());
    let started = Instant::now();
    let ends: FuturesUnordered<_> = talked
        .into_iter()
        .map(|joined| {
            let limit_permits = limit_permits.clone();
            async move {
                let (chat, outcome) = joined.context("a chat task panicked")?;
                let _permit = limit_permits.acquire().await?;
                anyhow::Ok((end(chat, limit).await, outcome))
            }
        })
        .collect();
    for done in ends.collect::<Vec<_>>().await {
        let ((ended, error), mut outcome) = done?;
        outcome.errors.extend(error);
        outcomes.push((ended, outcome));
    }
    let end_secs = started.elapsed().as_secs_f64();

    eprintln!("reading {} calls back", outcomes.len());
    let mut report = stats::Report::new(args, setup_secs, talk_secs, end_secs);
    report.hint_transactions = hints;
    for (ended, outcome) in outcomes {
        match verify(&ended, &outcome).await {
            Ok(stored) => report.stored += stored,
            Err(e) => report.lost.push(format!("{e:#}")),
        }
        report.add(outcome);
    }
    report.idle = idle;
    report.print();
    anyhow::ensure!(report.clean(), "the run had errors or lost messages");
    Ok(())
}

//! The `chatdesk` binary: parses the command line and settings, starts tracing, and hands
//! over to the library.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use chatdesk::config::Settings;
use chatdesk::domain::ids::ArticleId;
use chatdesk::domain::user::Role;
use chatdesk::engine::clock::{ManualClock, SystemClock};
use chatdesk::error::ErrorCode;
use chatdesk::knowledge::index::Mode;
use chatdesk::knowledge::memo::Memo;
use chatdesk::metrics::Metrics;
use chatdesk::startup::{self, Application};

#[derive(Parser)]
#[command(
    name = "chatdesk",
    version,
    about = "Chatbot-first service-desk chat with live-analyst handoff"
)]
struct Cli {
    /// Settings file (missing is fine: defaults and CHATDESK_* variables apply).
    #[arg(
        long,
        env = "CHATDESK_CONFIG",
        default_value = "chatdesk.toml",
        global = true
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// Create demo accounts (alice: user, bob: analyst, carol: author; password
        /// "chatdesk-demo") when they do not exist yet.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Import the knowledge folder into the database and rebuild the index; running
    /// servers pick the change up within `knowledge.refresh_secs`.
    Reindex,
    /// Rank a batch of queries (JSON Lines) against a knowledge directory.
    Rank {
        #[arg(long)]
        knowledge: PathBuf,
        /// JSON Lines, one {"id": "...", "query": "..."} per line.
        #[arg(long)]
        queries: PathBuf,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, default_value = "hybrid", value_parser = Mode::parse)]
        mode: Mode,
    },
    /// Fill a fresh database with realistic, reproducible desk traffic (imports the
    /// knowledge folder first, so the bot's suggestions are real).
    Traffic {
        /// Days of traffic, ending now.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Calls on an average weekday (weekends get a quarter).
        #[arg(long, default_value_t = 120)]
        calls_per_day: u32,
        /// Users logging calls (user001, ...).
        #[arg(long, default_value_t = 200)]
        users: u32,
        /// Analysts taking them (analyst001, ...).
        #[arg(long, default_value_t = 8)]
        analysts: u32,
        /// The same seed gives the same traffic.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; prints its API token on the last line.
    Add {
        name: String,
        /// user, chat-user, analyst, supervisor, author or admin; repeat for several.
        #[arg(long = "role", required = true, value_parser = Role::parse)]
        roles: Vec<Role>,
        /// Name shown to others (defaults to NAME).
        #[arg(long)]
        display_name: Option<String>,
        /// Read a password for signing in to the web pages from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CHATDESK_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::load(&cli.config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(cli.command, settings))
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            let app = Application::build(settings).await?;
            if demo {
                create_demo_accounts(app.engine()).await?;
            }
            app.run_until(startup::shutdown_signal()).await
        }
        Command::Rank {
            knowledge,
            queries,
            k,
            mode,
        } => tokio::task::spawn_blocking(move || {
            chatdesk::rank::run(&settings, &knowledge, &queries, k, mode)
        })
        .await
        .context("ranking")?,
        Command::Reindex => {
            let engine =
                startup::build_engine(settings, Arc::new(Metrics::new()), Arc::new(SystemClock))
                    .await?;
            let report = engine
                .knowledge
                .reindex_with_progress(Arc::new(draw_progress))
                .await?;
            eprintln!();
            print_report(&report);
            Ok(())
        }
        Command::Traffic {
            days,
            calls_per_day,
            users,
            analysts,
            seed,
        } => {
            // The month is made on a clock moved from its first day to now.
            let now = chatdesk::domain::now_millis();
            let clock = Arc::new(ManualClock::new(now - i64::from(days) * 86_400_000));
            let engine = startup::build_engine_ranking_through(
                settings,
                Arc::new(Metrics::new()),
                clock.clone(),
                |live| Arc::new(Memo::new(live)),
            )
            .await?;
            engine
                .knowledge
                .reindex_with_progress(Arc::new(draw_progress))
                .await?;
            eprintln!();
            let plan = chatdesk::traffic::Plan {
                days,
                calls_per_day,
                users,
                analysts,
                seed,
            };
            let started = std::time::Instant::now();
            let made = chatdesk::traffic::fill(&engine, &clock, &plan, now).await?;
            println!(
                "{} calls over {days} days in {:.1} s: {} resolved by the bot, {} abandoned in \
                 the queue, {} helped by an analyst",
                made.calls,
                started.elapsed().as_secs_f64(),
                made.bot_resolved,
                made.abandoned,
                made.analyst_helped
            );
            Ok(())
        }
        Command::Migrate => {
            chatdesk::store::connect(settings.database_url.expose()).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    roles,
                    display_name,
                    password_stdin,
                },
        } => {
            let password = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password from stdin")?;
                Some(text.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let engine =
                startup::build_engine(settings, Arc::new(Metrics::new()), Arc::new(SystemClock))
                    .await?;
            let (user, token) = engine
                .accounts
                .create_user(&name, display_name.as_deref(), password, &roles)
                .await?;
            eprintln!("created user {} (id {})", user.username, user.id);
            println!("{}", token.0);
            Ok(())
        }
    }
}

const DEMO_PASSWORD: &str = "chatdesk-demo";

async fn create_demo_accounts(engine: &chatdesk::engine::Engine) -> anyhow::Result<()> {
    let accounts: [(&str, &str, &[Role]); 5] = [
        ("alice", "Alice Example", &[Role::User, Role::ChatUser]),
        ("bob", "Bob Analyst", &[Role::Analyst]),
        ("erin", "Erin Analyst", &[Role::Analyst]),
        ("dana", "Dana Supervisor", &[Role::Supervisor]),
        ("carol", "Carol Author", &[Role::Author]),
    ];
    for (name, display, roles) in accounts {
        if engine.store().login_record(name).await?.is_some() {
            continue;
        }
        let created = engine
            .accounts
            .create_user(name, Some(display), Some(DEMO_PASSWORD.to_owned()), roles)
            .await;
        match created {
            Ok(_) => {}
            // Another instance starting beside this one created it first.
            Err(e) if e.code() == ErrorCode::UsernameTaken => continue,
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            username = name,
            password = "see README",
            "demo account created"
        );
    }
    Ok(())
}

/// A one-line progress bar on stderr.
fn draw_progress(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    eprint!(
        "\rindexing [{}{}] {done}/{total} articles",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
}

fn print_report(report: &chatdesk::engine::ReindexReport) {
    let list = |ids: &[ArticleId]| {
        if ids.is_empty() {
            String::new()
        } else {
            let ids: Vec<&str> = ids.iter().map(ArticleId::as_str).collect();
            format!(": {}", ids.join(", "))
        }
    };
    eprintln!("added {}{}", report.added.len(), list(&report.added));
    eprintln!("changed {}{}", report.changed.len(), list(&report.changed));
    eprintln!("removed {}{}", report.removed.len(), list(&report.removed));
    eprintln!("skipped {}", report.skipped.len());
    for s in &report.skipped {
        let line = s.line.map(|l| format!(":{l}")).unwrap_or_default();
        eprintln!("  {}{line}: {}", s.file, s.reason);
    }
    eprintln!(
        "{} articles indexed ({} passages encoded) in {} ms",
        report.articles, report.encoded, report.took_ms
    );
}

//! `chatdesk traffic`: fills a fresh database with a month (or any number of days) of
//! realistic, reproducible desk traffic, so that insights, reports and the calls page can
//! be seen and tested without waiting a month. Seeded: the same seed and settings give
//! the same calls, outcomes and times.
//!
//! Every call is written through the same store operations the engine uses, with the
//! times set to when it happened: the bot's greeting and suggestions (ranked by the live
//! knowledge base, once per distinct description), declined articles, the handoff, the
//! wait, the analyst's first response and messages, the end with its transcript, the
//! resolution and the rating.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::call::resolver;
use crate::domain::chat::{ChatStatus, Transition};
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ArticleId, ChatId};
use crate::domain::message::{Author, AuthorRole};
use crate::domain::user::{Role, User};
use crate::domain::{Millis, capitalised};
use crate::engine::{Engine, call_view};
use crate::error::{Error, Result};
use crate::knowledge::Suggestion;
use crate::store::{
    AcceptOutcome, CallFilter, CallRecord, ChatRecord, EndChat, EndingText, NewEvent, NewRating,
    StoredEvent,
};
use crate::transcript::transcript_text;

/// What `chatdesk traffic` makes.
#[derive(Clone, Debug)]
pub struct Plan {
    pub days: u32,
    /// Calls on an average weekday (weekends get a quarter).
    pub calls_per_day: u32,
    pub users: u32,
    pub analysts: u32,
    pub seed: u64,
}

/// What was made, for the command's report.
#[derive(Debug, Default)]
pub struct Made {
    pub calls: u64,
    pub bot_resolved: u64,
    pub abandoned: u64,
    pub analyst_helped: u64,
}

/// A problem users bring: the ways they put it (the bot ranks each once) and how often
/// an article the bot offers fixes it. Some have no article at all, or one that rarely
/// helps (access requests, broken hardware): the knowledge gaps a desk would see.
struct Problem {
    asked: &'static [&'static str],
    fixed: f64,
}

const PROBLEMS: &[Problem] = &[
    Problem {
        asked: &[
            "my vpn keeps disconnecting every few minutes",
            "VPN drops all the time when I work from home",
            "the vpn connection keeps dropping",
        ],
        fixed: 0.55,
    },
    Problem {
        asked: &[
            "I forgot my password and I'm locked out of my account",
            "locked out after too many password attempts",
        ],
        fixed: 0.6,
    },
    Problem {
        asked: &[
            "the printer on floor 3 shows offline",
            "printer says offline and nothing prints",
        ],
        fixed: 0.4,
    },
    Problem {
        asked: &[
            "Outlook will not sync my mailbox since this morning",
            "new emails are not arriving in Outlook",
        ],
        fixed: 0.4,
    },
    Problem {
        asked: &[
            "my laptop is very slow after the latest update",
            "computer has been really slow since yesterday's update",
        ],
        fixed: 0.3,
    },
    Problem {
        asked: &[
            "I cannot connect to the office wifi",
            "wifi keeps saying no internet in the office",
        ],
        fixed: 0.45,
    },
    Problem {
        asked: &[
            "Teams calls drop and the audio is choppy",
            "people can't hear me properly in Teams meetings",
        ],
        fixed: 0.35,
    },
    Problem {
        asked: &[
            "I need access to the shared finance drive",
            "please give me access to the finance share",
            "access denied on the finance folder",
        ],
        fixed: 0.05,
    },
    Problem {
        asked: &[
            "my second monitor is not detected",
            "external screen stays black when I dock",
        ],
        fixed: 0.45,
    },
    Problem {
        asked: &[
            "the expense system gives error 500 when I submit",
            "expense claims fail with a server error",
            "can't submit my expenses, the page shows error 500",
        ],
        fixed: 0.0,
    },
    Problem {
        asked: &[
            "I can't install the design software, it asks for admin rights",
            "installing Figma needs an administrator password",
        ],
        fixed: 0.25,
    },
    Problem {
        asked: &[
            "my phone no longer gets work email",
            "work mail stopped syncing on my iPhone",
        ],
        fixed: 0.5,
    },
    Problem {
        asked: &[
            "the badge reader at the side entrance rejects my card",
            "my access badge stopped opening the doors",
        ],
        fixed: 0.0,
    },
    Problem {
        asked: &[
            "excel crashes when I open the quarterly report",
            "Excel closes by itself when I open a big spreadsheet",
        ],
        fixed: 0.3,
    },
    Problem {
        asked: &[
            "my keyboard types the wrong characters",
            "the @ and \" keys are swapped on my keyboard",
        ],
        fixed: 0.6,
    },
    Problem {
        asked: &[
            "I need a new laptop charger",
            "my laptop charger is broken, can I get a replacement",
        ],
        fixed: 0.1,
    },
];

/// Scores 1 to 5, weighted as desks commonly see them (mostly satisfied).
const SCORES: [(i64, f64); 5] = [(5, 0.5), (4, 0.25), (3, 0.12), (2, 0.08), (1, 0.05)];

const SECOND: Millis = 1000;
const DAY: Millis = 24 * 60 * 60 * SECOND;

/// An exponentially distributed duration with this mean, in milliseconds.
fn exponential(rng: &mut StdRng, mean_secs: f64) -> Millis {
    (-mean_secs * (1.0 - rng.r#gen::<f64>()).ln() * 1000.0) as Millis
}

/// Fills the database behind `engine` with `plan`'s traffic, ending at `now`. Refuses a
/// database that already holds calls (`invalid`), so that real history is never mixed
/// with made-up traffic.
pub async fn fill(engine: &Engine, plan: &Plan, now: Millis) -> Result<Made> {
    let store = engine.store();
    let any_call = CallFilter {
        status: None,
        username: None,
        text: None,
        id: None,
        limit: 1,
    };
    if !store.find_calls(&any_call).await?.is_empty() {
        return Err(Error::invalid(
            "database",
            "it already holds calls; traffic fills a fresh database only",
        ));
    }
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let users = accounts(engine, "user", plan.users, &[Role::User, Role::ChatUser]).await?;
    let analysts = accounts(engine, "analyst", plan.analysts, &[Role::Analyst]).await?;
    let mut ranked: HashMap<&str, Vec<Suggestion>> = HashMap::new();
    for asked in PROBLEMS.iter().flat_map(|p| p.asked) {
        ranked.insert(asked, engine.bot_suggestions(asked).await?);
    }
    let start = now - i64::from(plan.days) * DAY;
    for analyst in &analysts {
        store.set_presence(analyst.id, true, 50, start).await?;
    }
    let mut made = Made::default();
    for day in 0..i64::from(plan.days) {
        let midnight = (start / DAY + day) * DAY;
        // 1970-01-01 was a Thursday: day 0 of this count is a Sunday.
        let weekend = matches!((midnight / DAY + 4) % 7, 0 | 6);
        let mean = f64::from(plan.calls_per_day) * if weekend { 0.25 } else { 1.0 };
        // Busy days and quiet ones: the day's count varies by a fifth either way.
        let calls = (mean * rng.gen_range(0.8..1.2)).round() as u32;
        let mut times: Vec<Millis> = (0..calls)
            .map(|_| midnight + 8 * 3600 * SECOND + rng.gen_range(0..10 * 3600 * SECOND))
            .filter(|t| *t < now)
            .collect();
        times.sort_unstable();
        for at in times {
            let user = &users[rng.gen_range(0..users.len())];
            let analyst = &analysts[rng.gen_range(0..analysts.len())];
            let problem = &PROBLEMS[rng.gen_range(0..PROBLEMS.len())];
            let asked = problem.asked[rng.gen_range(0..problem.asked.len())];
            one_call(
                engine,
                &mut rng,
                (user, analyst),
                (asked, problem.fixed),
                &ranked[asked],
                at,
                &mut made,
            )
            .await?;
        }
    }
    for analyst in &analysts {
        store.set_presence(analyst.id, false, 50, now).await?;
    }
    Ok(made)
}

async fn accounts(engine: &Engine, prefix: &str, n: u32, roles: &[Role]) -> Result<Vec<User>> {
    let mut made = Vec::new();
    for i in 1..=n.max(1) {
        let name = format!("{prefix}{i:03}");
        let user = match engine.store().user_by_username(&name).await? {
            Some(user) => user,
            None => {
                let display = format!("{} {i}", capitalised(prefix));
                engine
                    .create_user(&name, Some(&display), None, roles)
                    .await?
                    .0
            }
        };
        made.push(user);
    }
    Ok(made)
}

/// One call from start to end, at `at`: `problem` as the user asked it, and how often an
/// article fixes it.
async fn one_call(
    engine: &Engine,
    rng: &mut StdRng,
    (user, analyst): (&User, &User),
    (problem, fixed): (&str, f64),
    offered: &[Suggestion],
    at: Millis,
    made: &mut Made,
) -> Result<()> {
    let store = engine.store();
    let chat = store.create_chat(user.id, problem, at).await?;
    let bot = Author::bot();
    let mut t = at;
    say(
        engine,
        chat.id,
        &bot,
        if offered.is_empty() {
            "Hi, I've logged your call. I couldn't find an article that matches."
        } else {
            "Hi, I've logged your call. These articles may fix it."
        },
        t,
    )
    .await?;
    append(
        engine,
        chat.id,
        ChatEvent::Suggestions {
            items: offered.to_vec(),
        },
        t,
    )
    .await?;
    made.calls += 1;

    // Some fix it with an article (the first more often than the second).
    if !offered.is_empty() && rng.gen_bool(fixed) {
        let pick = if offered.len() > 1 && rng.gen_bool(0.3) {
            store
                .decline_article(chat.id, &offered[0].article_id)
                .await?;
            1
        } else {
            0
        };
        t += 30 * SECOND + exponential(rng, 90.0);
        end(
            engine,
            &chat,
            AuthorRole::Bot,
            Some(&offered[pick].article_id),
            t,
        )
        .await?;
        made.bot_resolved += 1;
        return Ok(());
    }
    // The others decline some suggestions and ask for an analyst.
    for s in offered.iter().filter(|_| rng.gen_bool(0.5)) {
        store.decline_article(chat.id, &s.article_id).await?;
    }
    t += 20 * SECOND + exponential(rng, 40.0);
    store
        .transition(chat.id, Transition::Handoff, t)
        .await?
        .map_err(not_open)?;
    let wait = exponential(rng, 150.0);
    if rng.gen_bool(0.08) {
        // Gave up waiting.
        end(
            engine,
            &chat,
            AuthorRole::User,
            None,
            t + wait.max(30 * SECOND),
        )
        .await?;
        made.abandoned += 1;
        return Ok(());
    }
    t += wait;
    match store.accept(chat.id, analyst.id, 50, t).await? {
        AcceptOutcome::Accepted(_) => {}
        _ => {
            return Err(Error::Internal(anyhow::anyhow!(
                "traffic: an analyst could not take a chat"
            )));
        }
    }
    let them = Author {
        role: AuthorRole::Analyst,
        name: analyst.display_name.clone(),
        id: Some(analyst.id),
    };
    let me = Author {
        role: AuthorRole::User,
        name: user.display_name.clone(),
        id: Some(user.id),
    };
    t += 5 * SECOND + exponential(rng, 25.0);
    say(
        engine,
        chat.id,
        &them,
        "Hello, I'm looking at your call now.",
        t,
    )
    .await?;
    store.record_first_response(chat.id, t).await?;
    for _ in 0..rng.gen_range(1..4) {
        t += exponential(rng, 60.0);
        say(
            engine,
            chat.id,
            &me,
            "I tried that, it is still the same.",
            t,
        )
        .await?;
        t += exponential(rng, 90.0);
        say(
            engine,
            chat.id,
            &them,
            "Thanks. Let's try the next step.",
            t,
        )
        .await?;
    }
    t += exponential(rng, 120.0);
    end(engine, &chat, AuthorRole::Analyst, None, t).await?;
    made.analyst_helped += 1;
    if rng.gen_bool(0.9) {
        t += exponential(rng, 300.0);
        store
            .resolve_call(
                chat.call_id,
                "Fixed with the user in chat.",
                &analyst.username,
                t,
            )
            .await?;
    }
    if rng.gen_bool(0.6) {
        let draw: f64 = rng.r#gen();
        let mut total = 0.0;
        let score = SCORES
            .iter()
            .find(|(_, share)| {
                total += share;
                draw < total
            })
            .map_or(5, |(score, _)| *score);
        store
            .rate_chat(&NewRating {
                chat_id: chat.id,
                call_id: chat.call_id,
                score,
                comment: None,
                at: t + 60 * SECOND,
            })
            .await?;
    }
    Ok(())
}

fn not_open(status: ChatStatus) -> Error {
    Error::Internal(anyhow::anyhow!("traffic: a chat was already {status}"))
}

async fn say(engine: &Engine, chat: ChatId, who: &Author, text: &str, at: Millis) -> Result<()> {
    let message = ChatEvent::Message {
        author: who.clone(),
        text: text.to_owned(),
        client_id: None,
        article: None,
    };
    append(engine, chat, message, at).await
}

async fn append(engine: &Engine, chat: ChatId, event: ChatEvent, at: Millis) -> Result<()> {
    engine
        .store()
        .append_event(chat, &NewEvent { event, now: at })
        .await?;
    Ok(())
}

/// Ends the chat at `at` with its transcript, as the engine does.
async fn end(
    engine: &Engine,
    chat: &ChatRecord,
    ended_by: AuthorRole,
    accepted: Option<&ArticleId>,
    at: Millis,
) -> Result<()> {
    let render = move |chat: &ChatRecord, call: &CallRecord, history: &[StoredEvent]| EndingText {
        transcript: transcript_text(chat, history, ended_by, at),
        ended: ChatEvent::Ended {
            call: call_view(call),
            ended_by,
        },
    };
    engine
        .store()
        .end_chat(&EndChat {
            chat_id: chat.id,
            from: Transition::End.allowed_from(),
            ended_by,
            resolved_by: accepted.map(|_| resolver::BOT),
            accepted_article: accepted,
            now: at,
            render: &render,
        })
        .await?
        .map_err(not_open)?;
    Ok(())
}

//! `chatdesk traffic`: fills a fresh database with a month (or any number of days) of
//! realistic, reproducible desk traffic, so that insights, reports and the calls page can
//! be seen and tested without waiting a month. Seeded: the same seed and settings give
//! the same calls, outcomes and times.
//!
//! Every call goes through the engine's own services, on a clock moved to when each step
//! happened: the user starts a chat (the bot greets them and offers what the live
//! knowledge base ranks), declines articles or accepts one, asks for an analyst and waits,
//! an analyst accepts and answers, the chat ends with its transcript, the call is
//! resolved and rated. What is stored is what the product stores.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::ids::ChatId;
use crate::domain::user::{Role, User};
use crate::domain::{Millis, capitalised};
use crate::engine::Engine;
use crate::engine::clock::{Clock, ManualClock};
use crate::error::{Error, Result};
use crate::store::CallFilter;

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

/// Fills the database behind `engine` with `plan`'s traffic, ending at `now`, moving
/// `clock` (the engine's) through the month as it goes. Refuses a database that already
/// holds calls (`invalid`), so that real history is never mixed with made-up traffic, and
/// a clock already past the month's start.
pub async fn fill(engine: &Engine, clock: &ManualClock, plan: &Plan, now: Millis) -> Result<Made> {
    let any_call = CallFilter {
        status: None,
        username: None,
        text: None,
        id: None,
        limit: 1,
    };
    if !engine.store().find_calls(&any_call).await?.is_empty() {
        return Err(Error::invalid(
            "database",
            "it already holds calls; traffic fills a fresh database only",
        ));
    }
    let start = now - i64::from(plan.days) * DAY;
    if clock.now() > start {
        return Err(Error::invalid(
            "clock",
            "the engine's clock is past the first day of the traffic",
        ));
    }
    clock.advance_to(start).await;
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let users = accounts(engine, "user", plan.users, &[Role::User, Role::ChatUser]).await?;
    let analysts = accounts(engine, "analyst", plan.analysts, &[Role::Analyst]).await?;
    for analyst in &analysts {
        engine
            .desk
            .set_presence(analyst, true, Some(MAX_CHATS))
            .await?;
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
            .filter(|t| *t < now && *t >= start)
            .collect();
        times.sort_unstable();
        for at in times {
            let user = &users[rng.gen_range(0..users.len())];
            let analyst = &analysts[rng.gen_range(0..analysts.len())];
            let problem = &PROBLEMS[rng.gen_range(0..PROBLEMS.len())];
            let asked = problem.asked[rng.gen_range(0..problem.asked.len())];
            let call = Call {
                engine,
                clock,
                user,
                analyst,
            };
            call.run(&mut rng, (asked, problem.fixed), at, &mut made)
                .await?;
        }
    }
    clock.advance_to(now).await;
    for analyst in &analysts {
        engine.desk.set_presence(analyst, false, None).await?;
    }
    Ok(made)
}

/// The most chats an analyst of the traffic takes at once (calls come one at a time).
const MAX_CHATS: u32 = 50;

async fn accounts(engine: &Engine, prefix: &str, n: u32, roles: &[Role]) -> Result<Vec<User>> {
    let mut made = Vec::new();
    for i in 1..=n.max(1) {
        let name = format!("{prefix}{i:03}");
        let user = match engine.store().user_by_username(&name).await? {
            Some(user) => user,
            None => {
                let display = format!("{} {i}", capitalised(prefix));
                engine
                    .accounts
                    .create_user(&name, Some(&display), None, roles)
                    .await?
                    .0
            }
        };
        made.push(user);
    }
    Ok(made)
}

/// One call's people, and the services and clock it goes through.
struct Call<'a> {
    engine: &'a Engine,
    clock: &'a ManualClock,
    user: &'a User,
    analyst: &'a User,
}

impl Call<'_> {
    /// One call from start to end, at `at`: `problem` as the user asked it, and how often
    /// an article fixes it.
    async fn run(
        &self,
        rng: &mut StdRng,
        (problem, fixed): (&str, f64),
        at: Millis,
        made: &mut Made,
    ) -> Result<()> {
        let (engine, user, analyst) = (self.engine, self.user, self.analyst);
        let mut t = at;
        self.clock.advance_to(t).await;
        let started = engine.chats.start_chat(user, problem).await?;
        let (chat, offered) = (started.chat.id, started.suggestions);
        made.calls += 1;

        // Some fix it with an article (the first more often than the second).
        if !offered.is_empty() && rng.gen_bool(fixed) {
            let pick = if offered.len() > 1 && rng.gen_bool(0.3) {
                engine
                    .chats
                    .decline_suggestion(user, chat, &offered[0].article_id)
                    .await?;
                1
            } else {
                0
            };
            t += 30 * SECOND + exponential(rng, 90.0);
            self.clock.advance_to(t).await;
            engine
                .chats
                .accept_suggestion(user, chat, &offered[pick].article_id)
                .await?;
            made.bot_resolved += 1;
            return Ok(());
        }
        // The others decline some suggestions and ask for an analyst.
        for s in offered.iter().filter(|_| rng.gen_bool(0.5)) {
            engine
                .chats
                .decline_suggestion(user, chat, &s.article_id)
                .await?;
        }
        t += 20 * SECOND + exponential(rng, 40.0);
        self.clock.advance_to(t).await;
        engine.chats.handoff(user, chat).await?;
        let wait = exponential(rng, 150.0);
        if rng.gen_bool(0.08) {
            // Gave up waiting.
            self.clock.advance_to(t + wait.max(30 * SECOND)).await;
            engine.chats.end_chat(user, chat).await?;
            made.abandoned += 1;
            return Ok(());
        }
        t += wait;
        self.clock.advance_to(t).await;
        engine.desk.accept_chat(analyst, chat).await?;
        t += 5 * SECOND + exponential(rng, 25.0);
        self.say(analyst, chat, "Hello, I'm looking at your call now.", t)
            .await?;
        for _ in 0..rng.gen_range(1..4) {
            t += exponential(rng, 60.0);
            self.say(user, chat, "I tried that, it is still the same.", t)
                .await?;
            t += exponential(rng, 90.0);
            self.say(analyst, chat, "Thanks. Let's try the next step.", t)
                .await?;
        }
        t += exponential(rng, 120.0);
        self.clock.advance_to(t).await;
        engine.chats.end_chat(analyst, chat).await?;
        made.analyst_helped += 1;
        if rng.gen_bool(0.9) {
            t += exponential(rng, 300.0);
            self.clock.advance_to(t).await;
            engine
                .calls
                .resolve_call(analyst, started.call.id, "Fixed with the user in chat.")
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
            self.clock.advance_to(t + 60 * SECOND).await;
            engine.chats.rate_chat(user, chat, score, None).await?;
        }
        Ok(())
    }

    async fn say(&self, who: &User, chat: ChatId, text: &str, at: Millis) -> Result<()> {
        self.clock.advance_to(at).await;
        self.engine
            .chats
            .post_message(who, chat, text, None)
            .await?;
        Ok(())
    }
}

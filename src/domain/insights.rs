//! The desk's figures, derived from each call's history: what the bot resolved, how long
//! people waited for an analyst, how fast analysts answered and finished, and how users
//! rated the help. Pure functions over [`CallHistory`] rows, so that the JSON summary and
//! the CSV export cannot disagree.
//!
//! Definitions (contract, "Additions: insights"): a call is `bot_resolved` when its user
//! accepted a suggestion; `abandoned` when its chat ended while queued; `handed_off` when
//! it was queued at least once. Wait is queued to accepted; first response is accepted to
//! the analyst's first message; handle time is accepted to end. A transfer changes none
//! of these clocks.

use serde::Serialize;

use super::Millis;
use super::chat::ChatStatus;
use super::ids::CallId;
use crate::error::Error;

/// One call and the times of its chat (the first, when it had several), in milliseconds
/// since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallHistory {
    pub call_id: CallId,
    pub logged_at: Millis,
    /// The call is resolved (by the bot or an analyst).
    pub resolved: bool,
    /// The user accepted a suggestion ("This fixed it").
    pub accepted_suggestion: bool,
    /// First queued (a transfer back to the queue keeps this).
    pub queued_at: Option<Millis>,
    /// First accepted by an analyst.
    pub accepted_at: Option<Millis>,
    /// The first analyst message after acceptance.
    pub first_response_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    /// The state the chat ended from.
    pub ended_from: Option<ChatStatus>,
    /// Username of the analyst who had the chat last.
    pub analyst: Option<String>,
    /// The newest rating of the call's chats, 1 to 5.
    pub rating: Option<i64>,
}

named_enum! {
    /// How a call went, for the CSV export; the first that applies, in this order.
    #[strum(serialize_all = "snake_case")]
    pub enum Outcome {
        BotResolved,
        Abandoned,
        AnalystResolved,
        Open,
    }
}

impl CallHistory {
    pub fn outcome(&self) -> Outcome {
        if self.accepted_suggestion {
            Outcome::BotResolved
        } else if self.ended_from == Some(ChatStatus::Queued) {
            Outcome::Abandoned
        } else if self.resolved {
            Outcome::AnalystResolved
        } else {
            Outcome::Open
        }
    }

    pub fn handed_off(&self) -> bool {
        self.queued_at.is_some()
    }

    /// Queued to accepted, in seconds.
    pub fn wait_secs(&self) -> Option<f64> {
        span(self.queued_at, self.accepted_at)
    }

    /// Accepted to the analyst's first message, in seconds.
    pub fn first_response_secs(&self) -> Option<f64> {
        span(self.accepted_at, self.first_response_at)
    }

    /// Accepted to the end of the chat, in seconds.
    pub fn handle_secs(&self) -> Option<f64> {
        span(self.accepted_at, self.ended_at)
    }
}

fn span(from: Option<Millis>, to: Option<Millis>) -> Option<f64> {
    Some((to? - from?).max(0) as f64 / 1000.0)
}

/// The 50th and 90th percentiles of some durations, in seconds; `null` without data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

impl Percentiles {
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self {
            p50: nearest_rank(&values, 50),
            p90: nearest_rank(&values, 90),
        }
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `p`% of
/// the values at or below it (NIST's definition, no interpolation); `None` when empty.
pub fn nearest_rank(sorted: &[f64], p: u32) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1);
    Some(sorted[rank as usize - 1])
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RatingSummary {
    pub responses: u64,
    /// Mean score, 1 to 5; `null` without responses.
    pub mean: Option<f64>,
    /// Share of responses scoring 4 or 5, 0 to 1; `null` without responses.
    pub share_4_or_5: Option<f64>,
}

/// `GET /insights`: figures over the calls logged in a range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Insights {
    pub calls: u64,
    pub bot_resolved: u64,
    /// `bot_resolved / calls`; `null` without calls.
    pub deflection_rate: Option<f64>,
    pub handed_off: u64,
    pub abandoned: u64,
    /// `abandoned / handed_off`: the share of users who gave up waiting; `null` when
    /// nobody was queued.
    pub abandonment_rate: Option<f64>,
    pub wait_secs: Percentiles,
    pub first_response_secs: Percentiles,
    pub handle_secs: Percentiles,
    pub rating: RatingSummary,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Insights {
    pub fn of(history: &[CallHistory]) -> Self {
        let count =
            |f: &dyn Fn(&CallHistory) -> bool| history.iter().filter(|c| f(c)).count() as u64;
        let calls = history.len() as u64;
        let bot_resolved = count(&|c| c.outcome() == Outcome::BotResolved);
        let handed_off = count(&|c| c.handed_off());
        let abandoned = count(&|c| c.outcome() == Outcome::Abandoned);
        let collect = |f: fn(&CallHistory) -> Option<f64>| history.iter().filter_map(f).collect();
        let scores: Vec<i64> = history.iter().filter_map(|c| c.rating).collect();
        let responses = scores.len() as u64;
        Self {
            calls,
            bot_resolved,
            deflection_rate: ratio(bot_resolved, calls),
            handed_off,
            abandoned,
            abandonment_rate: ratio(abandoned, handed_off),
            wait_secs: Percentiles::of(collect(CallHistory::wait_secs)),
            first_response_secs: Percentiles::of(collect(CallHistory::first_response_secs)),
            handle_secs: Percentiles::of(collect(CallHistory::handle_secs)),
            rating: RatingSummary {
                responses,
                mean: (responses > 0).then(|| scores.iter().sum::<i64>() as f64 / responses as f64),
                share_4_or_5: ratio(scores.iter().filter(|s| **s >= 4).count() as u64, responses),
            },
        }
    }
}

const DAY: Millis = 24 * 60 * 60 * 1000;

/// The range when none is given: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

/// A period of calls as asked for, each end an RFC 3339 time (`2026-11-01T09:00:00Z`) or a
/// date (`2026-11-01`, UTC), or left out. A date as `to` includes that whole day. Made by
/// [`DateRange::parse`] where a request is read; [`DateRange::resolve`] gives the
/// milliseconds once the time is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateRange {
    from: Option<Millis>,
    to: Option<Millis>,
}

impl DateRange {
    /// # Errors
    /// `invalid` naming the field that is neither a time nor a date, or `from` when both
    /// are given and `from` is not before `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, Error> {
        fn given(t: Option<&str>) -> Option<&str> {
            t.map(str::trim).filter(|t| !t.is_empty())
        }
        // `to` first: with both wrong, the error names `to`, as it always has.
        let to = given(to).map(|t| parse_time("to", t, true)).transpose()?;
        let from = given(from)
            .map(|t| parse_time("from", t, false))
            .transpose()?;
        let range = Self { from, to };
        if let (Some(from), Some(to)) = (range.from, range.to) {
            check_order(from, to)?;
        }
        Ok(range)
    }

    /// `[from, to)` in milliseconds: without `to`, up to `now`; without `from`, 30 days
    /// before `to`.
    ///
    /// # Errors
    /// `invalid` (field `from`) when `from` is not before `to`.
    pub fn resolve(self, now: Millis) -> Result<(Millis, Millis), Error> {
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - DEFAULT_DAYS * DAY);
        check_order(from, to)?;
        Ok((from, to))
    }
}

fn check_order(from: Millis, to: Millis) -> Result<(), Error> {
    if from >= to {
        return Err(Error::invalid("from", "it must be before `to`"));
    }
    Ok(())
}

fn parse_time(field: &'static str, text: &str, end_of_day: bool) -> Result<Millis, Error> {
    use time::format_description::well_known::Rfc3339;
    let bad = || {
        Error::invalid(
            field,
            "use an RFC 3339 time (2026-11-01T09:00:00Z) or a date (2026-11-01)",
        )
    };
    let at = match time::OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let date = time::Date::parse(
                text,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| bad())?;
            let day = date.midnight().assume_utc();
            if end_of_day {
                day + time::Duration::DAY
            } else {
                day
            }
        }
    };
    Millis::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

/// One UTC day of a range, for the reports' charts: its calls by outcome and the median
/// wait and first response of the calls logged that day.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Day {
    /// Midnight UTC that starts the day, in milliseconds since the Unix epoch.
    pub start: Millis,
    pub bot_resolved: u64,
    pub analyst_resolved: u64,
    pub abandoned: u64,
    pub open: u64,
    /// Median wait of the day's calls, seconds; `None` when none waited.
    pub wait_p50: Option<f64>,
    /// Median first response of the day's calls, seconds.
    pub first_response_p50: Option<f64>,
}

impl Day {
    pub fn calls(&self) -> u64 {
        self.bot_resolved + self.analyst_resolved + self.abandoned + self.open
    }

    /// `bot_resolved / calls`; `None` on a day without calls.
    pub fn deflection_rate(&self) -> Option<f64> {
        ratio(self.bot_resolved, self.calls())
    }
}

/// Every UTC day that `[from, to)` touches, oldest first, days without calls included;
/// `history` must be the calls logged in that range.
pub fn by_day(history: &[CallHistory], from: Millis, to: Millis) -> Vec<Day> {
    let first = from.div_euclid(DAY);
    let last = (to - 1).div_euclid(DAY).max(first);
    let mut days: Vec<Day> = (first..=last)
        .map(|d| Day {
            start: d * DAY,
            ..Day::default()
        })
        .collect();
    let mut waits: Vec<Vec<f64>> = vec![Vec::new(); days.len()];
    let mut responses: Vec<Vec<f64>> = vec![Vec::new(); days.len()];
    for call in history {
        let Ok(i) = usize::try_from(call.logged_at.div_euclid(DAY) - first) else {
            continue;
        };
        let Some(day) = days.get_mut(i) else { continue };
        match call.outcome() {
            Outcome::BotResolved => day.bot_resolved += 1,
            Outcome::AnalystResolved => day.analyst_resolved += 1,
            Outcome::Abandoned => day.abandoned += 1,
            Outcome::Open => day.open += 1,
        }
        waits[i].extend(call.wait_secs());
        responses[i].extend(call.first_response_secs());
    }
    for (i, day) in days.iter_mut().enumerate() {
        day.wait_p50 = Percentiles::of(std::mem::take(&mut waits[i])).p50;
        day.first_response_p50 = Percentiles::of(std::mem::take(&mut responses[i])).p50;
    }
    days
}

/// How many ratings gave each score: index 0 counts the 1s, index 4 the 5s.
pub fn rating_counts(history: &[CallHistory]) -> [u64; 5] {
    let mut counts = [0; 5];
    for score in history.iter().filter_map(|c| c.rating) {
        if let Ok(i) = usize::try_from(score - 1)
            && i < 5
        {
            counts[i] += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Millis = 1000;

    fn call(id: i64) -> CallHistory {
        CallHistory {
            call_id: CallId(id),
            logged_at: 0,
            resolved: false,
            accepted_suggestion: false,
            queued_at: None,
            accepted_at: None,
            first_response_at: None,
            ended_at: None,
            ended_from: None,
            analyst: None,
            rating: None,
        }
    }

    /// Queued at 10 s, waited `wait` s, answered `first` s later, ended `handle` s after
    /// acceptance.
    fn helped(id: i64, wait: i64, first: i64, handle: i64) -> CallHistory {
        CallHistory {
            resolved: true,
            queued_at: Some(10 * S),
            accepted_at: Some((10 + wait) * S),
            first_response_at: Some((10 + wait + first) * S),
            ended_at: Some((10 + wait + handle) * S),
            ended_from: Some(ChatStatus::Active),
            analyst: Some("bob".into()),
            ..call(id)
        }
    }

    #[test]
    fn nearest_rank_follows_its_definition() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(nearest_rank(&v, 50), Some(5.0));
        assert_eq!(nearest_rank(&v, 90), Some(9.0));
        assert_eq!(nearest_rank(&[4.0], 90), Some(4.0));
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0], 50), Some(2.0));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn outcomes_follow_the_definitions() {
        let bot = CallHistory {
            accepted_suggestion: true,
            resolved: true,
            ended_from: Some(ChatStatus::Bot),
            ..call(1)
        };
        let gave_up = CallHistory {
            queued_at: Some(0),
            ended_from: Some(ChatStatus::Queued),
            ..call(2)
        };
        let still_open = CallHistory {
            ended_from: Some(ChatStatus::Bot),
            ..call(3)
        };
        assert_eq!(bot.outcome(), Outcome::BotResolved);
        assert_eq!(gave_up.outcome(), Outcome::Abandoned);
        assert_eq!(helped(4, 1, 1, 1).outcome(), Outcome::AnalystResolved);
        assert_eq!(still_open.outcome(), Outcome::Open);
        assert_eq!(Outcome::BotResolved.as_str(), "bot_resolved");
    }

    #[test]
    fn a_scripted_desk_gives_exact_figures() {
        let history = vec![
            CallHistory {
                accepted_suggestion: true,
                resolved: true,
                ended_from: Some(ChatStatus::Bot),
                rating: Some(5),
                ..call(1)
            },
            CallHistory {
                queued_at: Some(0),
                ended_at: Some(90 * S),
                ended_from: Some(ChatStatus::Queued),
                ..call(2)
            },
            CallHistory {
                rating: Some(2),
                ..helped(3, 30, 5, 300)
            },
            CallHistory {
                rating: Some(4),
                ..helped(4, 60, 15, 600)
            },
            call(5),
        ];
        let i = Insights::of(&history);
        assert_eq!(
            (i.calls, i.bot_resolved, i.handed_off, i.abandoned),
            (5, 1, 3, 1)
        );
        assert_eq!(i.deflection_rate, Some(0.2));
        assert_eq!(i.abandonment_rate, Some(1.0 / 3.0));
        assert_eq!(
            i.wait_secs,
            Percentiles {
                p50: Some(30.0),
                p90: Some(60.0)
            }
        );
        assert_eq!(i.first_response_secs.p50, Some(5.0));
        assert_eq!(
            i.handle_secs,
            Percentiles {
                p50: Some(300.0),
                p90: Some(600.0)
            }
        );
        assert_eq!(i.rating.responses, 3);
        assert_eq!(i.rating.mean, Some(11.0 / 3.0));
        assert_eq!(i.rating.share_4_or_5, Some(2.0 / 3.0));
    }

    #[test]
    fn no_calls_give_no_rates() {
        let i = Insights::of(&[]);
        assert_eq!(i.calls, 0);
        assert_eq!(i.deflection_rate, None);
        assert_eq!(i.abandonment_rate, None);
        assert_eq!(i.wait_secs.p50, None);
        assert_eq!(i.rating.mean, None);
    }

    #[test]
    fn days_count_outcomes_and_include_quiet_days() {
        let mut fixed = call(1);
        fixed.accepted_suggestion = true;
        let mut waited = call(2);
        waited.logged_at = 2 * DAY + 5;
        waited.queued_at = Some(2 * DAY + 5);
        waited.accepted_at = Some(2 * DAY + 5 + 30 * S);
        waited.rating = Some(4);
        let days = by_day(&[fixed, waited.clone()], 0, 3 * DAY - 1);
        assert_eq!(days.len(), 3);
        assert_eq!((days[0].bot_resolved, days[0].calls()), (1, 1));
        assert_eq!(days[0].deflection_rate(), Some(1.0));
        assert_eq!(days[1].calls(), 0, "a quiet day is still a day");
        assert_eq!(days[1].deflection_rate(), None);
        assert_eq!((days[2].open, days[2].wait_p50), (1, Some(30.0)));
        assert_eq!(days[2].start, 2 * DAY);
        assert_eq!(rating_counts(&[waited]), [0, 0, 0, 1, 0]);
    }
}

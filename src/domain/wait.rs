//! The wait estimate a queued user sees: a range, from the pace at which analysts have
//! recently been taking chats from the queue and the analysts online now.
//!
//! The pace is measured while there was work: the recent acceptances divided by the time
//! the queue held at least one chat (the union of recent chats' queued-to-accepted
//! intervals, and of the waiting chats' so far). A desk that takes chats the moment they
//! arrive thus shows short waits, and one that falls behind shows its real throughput.
//! It is scaled by the analysts online now against those who took the chats.
//!
//! The model: analysts take queued chats as a Poisson process at that rate, so the wait of
//! the chat at place `p` is the time to the `p`-th acceptance, Gamma-distributed with
//! shape `p` (the Erlang distribution; e.g. Ross, *Introduction to Probability Models*,
//! §5.3), widened for the rate being an estimate (see [`Pace::estimate`]). The range
//! shown is its central [`COVERAGE`] interval. Without enough recent acceptances there is
//! no estimate.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF};

use super::Millis;
use super::ids::UserId;

/// The share of waits the range holds in the model: its ends are the 5th and 95th
/// percentiles of the modelled wait. The model does not foresee the desk changing pace,
/// so the measured share is lower (docs/insights.md, "Wait estimate": the 80% interval held 74.5%
/// of waits, this one the figure given there).
pub const COVERAGE: f64 = 0.9;

/// A wait range, in whole seconds, `low_secs <= high_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitEstimate {
    pub low_secs: u64,
    pub high_secs: u64,
}

/// The desk's recent pace: `events` acceptances observed over `busy_secs` of queue time,
/// and how many times faster the analysts online now should be (`staffing`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    events: f64,
    busy_secs: f64,
    staffing: f64,
}

/// One chat taken from the queue: when it first queued, when it was first accepted,
/// and by which analyst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub queued_at: Millis,
    pub at: Millis,
    pub analyst: UserId,
}

impl Pace {
    /// The pace from recent acceptances (any order), the times the chats waiting now
    /// joined the queue, the analysts online now and `now`. `None` with fewer than
    /// `min_accepts` acceptances or nobody online: there is too little to go on, and
    /// saying nothing beats a guess.
    ///
    /// The rate is `(n - 1) / busy`, `busy` the time since the first of the `n`
    /// acceptances during which the queue held a chat (at least one second), scaled by `online / distinct analysts who accepted`, clamped to
    /// `[1/4, 2]`.
    pub fn from_history(
        accepts: &[Acceptance],
        waiting_since: &[Millis],
        online_now: i64,
        now: Millis,
        min_accepts: usize,
    ) -> Option<Self> {
        if online_now <= 0 || accepts.len() < min_accepts.max(2) {
            return None;
        }
        // The window opens at the first acceptance counted: queue time before it would
        // lower the pace of a desk whose chats had waited long.
        let opens = accepts.iter().map(|a| a.at).min()?;
        let mut busy: Vec<(Millis, Millis)> = accepts
            .iter()
            .map(|a| (a.queued_at, a.at))
            .chain(waiting_since.iter().map(|&q| (q, now)))
            .map(|(start, end)| (start.max(opens), end.max(opens)))
            .collect();
        let busy_secs = (union_length(&mut busy) as f64 / 1000.0).max(1.0);
        let mut staffed: Vec<UserId> = accepts.iter().map(|a| a.analyst).collect();
        staffed.sort_unstable();
        staffed.dedup();
        // Fewer analysts online than took the recent chats slows the pace; more do not
        // speed it up (the latest acceptances undercount a large team).
        let staffing = (online_now as f64 / staffed.len() as f64).clamp(0.25, 1.0);
        Some(Self {
            events: (accepts.len() - 1).max(1) as f64,
            busy_secs,
            staffing,
        })
    }

    /// Chats taken per second, as estimated.
    fn per_sec(&self) -> f64 {
        self.events / self.busy_secs * self.staffing
    }

    /// The range for the chat at `position` (1 = next to be taken).
    ///
    /// The rate itself is only estimated from `m` acceptances over `busy` seconds: taking
    /// its distribution as Gamma(`m`, `busy`) (the posterior under the scale-invariant
    /// prior), the wait for the `p`-th acceptance is `busy / staffing × B / (1 − B)` with
    /// `B ~ Beta(p, m)` (the compound Gamma-Gamma, or beta prime, distribution). Its
    /// quantiles come from the Beta's, so a pace read from few acceptances gives a wider
    /// range.
    pub fn estimate(&self, position: i64) -> WaitEstimate {
        let shape = position.max(1) as f64;
        let tail = (1.0 - COVERAGE) / 2.0;
        let scale = self.busy_secs / self.staffing;
        let (low, high) = match Beta::new(shape, self.events) {
            Ok(b) => {
                let wait = |q: f64| {
                    let x = b.inverse_cdf(q);
                    scale * x / (1.0 - x).max(f64::EPSILON)
                };
                (wait(tail), wait(1.0 - tail))
            }
            // Unreachable for positive shapes; the mean alone then.
            Err(_) => (shape / self.per_sec(), shape / self.per_sec()),
        };
        WaitEstimate {
            low_secs: low.max(0.0).floor() as u64,
            high_secs: high.max(low).max(0.0).ceil() as u64,
        }
    }
}

/// The total length covered by some intervals `(start, end)`, overlaps counted once.
fn union_length(intervals: &mut [(Millis, Millis)]) -> Millis {
    intervals.sort_unstable();
    let mut total = 0;
    let mut current: Option<(Millis, Millis)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` chats, each queued `wait` s before it was taken, one taken every `every` s.
    fn taken(every: i64, wait: i64, n: i64, analysts: i64) -> Vec<Acceptance> {
        (0..n)
            .map(|i| Acceptance {
                queued_at: (i * every - wait) * 1000,
                at: i * every * 1000,
                analyst: UserId(i % analysts),
            })
            .collect()
    }

    #[test]
    fn intervals_are_counted_once() {
        assert_eq!(union_length(&mut [(0, 10), (5, 20), (30, 40)]), 30);
        assert_eq!(union_length(&mut [(30, 40), (0, 10)]), 20);
        assert_eq!(union_length(&mut []), 0);
    }

    #[test]
    fn too_little_history_says_nothing() {
        let accepts = taken(60, 60, 3, 1);
        assert_eq!(Pace::from_history(&accepts, &[], 1, 200_000, 5), None);
        let accepts = taken(60, 60, 10, 1);
        assert_eq!(
            Pace::from_history(&accepts, &[], 0, 600_000, 5),
            None,
            "nobody online"
        );
    }

    #[test]
    fn a_busy_desk_shows_its_throughput() {
        // Always someone waiting; one chat taken a minute.
        let accepts = taken(60, 60, 11, 2);
        let pace = Pace::from_history(&accepts, &[600_000], 2, 600_000, 5).unwrap();
        let first = pace.estimate(1);
        assert!(first.low_secs < 60 && first.high_secs > 60, "{first:?}");
        let fifth = pace.estimate(5);
        assert!(fifth.low_secs < 300 && fifth.high_secs > 300, "{fifth:?}");
        assert!(fifth.low_secs > first.low_secs && fifth.high_secs > first.high_secs);
        // Relative spread narrows with the place: the sum of more waits.
        let spread = |e: WaitEstimate| (e.high_secs - e.low_secs) as f64 / e.high_secs as f64;
        assert!(spread(fifth) < spread(first));
    }

    #[test]
    fn a_desk_with_room_shows_short_waits() {
        // Chats taken two seconds after they queue, a minute apart.
        let accepts = taken(60, 2, 11, 2);
        let pace = Pace::from_history(&accepts, &[], 2, 600_000, 5).unwrap();
        assert!(pace.estimate(1).high_secs <= 10, "{:?}", pace.estimate(1));
    }

    #[test]
    fn fewer_analysts_and_a_stalled_queue_mean_longer_waits() {
        let accepts = taken(60, 60, 11, 2);
        let full = Pace::from_history(&accepts, &[], 2, 600_000, 5)
            .unwrap()
            .estimate(3);
        let half = Pace::from_history(&accepts, &[], 1, 600_000, 5)
            .unwrap()
            .estimate(3);
        assert!(half.high_secs > full.high_secs, "{half:?} vs {full:?}");
        // A chat waiting for 20 minutes since the last acceptance.
        let stalled = Pace::from_history(&accepts, &[600_000], 2, 1_800_000, 5)
            .unwrap()
            .estimate(3);
        assert!(
            stalled.high_secs > full.high_secs,
            "{stalled:?} vs {full:?}"
        );
    }
}

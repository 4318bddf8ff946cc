//! The clock the engine is given. Every time the engine stores or compares (when a chat
//! was queued, when a token expires, when a user was last seen, how full a rate limit's
//! bucket is) comes from it, and so does every timer that ends something later (a chat
//! whose user left, an analyst's presence lapsing). Production runs on [`SystemClock`];
//! tests and `chatdesk traffic` run on a [`ManualClock`] they move, so a month of traffic
//! goes through the real services in seconds, and a test of a timer moves the clock
//! instead of sleeping.
//!
//! What is not product time stays on tokio's clock: how often agent assist may rank,
//! backoffs, shutdown limits and the latencies the metrics measure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::domain::{Millis, now_millis};

pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> Millis;

    /// Runs `work` once `after` has passed on this clock, unless `cancel` fires first
    /// (then `work` is dropped without running).
    fn schedule(&self, after: Duration, cancel: CancellationToken, work: BoxFuture<'static, ()>);
}

/// The system's clock and tokio's timers.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        now_millis()
    }

    fn schedule(&self, after: Duration, cancel: CancellationToken, work: BoxFuture<'static, ()>) {
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(after) => work.await,
                () = cancel.cancelled() => {}
            }
        });
    }
}

/// A clock that stands still until it is moved. Timers due by then run when it moves,
/// in the order they fall due, each to completion before [`ManualClock::advance`]
/// returns, so what they did can be checked at once.
pub struct ManualClock {
    now: AtomicI64,
    timers: Mutex<Vec<Timer>>,
}

struct Timer {
    due: Millis,
    cancel: CancellationToken,
    work: BoxFuture<'static, ()>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: Millis) -> Self {
        Self {
            now: AtomicI64::new(start),
            timers: Mutex::new(Vec::new()),
        }
    }

    /// Moves the clock on by `by` and runs every timer due by then.
    pub async fn advance(&self, by: Duration) {
        let by = Millis::try_from(by.as_millis()).expect("a duration in range");
        self.advance_to(self.now() + by).await;
    }

    /// Moves the clock to `to` (never back) and runs every timer due by then, including
    /// those the running ones set for no later than `to`.
    pub async fn advance_to(&self, to: Millis) {
        self.now.fetch_max(to, Ordering::SeqCst);
        while let Some(timer) = self.next_due() {
            if !timer.cancel.is_cancelled() {
                timer.work.await;
            }
        }
    }

    /// Drops every timer not yet run, with what it holds (an app going away in a test).
    pub fn clear(&self) {
        self.timers.lock().expect("timers lock").clear();
    }

    /// Removes and returns the earliest timer due by now.
    fn next_due(&self) -> Option<Timer> {
        let now = self.now();
        let mut timers = self.timers.lock().expect("timers lock");
        let (i, _) = timers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.due <= now)
            .min_by_key(|(_, t)| t.due)?;
        Some(timers.swap_remove(i))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn schedule(&self, after: Duration, cancel: CancellationToken, work: BoxFuture<'static, ()>) {
        let after = Millis::try_from(after.as_millis()).expect("a duration in range");
        self.timers.lock().expect("timers lock").push(Timer {
            due: self.now() + after,
            cancel,
            work,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_manual_clock_runs_what_falls_due_in_order_and_only_then() {
        let clock = Arc::new(ManualClock::new(1_000));
        let ran = Arc::new(Mutex::new(Vec::new()));
        let cancel = CancellationToken::new();
        for (after, name) in [(300, "late"), (100, "early")] {
            let ran = ran.clone();
            clock.schedule(
                Duration::from_millis(after),
                cancel.clone(),
                Box::pin(async move { ran.lock().unwrap().push(name) }),
            );
        }
        let dropped = CancellationToken::new();
        clock.schedule(
            Duration::from_millis(50),
            dropped.clone(),
            Box::pin(async { panic!("a cancelled timer ran") }),
        );
        dropped.cancel();
        clock.advance(Duration::from_millis(99)).await;
        assert!(ran.lock().unwrap().is_empty());
        assert_eq!(clock.now(), 1_099);
        clock.advance(Duration::from_millis(300)).await;
        assert_eq!(*ran.lock().unwrap(), ["early", "late"]);
        clock.advance_to(5).await;
        assert_eq!(clock.now(), 1_399, "the clock never goes back");
    }
}

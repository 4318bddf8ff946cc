//! Rate limits and quotas: [`Limiter`], the one interface every limit goes through, keeps
//! them as token buckets in memory for one instance (SQLite) and as GCRA rows in the
//! database for instances that share it (PostgreSQL; see [`LimitStore`]), so that a person
//! meets the same limits whichever instances serve them. Sign-in attempts are limited by address and by
//! account or device cookie (guessing is slow, and one address cannot lock every account
//! out); messages by sender and chat (a flood slows its sender only, and an analyst with
//! many chats is not held back by their sum); typing, chats started and bytes uploaded by
//! person. Memory stays bounded whatever keys clients choose.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::domain::Millis;
use crate::domain::ids::{ChatId, UserId};
use crate::error::{Error, Result};
use crate::store::DynStore;

/// Buckets kept before full ones are swept out.
const SWEEP_AT: usize = 10_000;

pub struct Buckets<K> {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

impl<K: std::hash::Hash + Eq + Clone> Buckets<K> {
    /// `burst` tokens at most (at least 1), refilled at `per_sec`.
    pub fn new(burst: f64, per_sec: f64) -> Self {
        Self {
            per_sec,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Option<&Bucket>, now: Millis) -> Bucket {
        match bucket {
            Some(b) => Bucket {
                tokens: (b.tokens + (now - b.at).max(0) as f64 / 1000.0 * self.per_sec)
                    .min(self.burst),
                at: now,
            },
            None => Bucket {
                tokens: self.burst,
                at: now,
            },
        }
    }

    fn wait_for(&self, needed: f64, tokens: f64) -> Duration {
        Duration::from_secs_f64(((needed - tokens) / self.per_sec).max(0.0))
    }

    /// Takes a token for `key`; without one, says how long until one is free.
    pub fn take(&self, key: &K, now: Millis) -> Result<(), Duration> {
        self.take_n(key, 1.0, now)
    }

    /// Takes `n` tokens for `key` (bytes of an upload, say); without enough, takes none
    /// and says how long until there will be. More than the burst is never granted: the
    /// wait then is the time to refill the whole bucket, after which `n` is still refused.
    pub fn take_n(&self, key: &K, n: f64, now: Millis) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().expect("buckets lock");
        let mut b = self.refilled(buckets.get(key), now);
        let result = if b.tokens >= n {
            b.tokens -= n;
            Ok(())
        } else {
            Err(self.wait_for(n.min(self.burst), b.tokens))
        };
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(key) {
            let burst = self.burst;
            buckets.retain(|_, old| self.refilled(Some(old), now).tokens < burst);
            if buckets.len() >= SWEEP_AT {
                // Still full of live buckets (very many keys at once): memory stays
                // bounded by forgetting the least recently used half.
                let mut ages: Vec<Millis> = buckets.values().map(|b| b.at).collect();
                ages.sort_unstable();
                let cutoff = ages[ages.len() / 2];
                buckets.retain(|_, b| b.at > cutoff);
            }
        }
        buckets.insert(key.clone(), b);
        result
    }

    /// Returns a token taken for `key` (an attempt that turned out fine).
    pub fn give_back(&self, key: &K, now: Millis) {
        let mut buckets = self.buckets.lock().expect("buckets lock");
        if let Some(b) = buckets.get(key) {
            let mut b = self.refilled(Some(b), now);
            b.tokens = (b.tokens + 1.0).min(self.burst);
            buckets.insert(key.clone(), b);
        }
    }

    /// Starts `key` afresh (a successful sign-in clears the account's failures).
    pub fn forget(&self, key: &K) {
        self.buckets.lock().expect("buckets lock").remove(key);
    }
}

/// A limit of one kind (sign-ins by address, messages by sender and chat, ...): `burst`
/// tokens at most, refilled at `per_sec`, per key.
pub enum Limiter<K> {
    /// One instance: buckets in this process.
    Local(Buckets<K>),
    /// Instances sharing the database: a row per key there.
    Shared(SharedLimit),
}

/// A limit kept in the database: keys are prefixed with `scope`; a token costs `cost`
/// seconds of the budget, which tolerates `tolerance` seconds (see
/// [`crate::store::LimitStore`]). Takes go through one task per limit, which sends what
/// has gathered in one statement ([`run_takes`]).
pub struct SharedLimit {
    store: DynStore,
    scope: &'static str,
    cost: f64,
    takes: mpsc::Sender<Take>,
}

/// One take waiting for the database: the key, its cost in seconds, and who waits.
struct Take {
    key: String,
    cost: f64,
    answer: oneshot::Sender<Option<Duration>>,
}

/// Takes sent in one statement at most.
const TAKES_PER_STATEMENT: usize = 64;

/// How a key reads in the database: stable across versions and instances.
pub trait LimitKey {
    fn limit_key(&self) -> String;
}

/// Names and cookie nonces are what clients send: their SHA-256, so that no key a client
/// chooses (a NUL, say) can make the statement fail.
impl LimitKey for String {
    fn limit_key(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.as_bytes()))
    }
}

impl LimitKey for std::net::IpAddr {
    fn limit_key(&self) -> String {
        self.to_string()
    }
}

impl LimitKey for UserId {
    fn limit_key(&self) -> String {
        self.to_string()
    }
}

impl LimitKey for (UserId, ChatId) {
    fn limit_key(&self) -> String {
        format!("{}/{}", self.0, self.1)
    }
}

impl<K: std::hash::Hash + Eq + Clone + LimitKey> Limiter<K> {
    /// `burst` tokens at most (at least 1), refilled at `per_sec`: in `store` when other
    /// instances share it, under keys prefixed with `scope`; else in memory.
    pub fn new(store: &DynStore, scope: &'static str, burst: f64, per_sec: f64) -> Self {
        if store.shared() {
            let (takes, queue) = mpsc::channel(4 * TAKES_PER_STATEMENT);
            let tolerance = burst.max(1.0) / per_sec;
            tokio::spawn(run_takes(store.clone(), tolerance, queue));
            Self::Shared(SharedLimit {
                store: store.clone(),
                scope,
                cost: 1.0 / per_sec,
                takes,
            })
        } else {
            Self::Local(Buckets::new(burst, per_sec))
        }
    }

    /// Takes a token for `key`; without one, says how long until one is free.
    ///
    /// # Errors
    /// The database could not be asked.
    pub async fn take(&self, key: &K, now: Millis) -> Result<std::result::Result<(), Duration>> {
        self.take_n(key, 1.0, now).await
    }

    /// Takes `n` tokens for `key`, or none (see [`Buckets::take_n`]).
    ///
    /// # Errors
    /// The database could not be asked.
    pub async fn take_n(
        &self,
        key: &K,
        n: f64,
        now: Millis,
    ) -> Result<std::result::Result<(), Duration>> {
        match self {
            Self::Local(buckets) => Ok(buckets.take_n(key, n, now)),
            Self::Shared(limit) => {
                let (answer, answered) = oneshot::channel();
                let take = Take {
                    key: limit.key(key),
                    cost: n * limit.cost,
                    answer,
                };
                let stopped =
                    || Error::Internal(anyhow::anyhow!("the {} limit has stopped", limit.scope));
                limit.takes.send(take).await.map_err(|_| stopped())?;
                let refused = answered.await.map_err(|_| stopped())?;
                Ok(refused.map_or(Ok(()), Err))
            }
        }
    }

    /// Returns a token taken for `key` (an attempt that turned out fine).
    ///
    /// # Errors
    /// The database could not be asked.
    pub async fn give_back(&self, key: &K, now: Millis) -> Result<()> {
        match self {
            Self::Local(buckets) => buckets.give_back(key, now),
            Self::Shared(limit) => {
                limit
                    .store
                    .give_back_tokens(&limit.key(key), limit.cost)
                    .await?;
            }
        }
        Ok(())
    }

    /// Starts `key` afresh (a successful sign-in clears the account's failures).
    ///
    /// # Errors
    /// The database could not be asked.
    pub async fn forget(&self, key: &K) -> Result<()> {
        match self {
            Self::Local(buckets) => buckets.forget(key),
            Self::Shared(limit) => limit.store.forget_limit(&limit.key(key)).await?,
        }
        Ok(())
    }
}

impl SharedLimit {
    fn key(&self, key: &impl LimitKey) -> String {
        format!("{}:{}", self.scope, key.limit_key())
    }
}

/// Answers the takes of one limit until every sender is gone: what has gathered goes in
/// one statement, a key at most once per statement (a repeat waits for the next, in
/// order). A batch that fails is taken again one take at a time, so one bad take cannot
/// decide for the others; a take the database cannot answer is granted with a warning (a
/// limit is no reason to refuse a request that its own statements may serve, and they
/// fail on their own while the database is away).
async fn run_takes(store: DynStore, tolerance: f64, mut queue: mpsc::Receiver<Take>) {
    let mut waiting: VecDeque<Take> = VecDeque::new();
    let mut arrived = Vec::with_capacity(TAKES_PER_STATEMENT);
    loop {
        if waiting.is_empty() {
            if queue.recv_many(&mut arrived, TAKES_PER_STATEMENT).await == 0 {
                return;
            }
        } else {
            while arrived.len() < TAKES_PER_STATEMENT {
                match queue.try_recv() {
                    Ok(take) => arrived.push(take),
                    Err(_) => break,
                }
            }
        }
        waiting.extend(arrived.drain(..));
        let mut batch: Vec<Take> = Vec::with_capacity(TAKES_PER_STATEMENT);
        let mut later = VecDeque::new();
        while let Some(take) = waiting.pop_front() {
            if batch.len() < TAKES_PER_STATEMENT && !batch.iter().any(|t| t.key == take.key) {
                batch.push(take);
            } else {
                later.push_back(take);
            }
        }
        waiting = later;
        // In key order: two instances' statements lock shared keys in the same order.
        batch.sort_by(|a, b| a.key.cmp(&b.key));
        let keys: Vec<(String, f64)> = batch.iter().map(|t| (t.key.clone(), t.cost)).collect();
        let answers = match store.take_tokens(&keys, tolerance).await {
            Ok(answers) => answers,
            Err(e) => {
                tracing::warn!(error = %e, takes = keys.len(), "a batch of rate-limit takes failed; taking one at a time");
                let mut answers = Vec::with_capacity(keys.len());
                for take in &keys {
                    answers.push(match store.take_tokens(std::slice::from_ref(take), tolerance).await {
                        Ok(answer) => answer[0],
                        Err(e) => {
                            tracing::warn!(error = %e, "a rate limit could not be read; the take was granted");
                            None
                        }
                    });
                }
                answers
            }
        };
        for (take, answer) in batch.into_iter().zip(answers) {
            // Whoever asked may have gone (a dropped request): nothing to tell.
            let _ = take.answer.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate() {
        let b = Buckets::new(3.0, 2.0);
        let t0: Millis = 1_000_000;
        for _ in 0..3 {
            assert!(b.take(&"k", t0).is_ok());
        }
        let wait = b.take(&"k", t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(b.take(&"other", t0).is_ok(), "keys are separate");
        assert!(b.take(&"k", t0 + 500).is_ok());
        assert!(b.take(&"k", t0 + 500).is_err());
        b.give_back(&"k", t0 + 500);
        assert!(b.take(&"k", t0 + 500).is_ok(), "given back");
        b.forget(&"k");
        assert!(b.take(&"k", t0).is_ok());
    }

    #[test]
    fn quotas_take_many_tokens_at_once_or_none() {
        let b = Buckets::new(1000.0, 10.0);
        let t0: Millis = 1_000_000;
        assert!(b.take_n(&"k", 600.0, t0).is_ok());
        let wait = b.take_n(&"k", 600.0, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20), "200 more at 10 a second");
        assert!(
            b.take_n(&"k", 400.0, t0).is_ok(),
            "the refusal took nothing"
        );
        assert!(b.take_n(&"k", 1.0, t0).is_err());
    }

    #[test]
    fn live_buckets_are_bounded_too() {
        let b = Buckets::new(5.0, 0.001);
        let t0: Millis = 1_000_000;
        for k in 0..3 * SWEEP_AT {
            let _ = b.take(&k, t0 + k as Millis);
        }
        assert!(b.buckets.lock().unwrap().len() <= SWEEP_AT);
        let recent = 3 * SWEEP_AT - 1;
        let later = t0 + recent as Millis;
        assert!(b.take(&recent, later).is_ok(), "recent keys are kept");
        assert!(
            b.buckets.lock().unwrap().get(&recent).unwrap().tokens < 4.0,
            "with their state"
        );
    }

    #[test]
    fn full_buckets_are_swept_when_there_are_many() {
        let b = Buckets::new(1.0, 1000.0);
        let t0: Millis = 1_000_000;
        for k in 0..SWEEP_AT {
            let _ = b.take(&k, t0);
        }
        let _ = b.take(&usize::MAX, t0 + 1_000);
        assert_eq!(b.buckets.lock().unwrap().len(), 1);
    }
}

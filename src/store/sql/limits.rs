//! Rate limits as rows, so that every instance on one database counts against the same
//! budget: the Generic Cell Rate Algorithm (ITU-T I.371; Brandur Leach, "Rate limiting,
//! cells, and GCRA") keeps one number per key, its theoretical arrival time (TAT), and
//! decides and updates it in one statement on the database's clock, whichever instance's
//! clock is off.

use std::time::Duration;

use async_trait::async_trait;

use super::{Dialect, SqlStore};
use crate::store::{LimitStore, Result};

/// The three statements per dialect; `NOW` reads the database clock in seconds.
struct Statements {
    take: &'static str,
    ahead: &'static str,
    sweep: &'static str,
}

macro_rules! statements {
    ($now:literal, $greatest:literal) => {
        Statements {
            // Granted when the TAT after this cost lies within the tolerance of now; a
            // refused take changes nothing (the upsert's WHERE), and neither does a new
            // key asking more than the whole tolerance.
            take: concat!(
                "INSERT INTO rate_limits (key, tat) SELECT $1, ",
                $now,
                " + $2 WHERE $2 <= $3 ",
                "ON CONFLICT (key) DO UPDATE SET tat = ",
                $greatest,
                "(rate_limits.tat, ",
                $now,
                ") + $2 WHERE ",
                $greatest,
                "(rate_limits.tat, ",
                $now,
                ") + $2 - ",
                $now,
                " <= $3 RETURNING tat"
            ),
            ahead: concat!("SELECT tat - ", $now, " FROM rate_limits WHERE key = $1"),
            sweep: concat!("DELETE FROM rate_limits WHERE tat < ", $now),
        }
    };
}

const POSTGRES: Statements = statements!(
    "extract(epoch FROM statement_timestamp())::float8",
    "GREATEST"
);
const SQLITE: Statements = statements!("((julianday('now') - 2440587.5) * 86400.0)", "MAX");

impl Dialect {
    fn limits(self) -> &'static Statements {
        match self {
            Self::Postgres => &POSTGRES,
            Self::Sqlite => &SQLITE,
        }
    }
}

#[async_trait]
impl LimitStore for SqlStore {
    async fn take_tokens(&self, key: &str, cost: f64, tolerance: f64) -> Result<Option<Duration>> {
        let granted: Option<f64> = sqlx::query_scalar(self.dialect.limits().take)
            .bind(key)
            .bind(cost)
            .bind(tolerance)
            .fetch_optional(&self.writer)
            .await?;
        if granted.is_some() {
            return Ok(None);
        }
        let ahead: Option<f64> = sqlx::query_scalar(self.dialect.limits().ahead)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        // Until the TAT has fallen far enough below the tolerance for this cost (or, for a
        // cost above it, for the whole tolerance: it is never granted).
        let wait = ahead.unwrap_or(0.0).max(0.0) + cost.min(tolerance) - tolerance;
        Ok(Some(Duration::from_secs_f64(wait.max(0.0))))
    }

    async fn give_back_tokens(&self, key: &str, cost: f64) -> Result<()> {
        sqlx::query("UPDATE rate_limits SET tat = tat - $2 WHERE key = $1")
            .bind(key)
            .bind(cost)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn forget_limit(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM rate_limits WHERE key = $1")
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn sweep_limits(&self) -> Result<u64> {
        let done = sqlx::query(self.dialect.limits().sweep)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

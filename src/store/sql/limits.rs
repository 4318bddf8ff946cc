//! Rate limits as rows, so that every instance on one database counts against the same
//! budget: the Generic Cell Rate Algorithm (ITU-T I.371; Brandur Leach, "Rate limiting,
//! cells, and GCRA") keeps one number per key, its theoretical arrival time (TAT), and
//! decides and updates it in one statement on the database's clock, whichever instance's
//! clock is off. One statement takes for many keys at once, so that an instance's takes
//! share round trips under load.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;

use super::{Dialect, SqlStore};
use crate::store::{LimitStore, Result};

impl Dialect {
    /// Now on the database's clock, in seconds since the epoch.
    fn now_secs(self) -> &'static str {
        match self {
            Self::Postgres => "extract(epoch FROM statement_timestamp())::float8",
            Self::Sqlite => "((julianday('now') - 2440587.5) * 86400.0)",
        }
    }

    fn greatest(self) -> &'static str {
        match self {
            Self::Postgres => "GREATEST",
            Self::Sqlite => "MAX",
        }
    }
}

/// `(key, cost)` rows as a `VALUES` list of placeholders from `$2` on (`$1` is the
/// tolerance), for both databases.
fn values(n: usize) -> String {
    (0..n)
        .map(|i| format!("(${}, CAST(${} AS DOUBLE PRECISION))", 2 + 2 * i, 3 + 2 * i))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl LimitStore for SqlStore {
    async fn take_tokens(
        &self,
        takes: &[(String, f64)],
        tolerance: f64,
    ) -> Result<Vec<Option<Duration>>> {
        if takes.is_empty() {
            return Ok(Vec::new());
        }
        let (now, greatest) = (self.dialect.now_secs(), self.dialect.greatest());
        // Granted when the TAT after the cost lies within the tolerance of now. A refused
        // take changes nothing (the upsert's WHERE), and neither does a new key asking
        // more than the whole tolerance. The cost rides in `excluded.tat` as now + cost.
        let sql = format!(
            "INSERT INTO rate_limits (key, tat) \
             SELECT v.column1, {now} + v.column2 FROM (VALUES {rows}) AS v \
             WHERE v.column2 <= $1 \
             ON CONFLICT (key) DO UPDATE SET \
             tat = {greatest}(rate_limits.tat, {now}) + (excluded.tat - {now}) \
             WHERE {greatest}(rate_limits.tat, {now}) + (excluded.tat - {now}) - {now} <= $1 \
             RETURNING key",
            rows = values(takes.len())
        );
        let mut query = sqlx::query(&sql).bind(tolerance);
        for (key, cost) in takes {
            query = query.bind(key.as_str()).bind(*cost);
        }
        let granted: Vec<String> = query
            .fetch_all(&self.writer)
            .await?
            .iter()
            .map(|row| row.try_get("key"))
            .collect::<std::result::Result<_, _>>()?;
        let refused: Vec<&(String, f64)> = takes
            .iter()
            .filter(|(key, _)| !granted.contains(key))
            .collect();
        if refused.is_empty() {
            return Ok(vec![None; takes.len()]);
        }
        let params = (1..=refused.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("SELECT key, tat - {now} AS ahead FROM rate_limits WHERE key IN ({params})");
        let mut query = sqlx::query(&sql);
        for (key, _) in &refused {
            query = query.bind(key.as_str());
        }
        let mut ahead = HashMap::new();
        for row in query.fetch_all(&self.pool).await? {
            ahead.insert(
                row.try_get::<String, _>("key")?,
                row.try_get::<f64, _>("ahead")?,
            );
        }
        Ok(takes
            .iter()
            .map(|(key, cost)| {
                if granted.contains(key) {
                    return None;
                }
                // Until the TAT has fallen far enough below the tolerance for this cost
                // (or, for a cost above it, for the whole tolerance: never granted).
                let ahead = ahead.get(key).copied().unwrap_or(0.0).max(0.0);
                let wait = ahead + cost.min(tolerance) - tolerance;
                Some(Duration::from_secs_f64(wait.max(0.0)))
            })
            .collect())
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
        let now = self.dialect.now_secs();
        let done = sqlx::query(&format!("DELETE FROM rate_limits WHERE tat < {now}"))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

//! The passage vectors every instance shares (`article_vectors`): an instance that finds
//! an article's vectors here does not run the model on it.

use async_trait::async_trait;
use sqlx::Row;

use super::{Dialect, SqlStore};
use crate::store::{EncodingTurn, Result, VectorStore};

/// The advisory lock key of the encoding turn on PostgreSQL ("vectors!" in ASCII).
const ENCODING_LOCK: i64 = 0x7665_6374_6f72_7321;

/// Keys per statement: far below either database's limit on parameters.
const KEYS_PER_READ: usize = 500;

#[async_trait]
impl VectorStore for SqlStore {
    async fn cached_vectors(&self, keys: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
        let mut found = Vec::with_capacity(keys.len());
        for some in keys.chunks(KEYS_PER_READ) {
            let params = (1..=some.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT key, vectors FROM article_vectors WHERE key IN ({params})");
            let mut query = sqlx::query(&sql);
            for key in some {
                query = query.bind(key);
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push((row.try_get("key")?, row.try_get("vectors")?));
            }
        }
        Ok(found)
    }

    async fn cache_vectors(&self, rows: &[(String, Vec<u8>)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for (key, vectors) in rows {
            sqlx::query(
                "INSERT INTO article_vectors (key, vectors) VALUES ($1, $2) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(vectors)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn encoding_turn(&self) -> Result<Box<dyn EncodingTurn>> {
        if self.dialect != Dialect::Postgres {
            // One instance: its own encoding is already one at a time.
            return Ok(Box::new(NoTurn));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ENCODING_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(Box::new(LockedTurn(tx)))
    }
}

/// A turn held by a transaction's advisory lock, released when the transaction ends.
struct LockedTurn(sqlx::Transaction<'static, sqlx::Any>);

#[async_trait]
impl EncodingTurn for LockedTurn {
    async fn end(self: Box<Self>) -> Result<()> {
        Ok(self.0.rollback().await?)
    }
}

struct NoTurn;

#[async_trait]
impl EncodingTurn for NoTurn {
    async fn end(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

//! Knowledge articles: author edits, tombstones for deleted articles, and the folder
//! import, each bumping the generation that tells every instance to rebuild.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};

use sha2::{Digest, Sha256};

use super::rows::ARTICLE_COLUMNS;
use super::{Dialect, SqlStore};
use crate::domain::Millis;
use crate::domain::article::ArticleOrigin;
use crate::domain::ids::ArticleId;
use crate::store::Result;
use crate::store::{ArticleStore, ImportWhen, Imported, StoredArticle, Upserted};

/// The advisory lock key that folder imports take on PostgreSQL ("chatdesk" in ASCII).
const IMPORT_LOCK: i64 = 0x6368_6174_6465_736b;

/// A folder version: SHA-256 over each file's id and content hash, in id order.
fn folder_version(files: &[StoredArticle]) -> String {
    let mut ids: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.id.as_str(), f.content_hash.as_str()))
        .collect();
    ids.sort_unstable();
    let mut hash = Sha256::new();
    for (id, content) in ids {
        hash.update(id.as_bytes());
        hash.update(b"\0");
        hash.update(content.as_bytes());
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

async fn bump_generation(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("UPDATE knowledge_state SET generation = generation + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces one article inside a transaction, reporting what changed.
async fn upsert_article_in(conn: &mut AnyConnection, a: &StoredArticle) -> Result<Upserted> {
    let existing = sqlx::query("SELECT content_hash, origin FROM articles WHERE id = $1")
        .bind(&a.id)
        .fetch_optional(&mut *conn)
        .await?;
    let existing = match existing {
        Some(row) => Some((
            row.try_get::<String, _>("content_hash")?,
            row.try_get::<ArticleOrigin, _>("origin")?,
        )),
        None => None,
    };
    let outcome = match existing {
        Some((hash, o)) if hash == a.content_hash && o != ArticleOrigin::Deleted => {
            // Same text; the origin may still change (an author takes over a file article).
            sqlx::query("UPDATE articles SET origin = $1 WHERE id = $2")
                .bind(a.origin)
                .bind(&a.id)
                .execute(&mut *conn)
                .await?;
            return Ok(Upserted::Unchanged);
        }
        Some((_, o)) => {
            sqlx::query(
                "UPDATE articles SET title = $1, source = $2, origin = $3, content_hash = $4, \
                 updated_at = $5 WHERE id = $6",
            )
            .bind(&a.title)
            .bind(&a.source)
            .bind(a.origin)
            .bind(&a.content_hash)
            .bind(a.updated_at)
            .bind(&a.id)
            .execute(&mut *conn)
            .await?;
            // A deleted article's tombstone comes back as if new.
            if o == ArticleOrigin::Deleted {
                Upserted::Added
            } else {
                Upserted::Changed
            }
        }
        None => {
            sqlx::query(&format!(
                "INSERT INTO articles ({ARTICLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&a.id)
            .bind(&a.title)
            .bind(&a.source)
            .bind(a.origin)
            .bind(&a.content_hash)
            .bind(a.updated_at)
            .execute(&mut *conn)
            .await?;
            Upserted::Added
        }
    };
    bump_generation(conn).await?;
    Ok(outcome)
}

#[async_trait]
impl ArticleStore for SqlStore {
    async fn knowledge_generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT generation FROM knowledge_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn articles(&self) -> Result<Vec<StoredArticle>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE origin <> 'deleted' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn article(&self, id: &ArticleId) -> Result<Option<StoredArticle>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = $1 AND origin <> 'deleted'"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn upsert_article(&self, article: &StoredArticle) -> Result<Upserted> {
        let mut tx = self.begin().await?;
        let outcome = upsert_article_in(&mut tx, article).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn delete_article(&self, id: &ArticleId, now: Millis) -> Result<bool> {
        let mut tx = self.begin().await?;
        // A tombstone, so that importing the folder does not bring the article back.
        let deleted = sqlx::query(
            "UPDATE articles SET origin = $1, updated_at = $2 WHERE id = $3 AND origin <> $1",
        )
        .bind(ArticleOrigin::Deleted)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if deleted {
            bump_generation(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn import_articles(
        &self,
        files: &[StoredArticle],
        when: ImportWhen,
    ) -> Result<Option<Imported>> {
        let version = folder_version(files);
        let mut tx = self.begin().await?;
        if self.dialect == Dialect::Postgres {
            // One import at a time across instances (SQLite's write lock already is).
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(IMPORT_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT imported_at FROM knowledge_folders WHERE version = $1")
                .bind(&version)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_some() && when == ImportWhen::IfNew {
            return Ok(None);
        }
        let found = sqlx::query("SELECT id, origin FROM articles")
            .fetch_all(&mut *tx)
            .await?;
        let mut origins = HashMap::new();
        for row in &found {
            origins.insert(
                row.try_get::<ArticleId, _>("id")?,
                row.try_get::<ArticleOrigin, _>("origin")?,
            );
        }
        let mut report = Imported::default();
        for file in files {
            if origins.get(&file.id).is_some_and(|o| !o.follows_folder()) {
                report.kept.push(file.id.clone());
                continue;
            }
            match upsert_article_in(&mut tx, file).await? {
                Upserted::Added => report.added.push(file.id.clone()),
                Upserted::Changed => report.changed.push(file.id.clone()),
                Upserted::Unchanged => {}
            }
        }
        let present: HashSet<&ArticleId> = files.iter().map(|f| &f.id).collect();
        for (id, o) in &origins {
            if o.follows_folder() && !present.contains(id) {
                sqlx::query("DELETE FROM articles WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                report.removed.push(id.clone());
            }
        }
        if !report.removed.is_empty() {
            bump_generation(&mut tx).await?;
        }
        let now = files.iter().map(|f| f.updated_at).max().unwrap_or_default();
        sqlx::query(
            "INSERT INTO knowledge_folders (version, imported_at) VALUES ($1, $2) \
             ON CONFLICT (version) DO UPDATE SET imported_at = excluded.imported_at",
        )
        .bind(&version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        report.removed.sort();
        Ok(Some(report))
    }
}

//! Article vectors shared between instances on one PostgreSQL database: an instance
//! building its index first takes what others encoded (`article_vectors`), and encodes
//! the rest in its turn, one instance at a time, sharing what it made. Instances that
//! start together on a fresh database run the model on each article once between them.
//! The sharing never stops a build: a failure is logged, and the instance encodes what
//! it lacks itself.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::knowledge::Article;
use crate::knowledge::live::Indexer;
use crate::store::{DynStore, EncodingTurn};

/// This instance's turn to encode, and the keys nobody had shared when it came.
pub(super) struct Encoding {
    turn: Box<dyn EncodingTurn>,
    missing: Vec<String>,
}

/// Before a build on a shared database: brings the vectors this process lacks and other
/// instances shared into its cache and, when some are still missing, waits for the turn
/// to encode them. `None` when nothing is left to encode, on an unshared database, and without a
/// model.
pub(super) async fn before_build(
    store: &DynStore,
    indexer: &Arc<Indexer>,
    articles: &[Article],
) -> Option<Encoding> {
    if !store.shared() {
        return None;
    }
    let keys = indexer.vector_keys(articles);
    if keys.is_empty() {
        return None;
    }
    let outcome = async {
        let here = indexer.clone();
        let keys = tokio::task::spawn_blocking(move || here.uncached_vectors(keys))
            .await
            .map_err(|e| Error::internal("looking for cached article vectors", e))?;
        if keys.is_empty() {
            return Ok(None);
        }
        let missing = take_shared(store, indexer, keys).await?;
        if missing.is_empty() {
            return Ok(None);
        }
        let turn = store.encoding_turn().await?;
        // Another instance may have shared them while this one waited.
        let missing = take_shared(store, indexer, missing).await?;
        Ok::<_, Error>(Some(Encoding { turn, missing }))
    }
    .await;
    outcome.unwrap_or_else(|e| {
        tracing::warn!(error = %e.chain(), "could not read the shared article vectors; encoding here");
        None
    })
}

/// After the build: shares what this instance encoded and ends its turn.
pub(super) async fn after_build(store: &DynStore, indexer: &Arc<Indexer>, encoding: Encoding) {
    let Encoding { turn, missing } = encoding;
    let indexer = indexer.clone();
    let outcome = async {
        let made = tokio::task::spawn_blocking(move || indexer.cached_vectors(&missing))
            .await
            .map_err(|e| Error::internal("reading the cached article vectors", e))?;
        store.cache_vectors(&made).await?;
        turn.end().await?;
        tracing::info!(articles = made.len(), "article vectors shared");
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = outcome {
        tracing::warn!(error = %e.chain(), "could not share article vectors");
    }
}

/// Puts the shared vectors under `keys` in this process's cache; the keys not shared.
async fn take_shared(
    store: &DynStore,
    indexer: &Arc<Indexer>,
    keys: Vec<String>,
) -> Result<Vec<String>> {
    let found = store.cached_vectors(&keys).await?;
    let shared: HashSet<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    let missing = keys
        .iter()
        .filter(|k| !shared.contains(k.as_str()))
        .cloned()
        .collect();
    let indexer = indexer.clone();
    tokio::task::spawn_blocking(move || indexer.add_cached_vectors(&found))
        .await
        .map_err(|e| Error::internal("caching shared article vectors", e))?;
    Ok(missing)
}

//! Ranking for the services: the bot's suggestions and searches on a blocking thread, and
//! agent assist at low priority beside the chats, each timed into `/metrics`.

use std::sync::Arc;

use super::background::Background;
use crate::domain::ids::ArticleId;
use crate::error::{Error, Result};
use crate::knowledge::{RankRequest, Ranker, Suggestion};
use crate::metrics::Metrics;

/// The live ranker and the threads it runs on; cheap to clone.
#[derive(Clone)]
pub(super) struct Ranking {
    pub(super) ranker: Arc<dyn Ranker>,
    pub(super) background: Arc<Background>,
    metrics: Arc<Metrics>,
    /// How many suggestions the bot offers (`chat.suggestions`).
    suggestions: usize,
}

impl Ranking {
    pub(super) fn new(
        ranker: Arc<dyn Ranker>,
        background: Arc<Background>,
        metrics: Arc<Metrics>,
        suggestions: usize,
    ) -> Self {
        Self {
            ranker,
            background,
            metrics,
            suggestions,
        }
    }

    /// Ranks on a blocking thread: search and inference never run on the async workers.
    pub(super) async fn rank(
        &self,
        text: String,
        exclude: Vec<ArticleId>,
    ) -> Result<Vec<Suggestion>> {
        self.rank_with(RankRequest {
            text,
            k: self.suggestions,
            exclude,
            confident_only: true,
            beside: false,
        })
        .await
    }

    /// Ranks beside the chats, at low priority (`background::LowPriority`); `None`
    /// once the ranking threads have gone.
    pub(super) async fn rank_beside(
        &self,
        request: RankRequest,
    ) -> Result<Option<Vec<Suggestion>>> {
        let ranker = self.ranker.clone();
        let started = std::time::Instant::now();
        let Some(ranked) = self
            .background
            .low_priority
            .run(move || ranker.rank(&request))
            .await
        else {
            return Ok(None);
        };
        let ranked = ranked.map_err(Error::Internal)?;
        self.metrics.ranking.record(started.elapsed().as_secs_f64());
        Ok(Some(ranked))
    }

    pub(super) async fn rank_with(&self, request: RankRequest) -> Result<Vec<Suggestion>> {
        let ranker = self.ranker.clone();
        let started = std::time::Instant::now();
        let ranked = tokio::task::spawn_blocking(move || ranker.rank(&request))
            .await
            .map_err(|e| Error::internal("ranking", e))?
            .map_err(Error::Internal)?;
        self.metrics.ranking.record(started.elapsed().as_secs_f64());
        Ok(ranked)
    }
}

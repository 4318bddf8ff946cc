//! The reports service: what supervisors read (insights: deflection, waits, handle
//! times, ratings, and the calls behind them as CSV) and what knowledge authors read (the
//! questions the bot could not answer, grouped). Holds only the store, the clock and the
//! ranker that encodes questions.

mod gaps;
mod insights;

use std::sync::Arc;

pub use gaps::{GAP_CALLS, GapKind, KnowledgeGap, KnowledgeGaps};
pub use insights::Report;

use super::clock::Clock;
use crate::domain::Millis;
use crate::knowledge::Ranker;
use crate::store::DynStore;

#[derive(Clone)]
pub struct ReportService {
    store: DynStore,
    clock: Arc<dyn Clock>,
    ranker: Arc<dyn Ranker>,
    /// Question vectors kept between gaps requests.
    question_vectors: Arc<gaps::QuestionVectors>,
}

impl ReportService {
    pub(super) fn new(store: DynStore, clock: Arc<dyn Clock>, ranker: Arc<dyn Ranker>) -> Self {
        Self {
            store,
            clock,
            ranker,
            question_vectors: Default::default(),
        }
    }

    fn now(&self) -> Millis {
        self.clock.now()
    }
}

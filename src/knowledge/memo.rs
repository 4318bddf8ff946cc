//! Rankings remembered by request, for a run over an index that does not change while it
//! lasts: `chatdesk traffic` asks a few dozen wordings thousands of times, and each would
//! otherwise be a model inference (3.8x the run's time). Never for a serving instance,
//! whose index is swapped on every reindex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{RankRequest, Ranker, Suggestion};

/// `inner`, with each distinct request ranked once.
pub struct Memo {
    inner: Arc<dyn Ranker>,
    kept: Mutex<HashMap<RankRequest, Vec<Suggestion>>>,
}

impl Memo {
    pub fn new(inner: Arc<dyn Ranker>) -> Self {
        Self {
            inner,
            kept: Mutex::default(),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<RankRequest, Vec<Suggestion>>> {
        self.kept.lock().expect("memo lock")
    }
}

impl Ranker for Memo {
    fn rank(&self, request: &RankRequest) -> anyhow::Result<Vec<Suggestion>> {
        if let Some(ranked) = self.kept().get(request) {
            return Ok(ranked.clone());
        }
        let ranked = self.inner.rank(request)?;
        self.kept().insert(request.clone(), ranked.clone());
        Ok(ranked)
    }

    fn sentence_vectors(&self, texts: &[String]) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
        self.inner.sentence_vectors(texts)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its rankings; ranks nothing.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Ranker for Counting {
        fn rank(&self, _: &RankRequest) -> anyhow::Result<Vec<Suggestion>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        }

        fn len(&self) -> usize {
            0
        }
    }

    #[test]
    fn each_distinct_request_is_ranked_once() {
        let counting = Arc::new(Counting::default());
        let memo = Memo::new(counting.clone());
        let ask = |text: &str, k| RankRequest {
            text: text.into(),
            k,
            ..Default::default()
        };
        for request in [
            ask("vpn", 3),
            ask("vpn", 3),
            ask("printer", 3),
            ask("vpn", 5),
        ] {
            memo.rank(&request).unwrap();
        }
        assert_eq!(counting.0.load(Ordering::SeqCst), 3);
    }
}

//! Knowledge gaps: the calls the bot could not help, grouped by meaning with the sentence
//! vectors the bot ranks with, so that authors see which articles to write (`no_article`)
//! and which article keeps failing the people it is offered to (`failing_article`).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use super::ReportService;
use crate::domain::article::first_offers;
use crate::domain::insights::DateRange;
use crate::domain::user::GapsReader;
use crate::error::{Error, Result};
use crate::knowledge::gaps::{self, MAX_DISTANCE};
use crate::store::BotStage;

/// The newest calls a request groups at most: grouping compares every pair of distinct
/// questions, so this bounds one request to about 2 million cosines.
pub const GAP_CALLS: i64 = 2000;
/// Example questions given per group, the most typical first.
const QUERIES_SHOWN: usize = 5;
/// Questions and label words whose vectors are kept between requests (about 1.5 KiB
/// each); the cache starts again when full.
const VECTORS_KEPT: usize = 50_000;
/// Texts encoded per call to the model: the model serves one caller at a time, so the
/// bot's rankings wait at most one such batch for a gaps request.
const ENCODE_BATCH: usize = 32;

/// The sentence vectors of questions and label words already encoded, so that the gaps
/// viewed again encode only what is new: encoding is most of a request's time (2,000
/// distinct questions: about 4 s encoded, see docs/insights.md, "Knowledge gaps").
#[derive(Default)]
pub(super) struct QuestionVectors(Mutex<HashMap<String, Vec<f32>>>);

impl QuestionVectors {
    /// The vectors of `texts`, in order, encoding only those not kept yet.
    fn get_or_encode(
        &self,
        texts: &[String],
        encode: impl Fn(&[String]) -> anyhow::Result<Vec<Vec<f32>>>,
    ) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut found: HashMap<&str, Vec<f32>> = HashMap::with_capacity(texts.len());
        let mut missing: Vec<String> = Vec::new();
        {
            let kept = self.0.lock().expect("vector cache lock");
            for text in texts {
                match kept.get(text) {
                    Some(v) => {
                        found.insert(text, v.clone());
                    }
                    None if !found.contains_key(text.as_str()) => {
                        found.insert(text, Vec::new());
                        missing.push(text.clone());
                    }
                    None => {}
                }
            }
        }
        let mut encoded = Vec::with_capacity(missing.len());
        for batch in missing.chunks(ENCODE_BATCH) {
            encoded.extend(encode(batch)?);
        }
        let mut kept = self.0.lock().expect("vector cache lock");
        if kept.len() + missing.len() > VECTORS_KEPT {
            kept.clear();
        }
        for (text, vector) in missing.iter().zip(encoded) {
            kept.insert(text.clone(), vector.clone());
            found.insert(text, vector);
        }
        Ok(texts.iter().map(|t| found[t.as_str()].clone()).collect())
    }
}

crate::domain::named_enum! {
    /// Why a group is a gap.
    #[strum(serialize_all = "snake_case")]
    pub enum GapKind {
        /// No article answered these questions.
        NoArticle,
        /// One article was offered for most of them and did not fix it.
        FailingArticle,
    }
}

/// The knowledge gaps of a range.
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeGaps {
    /// Largest first.
    pub groups: Vec<KnowledgeGap>,
    /// Older calls of the range were left out ([`GAP_CALLS`]).
    pub capped: bool,
}

/// One group of calls the bot could not help (contract, "Additions: insights").
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KnowledgeGap {
    /// The group's typical words joined ("printer, offline, floor"), or, when its
    /// questions have none, the most typical question.
    pub label: String,
    /// Up to three typical words, the most typical first (an addition to the contract).
    pub words: Vec<String>,
    /// Calls in the group.
    pub calls: usize,
    /// Distinct questions as users asked them, the most typical first (at most five).
    pub queries: Vec<String>,
    pub kind: GapKind,
    /// The failing article (`failing_article` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    /// Its title, when the bot offered it (`failing_article` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article_title: Option<String>,
}

/// A call the bot could not help, and the articles it offered in vain.
struct Miss {
    question: String,
    offered: Vec<(String, String)>,
}

/// The bot could not help when it offered nothing, when every article it offered was
/// declined, or when the user asked for an analyst. `None` otherwise (the user left
/// while still reading suggestions), and for calls it resolved, which never get here.
fn miss(stage: BotStage) -> Option<Miss> {
    let offered = first_offers(&stage.offered);
    let all_declined = offered
        .iter()
        .all(|o| stage.declined.contains(&o.article_id));
    (stage.handed_off || all_declined).then(|| Miss {
        question: stage.description.trim().to_owned(),
        offered: offered
            .into_iter()
            .map(|o| (o.article_id.to_string(), o.title.clone()))
            .collect(),
    })
}

impl ReportService {
    /// The calls logged in `range` that the bot could not help,
    /// grouped by meaning, largest group first; of the newest [`GAP_CALLS`] calls it did
    /// not resolve; for a [`GapsReader`] only.
    pub async fn knowledge_gaps(&self, _: GapsReader, range: DateRange) -> Result<KnowledgeGaps> {
        let (from, to) = range.resolve(self.now())?;
        let stages = self.store.unresolved_by_bot(from, to, GAP_CALLS).await?;
        let capped = stages.len() as i64 >= GAP_CALLS;
        let mut misses = Vec::new();
        for stage in stages {
            misses.extend(miss(stage));
        }
        // Each distinct question is encoded and grouped once, however often it was asked.
        let mut questions: Vec<String> = Vec::new();
        let mut asked: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, m) in misses.iter().enumerate() {
            let calls = asked.entry(m.question.clone()).or_insert_with(|| {
                questions.push(m.question.clone());
                Vec::new()
            });
            calls.push(i);
        }
        let ranker = self.ranker.clone();
        let kept = self.question_vectors.clone();
        let groups = tokio::task::spawn_blocking(move || {
            let encode = |texts: &[String]| {
                kept.get_or_encode(texts, |missing| {
                    Ok(ranker
                        .sentence_vectors(missing)?
                        .unwrap_or_else(|| gaps::word_vectors(missing)))
                })
            };
            let vectors = encode(&questions)?;
            let groups = gaps::group(&questions, &vectors, MAX_DISTANCE, &encode)?;
            anyhow::Ok((groups, questions))
        })
        .await
        .map_err(|e| Error::internal("grouping knowledge gaps", e))?
        .map_err(Error::Internal)?;
        let (groups, questions) = groups;
        let mut found: Vec<KnowledgeGap> = groups
            .into_iter()
            .map(|g| {
                let calls: Vec<&Miss> = g
                    .members
                    .iter()
                    .flat_map(|&q| &asked[&questions[q]])
                    .map(|&i| &misses[i])
                    .collect();
                gap(
                    (g.label, g.words),
                    g.members
                        .iter()
                        .take(QUERIES_SHOWN)
                        .map(|&q| questions[q].clone())
                        .collect(),
                    &calls,
                )
            })
            .collect();
        found.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.label.cmp(&b.label)));
        Ok(KnowledgeGaps {
            groups: found,
            capped,
        })
    }
}

/// A group as authors see it. It is a `failing_article` when one article was offered, in
/// vain, in at least half of the group's calls and at least two of them.
fn gap(
    (label, words): (String, Vec<String>),
    queries: Vec<String>,
    calls: &[&Miss],
) -> KnowledgeGap {
    let mut offered: HashMap<&str, (usize, &str)> = HashMap::new();
    for call in calls {
        for (id, title) in &call.offered {
            offered.entry(id).or_insert((0, title)).0 += 1;
        }
    }
    let failing = offered
        .into_iter()
        .filter(|(_, (n, _))| *n >= 2 && 2 * *n >= calls.len())
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(a.0)));
    KnowledgeGap {
        label,
        words,
        calls: calls.len(),
        queries,
        kind: if failing.is_some() {
            GapKind::FailingArticle
        } else {
            GapKind::NoArticle
        },
        article_id: failing.map(|(id, _)| id.to_owned()),
        article_title: failing.map(|(_, (_, title))| title.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::article::Suggestion;
    use crate::domain::ids::{ArticleId, CallId};

    fn stage(handed_off: bool, offered: &[&str], declined: &[&str]) -> BotStage {
        BotStage {
            call_id: CallId(1),
            description: " printer offline ".into(),
            handed_off,
            offered: offered
                .iter()
                .map(|id| Suggestion {
                    article_id: ArticleId::parse(id).unwrap(),
                    title: format!("About {id}"),
                    snippet: String::new(),
                    score: 1.0,
                    confidence: None,
                    similarity: None,
                    explanation: String::new(),
                })
                .collect(),
            declined: declined
                .iter()
                .map(|d| ArticleId::parse(d).unwrap())
                .collect(),
        }
    }

    #[test]
    fn the_bot_could_not_help_when_it_had_nothing_all_was_declined_or_the_user_left_it() {
        assert!(miss(stage(false, &[], &[])).is_some(), "nothing offered");
        assert!(miss(stage(false, &["a"], &["a"])).is_some(), "declined");
        assert!(miss(stage(true, &["a"], &[])).is_some(), "handed off");
        assert!(
            miss(stage(false, &["a", "b"], &["a"])).is_none(),
            "left while an offer was still open"
        );
        assert_eq!(
            miss(stage(true, &[], &[])).unwrap().question,
            "printer offline"
        );
    }

    #[test]
    fn question_vectors_are_encoded_once() {
        let kept = QuestionVectors::default();
        let asked = std::cell::RefCell::new(Vec::new());
        let encode = |texts: &[String]| {
            asked.borrow_mut().push(texts.to_vec());
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        };
        let texts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let first = kept
            .get_or_encode(&texts(&["ab", "abc", "ab"]), encode)
            .unwrap();
        assert_eq!(first, [vec![2.0], vec![3.0], vec![2.0]]);
        let again = kept
            .get_or_encode(&texts(&["abc", "abcd"]), encode)
            .unwrap();
        assert_eq!(again, [vec![3.0], vec![4.0]]);
        assert_eq!(*asked.borrow(), [texts(&["ab", "abc"]), texts(&["abcd"])]);
    }

    #[test]
    fn an_article_offered_in_vain_to_half_the_group_is_failing() {
        let offered = |ids: &[&str]| Miss {
            question: "q".into(),
            offered: ids
                .iter()
                .map(|i| (i.to_string(), format!("About {i}")))
                .collect(),
        };
        let (a, b, none) = (offered(&["a"]), offered(&["a", "b"]), offered(&[]));
        let gap_of = |calls: &[&Miss]| gap(("l".into(), vec![]), vec![], calls);
        let failing = gap_of(&[&a, &b, &none, &none]);
        assert_eq!(failing.kind, GapKind::FailingArticle);
        assert_eq!(failing.article_id.as_deref(), Some("a"));
        assert_eq!(failing.article_title.as_deref(), Some("About a"));
        assert_eq!(
            gap_of(&[&a, &none, &none]).kind,
            GapKind::NoArticle,
            "1 of 3"
        );
        assert_eq!(
            gap_of(&[&a]).kind,
            GapKind::NoArticle,
            "one call is not a pattern"
        );
    }
}

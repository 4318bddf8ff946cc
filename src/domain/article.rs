//! Articles as the rest of the product sees them: where one came from (which decides what
//! a folder import may do to it) and the fix the bot offers from it.

use serde::{Deserialize, Serialize};

use super::ids::ArticleId;

named_enum! {
    /// Stored in lowercase: `file` (imported from `knowledge/`), `api` (written by an
    /// author), `deleted` (deleted by an author: kept as a tombstone so the folder does
    /// not bring it back).
    #[strum(serialize_all = "lowercase")]
    pub enum ArticleOrigin {
        File,
        Api,
        Deleted,
    }
}

impl ArticleOrigin {
    /// Whether importing the folder may add, change or remove the article.
    pub fn follows_folder(self) -> bool {
        self == Self::File
    }
}

/// One fix the bot offers, with a short reason a user can read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Suggestion {
    pub article_id: ArticleId,
    pub title: String,
    /// Whole sentences of the article around the matched words.
    #[serde(default)]
    pub snippet: String,
    /// The blend the suggestions are ordered by (0 to 1, relative to this query's
    /// candidates).
    pub score: f32,
    /// How likely this article is the fix, 0 to 1, calibrated on the evaluation sets
    /// (`eval/calibrate.py`); it falls with the order. `None` in bm25 mode (and so
    /// without the model).
    pub confidence: Option<f32>,
    /// Cosine similarity of the article to the query; `None` without the model.
    #[serde(skip)]
    pub similarity: Option<f32>,
    #[serde(default)]
    pub explanation: String,
}

/// Every article in `offers`, once each, in the order first offered.
pub fn first_offers<'a>(offers: impl IntoIterator<Item = &'a Suggestion>) -> Vec<&'a Suggestion> {
    let mut found: Vec<&Suggestion> = Vec::new();
    for offer in offers {
        if !found.iter().any(|o| o.article_id == offer.article_id) {
            found.push(offer);
        }
    }
    found
}

/// The articles for the analyst, and the last event of the chat they were ranked on:
/// rankings run beside the chat, so a slower, older one may finish after a newer one,
/// and the console keeps the one with the highest `through_seq`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Assist {
    pub through_seq: i64,
    pub items: Vec<AssistItem>,
}

/// One article for the analyst (`GET /chats/{id}/assist`, `assist` frames).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AssistItem {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    /// The bot offered it to the user in this chat.
    pub offered: bool,
    /// The user marked it "Not helpful".
    pub declined: bool,
    /// An analyst already sent it to the user in this chat.
    pub sent: bool,
}

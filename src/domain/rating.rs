//! A user's rating of a chat: 1 to 5, with an optional comment, given once after the chat
//! has ended, and shown on its call.

use crate::domain::Timestamp;
use serde::Serialize;

use crate::error::{Error, Result};

/// Longest comment, in characters.
pub const COMMENT_MAX: usize = 1_000;

#[derive(Clone, Debug, Serialize)]
pub struct Rating {
    /// 1 (poor) to 5 (excellent).
    pub score: i64,
    pub comment: Option<String>,
    pub at: Timestamp,
}

/// A score checked and a comment trimmed (an empty one is none); `invalid` naming the
/// field otherwise.
pub fn validated(score: i64, comment: Option<&str>) -> Result<(i64, Option<String>)> {
    if !(1..=5).contains(&score) {
        return Err(Error::invalid(
            "score",
            "a rating is a whole number from 1 to 5",
        ));
    }
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > COMMENT_MAX) {
        return Err(Error::invalid(
            "comment",
            format!("a comment is at most {COMMENT_MAX} characters"),
        ));
    }
    Ok((score, comment.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_one_to_five_and_comments_optional() {
        assert_eq!(
            validated(5, Some("  great ")).unwrap(),
            (5, Some("great".into()))
        );
        assert_eq!(validated(1, Some("   ")).unwrap(), (1, None));
        assert_eq!(validated(3, None).unwrap(), (3, None));
        assert!(validated(0, None).is_err());
        assert!(validated(6, None).is_err());
        assert!(validated(4, Some(&"x".repeat(COMMENT_MAX + 1))).is_err());
    }
}

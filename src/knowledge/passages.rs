//! The text of an article that is embedded: its title and the start of its body, as one
//! passage, with the body's Markdown as written. MiniLM reads at most 256 word pieces, so
//! the body is cut at [`MAX_WORDS`] words and the model truncates the rest.
//!
//! Measured (docs/ranking.md, "Ranking quality"): one vector per article ranks better in dense mode
//! than the best of several 110-word passages on all three evaluation sets (nDCG@10
//! Debian FAQ 0.802 against 0.762, Python FAQ 0.886 against 0.883, manual pages 0.764
//! against 0.755, same weights through sentence-transformers), and it encodes a quarter
//! as many tokens on the manual pages. The Markdown as written ranks better in hybrid
//! mode than the body's plain text (0.843, 0.893 and 0.825 against 0.840, 0.884 and
//! 0.823), and it is what sentence-transformers is given in the public pipeline, so dense
//! mode reproduces that pipeline's vectors.

use super::Article;

/// A word is one word piece or more, so this many words always reach the model's 256
/// pieces: truncation happens at the model's limit and not before it.
pub const MAX_WORDS: usize = 256;

/// The passages to embed for `article` (one: title and the start of the body). Words are
/// rejoined by single spaces, which the model's tokenizer reads as it reads newlines.
pub fn passages(article: &Article) -> Vec<String> {
    let words: Vec<&str> = article.body.split_whitespace().take(MAX_WORDS).collect();
    vec![format!("{}\n{}", article.title, words.join(" "))]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(body: &str) -> Article {
        Article {
            id: crate::domain::ids::ArticleId::parse("a").expect("a valid id"),
            title: "VPN drops".into(),
            tags: vec![],
            body: body.into(),
        }
    }

    #[test]
    fn an_article_is_its_title_and_the_start_of_its_body() {
        assert_eq!(
            passages(&article("## Symptoms\nIt drops.\n\n## Fix\n1. Restart.")),
            vec!["VPN drops\n## Symptoms It drops. ## Fix 1. Restart."]
        );
        let huge = vec!["w"; 300].join(" ");
        let p = passages(&article(&huge));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].split_whitespace().count(), MAX_WORDS + 2);
    }
}

//! Splits articles into passages for embedding. MiniLM reads at most 256 tokens, and one
//! vector for a long article blurs its parts; each passage is the title plus a run of
//! paragraphs of at most [`MAX_WORDS`] words, and an article matches as well as its best
//! passage.

use super::Article;

/// About 160 word pieces: well inside the model's window, title included.
pub const MAX_WORDS: usize = 110;

pub fn passages(article: &Article) -> Vec<String> {
    let plain = article.plain_body();
    let mut chunks: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for paragraph in plain.split("\n\n").flat_map(|p| p.split('\n')) {
        let words: Vec<&str> = paragraph.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if !current.is_empty() && current.len() + words.len() > MAX_WORDS {
            chunks.push(current.join(" "));
            current.clear();
        }
        for piece in words.chunks(MAX_WORDS) {
            if current.len() + piece.len() > MAX_WORDS {
                chunks.push(current.join(" "));
                current.clear();
            }
            current.extend_from_slice(piece);
        }
    }
    if !current.is_empty() {
        chunks.push(current.join(" "));
    }
    if chunks.is_empty() {
        return vec![article.title.clone()];
    }
    chunks
        .into_iter()
        .map(|c| format!("{}. {c}", article.title))
        .collect()
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
    fn short_articles_are_one_passage_with_the_title() {
        assert_eq!(
            passages(&article("## Symptoms\nIt drops.\n\n## Fix\n1. Restart.")),
            vec!["VPN drops. Symptoms It drops. Fix 1. Restart."]
        );
    }

    #[test]
    fn long_articles_split_at_paragraphs_within_the_limit() {
        let para = vec!["word"; 80].join(" ");
        let body = format!("{para}\n\n{para}\n\n{para}");
        let p = passages(&article(&body));
        assert_eq!(p.len(), 3);
        for passage in &p {
            assert!(passage.split_whitespace().count() <= MAX_WORDS + 2);
        }
        let huge = vec!["w"; 300].join(" ");
        assert_eq!(passages(&article(&huge)).len(), 3);
    }
}

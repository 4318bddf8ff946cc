//! Snippets a user can read in the chat: whole sentences of an article, around the words
//! of the user's that it contains.
//!
//! Sentences come from the article's paragraphs, list items and table cells (headings and
//! code blocks are labels and listings, not prose), split at Unicode sentence boundaries
//! (UAX #29, by `unicode-segmentation`).

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use unicode_segmentation::UnicodeSegmentation;

use super::bm25::{Bm25Index, ParsedQuery};

/// Snippets grow by whole sentences up to this many characters (a single sentence of
/// up to [`LONGEST_SENTENCE`] is shown whole).
const SNIPPET_CHARS: usize = 240;
/// A single sentence longer than this is cut at word boundaries around its first match.
const LONGEST_SENTENCE: usize = 360;

/// The sentences of a Markdown body, in reading order.
pub fn sentences(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut skipping = 0usize;
    let flush = |current: &mut String, blocks: &mut Vec<String>| {
        let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            blocks.push(text);
        }
        current.clear();
    };
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. } | Tag::CodeBlock(_)) => skipping += 1,
            Event::End(TagEnd::Heading(_) | TagEnd::CodeBlock) => {
                skipping = skipping.saturating_sub(1)
            }
            Event::Start(Tag::Paragraph | Tag::Item | Tag::TableCell)
            | Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::TableCell) => {
                flush(&mut current, &mut blocks)
            }
            Event::Text(t) | Event::Code(t) if skipping == 0 => current.push_str(&t),
            Event::SoftBreak | Event::HardBreak => current.push(' '),
            _ => {}
        }
    }
    flush(&mut current, &mut blocks);
    blocks
        .iter()
        .flat_map(|b| b.split_sentence_bounds())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whole sentences around the sentence that holds most of the query's words; `None`
/// when no sentence holds any.
pub fn around_matches(sentences: &[String], query: &ParsedQuery) -> Option<String> {
    // One pass of the analyzer over all sentences (each pass sets up its own matcher).
    let joined = sentences.join("\n");
    let mut starts = Vec::with_capacity(sentences.len());
    let mut offset = 0;
    for s in sentences {
        starts.push(offset);
        offset += s.len() + 1;
    }
    let mut found: Vec<Vec<String>> = vec![Vec::new(); sentences.len()];
    for w in Bm25Index::words(&joined) {
        if query.contains(&w.stem) {
            let sentence = starts.partition_point(|&s| s <= w.start) - 1;
            if !found[sentence].contains(&w.stem) {
                found[sentence].push(w.stem);
            }
        }
    }
    let scores: Vec<usize> = found.iter().map(Vec::len).collect();
    let (best, &most) = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))?;
    if most == 0 {
        return None;
    }
    if sentences[best].chars().count() > LONGEST_SENTENCE {
        return Some(cut_around_match(&sentences[best], query));
    }
    Some(grow(sentences, best))
}

/// The article's first sentences, for an article found by meaning alone.
pub fn lead(sentences: &[String]) -> String {
    match sentences.first() {
        None => String::new(),
        Some(first) if first.chars().count() > LONGEST_SENTENCE => cut(first, 0),
        Some(_) => grow(sentences, 0),
    }
}

/// Sentence `from` and its neighbours (following ones first) while they fit.
fn grow(sentences: &[String], from: usize) -> String {
    let len = |i: usize| sentences[i].chars().count() + 1;
    let (mut start, mut end) = (from, from + 1);
    let mut total = len(from);
    while end < sentences.len() && total + len(end) <= SNIPPET_CHARS {
        total += len(end);
        end += 1;
    }
    while start > 0 && total + len(start - 1) <= SNIPPET_CHARS {
        start -= 1;
        total += len(start);
    }
    sentences[start..end].join(" ")
}

fn cut_around_match(sentence: &str, query: &ParsedQuery) -> String {
    let first = Bm25Index::words(sentence)
        .into_iter()
        .find(|w| query.contains(&w.stem))
        .map_or(0, |w| w.start);
    let word_index = sentence[..first].split_whitespace().count();
    cut(sentence, word_index.saturating_sub(8))
}

/// Words of `sentence` from `first_word` on, up to [`SNIPPET_CHARS`], marked with "…"
/// where cut.
fn cut(sentence: &str, first_word: usize) -> String {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let mut out = String::new();
    let mut last = first_word;
    for (i, w) in words.iter().enumerate().skip(first_word) {
        if !out.is_empty() && out.chars().count() + w.chars().count() + 1 > SNIPPET_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
        last = i;
    }
    let before = if first_word > 0 { "… " } else { "" };
    let after = if last + 1 < words.len() { " …" } else { "" };
    format!("{before}{out}{after}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "## Symptoms\n\nThe VPN client disconnects every few minutes. \
        Reconnecting works for a while.\n\n## Fix\n\n1. Open the VPN client settings.\n\
        2. Turn off *power saving* for the network adapter.\n\n```\nvpn --reset\n```\n";

    fn query(text: &str) -> ParsedQuery {
        Bm25Index::build(&[]).unwrap().parse(text)
    }

    #[test]
    fn sentences_come_from_prose_not_headings_or_code() {
        assert_eq!(
            sentences(BODY),
            vec![
                "The VPN client disconnects every few minutes.",
                "Reconnecting works for a while.",
                "Open the VPN client settings.",
                "Turn off power saving for the network adapter.",
            ]
        );
    }

    #[test]
    fn snippets_are_whole_sentences_around_the_best_match() {
        let s = sentences(BODY);
        let snippet = around_matches(&s, &query("power saving on my adapter")).unwrap();
        assert!(
            snippet.starts_with("Reconnecting works") || snippet.starts_with("The VPN"),
            "{snippet}"
        );
        assert!(snippet.ends_with("network adapter."), "{snippet}");
        assert!(snippet.chars().count() <= SNIPPET_CHARS);
        assert!(around_matches(&s, &query("printer toner")).is_none());
        assert_eq!(
            lead(&s).split(". ").next(),
            Some("The VPN client disconnects every few minutes")
        );
    }

    #[test]
    fn table_cells_are_sentences_of_their_own() {
        let s = sentences("| Setting | Value |\n|---|---|\n| Proxy | Off |\n");
        assert_eq!(s, vec!["Setting", "Value", "Proxy", "Off"]);
    }

    #[test]
    fn a_very_long_sentence_is_cut_at_words_around_its_match() {
        let long = format!(
            "{} printer jammed {}",
            "word ".repeat(100),
            "more ".repeat(100)
        );
        let snippet = around_matches(&[long], &query("printer")).unwrap();
        assert!(snippet.starts_with("… word"), "{snippet}");
        assert!(snippet.contains("printer jammed"));
        assert!(snippet.ends_with(" …"));
        assert!(snippet.chars().count() <= SNIPPET_CHARS + 4);
    }
}

//! Snippets a user can read in the chat: whole sentences of an article (see
//! `sentences`), around the words of the user's that it contains.
//!
//! A snippet starts where a thought starts: at the beginning of the paragraph or list item
//! that holds the best match when it fits, and grows backwards only by whole blocks; the
//! steps of a numbered list keep their numbers.

use super::bm25::{Bm25Index, ParsedQuery};
use super::sentences::Sentence;

/// Snippets grow by whole sentences up to this many characters (a single sentence of
/// up to [`LONGEST_SENTENCE`] is shown whole).
const SNIPPET_CHARS: usize = 240;
/// A single sentence longer than this is cut at word boundaries around its first match.
const LONGEST_SENTENCE: usize = 360;

/// Whole sentences around the sentence that holds most of the query's words; `None`
/// when no sentence holds any.
pub fn around_matches(sentences: &[Sentence], query: &ParsedQuery) -> Option<String> {
    // One pass of the analyzer over all sentences (each pass sets up its own matcher).
    let joined = sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let mut starts = Vec::with_capacity(sentences.len());
    let mut offset = 0;
    for s in sentences {
        starts.push(offset);
        offset += s.text.len() + 1;
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
    if sentences[best].text.chars().count() > LONGEST_SENTENCE {
        return Some(cut_around_match(&sentences[best].text, query));
    }
    Some(grow(sentences, best))
}

/// The article's first sentences, for an article found by meaning alone.
pub fn lead(sentences: &[Sentence]) -> String {
    match sentences.first() {
        None => String::new(),
        Some(first) if first.text.chars().count() > LONGEST_SENTENCE => cut(&first.text, 0),
        Some(_) => grow(sentences, 0),
    }
}

/// Sentence `from` with its neighbours while they fit in [`SNIPPET_CHARS`]: first back
/// to the start of its block (when the whole run fits), then the sentences that follow,
/// then whole blocks before it.
fn grow(sentences: &[Sentence], from: usize) -> String {
    let len = |i: usize| sentences[i].shown_chars() + 1;
    let block_start = |i: usize| {
        let block = sentences[i].block;
        sentences[..i]
            .iter()
            .rposition(|s| s.block != block)
            .map_or(0, |p| p + 1)
    };
    let (mut start, mut end) = (from, from + 1);
    let mut total = len(from);
    let opening = block_start(from);
    let run: usize = (opening..from).map(len).sum();
    if total + run <= SNIPPET_CHARS {
        start = opening;
        total += run;
    }
    while end < sentences.len() && total + len(end) <= SNIPPET_CHARS {
        total += len(end);
        end += 1;
    }
    // Earlier blocks, whole, while they fit.
    while start > 0 && start == block_start(start) {
        let previous = block_start(start - 1);
        let size: usize = (previous..start).map(len).sum();
        if total + size > SNIPPET_CHARS {
            break;
        }
        total += size;
        start = previous;
    }
    sentences[start..end]
        .iter()
        .map(Sentence::shown)
        .collect::<Vec<_>>()
        .join(" ")
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
    use crate::knowledge::sentences::sentences;

    const BODY: &str = "## Symptoms\n\nThe VPN client disconnects every few minutes. \
        Reconnecting works for a while.\n\n## Fix\n\n1. Open the VPN client settings.\n\
        2. Turn off *power saving* for the network adapter.\n\n```\nvpn --reset\n```\n";

    fn query(text: &str) -> ParsedQuery {
        Bm25Index::build(&[]).unwrap().parse(text)
    }

    #[test]
    fn snippets_are_whole_blocks_around_the_best_match() {
        let s = sentences(BODY);
        let snippet = around_matches(&s, &query("power saving on my adapter")).unwrap();
        assert!(snippet.starts_with("The VPN"), "{snippet}");
        assert!(
            snippet.ends_with("2. Turn off power saving for the network adapter."),
            "{snippet}"
        );
        assert!(snippet.chars().count() <= SNIPPET_CHARS);
        assert!(around_matches(&s, &query("printer toner")).is_none());
        assert_eq!(
            lead(&s).split(". ").next(),
            Some("The VPN client disconnects every few minutes")
        );
    }

    #[test]
    fn a_snippet_starts_where_its_paragraph_starts() {
        let filler = "Other words fill this paragraph to make it long enough. ".repeat(4);
        let body = format!(
            "{filler}\n\nThe printer on floor 3 needs a driver. \
             Download it from the vendor. Then the queue restarts by itself.\n"
        );
        let snippet = around_matches(&sentences(&body), &query("restart the queue")).unwrap();
        assert!(snippet.starts_with("The printer on floor 3"), "{snippet}");
        assert!(snippet.contains("queue restarts"), "{snippet}");
        assert!(!snippet.contains("Other words"), "{snippet}");
    }

    #[test]
    fn a_very_long_sentence_is_cut_at_words_around_its_match() {
        let long = format!(
            "{} printer jammed {}",
            "word ".repeat(100),
            "more ".repeat(100)
        );
        let snippet = around_matches(&sentences(&long), &query("printer")).unwrap();
        assert!(snippet.starts_with("… word"), "{snippet}");
        assert!(snippet.contains("printer jammed"));
        assert!(snippet.ends_with(" …"));
        assert!(snippet.chars().count() <= SNIPPET_CHARS + 4);
    }
}

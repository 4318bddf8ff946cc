//! The sentences of an article, for snippets and for the lead that BM25 weighs: prose
//! from the article's paragraphs, list items and table cells (headings and code blocks
//! are labels and listings, not prose), split at Unicode sentence boundaries (UAX #29, by
//! `unicode-segmentation`).

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use unicode_segmentation::UnicodeSegmentation;

/// One sentence of an article, and which block (paragraph, list item or table cell) it
/// belongs to: blocks are numbered in reading order from 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// The words, without the step number.
    pub text: String,
    pub block: usize,
    /// The item's number, on the first sentence of a numbered list's item.
    pub step: Option<u64>,
}

impl Sentence {
    /// The sentence as a reader sees it: "2. Restart the adapter." for a step.
    pub fn shown(&self) -> String {
        match self.step {
            Some(step) => format!("{step}. {}", self.text),
            None => self.text.clone(),
        }
    }

    /// The length of [`Self::shown`] in characters, without building it.
    pub fn shown_chars(&self) -> usize {
        let number = self.step.map_or(0, |step| step.to_string().len() + 2);
        number + self.text.chars().count()
    }
}

/// The sentences of a Markdown body, in reading order.
pub fn sentences(markdown: &str) -> Vec<Sentence> {
    let mut blocks: Vec<(Option<u64>, String)> = Vec::new();
    let mut current = String::new();
    let mut number: Option<u64> = None;
    // The next number of each open list, innermost last (`None` for bullet lists).
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut skipping = 0usize;
    let flush = |current: &mut String, number: &mut Option<u64>, blocks: &mut Vec<_>| {
        let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            blocks.push((number.take(), text));
        }
        current.clear();
    };
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. } | Tag::CodeBlock(_)) => skipping += 1,
            Event::End(TagEnd::Heading(_) | TagEnd::CodeBlock) => {
                skipping = skipping.saturating_sub(1)
            }
            Event::Start(Tag::List(first)) => {
                flush(&mut current, &mut number, &mut blocks);
                lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                flush(&mut current, &mut number, &mut blocks);
                number = None;
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                flush(&mut current, &mut number, &mut blocks);
                if let Some(Some(next)) = lists.last_mut() {
                    number = Some(*next);
                    *next += 1;
                }
            }
            Event::End(TagEnd::Item) => {
                flush(&mut current, &mut number, &mut blocks);
                // An item of code alone passes its number to nothing.
                number = None;
            }
            Event::Start(Tag::Paragraph | Tag::TableCell)
            | Event::End(TagEnd::Paragraph | TagEnd::TableCell) => {
                flush(&mut current, &mut number, &mut blocks)
            }
            Event::Text(t) | Event::Code(t) if skipping == 0 => current.push_str(&t),
            Event::SoftBreak | Event::HardBreak => current.push(' '),
            _ => {}
        }
    }
    flush(&mut current, &mut number, &mut blocks);
    let mut out = Vec::new();
    for (block, (number, text)) in blocks.iter().enumerate() {
        let parts = text
            .split_sentence_bounds()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        for (n, part) in parts.enumerate() {
            out.push(Sentence {
                text: part.to_owned(),
                block,
                step: number.filter(|_| n == 0),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "## Symptoms\n\nThe VPN client disconnects every few minutes. \
        Reconnecting works for a while.\n\n## Fix\n\n1. Open the VPN client settings.\n\
        2. Turn off *power saving* for the network adapter.\n\n```\nvpn --reset\n```\n";

    fn shown(sentences: &[Sentence]) -> Vec<String> {
        sentences.iter().map(Sentence::shown).collect()
    }

    #[test]
    fn sentences_come_from_prose_not_headings_or_code_and_steps_keep_numbers() {
        let s = sentences(BODY);
        assert_eq!(
            shown(&s),
            vec![
                "The VPN client disconnects every few minutes.",
                "Reconnecting works for a while.",
                "1. Open the VPN client settings.",
                "2. Turn off power saving for the network adapter.",
            ]
        );
        assert_eq!(s.iter().map(|s| s.block).collect::<Vec<_>>(), [0, 0, 1, 2]);
        let numbered = sentences("3. Unplug it. Wait.\n4. Plug it in.\n\n- a bullet\n");
        assert_eq!(
            shown(&numbered),
            ["3. Unplug it.", "Wait.", "4. Plug it in.", "a bullet"]
        );
        // The words are matched without the number: "3" is not a word of step 3.
        assert_eq!(numbered[0].text, "Unplug it.");
        assert!(
            numbered
                .iter()
                .all(|s| s.shown_chars() == s.shown().chars().count())
        );
        // A step of code alone passes its number to nothing.
        let coded = sentences("1. Step one.\n2. ```\n   code\n   ```\n\nNext paragraph.\n");
        assert_eq!(shown(&coded), ["1. Step one.", "Next paragraph."]);
    }

    #[test]
    fn table_cells_are_sentences_of_their_own() {
        let s = sentences("| Setting | Value |\n|---|---|\n| Proxy | Off |\n");
        assert_eq!(shown(&s), vec!["Setting", "Value", "Proxy", "Off"]);
    }
}

//! The word tokenizer of the BM25 analyzer: runs of letters and digits, with inner
//! apostrophes kept ("i'm", "don't", "user’s"), so that a contraction is one word (a stop
//! word, or a possessive the stemmer removes) rather than a stop word and a fragment such
//! as "m" or "t".
//!
//! tantivy's `SimpleTokenizer` splits at every apostrophe; its `RegexTokenizer` does the
//! job but builds a fresh lazy DFA for every text it reads, which made highlighting the
//! ten results of a query on the manual pages cost 9 ms.

use std::iter::Peekable;
use std::str::CharIndices;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Splits text into words; see the module documentation.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

/// The words of one text, as [`WordTokenizer`] finds them.
pub struct WordStream<'a> {
    text: &'a str,
    chars: Peekable<CharIndices<'a>>,
    token: &'a mut Token,
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        WordStream {
            text,
            chars: text.char_indices().peekable(),
            token: &mut self.token,
        }
    }
}

impl WordStream<'_> {
    /// The end of the word that started before the stream's position.
    fn word_end(&mut self) -> usize {
        loop {
            match self.chars.peek().copied() {
                Some((_, c)) if c.is_alphanumeric() => {
                    self.chars.next();
                }
                Some((at, c)) if is_apostrophe(c) => {
                    // An apostrophe belongs to the word only between two word characters.
                    let mut ahead = self.text[at + c.len_utf8()..].chars();
                    if ahead.next().is_some_and(char::is_alphanumeric) {
                        self.chars.next();
                    } else {
                        return at;
                    }
                }
                Some((at, _)) => return at,
                None => return self.text.len(),
            }
        }
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        while let Some((start, c)) = self.chars.next() {
            if c.is_alphanumeric() {
                let end = self.word_end();
                self.token.offset_from = start;
                self.token.offset_to = end;
                self.token.text.push_str(&self.text[start..end]);
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, usize, usize)> {
        let mut tokenizer = WordTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.offset_from, t.offset_to));
        }
        out
    }

    #[test]
    fn words_keep_inner_apostrophes_only() {
        let w: Vec<String> = words("I'm the users' admin, user’s 'quoted' rock'n'roll é3")
            .into_iter()
            .map(|w| w.0)
            .collect();
        assert_eq!(
            w,
            [
                "I'm",
                "the",
                "users",
                "admin",
                "user’s",
                "quoted",
                "rock'n'roll",
                "é3"
            ]
        );
        assert_eq!(words("a ’b")[1], ("b".to_owned(), 5, 6));
    }
}

//! Knowledge articles: any file gets an article that keeps the format's promises or an
//! error naming the file (and line, when there is one), never a panic; valid articles
//! come back as written.

use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;

use chatdesk::domain::ids::ArticleId;
use chatdesk::knowledge::article::Article;

use crate::fuzz;

const NAME: &str = "fuzzed.md";

/// What a parsed article always satisfies, and what an error always carries.
fn check(text: &str) -> TestCaseResult {
    match Article::parse(NAME, "fuzzed", text) {
        Ok(a) => {
            // The id is the fallback or one the text gives (and, being an `ArticleId`,
            // valid by construction).
            prop_assert!(
                a.id.as_str() == "fuzzed" || text.contains(a.id.as_str()),
                "id {:?} from nowhere",
                a.id
            );
            prop_assert!(!a.title.is_empty() && a.title.trim() == a.title);
            prop_assert!(a.title.chars().count() <= 200);
            prop_assert!(!a.body.is_empty() && a.body.trim() == a.body);
            prop_assert!(a.tags.iter().all(|t| !t.is_empty() && t.trim() == t));
        }
        Err(e) => {
            prop_assert!(!e.reason.is_empty());
            prop_assert!(e.line.is_none_or(|l| l >= 1));
            prop_assert!(e.to_string().starts_with(NAME));
        }
    }
    Ok(())
}

fn quoted(s: &str) -> String {
    // JSON strings are YAML double-quoted scalars, once the characters YAML 1.1 reads as
    // line breaks (and folds) are escaped too; the fuzzer found U+2028 folded away.
    serde_json::to_string(s)
        .expect("a string serializes")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn render(id: &str, title: &str, tags: &[String], body: &str) -> String {
    let tags: Vec<String> = tags.iter().map(|t| quoted(t)).collect();
    format!(
        "---\nid: {id}\ntitle: {}\ntags: [{}]\n---\n{body}",
        quoted(title),
        tags.join(", ")
    )
}

fn valid_parts() -> impl Strategy<Value = (String, String, Vec<String>, String)> {
    (
        "[a-z0-9][a-z0-9-]{0,40}",
        "[\\PC]{0,220}",
        prop::collection::vec("[\\PC]{0,20}", 0..5),
        "[\\PC\n]{0,400}",
    )
}

#[test]
fn any_text_is_an_article_or_a_clear_error() {
    fuzz("articles/any-text", ".{0,300}", |text| check(&text));
}

#[test]
fn front_matter_shaped_text_is_an_article_or_a_clear_error() {
    let yamlish = "[a-z:#&*!|>%@`'\"\\[\\]{},\\- \t\n]{0,200}";
    fuzz(
        "articles/front-matter-shaped",
        (yamlish, ".{0,100}"),
        |(front, body)| check(&format!("---\n{front}\n---\n{body}")),
    );
}

#[test]
fn valid_articles_come_back_as_written() {
    fuzz(
        "articles/round-trip",
        valid_parts(),
        |(id, title, tags, body)| {
            let parsed = Article::parse(NAME, "fallback", &render(&id, &title, &tags, &body));
            let title = title.trim();
            let body = body.trim();
            if title.is_empty() || title.chars().count() > 200 || body.is_empty() {
                prop_assert!(parsed.is_err());
            } else {
                let expected = Article {
                    id: ArticleId::parse(&id).expect("the strategy makes valid ids"),
                    title: title.to_owned(),
                    tags: tags
                        .iter()
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty())
                        .collect(),
                    body: body.to_owned(),
                };
                prop_assert_eq!(parsed, Ok(expected));
            }
            Ok(())
        },
    );
}

#[test]
fn damaged_articles_are_an_article_or_a_clear_error() {
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..3,
            prop::sample::select(
                &[
                    '-', '\n', '\r', ':', '[', ']', '{', '}', '"', '\'', '#', '&', '*', '!', '|',
                    '>', '%', '@', '`', '\t', '\u{feff}', '\u{0}', 'é', ' ',
                ][..],
            ),
        ),
        1..8,
    );
    fuzz(
        "articles/damaged",
        (valid_parts(), edits),
        |((id, title, tags, body), edits)| {
            let mut chars: Vec<char> = render(&id, &title, &tags, &body).chars().collect();
            for (at, op, c) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ if i < chars.len() => chars[i] = c,
                    _ => {}
                }
            }
            check(&chars.into_iter().collect::<String>())
        },
    );
}

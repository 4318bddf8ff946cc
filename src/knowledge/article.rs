//! Knowledge articles: Markdown with a YAML front matter block. A bad article is reported
//! (file, line, reason) and skipped so that one typo never takes the bot down.

use std::path::Path;

use pulldown_cmark::{Options, Parser};
use serde::Deserialize;

use crate::domain::ids::ArticleId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Article {
    pub id: ArticleId,
    pub title: String,
    pub tags: Vec<String>,
    /// The Markdown body, as written.
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ArticleError {
    /// File name (or API path) the article came from.
    pub source_name: String,
    pub line: Option<usize>,
    pub reason: String,
}

#[derive(Deserialize)]
struct FrontMatter {
    id: Option<String>,
    title: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl Article {
    /// Parses one article. `default_id` is used when the front matter names none (the file
    /// name without `.md`).
    pub fn parse(source_name: &str, default_id: &str, text: &str) -> Result<Self, ArticleError> {
        let fail = |line: Option<usize>, reason: String| ArticleError {
            source_name: source_name.to_owned(),
            line,
            reason,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some("---") {
            return Err(fail(
                Some(1),
                "the file must start with a front matter block opened by `---`".into(),
            ));
        }
        let mut yaml = String::new();
        let mut body_start = None;
        let mut offset = text.split_inclusive('\n').next().map_or(0, str::len);
        for (n, line) in lines.enumerate() {
            if line.trim_end() == "---" {
                body_start = Some((offset + line.len(), n + 2));
                break;
            }
            yaml.push_str(line);
            offset += line.len();
        }
        let Some((body_offset, _closing_line)) = body_start else {
            return Err(fail(
                None,
                "the front matter block is never closed by `---`".into(),
            ));
        };
        let front: FrontMatter = serde_norway::from_str(&yaml).map_err(|e| {
            // YAML lines count from the line after the opening `---`.
            let line = e.location().map(|l| l.line() + 1);
            fail(line, format!("invalid front matter: {e}"))
        })?;
        let id = front.id.unwrap_or_else(|| default_id.to_owned());
        let id =
            ArticleId::parse(&id).map_err(|r| fail(None, format!("invalid id {id:?}: {r}")))?;
        let title = front.title.map(|t| t.trim().to_owned()).unwrap_or_default();
        if title.is_empty() {
            return Err(fail(
                None,
                "the front matter needs a non-empty `title`".into(),
            ));
        }
        if title.chars().count() > 200 {
            return Err(fail(None, "the title is longer than 200 characters".into()));
        }
        let body = text[body_offset..].trim().to_owned();
        if body.is_empty() {
            return Err(fail(None, "the article has no body".into()));
        }

        let tags = front
            .tags
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(Self {
            id,
            title,
            tags,
            body,
        })
    }

    /// The body as HTML that is safe to show in any page: Markdown rendered by
    /// pulldown-cmark (tables and strikethrough on), then cleaned by ammonia, which keeps
    /// formatting, numbered and bulleted lists, images and links with http, https or
    /// mailto URLs (relative ones too), and drops scripts, event handlers, styles, raw
    /// `<iframe>`/`<form>` and every other URL scheme (`javascript:` among them).
    pub fn html(&self) -> String {
        let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
        let mut html = String::with_capacity(self.body.len() * 2);
        pulldown_cmark::html::push_html(&mut html, Parser::new_ext(&self.body, options));
        ammonia::Builder::default()
            .link_rel(Some("noopener noreferrer nofollow"))
            .url_schemes(["http", "https", "mailto"].into())
            .clean(&html)
            .to_string()
    }

    /// The body without Markdown markup, for indexing and snippets.
    /// [`Self::parse`] for an article being written (by an author, or into the knowledge
    /// folder): it must also say something under its headings ([`says_something`]).
    /// Articles already stored are read with `parse`, so none written under an older rule
    /// becomes unreadable.
    pub fn parse_new(
        source_name: &str,
        fallback_id: &str,
        text: &str,
    ) -> Result<Self, ArticleError> {
        let article = Self::parse(source_name, fallback_id, text)?;
        if says_something(&article.body) {
            Ok(article)
        } else {
            Err(ArticleError {
                source_name: source_name.to_owned(),
                line: None,
                reason: "the article has only headings and empty steps: write the symptoms, \
                         the cause and the fix under them"
                    .into(),
            })
        }
    }

    pub fn plain_body(&self) -> String {
        plain_text(&self.body)
    }
}

/// Whether a Markdown body says anything besides headings and empty list items: an
/// article of headings alone would still match its title's words, and the bot would offer
/// an empty fix. A line counts when, after block quote marks and one list marker (`-`,
/// `*`, `+`, or up to nine digits and `.` or `)`, followed by a space or the line's end),
/// it has a letter or digit; ATX headings (`#` to `######` then a space or the end) do
/// not count (CommonMark's rules for both).
pub fn says_something(markdown: &str) -> bool {
    markdown.lines().any(|line| {
        let line = line.trim_start().trim_start_matches(['>', ' ']);
        let hashes = line.chars().take_while(|c| *c == '#').count();
        let after_hashes = &line[hashes..];
        if (1..=6).contains(&hashes)
            && (after_hashes.is_empty() || after_hashes.starts_with([' ', '\t']))
        {
            return false;
        }
        list_item_text(line).chars().any(char::is_alphanumeric)
    })
}

/// A line without its list marker, if it has one.
fn list_item_text(line: &str) -> &str {
    let after_marker = if let Some(rest) = line.strip_prefix(['-', '*', '+']) {
        Some(rest)
    } else {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        (1..=9)
            .contains(&digits)
            .then(|| line[digits..].strip_prefix(['.', ')']))
            .flatten()
    };
    match after_marker {
        Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => rest,
        _ => line,
    }
}

/// Drops the Markdown markup people do not read aloud: heading marks, emphasis, code ticks
/// and link targets.
pub fn plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.lines() {
        let line = line.trim_start_matches(['#', '>', ' ']);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' | '_' | '`' => {}
                ']' if chars.peek() == Some(&'(') => {
                    // Skip the link target "(...)".
                    for c in chars.by_ref() {
                        if c == ')' {
                            break;
                        }
                    }
                }
                '[' => {}
                _ => out.push(c),
            }
        }
        out.push('\n');
    }
    out.trim().to_owned()
}

/// Loads every `*.md` in `dir` (sorted by name). Bad articles and duplicate ids come back
/// as errors beside the good articles.
pub fn load_dir(dir: &Path) -> std::io::Result<(Vec<Article>, Vec<ArticleError>)> {
    let (loaded, errors) = load_sources(dir)?;
    Ok((loaded.into_iter().map(|(a, _)| a).collect(), errors))
}

/// Articles with their file text as written, and the files that failed.
pub type Loaded = (Vec<(Article, String)>, Vec<ArticleError>);

/// Like [`load_dir`], with each article's file text as written.
pub fn load_sources(dir: &Path) -> std::io::Result<Loaded> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    paths.sort();
    let mut articles = Vec::with_capacity(paths.len());
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        let name = path.display().to_string();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                errors.push(ArticleError {
                    source_name: name,
                    line: None,
                    reason: format!("cannot read the file: {e}"),
                });
                continue;
            }
        };
        match Article::parse_new(&name, &stem, &text) {
            Ok(a) if !seen.insert(a.id.clone()) => errors.push(ArticleError {
                source_name: name,
                line: None,
                reason: format!("duplicate id {:?}", a.id),
            }),
            Ok(a) => articles.push((a, text)),
            Err(e) => errors.push(e),
        }
    }
    Ok((articles, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: vpn-disconnects\ntitle: VPN keeps disconnecting\ntags: [network, vpn]\n---\n## Symptoms\nIt **drops**.\n";

    #[test]
    fn an_article_of_headings_and_empty_steps_is_refused() {
        let skeleton = "---\ntitle: VPN\n---\n## Symptoms\n\n## Cause\n\n## Fix\n1. \n- \n";
        let e = Article::parse_new("x.md", "vpn", skeleton).unwrap_err();
        assert!(e.to_string().contains("only headings"), "{e}");
        assert!(
            Article::parse("x.md", "vpn", skeleton).is_ok(),
            "stored ones still read"
        );
        for body in [
            "## Fix\n1. Restart",
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "```\nipconfig /flushdns\n```",
            "- [Portal](https://example.com)",
            "+44 20 7946 0000",
            "192.168.1.1",
            "#it-help on Slack",
            "> Ask at the desk",
        ] {
            assert!(says_something(body), "{body:?} says something");
        }
        for body in [
            "## Symptoms\n\n## Fix\n1.\n2. \n- \n* \n+\n>",
            "#\n###### \n1)",
        ] {
            assert!(!says_something(body), "{body:?} says nothing");
        }
    }

    #[test]
    fn parses_front_matter_and_body() {
        let a = Article::parse("a.md", "a", GOOD).unwrap();
        assert_eq!(a.id.as_str(), "vpn-disconnects");
        assert_eq!(a.title, "VPN keeps disconnecting");
        assert_eq!(a.tags, vec!["network", "vpn"]);
        assert_eq!(a.body, "## Symptoms\nIt **drops**.");
        assert_eq!(a.plain_body(), "Symptoms\nIt drops.");
    }

    #[test]
    fn html_keeps_numbered_steps_and_drops_anything_active() {
        let a = Article::parse(
            "x.md",
            "x",
            "---\ntitle: T\n---\n## Fix\n1. Open **Settings**.\n2. Click [here](javascript:alert(1)).\n\n\
             <script>alert(2)</script><img src=x onerror=alert(3)>\n\n[portal](https://example.com)",
        )
        .unwrap();
        let html = a.html();
        assert!(
            html.contains("<ol>\n<li>Open <strong>Settings</strong>.</li>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://example.com\" rel=\"noopener noreferrer nofollow\">"),
            "{html}"
        );
        for bad in ["<script", "javascript:", "onerror", "alert(2)"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
    }

    #[test]
    fn id_defaults_to_the_file_name() {
        let a = Article::parse("x.md", "printer-jam", "---\ntitle: Jam\n---\nbody").unwrap();
        assert_eq!(a.id.as_str(), "printer-jam");
    }

    #[test]
    fn bad_articles_say_where_and_why() {
        let e = Article::parse("b.md", "b", "no front matter").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e =
            Article::parse("b.md", "b", "---\ntitle: ok\ntags: [unclosed\n---\nbody").unwrap_err();
        assert!(e.reason.contains("invalid front matter"), "{e}");
        assert!(e.line.is_some());
        let e = Article::parse("b.md", "b", "---\ntitle: t\n").unwrap_err();
        assert!(e.reason.contains("never closed"));
        let e = Article::parse("b.md", "Bad Id", "---\ntitle: t\n---\nbody").unwrap_err();
        assert!(e.reason.contains("invalid id"));
        let e = Article::parse("b.md", "b", "---\ntitle: t\n---\n   \n").unwrap_err();
        assert!(e.reason.contains("no body"));
        assert!(e.to_string().starts_with("b.md: "));
    }

    #[test]
    fn links_keep_their_text() {
        assert_eq!(
            plain_text("See [the portal](https://x/y) now"),
            "See the portal now"
        );
    }
}

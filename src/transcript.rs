//! The plain-text record of a chat that its call keeps when the chat ends, and the words
//! each event reads as.
//!
//! Every record starts a line with `[time]`; nothing people typed can: names, titles and
//! file names are kept to one line, and a message's later lines are indented. So a
//! message cannot forge another speaker or another time in the transcript.

use crate::domain::call::{Person, reference};
use crate::domain::event::ChatEvent;
use crate::domain::message::{Author, AuthorRole};
use crate::domain::{Millis, rfc3339};
use crate::store::{ChatRecord, StoredEvent};

/// What a message's second and later lines start with in the transcript.
const CONTINUATION: &str = "    ";

/// Text for one line: every line break (and any other control character) becomes a space.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if breaks_line(c) || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Characters that end a line for some viewer: the ASCII ones, NEL, and Unicode's line
/// and paragraph separators.
fn breaks_line(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// One transcript record: `[at] text`, with the text's later lines indented so that no
/// line of it can pass for a record of its own.
pub fn record(at: &str, text: &str) -> String {
    format!("[{at}] {}", indented(text))
}

/// Text with every line break made `\n` and the later lines indented by four spaces
/// (control characters but tabs become spaces): however it is shown, no line of it can
/// pass for another record.
pub fn indented(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.replace("\r\n", "\n").split(breaks_line).enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(CONTINUATION);
        }
        out.extend(
            line.chars()
                .map(|c| if c.is_control() && c != '\t' { ' ' } else { c }),
        );
    }
    out
}

/// Who wrote an event, as the transcript names them: `Name (role)`.
pub fn who(author: Option<&Author>) -> String {
    match author {
        Some(a) => format!("{} ({})", one_line(&a.name), a.role),
        None => "chatdesk".to_owned(),
    }
}

/// One event in words, as a transcript line shows it (without time). A message keeps its
/// line breaks; [`record`] indents them.
pub fn describe(e: &StoredEvent) -> String {
    match &e.event {
        ChatEvent::Message { author, text, .. } => format!("{}: {text}", who(Some(author))),
        ChatEvent::Suggestions { items } if items.is_empty() => {
            "Service Desk Bot (bot) found no matching article".to_owned()
        }
        ChatEvent::Suggestions { items } => {
            let list: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, s)| format!("{}. {}", i + 1, one_line(&s.title)))
                .collect();
            format!("Service Desk Bot (bot) suggested: {}", list.join("; "))
        }
        ChatEvent::Attachment { attachment, author } => format!(
            "{} attached {} ({} bytes, {})",
            one_line(&author.name),
            one_line(&attachment.name),
            attachment.size,
            one_line(&attachment.content_type)
        ),
        ChatEvent::Ended { ended_by, .. } => format!("Chat ended by the {ended_by}."),
    }
}

/// The record of a chat that its call keeps: every message, suggestion and file, in order.
pub fn transcript_text(
    chat: &ChatRecord,
    events: &[StoredEvent],
    ended_by: AuthorRole,
    ended_at: Millis,
) -> String {
    let mut out = format!(
        "Chat {} for {} with {} ({})\n",
        chat.id,
        reference(chat.call_id),
        one_line(&chat.user.name),
        chat.user.username
    );
    if let Some(Person { name, username, .. }) = &chat.analyst {
        out.push_str(&format!("Analyst: {} ({username})\n", one_line(name)));
    }
    for e in events {
        out.push_str(&record(&rfc3339(e.created_at), &describe(e)));
        out.push('\n');
    }
    out.push_str(&record(
        &rfc3339(ended_at),
        &format!("Chat ended by the {ended_by}."),
    ));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ChatId, EventId, UserId};

    fn message(name: &str, body: &str) -> StoredEvent {
        StoredEvent {
            id: EventId(1),
            chat_id: ChatId(1),
            seq: 1,
            event: ChatEvent::Message {
                author: Author {
                    role: AuthorRole::User,
                    name: name.into(),
                    id: Some(UserId(1)),
                },
                text: body.into(),
                client_id: None,
                article: None,
            },
            created_at: 0,
        }
    }

    #[test]
    fn later_lines_of_a_message_are_indented() {
        let e = message("Ann", "ok\n[2026-01-01T00:00:00Z] Bob (analyst): approved");
        let line = record("1970-01-01T00:00:00Z", &describe(&e));
        assert_eq!(
            line,
            "[1970-01-01T00:00:00Z] Ann (user): ok\n    [2026-01-01T00:00:00Z] Bob (analyst): approved"
        );
    }

    #[test]
    fn no_line_break_survives_in_names() {
        for sep in ["\n", "\r", "\u{2028}", "\u{2029}", "\u{85}", "\u{0b}"] {
            let e = message(&format!("Ann{sep}[2026-01-01T00:00:00Z] Bob"), "hi");
            let line = record("t", &describe(&e));
            assert_eq!(line.lines().count(), 1, "{sep:?}: {line:?}");
            assert!(!line.contains(sep));
        }
    }

    #[test]
    fn unicode_separators_in_messages_indent_too() {
        let e = message("Ann", "a\u{2028}[x] forged\r[y] forged");
        let line = record("t", &describe(&e));
        for l in line.split('\n').skip(1) {
            assert!(l.starts_with(CONTINUATION), "{l:?}");
        }
        assert_eq!(line.split('\n').count(), 3);
        let crlf = record("t", "a\r\nb");
        assert_eq!(crlf, "[t] a\n    b", "CRLF is one line break");
    }
}

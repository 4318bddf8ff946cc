//! Chat events as activities, and activities as what they ask of the chat (contract,
//! "Additions: external channels"). An activity's id is `{conversation}|{seq}`, seven
//! digits, for a stored event, and the Direct Line watermark is the chat's `seq`; what is
//! not stored (queue updates, typing) has an id of its own and moves no watermark.

use serde::Deserialize;
use serde_json::{Value, json};

use super::activity::{
    Activity, Attachment, CardAction, ChannelAccount, ConversationAccount, HERO_CARD, HeroCard,
    SuggestedActions,
};
use crate::domain::Timestamp;
use crate::domain::article::Suggestion;
use crate::domain::call::CallStatus;
use crate::domain::chat::ChatStatus;
use crate::domain::event::ChatEvent;
use crate::domain::ids::ArticleId;
use crate::domain::message::{AttachmentInfo, Author, AuthorRole};
use crate::domain::wait::WaitEstimate;
use crate::store::StoredEvent;

/// The bot's account in every conversation.
pub const BOT_ID: &str = "chatdesk";

/// What an activity is translated for: the conversation and the person on its user side.
pub struct Addressed<'a> {
    /// The conversation's id.
    pub conversation: &'a str,
    /// `directline` or `msteams`.
    pub channel_id: &'a str,
    /// The person, as the channel knows them (their id there and name).
    pub user: &'a ChannelAccount,
}

/// What an analyst is called in activities (`analyst:USERNAME`), by their user id.
pub trait AnalystNames {
    /// The username of the analyst who is `author`.
    fn username(&self, author: &Author) -> String;
}

/// What a person asks for with a card's or a suggested action's button.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// "This fixed it".
    Accept(ArticleId),
    /// The article in full.
    Read(ArticleId),
    /// "Not helpful".
    Decline(ArticleId),
    /// "Talk to an analyst".
    Handoff,
}

/// What an incoming activity asks of the chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Words for the chat, with the client's id for them (a retry repeats it).
    Say {
        text: String,
        client_id: Option<String>,
    },
    /// A button.
    Act(Action),
    /// The person is typing.
    Typing,
    /// Nothing chatdesk acts on (an `event`, a `conversationUpdate`).
    Nothing,
}

/// What an incoming activity asks for. Errors: what is wrong with it, for an `invalid`
/// answer (422).
pub fn intent_of(activity: &Activity) -> Result<Intent, String> {
    match activity.kind.as_str() {
        "message" => {}
        "typing" => return Ok(Intent::Typing),
        _ => return Ok(Intent::Nothing),
    }
    if let Some(value) = &activity.value
        && let Some(action) = value.get("action")
    {
        return action_of(action, value).map(Intent::Act);
    }
    let text = activity.text.as_deref().unwrap_or_default().trim();
    if text.is_empty() {
        return Err("a message activity needs text or a card action's value".into());
    }
    Ok(Intent::Say {
        text: text.to_owned(),
        client_id: activity.client_activity_id().map(str::to_owned),
    })
}

fn action_of(action: &Value, value: &Value) -> Result<Action, String> {
    let article = || {
        value
            .get("article_id")
            .and_then(Value::as_str)
            .ok_or_else(|| "this action needs an article_id".to_owned())
            .and_then(|id| ArticleId::parse(id).map_err(|e| format!("article_id {e}")))
    };
    match action.as_str() {
        Some("accept") => Ok(Action::Accept(article()?)),
        Some("read") => Ok(Action::Read(article()?)),
        Some("decline") => Ok(Action::Decline(article()?)),
        Some("handoff") => Ok(Action::Handoff),
        _ => Err(format!(
            "unknown action {action}; expected accept, read, decline or handoff"
        )),
    }
}

/// Whether typed words ask for a person rather than the bot.
pub fn asks_for_a_person(text: &str) -> bool {
    let text = text.to_lowercase();
    const ASKS: [&str; 7] = [
        "agent",
        "human",
        "talk to someone",
        "talk to a person",
        "real person",
        "analyst",
        "speak to someone",
    ];
    ASKS.iter().any(|a| {
        text.match_indices(a).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + a.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// The id of the activity for the chat's event `seq`.
pub fn activity_id(conversation: &str, seq: i64) -> String {
    format!("{conversation}|{seq:07}")
}

/// The conversation's first words: the call's description, as the user's message (it is
/// the call, not an event of the chat), with the client's id for them.
pub fn description_activity(
    to: &Addressed<'_>,
    description: &str,
    client_id: Option<&str>,
    at: Timestamp,
) -> Activity {
    Activity {
        text: Some(description.to_owned()),
        channel_data: client_id.map(|id| json!({"clientActivityID": id})),
        ..base(
            to,
            "message",
            activity_id(to.conversation, 0),
            user_side(to),
            at,
        )
    }
}

/// The activities a stored event becomes: one each, but the end, which is also said in
/// words (clients show nothing for `endOfConversation`).
/// `file_url` gives the address a file can be fetched from without other credentials.
pub fn activities_of(
    event: &StoredEvent,
    to: &Addressed<'_>,
    names: &dyn AnalystNames,
    file_url: &dyn Fn(&AttachmentInfo) -> String,
) -> Vec<Activity> {
    let id = activity_id(to.conversation, event.seq);
    let at = Timestamp(event.created_at);
    let activity = match &event.event {
        ChatEvent::Message {
            author,
            text,
            client_id,
            article,
        } => {
            // The bot's words may hold an article's Markdown; people's are shown as typed.
            let format = if author.role == AuthorRole::Bot {
                "markdown"
            } else {
                "plain"
            };
            let mut activity = Activity {
                text: Some(text.clone()),
                text_format: Some(format.into()),
                ..base(to, "message", id, sender(author, to, names), at)
            };
            if author.role == AuthorRole::User {
                activity.channel_data = client_id
                    .as_deref()
                    .map(|id| json!({"clientActivityID": id}));
            }
            if let Some(article) = article {
                activity.attachments.push(hero_card(
                    &article.title,
                    "",
                    vec![button("Read it", "read", Some(&article.article_id))],
                ));
            }
            activity
        }
        ChatEvent::Suggestions { items } => suggestions(items, to, id, at),
        ChatEvent::Attachment { attachment, author } => Activity {
            attachments: vec![Attachment {
                content_type: attachment.content_type.clone(),
                content_url: Some(file_url(attachment)),
                content: None,
                name: Some(attachment.name.clone()),
            }],
            ..base(to, "message", id, sender(author, to, names), at)
        },
        ChatEvent::Ended { call, .. } => {
            // Web Chat shows nothing for the end itself: the bot says so first.
            let state = match call.status {
                CallStatus::Resolved => "is resolved",
                CallStatus::Open => "stays open, and the service desk will follow it up",
            };
            let said = Activity {
                text: Some(format!(
                    "This chat has ended. Your call {} {state}.",
                    call.reference
                )),
                ..base(to, "message", format!("{id}-ended"), bot(), at)
            };
            return vec![said, base(to, "endOfConversation", id, bot(), at)];
        }
    };
    vec![activity]
}

/// A chat's place as its `status` frame gives it (contract, "WebSocket").
#[derive(Clone, Debug, Deserialize)]
pub struct QueuePlace {
    pub status: ChatStatus,
    #[serde(default)]
    pub queue_position: Option<i64>,
    #[serde(default)]
    pub available_analysts: Option<i64>,
    #[serde(default)]
    pub wait_estimate: Option<WaitEstimate>,
    pub last_seq: i64,
}

/// The queue's word to one person, said only when it changed: every change to the desk
/// sends every queued chat its place, mostly unchanged. Said afresh once the chat has
/// left the queue and comes back (a transfer to the queue).
#[derive(Default)]
pub struct QueueWords {
    said: Option<String>,
}

impl QueueWords {
    /// The activity for `place` when it says something new; `None` otherwise, or when
    /// the chat is not queued.
    pub fn next(
        &mut self,
        place: &QueuePlace,
        to: &Addressed<'_>,
        at: Timestamp,
    ) -> Option<Activity> {
        let Some(activity) = queue_activity(place, to, at) else {
            self.said = None;
            return None;
        };
        if activity.text == self.said {
            return None;
        }
        self.said.clone_from(&activity.text);
        Some(activity)
    }
}

/// The bot's word on the queue while the chat waits: its place, the analysts available
/// and the wait estimate. `None` unless the chat is queued.
fn queue_activity(view: &QueuePlace, to: &Addressed<'_>, at: Timestamp) -> Option<Activity> {
    if view.status != ChatStatus::Queued {
        return None;
    }
    let mut text = match view.queue_position {
        Some(1) => "You're next in the queue.".to_owned(),
        Some(n) => format!("You're number {n} in the queue."),
        None => "You're in the queue.".to_owned(),
    };
    match view.available_analysts {
        Some(0) | None => text.push_str(" No analyst is free right now."),
        Some(1) => text.push_str(" 1 analyst is available."),
        Some(n) => text.push_str(&format!(" {n} analysts are available.")),
    }
    if let Some(wait) = &view.wait_estimate {
        let minutes = |secs: u64| secs.div_ceil(60).max(1);
        text.push_str(&format!(
            " The wait is likely {} to {} minutes.",
            minutes(wait.low_secs),
            minutes(wait.high_secs)
        ));
    }
    let id = format!(
        "{}|queue-{}-{}",
        to.conversation,
        view.last_seq,
        view.queue_position.unwrap_or_default()
    );
    Some(Activity {
        text: Some(text),
        ..base(to, "message", id, bot(), at)
    })
}

/// An analyst's typing, as a `typing` activity from the account their messages come
/// from (`analyst:USERNAME`; `analyst` when the chat has none); `None` for anyone else's
/// or a stop.
pub fn typing_activity(
    role: AuthorRole,
    name: &str,
    username: Option<&str>,
    typing: bool,
    to: &Addressed<'_>,
    at: Timestamp,
) -> Option<Activity> {
    if role != AuthorRole::Analyst || !typing {
        return None;
    }
    let from = ChannelAccount {
        id: username.map_or_else(|| "analyst".into(), |u| format!("analyst:{u}")),
        name: Some(name.to_owned()),
        role: Some("bot".into()),
        aad_object_id: None,
    };
    let id = format!("{}|typing-{}", to.conversation, at.0);
    Some(base(to, "typing", id, from, at))
}

fn suggestions(items: &[Suggestion], to: &Addressed<'_>, id: String, at: Timestamp) -> Activity {
    let cards = items
        .iter()
        .map(|s| {
            hero_card(
                &s.title,
                &s.snippet,
                vec![
                    button("This fixed it", "accept", Some(&s.article_id)),
                    button("Read it", "read", Some(&s.article_id)),
                    button("Not helpful", "decline", Some(&s.article_id)),
                ],
            )
        })
        .collect();
    let text = if items.is_empty() {
        "No article matched. An analyst can help you."
    } else {
        "These articles may fix it:"
    };
    Activity {
        text: Some(text.into()),
        attachments: cards,
        attachment_layout: Some("list".into()),
        suggested_actions: Some(SuggestedActions {
            actions: vec![button("Talk to an analyst", "handoff", None)],
        }),
        ..base(to, "message", id, bot(), at)
    }
}

fn hero_card(title: &str, text: &str, buttons: Vec<CardAction>) -> Attachment {
    let card = HeroCard {
        title: title.to_owned(),
        text: text.to_owned(),
        buttons,
    };
    Attachment {
        content_type: HERO_CARD.into(),
        content_url: None,
        content: Some(serde_json::to_value(card).expect("cards serialize")),
        name: None,
    }
}

/// A `messageBack` button for `action` (on `article`).
fn button(title: &str, action: &str, article: Option<&ArticleId>) -> CardAction {
    let value = match article {
        Some(article) => json!({"action": action, "article_id": article}),
        None => json!({"action": action}),
    };
    CardAction {
        kind: "messageBack".into(),
        title: title.to_owned(),
        value: Some(value),
        text: None,
    }
}

fn base(
    to: &Addressed<'_>,
    kind: &str,
    id: String,
    from: ChannelAccount,
    at: Timestamp,
) -> Activity {
    Activity {
        kind: kind.to_owned(),
        id: Some(id),
        timestamp: Some(at.to_string()),
        channel_id: Some(to.channel_id.to_owned()),
        from: Some(from),
        conversation: Some(ConversationAccount {
            id: to.conversation.to_owned(),
        }),
        ..Activity::default()
    }
}

fn bot() -> ChannelAccount {
    ChannelAccount {
        id: BOT_ID.into(),
        name: Some(Author::bot().name),
        role: Some("bot".into()),
        aad_object_id: None,
    }
}

fn user_side(to: &Addressed<'_>) -> ChannelAccount {
    ChannelAccount {
        role: Some("user".into()),
        ..to.user.clone()
    }
}

/// The account an event's author appears as: the person themselves, the bot (for the bot
/// and chatdesk's own notes), or `analyst:USERNAME` with the bot's role.
fn sender(author: &Author, to: &Addressed<'_>, names: &dyn AnalystNames) -> ChannelAccount {
    match author.role {
        AuthorRole::User => user_side(to),
        AuthorRole::Bot | AuthorRole::System => bot(),
        AuthorRole::Analyst => ChannelAccount {
            id: format!("analyst:{}", names.username(author)),
            name: Some(author.name.clone()),
            role: Some("bot".into()),
            aad_object_id: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str, value: Option<Value>) -> Activity {
        Activity {
            kind: "message".into(),
            text: Some(text.into()),
            value,
            channel_data: Some(json!({"clientActivityID": "c1"})),
            ..Activity::default()
        }
    }

    #[test]
    fn card_actions_name_an_article_and_words_are_said() {
        let accept = message(
            "",
            Some(json!({"action": "accept", "article_id": "vpn-drops"})),
        );
        assert_eq!(
            intent_of(&accept),
            Ok(Intent::Act(Action::Accept(
                ArticleId::parse("vpn-drops").unwrap()
            )))
        );
        assert_eq!(
            intent_of(&message("", Some(json!({"action": "handoff"})))),
            Ok(Intent::Act(Action::Handoff))
        );
        assert!(intent_of(&message("", Some(json!({"action": "accept"})))).is_err());
        assert!(intent_of(&message("", Some(json!({"action": "explode"})))).is_err());
        assert!(
            intent_of(&message(
                "",
                Some(json!({"action": "read", "article_id": "../etc"}))
            ))
            .is_err()
        );
        assert_eq!(
            intent_of(&message(" hello ", None)),
            Ok(Intent::Say {
                text: "hello".into(),
                client_id: Some("c1".into())
            })
        );
        assert!(intent_of(&message("  ", None)).is_err());
    }

    #[test]
    fn asking_for_a_person_is_heard_in_whole_words() {
        assert!(asks_for_a_person("Can I talk to someone please"));
        assert!(asks_for_a_person("AGENT"));
        assert!(asks_for_a_person("I want a human."));
        assert!(!asks_for_a_person("my user agents are broken"));
        assert!(!asks_for_a_person("humane society"));
    }
}

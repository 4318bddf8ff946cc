//! A channel conversation's first message, which logs the call, shared by every channel
//! adapter: a client may send it twice at once (a retry racing the original) and exactly
//! one call is logged. The claim is the message's id in the channel (Web Chat's
//! `clientActivityID`, a Bot Framework `activity.id`), stored on the conversation. And
//! what every adapter needs to show a chat's events: links to its files, analysts' names.

use std::collections::HashMap;
use std::time::Duration;

use super::translate::{AnalystNames, asks_for_a_person};
use crate::domain::channel::CallSource;
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ChatId, UserId};
use crate::domain::message::{AttachmentInfo, Author, AuthorRole, Message};
use crate::domain::user::User;
use crate::engine::{ChannelService, ChatService};
use crate::error::Result;
use crate::store::{ChannelRecord, ConversationRecord, StoredEvent};

/// How many times (100 ms apart) a copy of the first message waits for the one starting
/// the chat before it takes over that one's claim: longer than any ranking takes.
const FIRST_MESSAGE_WAITS: usize = 150;

/// What became of a first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said {
    /// It logged the call and started this chat (it is the call's description).
    Started(ChatId),
    /// Another message had started the chat: it was said in it, as the event `seq`.
    InChat(i64),
}

/// A conversation that has no chat yet, and the person whose first message starts one.
pub struct FirstMessage<'a> {
    pub chats: &'a ChatService,
    pub channels: &'a ChannelService,
    pub channel: &'a ChannelRecord,
    pub conversation: &'a ConversationRecord,
    pub user: &'a User,
    /// The call's `source`.
    pub source: CallSource,
}

impl FirstMessage<'_> {
    /// Says `text`, the message the channel knows as `claim`: the one claim that wins
    /// logs the call and starts the chat; a copy with the same claim waits for it and
    /// is the same message; another message waits and is said in the chat. A claim whose
    /// holder died before starting the chat is taken over after [`FIRST_MESSAGE_WAITS`].
    ///
    /// # Errors
    /// As [`ChatService::start_chat_from`] and [`ChatService::post_message`]; the claim
    /// is given up on an error, so that a retry may win.
    pub async fn say(&self, text: &str, claim: &str) -> Result<Said> {
        let id = &self.conversation.id;
        if self.channels.claim_first_message(id, claim).await? {
            // Whose it is now that the claim holds it (a copy of this message may have
            // named its person meanwhile; see `DirectLine::named_by_sender`).
            let now = self.channels.conversation(self.channel, id).await?;
            let owner = self.owner(&now).await?;
            let started = self.chats.start_chat_from(&owner, text, self.source).await;
            return match started {
                Ok(started) => {
                    self.channels
                        .set_conversation_chat(id, started.chat.id)
                        .await?;
                    Ok(Said::Started(started.chat.id))
                }
                Err(e) => {
                    self.channels.release_first_message(id, claim).await?;
                    Err(e)
                }
            };
        }
        // Another copy (or another message) is starting the chat: wait for it, then
        // either this was that message, or it is said in the chat.
        for _ in 0..FIRST_MESSAGE_WAITS {
            let now = self.channels.conversation(self.channel, id).await?;
            match now {
                ConversationRecord {
                    chat_id: Some(chat),
                    ref first_activity,
                    ..
                } => {
                    if first_activity.as_deref() == Some(claim) {
                        return Ok(Said::Started(chat));
                    }
                    let owner = self.owner(&now).await?;
                    let (message, _) = self
                        .chats
                        .post_message(&owner, chat, text, Some(claim))
                        .await?;
                    return Ok(Said::InChat(message.seq));
                }
                ConversationRecord {
                    first_activity: None,
                    ..
                } => {
                    // The first try failed and gave its claim up: this one may win.
                    return Box::pin(self.say(text, claim)).await;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        // The claim's holder never finished (it died between logging the call and
        // recording it): its claim is given up, and this message starts the chat.
        let now = self.channels.conversation(self.channel, id).await?;
        if let (None, Some(stale)) = (now.chat_id, now.first_activity.as_deref()) {
            tracing::warn!(conversation = %id, "a stale first-message claim was taken over");
            self.channels.release_first_message(id, stale).await?;
        }
        Box::pin(self.say(text, claim)).await
    }

    /// The conversation's person as it stands: the one this message came as, unless the
    /// conversation was given to someone else meanwhile.
    async fn owner(&self, now: &ConversationRecord) -> Result<User> {
        if now.user_id == self.user.id {
            Ok(self.user.clone())
        } else {
            self.channels.conversation_user(now.user_id).await
        }
    }
}

/// Says `text` in a chat that goes on, as `user`, with the channel's id for it: words
/// asking for a person also queue the chat (see [`ChatService::ask_for_analyst`]).
/// Answers and errors as [`ChatService::post_message`].
pub async fn say_in_chat(
    chats: &ChatService,
    user: &User,
    chat: ChatId,
    text: &str,
    client_id: Option<&str>,
) -> Result<(Message, bool)> {
    if asks_for_a_person(text) {
        chats.ask_for_analyst(user, chat, text, client_id).await
    } else {
        chats.post_message(user, chat, text, client_id).await
    }
}

/// Addresses of the chat's files under `base` (where clients reach chatdesk) that open
/// without other credentials for at least [`FILE_LINK_SECS`](crate::engine::FILE_LINK_SECS).
pub async fn file_urls(
    chats: &ChatService,
    base: &str,
) -> Result<impl Fn(&AttachmentInfo) -> String + use<>> {
    let links = chats.file_links().await?;
    let base = base.trim_end_matches('/').to_owned();
    Ok(move |a: &AttachmentInfo| {
        format!("{base}/v3/directline/files/{}?{}", a.id, links.query(&a.id))
    })
}

/// The usernames of the analysts who wrote among some events (`analyst:USERNAME`).
pub struct Usernames(HashMap<UserId, String>);

impl Usernames {
    /// Reads the username of each analyst who wrote among `events`.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn read(channels: &ChannelService, events: &[StoredEvent]) -> Result<Self> {
        let mut names = HashMap::new();
        for event in events {
            if let ChatEvent::Message { author, .. } | ChatEvent::Attachment { author, .. } =
                &event.event
                && author.role == AuthorRole::Analyst
                && let Some(id) = author.id
                && !names.contains_key(&id)
                && let Some(user) = channels.user(id).await?
            {
                names.insert(id, user.username);
            }
        }
        Ok(Self(names))
    }
}

impl AnalystNames for Usernames {
    fn username(&self, author: &Author) -> String {
        author
            .id
            .and_then(|id| self.0.get(&id).cloned())
            .unwrap_or_else(|| "analyst".into())
    }
}

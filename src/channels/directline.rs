//! Direct Line 3.0 (contract, "Additions: external channels"), as Microsoft documents it
//! (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-direct-line-3-0-concepts>)
//! and as `botframework-directlinejs` and Web Chat use it: a secret an admin made for a
//! site, tokens for one conversation, activities posted and read by watermark (the chat's
//! `seq`), and a stream of activity sets.
//!
//! A conversation is a chat like any other: its first message logs the call (`source`
//! `directline`) and starts the bot, buttons on the bot's cards accept, read or decline an
//! article or ask for an analyst, and the analyst's words come back as activities.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Deserialize;

use super::activity::{Activity, ActivitySet, ChannelAccount};
use super::conversations;
use super::tokens::{self, Claims, TOKEN_SECS, TokenError};
use super::translate::{
    Action, Addressed, Intent, QueuePlace, QueueWords, activities_of, activity_id,
    description_activity, intent_of, typing_activity,
};
use crate::domain::Timestamp;
use crate::domain::channel::{CallSource, validate_external_id};
use crate::domain::chat::{ChatStatus, ChatView};
use crate::domain::ids::{ChatId, UserId};
use crate::domain::message::AuthorRole;
use crate::domain::user::User;
use crate::engine::clock::Clock;
use crate::engine::{ChannelService, ChatFeed, ChatService, Engine, Upload};
use crate::error::{Error, ErrorCode, Result};
use crate::events::FrameKind;
use crate::store::{ChannelRecord, ConversationRecord};

/// The channel id activities carry.
const CHANNEL_ID: &str = "directline";

/// How often a stream opened before the conversation's first message looks for it.
const FIRST_MESSAGE_CHECK: Duration = Duration::from_secs(1);

/// The person a request speaks for, as a Direct Line body gives them (`{"id", "name"}`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PersonIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A conversation as Direct Line answers with it: `{"conversationId", "token",
/// "expires_in"}` (the HTTP layer adds `streamUrl`, which names its own address).
#[derive(Clone, Debug)]
pub struct Conversation {
    /// The conversation's id: URL-safe letters and digits.
    pub id: String,
    /// A token for it (see [`tokens`]).
    pub token: String,
    /// Seconds the token lasts.
    pub expires_in: i64,
}

/// Who is asking: the holder of a channel's secret, or of a token for one conversation.
enum Access {
    Secret(ChannelRecord),
    Token(ChannelRecord, Claims),
}

impl Access {
    fn channel(&self) -> &ChannelRecord {
        match self {
            Self::Secret(c) | Self::Token(c, _) => c,
        }
    }
}

/// Direct Line, over the chat service.
#[derive(Clone)]
pub struct DirectLine {
    chats: ChatService,
    channels: ChannelService,
    clock: Arc<dyn Clock>,
}

impl DirectLine {
    /// Direct Line over the engine's chat and channel services.
    pub fn new(engine: &Engine) -> Self {
        Self {
            chats: engine.chats.clone(),
            channels: engine.channels.clone(),
            clock: engine.clock().clone(),
        }
    }

    fn now_secs(&self) -> i64 {
        self.clock.now() / 1000
    }

    /// Who `bearer` (a secret or a token) speaks for. Errors: `unauthorized` for what
    /// no channel issued (or a removed channel's); `forbidden` for an expired token.
    async fn access(&self, bearer: &str) -> Result<Access> {
        if let Some(channel_id) = tokens::channel_of(bearer) {
            let channel = self
                .channels
                .channel(channel_id)
                .await?
                .ok_or(Error::Unauthorized)?;
            return match tokens::verify(&channel, bearer, self.now_secs()) {
                Ok(claims) => Ok(Access::Token(channel, claims)),
                Err(TokenError::Expired) => Err(Error::forbidden(TokenError::Expired.to_string())),
                Err(TokenError::Invalid) => Err(Error::Unauthorized),
            };
        }
        match self.channels.channel_by_secret(bearer).await? {
            Some(channel) => Ok(Access::Secret(channel)),
            None => Err(Error::Unauthorized),
        }
    }

    /// `POST /tokens/generate`: the secret's holder vouches for `person` (a new random id
    /// when none is given) and gets a token for a new conversation. Errors: as
    /// [`access`](Self::access); `forbidden` for a token; `invalid` for a bad id.
    pub async fn generate_token(&self, bearer: &str, person: PersonIn) -> Result<Conversation> {
        match self.access(bearer).await? {
            Access::Secret(channel) => self.new_conversation(&channel, person).await,
            Access::Token(..) => Err(Error::forbidden(
                "only the channel's secret can generate tokens; refresh a token instead",
            )),
        }
    }

    /// `POST /tokens/refresh`: the same conversation, with a token that lasts
    /// [`TOKEN_SECS`] from now. Errors: as [`access`](Self::access); `forbidden` for a
    /// secret.
    pub async fn refresh_token(&self, bearer: &str) -> Result<Conversation> {
        match self.access(bearer).await? {
            Access::Token(channel, claims) => {
                Ok(self.token_for(&channel, &claims.user, claims.name.as_deref(), &claims.conv))
            }
            Access::Secret(_) => Err(Error::forbidden("a secret does not expire; use it as is")),
        }
    }

    /// `POST /conversations`: with a secret, a new conversation for `person`; with a
    /// token, its conversation. `true` beside it when it was made now.
    pub async fn start_conversation(
        &self,
        bearer: &str,
        person: PersonIn,
    ) -> Result<(Conversation, bool)> {
        match self.access(bearer).await? {
            Access::Secret(channel) => Ok((self.new_conversation(&channel, person).await?, true)),
            Access::Token(channel, claims) => {
                let conversation = self.channels.conversation(&channel, &claims.conv).await?;
                let fresh = conversation.chat_id.is_none();
                Ok((
                    self.token_for(&channel, &claims.user, claims.name.as_deref(), &claims.conv),
                    fresh,
                ))
            }
        }
    }

    /// `GET /conversations/{id}`: the conversation again (a client reconnecting), with a
    /// fresh token. Errors: `not_found` for a conversation the bearer may not see.
    /// Errors: `not_found` also once the chat has ended and the client has read to its end
    /// (`after`).
    pub async fn reconnect(
        &self,
        bearer: &str,
        conversation_id: &str,
        after: Option<i64>,
    ) -> Result<Conversation> {
        let access = self.access(bearer).await?;
        let (conversation, person, user) = self.open(&access, conversation_id).await?;
        self.refuse_when_over(&conversation, &user, after).await?;
        Ok(self.token_for(
            access.channel(),
            &person.id,
            person.name.as_deref(),
            &conversation.id,
        ))
    }

    /// `not_found` when the conversation's chat has ended and the client, having read
    /// `after`, has everything: nothing more will come.
    async fn refuse_when_over(
        &self,
        conversation: &ConversationRecord,
        user: &User,
        after: Option<i64>,
    ) -> Result<()> {
        let (Some(chat), Some(after)) = (conversation.chat_id, after) else {
            return Ok(());
        };
        let view = self.chats.view(user, chat).await?;
        if view.status == ChatStatus::Ended && after >= view.last_seq {
            return Err(Error::NotFound("conversation"));
        }
        Ok(())
    }

    async fn new_conversation(
        &self,
        channel: &ChannelRecord,
        person: PersonIn,
    ) -> Result<Conversation> {
        // Without an id, an anonymous visitor, whom the secret's holder may still name by
        // the first message's `from`.
        let (external, named) = match person.id {
            Some(id) => {
                validate_external_id(&id).map_err(|m| Error::invalid("user.id", m))?;
                (id, true)
            }
            None => (format!("dl_{}", random_id(16)), false),
        };
        let name = person
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let user = self.channels.person(channel, &external, name).await?;
        let id = random_id(22);
        self.channels
            .create_conversation(channel, &user, named.then_some(external.as_str()), &id)
            .await?;
        Ok(self.token_for(channel, &external, name, &id))
    }

    fn token_for(
        &self,
        channel: &ChannelRecord,
        user: &str,
        name: Option<&str>,
        conversation: &str,
    ) -> Conversation {
        let claims = Claims::new(user, name, conversation, self.now_secs());
        Conversation {
            id: conversation.to_owned(),
            token: tokens::issue(channel, &claims),
            expires_in: TOKEN_SECS,
        }
    }

    /// The conversation the bearer may use, its person as the channel names them, and
    /// their account.
    /// A token opens only its own conversation. Errors: `not_found` otherwise; `forbidden`
    /// once the person's account is disabled.
    async fn open(
        &self,
        access: &Access,
        conversation_id: &str,
    ) -> Result<(ConversationRecord, ChannelAccount, User)> {
        let conversation = self
            .channels
            .conversation(access.channel(), conversation_id)
            .await?;
        // A disabled account goes no further, as its sessions and tokens do not.
        let user = self
            .channels
            .conversation_user(conversation.user_id)
            .await?;
        let (id, name) = match access {
            Access::Token(_, claims) if claims.conv != conversation_id => {
                return Err(Error::NotFound("conversation"));
            }
            Access::Token(_, claims) => (claims.user.clone(), claims.name.clone()),
            // The secret's holder reads any conversation of the channel: its person is
            // shown by the id they were named by, else by account.
            Access::Secret(_) => (
                conversation
                    .person_id
                    .clone()
                    .unwrap_or_else(|| user.username.clone()),
                None,
            ),
        };
        let person = ChannelAccount {
            id,
            name: name.or_else(|| Some(user.display_name.clone())),
            role: Some("user".into()),
            aad_object_id: None,
        };
        Ok((conversation, person, user))
    }

    /// `POST /conversations/{id}/activities`: the id of the activity stored for it.
    /// The first message logs the call and starts the bot; later ones are said in the
    /// chat, or do what a button asks. Errors: `invalid` for an activity chatdesk cannot
    /// act on; `not_found` for an article never offered, or a conversation that ended.
    pub async fn post_activity(
        &self,
        bearer: &str,
        conversation_id: &str,
        activity: &Activity,
    ) -> Result<String> {
        let access = self.access(bearer).await?;
        let (conversation, _, user) = self.open(&access, conversation_id).await?;
        let intent = intent_of(activity).map_err(|m| Error::invalid("activity", m))?;
        let (conversation, user) = self
            .named_by_sender(&access, conversation, user, activity)
            .await?;
        let chat_id = match conversation.chat_id {
            // A retry of the first message: it is the call's description.
            Some(_)
                if matches!(&intent, Intent::Say { client_id: Some(id), .. }
                    if conversation.first_activity.as_deref() == Some(id.as_str())) =>
            {
                return Ok(activity_id(conversation_id, 0));
            }
            Some(chat) => chat,
            None => match intent {
                Intent::Say { text, client_id } => {
                    return self
                        .first_message(access.channel(), &conversation, &user, &text, client_id)
                        .await;
                }
                Intent::Act(_) => {
                    return Err(Error::NotFound("suggestion"));
                }
                Intent::Typing | Intent::Nothing => {
                    return Ok(format!("{conversation_id}|none"));
                }
            },
        };
        match intent {
            Intent::Say { text, client_id } => {
                let (message, _) = conversations::say_in_chat(
                    &self.chats,
                    &user,
                    chat_id,
                    &text,
                    client_id.as_deref(),
                )
                .await
                .map_err(over)?;
                Ok(activity_id(conversation_id, message.seq))
            }
            Intent::Act(action) => {
                self.act(&user, chat_id, action).await.map_err(over)?;
                Ok(format!("{conversation_id}|action-{}", random_id(8)))
            }
            Intent::Typing => {
                self.chats
                    .typing(&user, chat_id, true)
                    .await
                    .map_err(over)?;
                Ok(format!("{conversation_id}|typing"))
            }
            Intent::Nothing => Ok(format!("{conversation_id}|none")),
        }
    }

    /// The person is "a token's user, or `from.id`" (contract): an anonymous visitor's
    /// conversation, used with the secret, becomes before its first message the
    /// conversation of the person the activity's `from` names (made the first time the
    /// channel sees their id). Otherwise `from` is not read. Errors: `invalid` for a bad
    /// `from.id`; `forbidden` for a disabled account.
    async fn named_by_sender(
        &self,
        access: &Access,
        conversation: ConversationRecord,
        user: User,
        activity: &Activity,
    ) -> Result<(ConversationRecord, User)> {
        let (Access::Secret(channel), Some(from)) = (access, activity.from.as_ref()) else {
            return Ok((conversation, user));
        };
        if conversation.person_id.is_some() || conversation.chat_id.is_some() || from.id.is_empty()
        {
            return Ok((conversation, user));
        }
        validate_external_id(&from.id).map_err(|m| Error::invalid("from.id", m))?;
        let name = from
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let person = self.channels.person(channel, &from.id, name).await?;
        if self
            .channels
            .set_conversation_person(&conversation.id, &person, &from.id)
            .await?
        {
            let named = ConversationRecord {
                user_id: person.id,
                person_id: Some(from.id.clone()),
                ..conversation
            };
            return Ok((named, person));
        }
        // Named or started meanwhile (a copy of this message): as it is now.
        let now = self
            .channels
            .conversation(channel, &conversation.id)
            .await?;
        let user = self.channels.conversation_user(now.user_id).await?;
        Ok((now, user))
    }

    async fn act(&self, user: &User, chat_id: ChatId, action: Action) -> Result<()> {
        match action {
            Action::Accept(article) => {
                self.chats
                    .accept_suggestion(user, chat_id, &article)
                    .await?;
            }
            Action::Read(article) => {
                self.chats.read_suggestion(user, chat_id, &article).await?;
            }
            Action::Decline(article) => {
                self.chats
                    .decline_suggestion(user, chat_id, &article)
                    .await?;
            }
            Action::Handoff => {
                self.chats.handoff(user, chat_id).await?;
            }
        }
        Ok(())
    }

    /// The conversation's first message: it logs the call, once however many copies of
    /// it arrive at once (see [`conversations::first_message`]); the id of its activity.
    async fn first_message(
        &self,
        channel: &ChannelRecord,
        conversation: &ConversationRecord,
        user: &User,
        text: &str,
        client_id: Option<String>,
    ) -> Result<String> {
        let claim = client_id.unwrap_or_else(|| random_id(12));
        let first = conversations::FirstMessage {
            chats: &self.chats,
            channels: &self.channels,
            channel,
            conversation,
            user,
            source: CallSource::Directline,
        };
        Ok(match first.say(text, &claim).await? {
            conversations::Said::Started(_) => activity_id(&conversation.id, 0),
            conversations::Said::InChat(seq) => activity_id(&conversation.id, seq),
        })
    }

    /// `POST /conversations/{id}/upload`: files the person sends, with the activity that
    /// carries them (its text, if any, is said in the chat too; without text the files'
    /// names are, so that the client's id for the activity comes back). The files join
    /// the call. A conversation's first activity may be an upload: it logs the call.
    /// Errors: as [`post_activity`](Self::post_activity), and `invalid` without files.
    pub async fn upload(
        &self,
        bearer: &str,
        conversation_id: &str,
        activity: &Activity,
        files: Vec<Upload>,
    ) -> Result<String> {
        if files.is_empty() {
            return Err(Error::invalid(
                "file",
                "send at least one part named \"file\"",
            ));
        }
        let access = self.access(bearer).await?;
        let (conversation, _, user) = self.open(&access, conversation_id).await?;
        let (conversation, user) = self
            .named_by_sender(&access, conversation, user, activity)
            .await?;
        let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
        let text = activity
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map_or_else(|| format!("Sent {}", names.join(", ")), str::to_owned);
        let client_id = activity.client_activity_id().map(str::to_owned);
        let chat_id = match conversation.chat_id {
            Some(chat) => chat,
            None => {
                self.first_message(access.channel(), &conversation, &user, &text, client_id)
                    .await?;
                let now = self
                    .channels
                    .conversation(access.channel(), conversation_id)
                    .await?;
                let chat = now.chat_id.ok_or(Error::NotFound("conversation"))?;
                for file in files {
                    self.chats.attach(&user, chat, file).await?;
                }
                return Ok(activity_id(conversation_id, 0));
            }
        };
        // The words first: a retry is known by its client id, and adds no files again.
        let (message, repeated) = self
            .chats
            .post_message(&user, chat_id, &text, client_id.as_deref())
            .await
            .map_err(over)?;
        if !repeated {
            for file in files {
                self.chats
                    .attach(&user, chat_id, file)
                    .await
                    .map_err(over)?;
            }
        }
        Ok(activity_id(conversation_id, message.seq))
    }

    /// `GET /conversations/{id}/activities?watermark=`: every activity after the
    /// watermark (none given: from the start). Errors: `not_found` once the chat has
    /// ended and the client has everything.
    ///
    /// `base` is the address clients reach chatdesk at (`https://desk.example.com`), for
    /// the links to files.
    pub async fn activities(
        &self,
        bearer: &str,
        conversation_id: &str,
        watermark: Option<i64>,
        base: &str,
    ) -> Result<ActivitySet> {
        let access = self.access(bearer).await?;
        let (conversation, person, user) = self.open(&access, conversation_id).await?;
        let to = Addressed {
            conversation: &conversation.id,
            channel_id: CHANNEL_ID,
            user: &person,
        };
        let Some(chat_id) = conversation.chat_id else {
            return Ok(ActivitySet {
                activities: Vec::new(),
                watermark: watermark.map(|w| w.to_string()),
            });
        };
        let view = self.chats.view(&user, chat_id).await?;
        if watermark.is_some_and(|w| w > view.last_seq) {
            return Err(Error::invalid(
                "watermark",
                format!(
                    "{} is beyond this conversation's last activity; use {} or lower",
                    watermark.unwrap_or_default(),
                    view.last_seq
                ),
            ));
        }
        let mut activities = Vec::new();
        let after = watermark.unwrap_or(-1);
        if after < 0 {
            activities.push(description(&to, &view, &conversation));
        }
        let events = self
            .chats
            .events_after(&user, chat_id, after.max(0))
            .await?;
        if events.is_empty() && view.status == ChatStatus::Ended && after >= 0 {
            return Err(Error::NotFound("conversation"));
        }
        let names = conversations::Usernames::read(&self.channels, &events).await?;
        let files = conversations::file_urls(&self.chats, base).await?;
        for event in &events {
            activities.extend(activities_of(event, &to, &names, &files));
        }
        let last = events.last().map_or(after.max(0), |e| e.seq);
        Ok(ActivitySet {
            activities,
            watermark: Some(last.to_string()),
        })
    }

    /// The conversation's stream (`streamUrl`): every activity after the watermark, then
    /// each as it happens. Errors: as [`activities`](Self::activities).
    pub async fn stream(
        &self,
        bearer: &str,
        conversation_id: &str,
        watermark: Option<i64>,
        base: &str,
    ) -> Result<ActivityStream> {
        let access = self.access(bearer).await?;
        let (conversation, person, user) = self.open(&access, conversation_id).await?;
        self.refuse_when_over(&conversation, &user, watermark)
            .await?;
        Ok(ActivityStream {
            line: self.clone(),
            base: base.to_owned(),
            channel: access.channel().clone(),
            conversation,
            person,
            user,
            sent_through: watermark.unwrap_or(-1),
            feed: None,
            ended: false,
            queue_words: QueueWords::default(),
            analyst: None,
        })
    }
}

/// One client's stream of a conversation's activity sets.
pub struct ActivityStream {
    line: DirectLine,
    /// Where clients reach chatdesk, for links to files.
    base: String,
    channel: ChannelRecord,
    conversation: ConversationRecord,
    person: ChannelAccount,
    user: User,
    /// The watermark: the last `seq` sent; -1 before the description.
    sent_through: i64,
    feed: Option<ChatFeed>,
    ended: bool,
    /// The chat's analyst's username (`Some(None)`: it has none), once read, and again
    /// after each status frame.
    analyst: Option<Option<String>>,
    /// The queue place, said when it changes.
    queue_words: QueueWords,
}

/// A typing frame's fields.
#[derive(Deserialize)]
struct TypingFields {
    role: AuthorRole,
    name: String,
    typing: bool,
}

impl ActivityStream {
    /// The account of the person whose conversation this is.
    pub fn user_id(&self) -> UserId {
        self.user.id
    }

    /// The next activity set to send; `None` once the conversation has ended and its
    /// last activities were sent, or the service is stopping.
    pub async fn next(&mut self) -> Result<Option<ActivitySet>> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let Some(feed) = self.feed.as_mut() else {
                let Some(chat_id) = self.chat().await? else {
                    tokio::time::sleep(FIRST_MESSAGE_CHECK).await;
                    continue;
                };
                let feed = self
                    .line
                    .chats
                    .open_feed(&self.user, chat_id, self.sent_through.max(0))
                    .await?;
                self.feed = Some(feed);
                if self.sent_through < 0 {
                    let view = self.line.chats.view(&self.user, chat_id).await?;
                    let first = description(&self.addressed(), &view, &self.conversation);
                    self.sent_through = 0;
                    return Ok(Some(self.set(vec![first])));
                }
                continue;
            };
            let Some(frame) = feed.next().await? else {
                return Ok(None);
            };
            match (frame.seq, frame.kind) {
                (Some(seq), _) if seq > self.sent_through => return self.events().await.map(Some),
                (None, FrameKind::Status) => {
                    // A transfer, say: the chat's analyst is read again when next needed.
                    self.analyst = None;
                    let Ok(place) = serde_json::from_str::<QueuePlace>(&frame.text) else {
                        continue;
                    };
                    // Fields, not `addressed()`, so that the words may change beside them.
                    let to = Addressed {
                        conversation: &self.conversation.id,
                        channel_id: CHANNEL_ID,
                        user: &self.person,
                    };
                    let at = Timestamp(self.line.clock.now());
                    if let Some(activity) = self.queue_words.next(&place, &to, at) {
                        return Ok(Some(self.set(vec![activity])));
                    }
                }
                (None, FrameKind::Typing) => {
                    let Ok(t) = serde_json::from_str::<TypingFields>(&frame.text) else {
                        continue;
                    };
                    if t.role != AuthorRole::Analyst || !t.typing {
                        continue;
                    }
                    let username = self.analyst_username().await?;
                    let to = self.addressed();
                    if let Some(activity) = typing_activity(
                        t.role,
                        &t.name,
                        username.as_deref(),
                        t.typing,
                        &to,
                        self.now(),
                    ) {
                        return Ok(Some(self.set(vec![activity])));
                    }
                }
                _ => {}
            }
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.line.clock.now())
    }

    /// The username of the chat's analyst, read once per status frame: typing comes from
    /// the account their words come from.
    async fn analyst_username(&mut self) -> Result<Option<String>> {
        if let Some(known) = &self.analyst {
            return Ok(known.clone());
        }
        let chat_id = self.conversation.chat_id.expect("a feed has a chat");
        let view = self.line.chats.view(&self.user, chat_id).await?;
        let username = view.analyst.map(|a| a.username);
        self.analyst = Some(username.clone());
        Ok(username)
    }

    fn addressed(&self) -> Addressed<'_> {
        Addressed {
            conversation: &self.conversation.id,
            channel_id: CHANNEL_ID,
            user: &self.person,
        }
    }

    fn set(&self, activities: Vec<Activity>) -> ActivitySet {
        ActivitySet {
            activities,
            watermark: Some(self.sent_through.max(0).to_string()),
        }
    }

    /// The conversation's chat, once its first message started one. An anonymous
    /// visitor's conversation may have been given meanwhile to the person its first
    /// message named (see `named_by_sender`): the stream follows.
    async fn chat(&mut self) -> Result<Option<ChatId>> {
        if self.conversation.chat_id.is_none() {
            self.conversation = self
                .line
                .channels
                .conversation(&self.channel, &self.conversation.id)
                .await?;
            if self.conversation.user_id != self.user.id {
                self.user = self
                    .line
                    .channels
                    .conversation_user(self.conversation.user_id)
                    .await?;
                if let Some(id) = &self.conversation.person_id {
                    self.person.id.clone_from(id);
                    self.person.name = Some(self.user.display_name.clone());
                }
            }
        }
        Ok(self.conversation.chat_id)
    }

    /// Every stored event not yet sent, as one set.
    async fn events(&mut self) -> Result<ActivitySet> {
        let chat_id = self.conversation.chat_id.expect("a feed has a chat");
        let events = self
            .line
            .chats
            .events_after(&self.user, chat_id, self.sent_through)
            .await?;
        let names = conversations::Usernames::read(&self.line.channels, &events).await?;
        let files = conversations::file_urls(&self.line.chats, &self.base).await?;
        let to = self.addressed();
        let activities: Vec<Activity> = events
            .iter()
            .flat_map(|e| activities_of(e, &to, &names, &files))
            .collect();
        if let Some(last) = events.last() {
            self.sent_through = last.seq;
            self.ended = events
                .iter()
                .any(|e| matches!(e.event, crate::domain::event::ChatEvent::Ended { .. }));
        }
        Ok(self.set(activities))
    }
}

/// The conversation's first words (the call's description), as the user said them.
fn description(to: &Addressed<'_>, view: &ChatView, conversation: &ConversationRecord) -> Activity {
    description_activity(
        to,
        &view.description,
        conversation.first_activity.as_deref(),
        view.created_at,
    )
}

/// A chat that has ended is a conversation that is over: `404`, as Direct Line answers.
fn over(e: Error) -> Error {
    match e {
        Error::Conflict {
            code: ErrorCode::ChatEnded,
            ..
        } => Error::NotFound("conversation"),
        e => e,
    }
}

/// `n` random letters and digits: URL-safe, as Direct Line clients put ids in URLs
/// unencoded.
fn random_id(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

//! Microsoft Teams through the Bot Framework (contract, "Bot Framework activities"):
//! activities arrive at `POST /api/messages` signed by the Bot Framework ([`auth`]), and
//! everything the chat says back goes to the conversation's connector ([`connector`]),
//! delivered in order by one instance at a time and resumed by another after a restart
//! ([`deliveries`]).
//!
//! A Teams conversation with the bot outlives its chats: its first message logs a call and
//! starts the bot, and once that chat has ended the next message logs a new call.

pub mod auth;
pub mod connector;
mod deliveries;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::auth::Verifier;
use self::connector::Connector;
use self::deliveries::Deliveries;
use super::activity::Activity;
use super::conversations;
use super::conversations::{FirstMessage, Said};
use super::translate::{Action, Intent, intent_of};
use crate::domain::channel::{CallSource, validate_external_id};
use crate::domain::chat::ChatStatus;
use crate::domain::ids::ChatId;
use crate::domain::user::User;
use crate::engine::{ChannelService, ChatService, Engine};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{ChannelRecord, ConversationRecord};

/// The longest conversation id chatdesk keeps (Teams' are about 100 characters).
const CONVERSATION_ID_MAX_CHARS: usize = 512;

/// How a delivery retries a connector that fails: the first wait, and how many retries
/// before the delivery stops and is resumed later.
#[derive(Clone, Copy, Debug)]
pub struct Retries {
    pub first_wait: Duration,
    pub retries: usize,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            first_wait: Duration::from_secs(1),
            retries: 6,
        }
    }
}

/// The Bot Framework adapter. Cheap to clone.
#[derive(Clone)]
pub struct BotFramework {
    inner: Arc<Inner>,
}

struct Inner {
    chats: ChatService,
    channels: ChannelService,
    verifier: Verifier,
    deliveries: Deliveries,
}

impl BotFramework {
    /// The adapter when the settings turn the Bot Framework on (an app id and password),
    /// else `None`. Deliveries stop at `shutdown` and are tracked by `tasks`.
    pub fn new(engine: &Engine, shutdown: CancellationToken, tasks: TaskTracker) -> Option<Self> {
        let settings = &engine.settings().botframework;
        let (app_id, _) = settings.credentials()?;
        let http = reqwest::Client::new();
        let retries = Retries::default();
        let connector =
            Connector::new(settings, http.clone(), retries.first_wait, retries.retries)?;
        if engine.settings().public_url.is_none() {
            tracing::warn!(
                "Teams is on but CHATDESK_PUBLIC_URL is unset: links to analysts' files \
                 will name the bind address, which Teams users may not reach"
            );
        }
        let base = engine
            .settings()
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", engine.settings().bind));
        Some(Self {
            inner: Arc::new(Inner {
                chats: engine.chats.clone(),
                channels: engine.channels.clone(),
                verifier: Verifier::new(app_id, &settings.openid_metadata_url, http),
                deliveries: Deliveries::new(
                    engine.chats.clone(),
                    engine.channels.clone(),
                    connector,
                    engine.clock().clone(),
                    base,
                    shutdown,
                    tasks,
                ),
            }),
        })
    }

    /// Resumes, now and every little while until shutdown, the deliveries that no
    /// instance is making (one that stopped mid-way).
    pub fn resume_deliveries(&self) {
        self.inner.deliveries.resume_forever();
    }

    /// `POST /api/messages`: one activity from the Bot Framework, with its bearer token.
    /// A repeat of an activity id already handled does nothing.
    ///
    /// # Errors
    /// `BadCredentials` (401) for a token the Bot Framework did not sign for this bot
    /// and this activity's `serviceUrl`; `invalid` for an activity without a
    /// conversation or sender, or a message without words or a card action; `not_found`
    /// for a card action on an article never offered.
    pub async fn receive(&self, bearer: &str, activity: &Activity) -> Result<()> {
        let service_url = activity.service_url.as_deref().unwrap_or_default();
        let channel_id = activity.channel_id.as_deref().unwrap_or_default();
        self.inner
            .verifier
            .verify(bearer, channel_id, service_url)
            .await?;
        let channel = self.inner.channels.teams_channel().await?;
        let Some(activity_id) = activity.id.as_deref().filter(|id| !id.is_empty()) else {
            return self.handle(&channel, activity, None).await;
        };
        // Activity ids are unique within a conversation only.
        let conversation = activity.conversation.as_ref().map_or("", |c| c.id.as_str());
        let channels = &self.inner.channels;
        if !channels
            .note_activity(&channel, conversation, activity_id)
            .await?
        {
            tracing::debug!(activity_id, "a repeated Bot Framework activity was skipped");
            return Ok(());
        }
        let handled = self.handle(&channel, activity, Some(activity_id)).await;
        if handled.is_err() {
            // A failure is not handled: the channel's retry is.
            channels
                .forget_activity(&channel, conversation, activity_id)
                .await?;
        }
        handled
    }

    async fn handle(
        &self,
        channel: &ChannelRecord,
        activity: &Activity,
        activity_id: Option<&str>,
    ) -> Result<()> {
        let intent = intent_of(activity).map_err(|m| Error::invalid("activity", m))?;
        if matches!(intent, Intent::Nothing) {
            // conversationUpdate, installationUpdate, reactions: nothing to do.
            return Ok(());
        }
        let conversation_id = activity
            .conversation
            .as_ref()
            .map(|c| c.id.as_str())
            .filter(|id| !id.is_empty() && id.chars().count() <= CONVERSATION_ID_MAX_CHARS)
            .ok_or_else(|| {
                Error::invalid(
                    "conversation.id",
                    format!("must be 1 to {CONVERSATION_ID_MAX_CHARS} characters"),
                )
            })?;
        let from = activity
            .from
            .as_ref()
            .ok_or_else(|| Error::invalid("from", "an activity needs a sender"))?;
        let external = from
            .aad_object_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .unwrap_or(&from.id);
        validate_external_id(external).map_err(|m| Error::invalid("from.id", m))?;
        let name = from
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let channels = &self.inner.channels;
        let user = channels.person(channel, external, name).await?;
        let conversation = self
            .conversation(channel, conversation_id, &user, &from.id)
            .await?;
        if conversation.user_id != user.id {
            // chatdesk serves one person's chat with the bot; a group's other members
            // are not heard.
            tracing::info!(
                conversation = conversation_id,
                "a message from another member of a group conversation was ignored"
            );
            return Ok(());
        }
        let bot_account = activity
            .recipient
            .as_ref()
            .map(|r| serde_json::json!({"id": r.id, "name": r.name}).to_string())
            .unwrap_or_else(|| "{}".into());
        channels
            .set_conversation_route(
                conversation_id,
                activity.service_url.as_deref().unwrap_or_default(),
                &bot_account,
            )
            .await?;
        let claim = activity_id.map(str::to_owned);
        match self.current_chat(&user, &conversation).await? {
            Some(chat) => {
                self.in_chat(&user, chat, intent, claim).await?;
                self.inner.deliveries.ensure(chat);
            }
            None => {
                let Intent::Say { text, .. } = intent else {
                    // A button on the cards of a chat that has ended.
                    return Err(Error::NotFound("suggestion"));
                };
                let claim = claim.unwrap_or_else(|| format!("teams-{}", rand::random::<u64>()));
                let first = FirstMessage {
                    chats: &self.inner.chats,
                    channels,
                    channel,
                    conversation: &conversation,
                    user: &user,
                    source: CallSource::Teams,
                };
                let chat = match first.say(&text, &claim).await? {
                    Said::Started(chat) => {
                        channels.open_delivery(chat, conversation_id).await?;
                        chat
                    }
                    Said::InChat(_) => channels
                        .conversation(channel, conversation_id)
                        .await?
                        .chat_id
                        .ok_or(Error::NotFound("conversation"))?,
                };
                self.inner.deliveries.ensure(chat);
            }
        }
        Ok(())
    }

    /// The conversation, made the first time `user` writes in it.
    async fn conversation(
        &self,
        channel: &ChannelRecord,
        id: &str,
        user: &User,
        person: &str,
    ) -> Result<ConversationRecord> {
        let channels = &self.inner.channels;
        match channels.conversation(channel, id).await {
            Err(Error::NotFound(_)) => {}
            found => return found,
        }
        match channels
            .create_conversation(channel, user, Some(person), id)
            .await
        {
            Ok(made) => Ok(made),
            // Another request made it first.
            Err(Error::Conflict {
                code: ErrorCode::AlreadyExists,
                ..
            }) => channels.conversation(channel, id).await,
            Err(e) => Err(e),
        }
    }

    /// The conversation's chat while it goes on; `None` when it has none or it ended
    /// (the conversation is then free for the next first message).
    async fn current_chat(
        &self,
        user: &User,
        conversation: &ConversationRecord,
    ) -> Result<Option<ChatId>> {
        let Some(chat) = conversation.chat_id else {
            return Ok(None);
        };
        let view = self.inner.chats.view(user, chat).await?;
        if view.status != ChatStatus::Ended {
            return Ok(Some(chat));
        }
        self.inner
            .channels
            .restart_conversation(&conversation.id, chat)
            .await?;
        Ok(None)
    }

    /// Does what the activity asks in a chat that goes on.
    async fn in_chat(
        &self,
        user: &User,
        chat: ChatId,
        intent: Intent,
        claim: Option<String>,
    ) -> Result<()> {
        let chats = &self.inner.chats;
        match intent {
            Intent::Say { text, .. } => {
                conversations::say_in_chat(chats, user, chat, &text, claim.as_deref())
                    .await
                    .map_err(ended)?;
            }
            Intent::Act(action) => match action {
                Action::Accept(article) => {
                    chats.accept_suggestion(user, chat, &article).await?;
                }
                Action::Read(article) => {
                    chats.read_suggestion(user, chat, &article).await?;
                }
                Action::Decline(article) => {
                    chats.decline_suggestion(user, chat, &article).await?;
                }
                Action::Handoff => {
                    chats.handoff(user, chat).await?;
                }
            },
            Intent::Typing => {
                chats.typing(user, chat, true).await.map_err(ended)?;
            }
            Intent::Nothing => {}
        }
        Ok(())
    }
}

/// A chat that ended while the activity was on its way: the words arrive too late, and
/// the channel must not retry them.
fn ended(e: Error) -> Error {
    match e {
        Error::Conflict {
            code: ErrorCode::ChatEnded,
            ..
        } => Error::NotFound("conversation"),
        e => e,
    }
}

//! External channels as the engine keeps them: the Direct Line channels admins connect
//! (a secret shown once, removed when a site may no longer use it), the people a channel
//! vouches for, and its conversations. What the channels' wire formats say lives in the
//! crate's `channels` adapters, above the engine.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::core::Core;
use crate::domain::Timestamp;
use crate::domain::channel::{CHANNEL_NAME_MAX_CHARS, Channel, ChannelKind};
use crate::domain::ids::{ChannelId, ChatId, UserId};
use crate::domain::parse_named;
use crate::domain::user::{Role, User, Username};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{
    ChannelRecord, Constraint, ConversationRecord, DeliveryRecord, NewChannel, NewUser, StoreError,
};

/// External channels, their people and conversations (see the module header).
#[derive(Clone)]
pub struct ChannelService {
    core: Core,
}

/// A channel just made, with its secret: the only time it is shown.
pub struct CreatedChannel {
    pub channel: Channel,
    pub secret: String,
}

fn view(record: ChannelRecord) -> Channel {
    Channel {
        id: record.id,
        kind: record.kind,
        name: record.name,
        created_at: Timestamp(record.created_at),
    }
}

fn require_admin(user: &User) -> Result<()> {
    if user.has(Role::Admin) {
        Ok(())
    } else {
        Err(Error::forbidden("only admins manage channels"))
    }
}

fn disabled() -> Error {
    Error::forbidden("this account is disabled; ask the service desk")
}

/// The oldest channel of `kind` among `channels` (which come oldest first).
fn oldest_of(channels: Vec<ChannelRecord>, kind: ChannelKind) -> Option<ChannelRecord> {
    channels.into_iter().find(|c| c.kind == kind)
}

/// 32 random bytes, URL-safe base64 without padding.
fn random_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl ChannelService {
    pub(super) fn new(core: Core) -> Self {
        Self { core }
    }

    /// Connects a channel of `kind` (`directline`) named `name`. Errors: `forbidden`
    /// unless an admin; `invalid` for an unknown kind or an empty or over-long name.
    pub async fn create(&self, user: &User, kind: &str, name: &str) -> Result<CreatedChannel> {
        require_admin(user)?;
        let kind: ChannelKind =
            parse_named("channel kind", kind).map_err(|m| Error::invalid("kind", m))?;
        if kind == ChannelKind::Teams {
            return Err(Error::invalid(
                "kind",
                "Teams is connected by the botframework settings (app id and password), \
                 not made here",
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > CHANNEL_NAME_MAX_CHARS {
            return Err(Error::invalid(
                "name",
                format!("must be 1 to {CHANNEL_NAME_MAX_CHARS} characters"),
            ));
        }
        let secret = random_key();
        let record = self
            .core
            .store
            .create_channel(&NewChannel {
                kind,
                name,
                secret_hash: &secret_hash(&secret),
                token_key: &random_key(),
                now: self.core.now(),
            })
            .await?;
        Ok(CreatedChannel {
            channel: view(record),
            secret,
        })
    }

    /// The channels, oldest first, without their secrets. Errors: `forbidden` unless an
    /// admin.
    pub async fn list(&self, user: &User) -> Result<Vec<Channel>> {
        require_admin(user)?;
        Ok(self
            .core
            .store
            .channels()
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// The Teams channel: the oldest one not removed, made now when there is none (its
    /// secret is never used; the Bot Framework's own tokens vouch for its people).
    pub async fn teams_channel(&self) -> Result<ChannelRecord> {
        let store = &self.core.store;
        if let Some(teams) = oldest_of(store.channels().await?, ChannelKind::Teams) {
            return Ok(teams);
        }
        store
            .create_channel(&NewChannel {
                kind: ChannelKind::Teams,
                name: "Microsoft Teams",
                secret_hash: &secret_hash(&random_key()),
                token_key: &random_key(),
                now: self.core.now(),
            })
            .await?;
        // Two instances may make one at once: every instance uses the oldest.
        oldest_of(store.channels().await?, ChannelKind::Teams).ok_or(Error::NotFound("channel"))
    }

    /// Removes a channel: its secret and tokens stop working at once. Errors:
    /// `forbidden` unless an admin; `not_found` for none; `invalid_state` for the Teams
    /// channel (its people and conversations hang on it).
    pub async fn remove(&self, user: &User, id: ChannelId) -> Result<()> {
        require_admin(user)?;
        if self
            .core
            .store
            .channel(id)
            .await?
            .is_some_and(|c| c.kind == ChannelKind::Teams)
        {
            return Err(Error::conflict(
                ErrorCode::InvalidState,
                "the Teams channel stays while the botframework settings are set; unset \
                 them to turn Teams off",
            ));
        }
        if self.core.store.remove_channel(id, self.core.now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound("channel"))
        }
    }

    /// A channel not removed, by id (a token names it).
    pub async fn channel(&self, id: ChannelId) -> Result<Option<ChannelRecord>> {
        Ok(self.core.store.channel(id).await?)
    }

    /// The channel whose secret this is, if any.
    pub async fn channel_by_secret(&self, secret: &str) -> Result<Option<ChannelRecord>> {
        Ok(self
            .core
            .store
            .channel_by_secret(&secret_hash(secret))
            .await?)
    }

    /// The account of the person `channel` knows as `external`: made the first time, with
    /// the roles `user` and `chat-user` and the name given (else "Visitor"), under
    /// a username drawn from the channel and the id, so that two first requests at once
    /// make one account.
    pub async fn person(
        &self,
        channel: &ChannelRecord,
        external: &str,
        name: Option<&str>,
    ) -> Result<User> {
        let digest = hex::encode(Sha256::digest(external.as_bytes()));
        let username = format!("{}{}-{}", channel.kind, channel.id, &digest[..20]);
        let store = &self.core.store;
        if let Some(found) = store.login_record(&username).await? {
            if found.disabled {
                return Err(disabled());
            }
            return Ok(found.user);
        }
        let new = NewUser {
            username: Username::parse(&username).map_err(|m| Error::invalid("user.id", m))?,
            display_name: name.unwrap_or("Visitor").chars().take(100).collect(),
            password_hash: None,
            roles: vec![Role::User, Role::ChatUser],
        };
        match store.create_user(&new, self.core.now()).await {
            Ok(user) => Ok(user),
            Err(StoreError::Conflict(Constraint::UniqueUsername)) => store
                .user_by_username(&username)
                .await?
                .ok_or(Error::NotFound("user")),
            Err(e) => Err(e.into()),
        }
    }

    /// A person by account id (a conversation's, an analyst who wrote).
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.core.store.user(id).await?)
    }

    /// A conversation's person, who may go on only while their account is enabled.
    /// Errors: `forbidden` for a disabled account; `not_found` for none.
    pub async fn conversation_user(&self, id: UserId) -> Result<User> {
        match self.core.store.enabled_user(id).await? {
            Some(user) => Ok(user),
            None if self.core.store.user(id).await?.is_some() => Err(disabled()),
            None => Err(Error::NotFound("conversation")),
        }
    }

    /// Starts a conversation `id` on `channel` for `user`, whom the channel names
    /// `person` (`None`: an anonymous visitor, until someone names them; see
    /// [`set_conversation_person`](Self::set_conversation_person)).
    pub async fn create_conversation(
        &self,
        channel: &ChannelRecord,
        user: &User,
        person: Option<&str>,
        id: &str,
    ) -> Result<ConversationRecord> {
        let conversation = ConversationRecord {
            id: id.to_owned(),
            channel_id: channel.id,
            user_id: user.id,
            person_id: person.map(str::to_owned),
            chat_id: None,
            first_activity: None,
            created_at: self.core.now(),
            service_url: None,
            bot_account: None,
        };
        self.core.store.create_conversation(&conversation).await?;
        Ok(conversation)
    }

    /// Gives an anonymous visitor's conversation, before its first message, to `user`,
    /// whom the channel names `person`; false once it is someone's or the first message
    /// was claimed.
    pub async fn set_conversation_person(
        &self,
        id: &str,
        user: &User,
        person: &str,
    ) -> Result<bool> {
        Ok(self
            .core
            .store
            .set_conversation_person(id, user.id, person)
            .await?)
    }

    /// A conversation of `channel`. Errors: `not_found` for another channel's or none.
    pub async fn conversation(
        &self,
        channel: &ChannelRecord,
        id: &str,
    ) -> Result<ConversationRecord> {
        self.core
            .store
            .conversation(id)
            .await?
            .filter(|c| c.channel_id == channel.id)
            .ok_or(Error::NotFound("conversation"))
    }

    /// Claims the conversation's first message for the client's `activity` id; true for
    /// the one claim that wins while it has no chat.
    pub async fn claim_first_message(&self, id: &str, activity: &str) -> Result<bool> {
        Ok(self.core.store.claim_first_message(id, activity).await?)
    }

    /// Gives a claim up after its chat could not be started.
    pub async fn release_first_message(&self, id: &str, activity: &str) -> Result<()> {
        Ok(self.core.store.release_first_message(id, activity).await?)
    }

    /// Records the chat a conversation's first message started.
    pub async fn set_conversation_chat(&self, id: &str, chat: ChatId) -> Result<()> {
        Ok(self.core.store.set_conversation_chat(id, chat).await?)
    }

    /// Records where a conversation's replies go (a connector's `serviceUrl` and the
    /// bot's account there).
    pub async fn set_conversation_route(
        &self,
        id: &str,
        service_url: &str,
        bot_account: &str,
    ) -> Result<()> {
        Ok(self
            .core
            .store
            .set_conversation_route(id, service_url, bot_account)
            .await?)
    }

    /// Frees a conversation whose chat `ended` is over for a new first message; false
    /// when another request did so first.
    pub async fn restart_conversation(&self, id: &str, ended: ChatId) -> Result<bool> {
        Ok(self.core.store.restart_conversation(id, ended).await?)
    }

    /// Notes an activity `channel` sent in `conversation`: true the first time, false
    /// for a repeat (a channel retrying what it sent).
    pub async fn note_activity(
        &self,
        channel: &ChannelRecord,
        conversation: &str,
        activity: &str,
    ) -> Result<bool> {
        Ok(self
            .core
            .store
            .note_channel_activity(channel.id, conversation, activity, self.core.now())
            .await?)
    }

    /// Forgets a noted activity that could not be handled, so that its retry is.
    pub async fn forget_activity(
        &self,
        channel: &ChannelRecord,
        conversation: &str,
        activity: &str,
    ) -> Result<()> {
        Ok(self
            .core
            .store
            .forget_channel_activity(channel.id, conversation, activity)
            .await?)
    }

    /// Forgets activity ids older than [`ACTIVITY_MEMORY`]: channels retry within
    /// minutes. How many were forgotten.
    pub async fn sweep_activities(&self) -> Result<u64> {
        let before = self.core.now() - ACTIVITY_MEMORY.as_millis() as i64;
        Ok(self.core.store.sweep_channel_activities(before).await?)
    }

    /// Starts delivering a chat's activities to its conversation's connector.
    pub async fn open_delivery(&self, chat: ChatId, conversation: &str) -> Result<()> {
        Ok(self.core.store.open_delivery(chat, conversation).await?)
    }

    /// Takes or renews this instance's lease on a chat's delivery (see
    /// [`crate::store::ChannelStore::lease_delivery`]).
    pub async fn lease_delivery(
        &self,
        chat: ChatId,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Option<DeliveryRecord>> {
        Ok(self
            .core
            .store
            .lease_delivery(chat, owner, lease.as_millis() as i64)
            .await?)
    }

    /// Records the chat's events through `seq` as delivered; false when the lease is lost.
    pub async fn delivered(&self, chat: ChatId, owner: &str, seq: i64) -> Result<bool> {
        Ok(self.core.store.delivered(chat, owner, seq).await?)
    }

    /// Lets a delivery's lease go; `done` once the chat's end went out.
    pub async fn release_delivery(&self, chat: ChatId, owner: &str, done: bool) -> Result<()> {
        let done = done.then(|| self.core.now());
        Ok(self.core.store.release_delivery(chat, owner, done).await?)
    }

    /// Chats whose delivery is unfinished and unleased (an instance stopped mid-way).
    pub async fn deliveries_to_resume(&self) -> Result<Vec<ChatId>> {
        Ok(self.core.store.deliveries_to_resume().await?)
    }
}

/// How long a channel's activity ids are remembered to spot its retries.
pub const ACTIVITY_MEMORY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

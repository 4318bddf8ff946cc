//! Rows as the engine sees them, and the inputs of storage operations. Plain data: how a
//! record is shown to people (wire views, transcripts) is decided above storage.

use crate::domain::Millis;
use crate::domain::article::{ArticleOrigin, Suggestion};
use crate::domain::call::{CallStatus, Person, Resolver};
use crate::domain::channel::{CallSource, ChannelKind};
use crate::domain::chat::ChatStatus;
use crate::domain::event::ChatEvent;
use crate::domain::ids::{
    ArticleId, AttachmentId, CallId, CannedId, ChannelId, ChatId, EventId, UserId, WebhookId,
};
use crate::domain::message::{AuthorRole, EventKind};
use crate::domain::user::{Role, TokenKind, User, Username};
use crate::domain::webhook::{DeliveryStatus, WebhookEvent};

pub struct NewUser {
    pub username: Username,
    pub display_name: String,
    /// An argon2 PHC string; `None` for accounts that sign in with API tokens only.
    pub password_hash: Option<String>,
    pub roles: Vec<Role>,
}

/// What signing in needs to know of an account.
pub struct LoginRecord {
    pub user: User,
    /// `None` for accounts that sign in with a token only.
    pub password_hash: Option<String>,
    pub disabled: bool,
}

/// The account a token signs in, and until when.
#[derive(Clone, Debug)]
pub struct TokenOwner {
    pub user: User,
    /// Milliseconds since the Unix epoch; `None` for tokens that do not expire.
    pub expires_at: Option<Millis>,
}

pub struct NewToken<'a> {
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub token_hash: &'a str,
    pub user_id: UserId,
    pub kind: TokenKind,
    pub now: Millis,
    /// `None` for tokens that do not expire.
    pub expires_at: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    pub online: bool,
    /// Chats the analyst takes at once.
    pub max_chats: i64,
}

/// What availability is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeskCounts {
    pub online_analysts: i64,
    /// Online analysts with fewer active chats than their `max_chats`.
    pub available_analysts: i64,
    pub queue_length: i64,
}

#[derive(Clone, Debug)]
pub struct ChatRecord {
    pub id: ChatId,
    pub call_id: CallId,
    pub user: Person,
    pub analyst: Option<Person>,
    pub status: ChatStatus,
    /// The `seq` of the chat's latest event (0 before the first).
    pub last_seq: i64,
    /// The call's description: what the user first typed.
    pub description: String,
    /// Where the call was logged from (its channel).
    pub source: CallSource,
    pub created_at: Millis,
    pub queued_at: Option<Millis>,
    /// First accepted by an analyst (a transfer keeps it).
    pub accepted_at: Option<Millis>,
    /// The analyst's first message after acceptance.
    pub first_response_at: Option<Millis>,
    /// The suggestion whose "This fixed it" ended the chat.
    pub accepted_article: Option<ArticleId>,
}

#[derive(Clone, Debug)]
pub struct CallRecord {
    pub id: CallId,
    pub user: Person,
    /// How the call was logged: `chat`.
    pub source: String,
    pub status: CallStatus,
    pub description: String,
    pub resolved_by: Option<String>,
    /// How an analyst resolved it.
    pub resolution: Option<String>,
    /// The final transcript, written when the call's chat ends.
    pub transcript: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub enum AcceptOutcome {
    Accepted(Box<ChatRecord>),
    /// The analyst already has `max_chats` active chats.
    AtCapacity,
    /// The analyst is not online (a sweeper may have lapsed them a moment ago).
    Offline,
    /// The chat is not waiting any more (someone else took it, or it ended).
    NotQueued(ChatStatus),
}

/// Where a transfer sends an active chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferTo {
    /// Another analyst, who must be online with room for one more chat.
    Analyst(UserId),
    /// Back to the queue, at the place it first queued at.
    Queue,
}

pub enum TransferOutcome {
    /// The chat as it is now, and the note appended in the same transaction.
    Transferred(Box<(ChatRecord, StoredEvent)>),
    /// The target analyst is not online.
    TargetOffline,
    /// The target analyst already has this many active chats, their `max_chats`.
    TargetAtCapacity(i64),
    /// The chat is no longer active with the analyst who asked (it ended, or was
    /// transferred meanwhile); its status now.
    NotTheirs(ChatStatus),
}

/// An analyst as the desk sees them: for choosing whom to transfer a chat to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalystLoad {
    pub analyst: Person,
    pub online: bool,
    pub max_chats: i64,
    pub active_chats: i64,
}

/// An event to append to a chat.
pub struct NewEvent {
    pub event: ChatEvent,
    pub now: Millis,
}

#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: EventId,
    pub chat_id: ChatId,
    /// 1, 2, 3... within the chat, without gaps.
    pub seq: i64,
    pub event: ChatEvent,
    pub created_at: Millis,
}

impl StoredEvent {
    /// The event as stored under `id` at `seq`.
    pub fn new(id: EventId, chat_id: ChatId, seq: i64, e: &NewEvent) -> Self {
        Self {
            id,
            chat_id,
            seq,
            event: e.event.clone(),
            created_at: e.now,
        }
    }

    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }
}

pub struct Appended {
    pub event: StoredEvent,
    /// True when a retry repeated an earlier `client_id`; nothing new was stored.
    pub duplicate: bool,
}

pub struct EndChat<'a> {
    pub chat_id: ChatId,
    /// The states it may be ended from ("this fixed it" only before an analyst joins).
    pub from: &'a [ChatStatus],
    /// Who ended it: `user`, `analyst`, or `bot` when a suggestion fixed it.
    pub ended_by: AuthorRole,
    /// Marks the call resolved by this resolver (e.g. the bot), if it is still open.
    pub resolved_by: Option<Resolver<'a>>,
    /// The suggestion the user accepted, when that is what ends the chat.
    pub accepted_article: Option<&'a ArticleId>,
    /// A note (a system message) stored just before the end in the same transaction: of
    /// two instances ending the chat at once, only the winner's note is stored.
    pub note: Option<&'a ChatEvent>,
    pub now: Millis,
}

pub struct Ended {
    pub chat: ChatRecord,
    pub call: CallRecord,
    /// [`EndChat::note`] as stored, one `seq` before [`event`](Self::event).
    pub note: Option<StoredEvent>,
    pub event: StoredEvent,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttachmentRecord {
    /// Random and unguessable; also the file name under the data dir.
    pub id: AttachmentId,
    pub call_id: CallId,
    pub chat_id: ChatId,
    pub uploader_id: UserId,
    /// Cleaned of paths and control characters.
    pub name: String,
    /// Judged from the bytes, with a `charset` for text that is not UTF-8.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub created_at: Millis,
}

/// When the knowledge folder is imported (see [`super::ArticleStore::import_articles`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportWhen {
    /// Whatever was imported before: `chatdesk reindex`, an author's reindex.
    Always,
    /// Only a folder version no instance has imported: a starting instance, so that two
    /// first starts import once, and an older instance restarted during a rolling deploy
    /// does not take back the articles a newer one brought.
    IfNew,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredArticle {
    pub id: ArticleId,
    pub title: String,
    /// The article file as written: front matter and Markdown body.
    pub source: String,
    pub origin: ArticleOrigin,
    /// SHA-256 of `source`, hex.
    pub content_hash: String,
    pub updated_at: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Upserted {
    Added,
    Changed,
    Unchanged,
}

/// What importing the folder did.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub added: Vec<ArticleId>,
    pub changed: Vec<ArticleId>,
    pub removed: Vec<ArticleId>,
    /// Files not imported because an author has edited or deleted that article.
    pub kept: Vec<ArticleId>,
}

/// A stored canned response, with the username of whoever saved it last.
#[derive(Clone, Debug)]
pub struct CannedRecord {
    pub id: CannedId,
    pub title: String,
    pub text: String,
    pub author: String,
    pub updated_at: Millis,
}

/// A rating to store.
#[derive(Clone, Debug)]
pub struct NewRating<'a> {
    pub chat_id: ChatId,
    pub call_id: CallId,
    pub score: i64,
    pub comment: Option<&'a str>,
    pub at: Millis,
}

/// A stored rating.
#[derive(Clone, Debug)]
pub struct RatingRecord {
    pub chat_id: ChatId,
    pub score: i64,
    pub comment: Option<String>,
    pub at: Millis,
}

/// Which calls an analyst lists.
#[derive(Clone, Debug, Default)]
pub struct CallFilter<'a> {
    pub status: Option<CallStatus>,
    /// The user who logged them.
    pub username: Option<&'a str>,
    /// Words in the description (case-blind), or the call with this id.
    pub text: Option<&'a str>,
    pub id: Option<CallId>,
    pub limit: i64,
}

/// An internal note on a call.
#[derive(Clone, Debug)]
pub struct NoteRecord {
    pub id: i64,
    pub text: String,
    /// Username of its author.
    pub author: String,
    pub at: Millis,
}

/// What the bot did in a call's first chat that it did not resolve.
#[derive(Clone, Debug, PartialEq)]
pub struct BotStage {
    pub call_id: CallId,
    /// What the user asked, as they logged the call.
    pub description: String,
    /// The chat was queued for an analyst at least once.
    pub handed_off: bool,
    /// Every article the bot offered in the chat, in order, repeats included.
    pub offered: Vec<Suggestion>,
    /// Articles the user marked "Not helpful".
    pub declined: Vec<ArticleId>,
}

/// A channel to create: its secret is kept only as `secret_hash`.
pub struct NewChannel<'a> {
    pub kind: ChannelKind,
    pub name: &'a str,
    /// SHA-256 of the secret, hex.
    pub secret_hash: &'a str,
    /// The key that signs the channel's tokens.
    pub token_key: &'a str,
    pub now: Millis,
}

/// A channel as stored, with the key that signs its tokens (never shown, nor logged).
#[derive(Clone)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    pub token_key: String,
    pub created_at: Millis,
}

impl std::fmt::Debug for ChannelRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("token_key", &"<redacted>")
            .finish()
    }
}

/// A Direct Line conversation: a person on a channel, and the chat its first message
/// started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRecord {
    /// URL-safe, random.
    pub id: String,
    pub channel_id: ChannelId,
    pub user_id: UserId,
    /// The person's id in the channel (`None` for conversations older than the column).
    pub person_id: Option<String>,
    pub chat_id: Option<ChatId>,
    /// The client's id of the first message (`channelData.clientActivityID`), once claimed.
    pub first_activity: Option<String>,
    pub created_at: Millis,
    /// Bot Framework: the connector the conversation's replies go to (`serviceUrl`).
    pub service_url: Option<String>,
    /// Bot Framework: the bot's account in the conversation, `{"id", "name"}` as JSON.
    pub bot_account: Option<String>,
}

/// How far a chat's activities have gone out to its channel's connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub chat_id: ChatId,
    pub conversation_id: String,
    /// The chat's last event delivered.
    pub sent_seq: i64,
}

/// An endpoint for outbound webhooks, with its secret (never shown after it is made).
#[derive(Clone)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    /// `whsec_` + base64.
    pub secret: String,
    pub created_at: Millis,
    pub disabled_at: Option<Millis>,
}

impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A delivery to store: due at once.
pub struct NewWebhookDelivery {
    /// The `webhook-id`.
    pub id: String,
    pub webhook_id: WebhookId,
    pub event: WebhookEvent,
    /// The JSON body, shared by the event's deliveries to every endpoint.
    pub payload: std::sync::Arc<str>,
    pub now: Millis,
}

/// A delivery an instance has claimed to attempt now.
#[derive(Clone, Debug)]
pub struct DueWebhookDelivery {
    pub id: String,
    pub webhook_id: WebhookId,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// An attempt at a delivery, to record.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The delivery (`webhook-id`).
    pub id: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// What the endpoint answered, if it did.
    pub status_code: Option<i64>,
    pub outcome: AttemptOutcome,
}

/// What became of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Tried again this many milliseconds from now (database clock).
    RetryIn(i64),
    Failed,
}

/// A delivery as stored.
#[derive(Clone, Debug)]
pub struct WebhookDeliveryRecord {
    pub id: String,
    pub event: WebhookEvent,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub next_attempt_at: Option<Millis>,
    pub created_at: Millis,
}

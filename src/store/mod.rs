//! Storage behind one interface. The engine sees only [`Store`], made of one trait per
//! aggregate (accounts, chats and their events, calls, articles); [`connect`] picks the
//! backend from the URL scheme (`sqlite://` embedded, `postgres://` for scale).
//!
//! Every operation that changes what a user was told (a message shown, a call logged, a
//! chat ended) is one transaction, committed before the engine announces it.

mod error;
pub mod hints;
pub mod objects;
mod records;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::{BoxError, Constraint, Result, StoreError};
pub use records::*;
pub use sql::{SqlStore, claim_sqlite, connect};

use crate::domain::Millis;
use crate::domain::call::Resolver;
use crate::domain::channel::CallSource;
use crate::domain::chat::{ChatStatus, Transition};
use crate::domain::event::ChatEvent;
use crate::domain::ids::{
    ArticleId, AttachmentId, CallId, CannedId, ChannelId, ChatId, UserId, WebhookId,
};
use crate::domain::insights::CallHistory;
use crate::domain::user::{Role, TokenKind, User};
use crate::domain::wait::Acceptance;
use crate::domain::webhook::WebhookEvent;

pub type DynStore = Arc<dyn Store>;

/// Everything the engine stores.
#[async_trait]
pub trait Store:
    AccountStore
    + ChatStore
    + CallStore
    + ArticleStore
    + CannedStore
    + RatingStore
    + InsightStore
    + LimitStore
    + WindowStore
    + VectorStore
    + ChannelStore
    + WebhookStore
    + 'static
{
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Whether other instances may share this database (PostgreSQL), so that changes
    /// must be told to them and limits kept in it; an embedded SQLite file has one
    /// instance.
    fn shared(&self) -> bool;
}

/// Accounts, their tokens, and analysts' presence.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Fails with `username_taken` when the name is in use, also when two requests race.
    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// The user, unless the account is disabled.
    async fn enabled_user(&self, id: UserId) -> Result<Option<User>>;
    /// The user, their password hash and whether the account is disabled, for signing in.
    async fn login_record(&self, username: &str) -> Result<Option<LoginRecord>>;
    async fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn insert_token(&self, token: &NewToken<'_>) -> Result<()>;
    /// The user of an unexpired token of an account that is not disabled, with the
    /// token's expiry (`None`: it does not expire).
    async fn user_by_token(&self, token_hash: &str, now: Millis) -> Result<Option<TokenOwner>>;
    /// Deletes one token; returns whose it was (`None`: no such token).
    async fn delete_token(&self, token_hash: &str) -> Result<Option<UserId>>;
    /// Deletes a person's tokens, of one kind or (`None`) all; returns how many.
    async fn delete_tokens_of(&self, user_id: UserId, kind: Option<TokenKind>) -> Result<u64>;
    /// Deletes every token that expired before `now`; returns how many.
    async fn delete_expired_tokens(&self, now: Millis) -> Result<u64>;
    /// Disables (`disabled_at` set) or enables (`None`) an account.
    async fn set_disabled(&self, user_id: UserId, disabled_at: Option<Millis>) -> Result<()>;
    /// Replaces an account's roles.
    async fn set_roles(&self, user_id: UserId, roles: &[Role]) -> Result<()>;
    /// The secret stored under `name`. The first caller's `candidate` is kept, so every
    /// instance on one database reads the same value, whichever starts first.
    async fn shared_secret(&self, name: &str, candidate: &str, now: Millis) -> Result<String>;

    async fn set_presence(
        &self,
        analyst_id: UserId,
        online: bool,
        max_chats: i64,
        now: Millis,
    ) -> Result<()>;
    async fn presence(&self, analyst_id: UserId) -> Result<Option<Presence>>;
    /// Every analyst whose presence is online.
    async fn online_analysts(&self) -> Result<Vec<UserId>>;
    /// Notes that an instance saw the online analyst at `at` (a socket open, a request);
    /// an earlier note than the one stored changes nothing.
    async fn presence_seen(&self, analyst_id: UserId, at: Millis) -> Result<()>;
    /// Every analyst who has ever set a presence, with their active chats, by name.
    async fn analyst_loads(&self) -> Result<Vec<AnalystLoad>>;
    /// Sets offline, keeping their capacity, every online analyst no instance has seen
    /// since `before` (nor set online since); returns who. Each is returned once, also
    /// when instances sweep at the same time.
    async fn lapse_unseen(&self, before: Millis, now: Millis) -> Result<Vec<UserId>>;
}

/// Chats, the queue, and each chat's events in `seq` order.
#[async_trait]
pub trait ChatStore: Send + Sync {
    async fn desk_counts(&self) -> Result<DeskCounts>;
    /// Logs a call from `source` and opens its chat in the bot stage, in one transaction.
    async fn create_chat_from(
        &self,
        user_id: UserId,
        description: &str,
        source: CallSource,
        now: Millis,
    ) -> Result<ChatRecord>;
    /// [`create_chat_from`](Self::create_chat_from) chatdesk's own chat.
    async fn create_chat(
        &self,
        user_id: UserId,
        description: &str,
        now: Millis,
    ) -> Result<ChatRecord> {
        self.create_chat_from(user_id, description, CallSource::Chat, now)
            .await
    }
    async fn chat(&self, id: ChatId) -> Result<Option<ChatRecord>>;
    async fn chats_of_call(&self, call_id: CallId) -> Result<Vec<ChatRecord>>;
    /// The user's chats that have not ended, newest first.
    async fn open_chats_of_user(&self, user_id: UserId) -> Result<Vec<ChatRecord>>;
    async fn chats_of_analyst(
        &self,
        analyst_id: UserId,
        status: ChatStatus,
    ) -> Result<Vec<ChatRecord>>;
    /// Waiting chats, oldest first.
    async fn queue(&self) -> Result<Vec<ChatRecord>>;

    /// Applies `Handoff` (or any transition without side effects). `Err(current)` when the
    /// chat was no longer in a state that allows it.
    async fn transition(
        &self,
        chat_id: ChatId,
        transition: Transition,
        now: Millis,
    ) -> Result<Result<(), ChatStatus>>;
    /// Takes a queued chat for `analyst_id` if they are online and have capacity left. Of
    /// analysts racing for one chat exactly one wins; one analyst's racing accepts stay
    /// within capacity.
    async fn accept(
        &self,
        chat_id: ChatId,
        analyst_id: UserId,
        max_chats: i64,
        now: Millis,
    ) -> Result<AcceptOutcome>;
    /// Moves a chat that is active with `from` to another online analyst with room (the
    /// target's presence row is locked, so a racing capacity change or accept cannot slip
    /// past the check), or back to the queue at its first place, and appends `note` (who
    /// took over) in the same transaction. Nothing changes unless the outcome is
    /// `Transferred`. `accepted_at` stays: a transfer does not restart the handle time.
    async fn transfer(
        &self,
        chat_id: ChatId,
        from: UserId,
        to: TransferTo,
        note: &NewEvent,
    ) -> Result<TransferOutcome>;
    /// Starts ending the chat: in one transaction, left open in the [`ChatEnding`]
    /// returned, the chat is marked ended and its call resolved (`end.resolved_by`). The
    /// caller writes the transcript and the `ended` event with [`ChatEnding::commit`], so
    /// the transcript holds exactly the events committed before the end. `Err(current)`
    /// when the chat is not in `end.from`; nothing changed.
    async fn begin_ending(
        &self,
        end: &EndChat<'_>,
    ) -> Result<Result<Box<dyn ChatEnding>, ChatStatus>>;

    /// Appends an event with the chat's next `seq` (concurrent appends get distinct,
    /// gapless seqs). A message repeating a `client_id` of the same author returns the
    /// first one (`duplicate`) and stores nothing, also when the two race, and also after
    /// the chat has ended. Anything else fails with `chat_ended` once the chat has ended.
    async fn append_event(&self, chat_id: ChatId, event: &NewEvent) -> Result<Appended>;
    async fn events_after(&self, chat_id: ChatId, after_seq: i64) -> Result<Vec<StoredEvent>>;
    /// Each of `chats` that exists, with the `seq` of its last event, in no set order.
    async fn last_seqs(&self, chats: &[ChatId]) -> Result<Vec<(ChatId, i64)>>;
    /// The message an author sent with this `client_id`, if any.
    async fn message_by_client_id(
        &self,
        chat_id: ChatId,
        author_id: UserId,
        client_id: &str,
    ) -> Result<Option<StoredEvent>>;

    async fn decline_article(&self, chat_id: ChatId, article_id: &ArticleId) -> Result<()>;
    async fn declined_articles(&self, chat_id: ChatId) -> Result<Vec<ArticleId>>;
    /// The latest first acceptances from the queue at or after `since`, at most `limit`.
    async fn recent_acceptances(&self, since: Millis, limit: i64) -> Result<Vec<Acceptance>>;
    /// Records the analyst's first message in an active chat; false when one was
    /// recorded before (or the chat is not active).
    async fn record_first_response(&self, chat_id: ChatId, at: Millis) -> Result<bool>;
}

/// A chat being ended, its transaction open: the chat is marked ended and its call
/// updated, not yet committed. Dropping it without [`commit`](Self::commit) rolls all of
/// it back.
#[async_trait]
pub trait ChatEnding: Send {
    /// The chat as it will be committed (status `ended`).
    fn chat(&self) -> &ChatRecord;
    /// The call as it will be committed, before its transcript.
    fn call(&self) -> &CallRecord;
    /// Every event of the chat before the end, in `seq` order.
    fn history(&self) -> &[StoredEvent];
    /// Writes `transcript` to the call and appends `ended` (an [`ChatEvent::Ended`]) with
    /// the chat's next `seq`, then commits.
    async fn commit(self: Box<Self>, transcript: String, ended: ChatEvent) -> Result<Ended>;
}

/// Calls, the links between chats and calls, and the files on calls.
#[async_trait]
pub trait CallStore: Send + Sync {
    async fn call(&self, id: CallId) -> Result<Option<CallRecord>>;
    /// The user's calls, newest first.
    async fn recent_calls(&self, user_id: UserId, limit: i64) -> Result<Vec<CallRecord>>;
    /// Calls matching `filter`, newest first.
    async fn find_calls(&self, filter: &CallFilter<'_>) -> Result<Vec<CallRecord>>;
    /// Resolves an open call; false when it was not open.
    async fn resolve_call(
        &self,
        id: CallId,
        resolution: &str,
        resolved_by: Resolver<'_>,
        now: Millis,
    ) -> Result<bool>;
    /// Opens a resolved call again, clearing its resolution; false when it was open.
    async fn reopen_call(&self, id: CallId, now: Millis) -> Result<bool>;
    /// Stores a note; returns its id.
    async fn add_note(
        &self,
        call_id: CallId,
        author: UserId,
        text: &str,
        now: Millis,
    ) -> Result<i64>;
    /// The call's notes, oldest first.
    async fn notes_of_call(&self, call_id: CallId) -> Result<Vec<NoteRecord>>;

    /// Links a chat to one more call (linking twice is a no-op).
    async fn link_call(
        &self,
        chat_id: ChatId,
        call_id: CallId,
        by: UserId,
        now: Millis,
    ) -> Result<()>;
    async fn linked_calls(&self, chat_id: ChatId) -> Result<Vec<CallId>>;
    async fn linked_chats(&self, call_id: CallId) -> Result<Vec<ChatId>>;

    /// Records an attachment and appends its event, in one transaction.
    async fn add_attachment(
        &self,
        attachment: &AttachmentRecord,
        event: &NewEvent,
    ) -> Result<Appended>;
    async fn attachment(&self, id: &AttachmentId) -> Result<Option<AttachmentRecord>>;
    async fn attachments_of_call(&self, call_id: CallId) -> Result<Vec<AttachmentRecord>>;
}

/// Knowledge articles as authors and the folder import leave them.
#[async_trait]
pub trait ArticleStore: Send + Sync {
    /// Changes with every article edit, so that every instance knows to rebuild.
    async fn knowledge_generation(&self) -> Result<i64>;
    /// Every article but the deleted ones, by id.
    async fn articles(&self) -> Result<Vec<StoredArticle>>;
    async fn article(&self, id: &ArticleId) -> Result<Option<StoredArticle>>;
    async fn upsert_article(&self, article: &StoredArticle) -> Result<Upserted>;
    /// Deletes an article, leaving a tombstone that folder imports respect.
    async fn delete_article(&self, id: &ArticleId, now: Millis) -> Result<bool>;
    /// Makes the folder-imported articles exactly `files` (adding, changing, removing) in
    /// one transaction, one import at a time across instances. Articles edited or deleted
    /// by an author are left as they are. With [`ImportWhen::IfNew`] a folder version
    /// (the same files with the same contents) that was imported before is left alone:
    /// `None`.
    async fn import_articles(
        &self,
        files: &[StoredArticle],
        when: ImportWhen,
    ) -> Result<Option<Imported>>;
}

/// Passage vectors shared by every instance, keyed by content (the model and the
/// passages; see `knowledge::vectors`), so that one instance encodes an article and the
/// others reuse it. Values are the vectors' little-endian `f32`s, back to back.
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// The vectors cached under any of `keys`, as `(key, bytes)`, in no set order.
    async fn cached_vectors(&self, keys: &[String]) -> Result<Vec<(String, Vec<u8>)>>;
    /// Caches vectors; a key cached before keeps what it has.
    async fn cache_vectors(&self, rows: &[(String, Vec<u8>)]) -> Result<()>;
    /// Waits for this instance's turn to encode (one instance at a time on PostgreSQL,
    /// by an advisory lock), which lasts until [`EncodingTurn::end`] or the drop.
    async fn encoding_turn(&self) -> Result<Box<dyn EncodingTurn>>;
}

/// One instance's turn to encode vectors (see [`VectorStore::encoding_turn`]).
#[async_trait]
pub trait EncodingTurn: Send {
    /// Lets the next instance encode.
    async fn end(self: Box<Self>) -> Result<()>;
}

/// External channels and their conversations (contract, "Additions: external channels").
#[async_trait]
pub trait ChannelStore: Send + Sync {
    async fn create_channel(&self, channel: &NewChannel<'_>) -> Result<ChannelRecord>;
    /// The channels not removed, oldest first.
    async fn channels(&self) -> Result<Vec<ChannelRecord>>;
    /// A channel not removed.
    async fn channel(&self, id: ChannelId) -> Result<Option<ChannelRecord>>;
    /// The channel not removed whose secret hashes to `secret_hash`.
    async fn channel_by_secret(&self, secret_hash: &str) -> Result<Option<ChannelRecord>>;
    /// Removes a channel; false when there was none to remove.
    async fn remove_channel(&self, id: ChannelId, now: Millis) -> Result<bool>;
    /// Stores a new conversation; `Conflict(Unique)` when the id is taken.
    async fn create_conversation(&self, conversation: &ConversationRecord) -> Result<()>;
    async fn conversation(&self, id: &str) -> Result<Option<ConversationRecord>>;
    /// Claims the conversation's first message for `activity` (its client's id): true
    /// for the one claim that wins while the conversation has no chat.
    async fn claim_first_message(&self, id: &str, activity: &str) -> Result<bool>;
    /// Gives an anonymous visitor's conversation (no `person_id`) whose first message has
    /// not come to the account `user`, whom the channel names `person`; false otherwise.
    async fn set_conversation_person(&self, id: &str, user: UserId, person: &str) -> Result<bool>;
    /// Gives up a claim whose chat could not be started, so that a retry may win.
    async fn release_first_message(&self, id: &str, activity: &str) -> Result<()>;
    /// Records the chat the conversation's first message started.
    async fn set_conversation_chat(&self, id: &str, chat: ChatId) -> Result<()>;
    /// Records where the conversation's replies go, as its latest activity says.
    async fn set_conversation_route(
        &self,
        id: &str,
        service_url: &str,
        bot_account: &str,
    ) -> Result<()>;
    /// Frees a conversation whose chat `ended` is over for a new first message (a Teams
    /// conversation outlives its chats); false when it has moved on already.
    async fn restart_conversation(&self, id: &str, ended: ChatId) -> Result<bool>;
    /// Notes that `channel` sent `activity` in `conversation`: true the first time,
    /// false for a repeat.
    async fn note_channel_activity(
        &self,
        channel: ChannelId,
        conversation: &str,
        activity: &str,
        now: Millis,
    ) -> Result<bool>;
    /// Forgets a noted activity that could not be handled, so that its retry is.
    async fn forget_channel_activity(
        &self,
        channel: ChannelId,
        conversation: &str,
        activity: &str,
    ) -> Result<()>;
    /// Forgets activities noted before `before`; how many.
    async fn sweep_channel_activities(&self, before: Millis) -> Result<u64>;
    /// Starts delivering a chat's activities to its conversation (once; a repeat keeps
    /// what was delivered).
    async fn open_delivery(&self, chat: ChatId, conversation: &str) -> Result<()>;
    /// Takes or renews the lease on a chat's delivery for `owner`, for `lease_ms` on the
    /// database's clock: the delivery when `owner` holds it now, `None` when another
    /// instance's lease is live or the delivery is done.
    async fn lease_delivery(
        &self,
        chat: ChatId,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<DeliveryRecord>>;
    /// Records that the chat's events through `seq` were delivered; false when `owner`
    /// no longer holds the lease.
    async fn delivered(&self, chat: ChatId, owner: &str, seq: i64) -> Result<bool>;
    /// Ends a delivery: `done` once the chat's end went out, else only the lease is let go.
    async fn release_delivery(&self, chat: ChatId, owner: &str, done: Option<Millis>)
    -> Result<()>;
    /// The chats whose delivery is not done and whose lease has lapsed, oldest first.
    async fn deliveries_to_resume(&self) -> Result<Vec<ChatId>>;
}

/// Outbound webhooks: endpoints and the outbox of their deliveries (contract, "Outbound
/// webhooks"). Due times and leases are on the database's clock.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(
        &self,
        url: &str,
        events: &[WebhookEvent],
        secret: &str,
        now: Millis,
    ) -> Result<WebhookRecord>;
    /// The endpoints not removed (disabled ones too), oldest first.
    async fn webhooks(&self) -> Result<Vec<WebhookRecord>>;
    /// Removes an endpoint; its deliveries not yet made are dropped (`failed`). False
    /// when there was none.
    async fn remove_webhook(&self, id: WebhookId, now: Millis) -> Result<bool>;
    /// Disables an endpoint (it answered 410 Gone); its deliveries not yet made fail.
    async fn disable_webhook(&self, id: WebhookId, now: Millis) -> Result<()>;
    /// Stores deliveries, due now.
    async fn enqueue_deliveries(&self, deliveries: &[NewWebhookDelivery]) -> Result<()>;
    /// Claims up to `limit` due deliveries of endpoints still enabled, for `lease_ms`:
    /// no other instance attempts them meanwhile.
    async fn claim_due_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<DueWebhookDelivery>>;
    /// Records attempts, in one transaction; a delivery no longer `retrying` (its
    /// endpoint was disabled or removed meanwhile) keeps what it has.
    async fn record_attempts(&self, attempts: &[Attempt]) -> Result<()>;
    /// An endpoint's deliveries, newest first, at most `limit`.
    async fn webhook_deliveries(
        &self,
        webhook: WebhookId,
        limit: i64,
    ) -> Result<Vec<WebhookDeliveryRecord>>;
}

/// Canned responses, shared by every analyst.
#[async_trait]
pub trait CannedStore: Send + Sync {
    /// All of them, by title.
    async fn canned_responses(&self) -> Result<Vec<CannedRecord>>;
    async fn create_canned(
        &self,
        title: &str,
        text: &str,
        author: UserId,
        now: Millis,
    ) -> Result<CannedRecord>;
    /// `None` when there is no such canned response.
    async fn update_canned(
        &self,
        id: CannedId,
        title: &str,
        text: &str,
        author: UserId,
        now: Millis,
    ) -> Result<Option<CannedRecord>>;
    /// False when there was no such canned response.
    async fn delete_canned(&self, id: CannedId) -> Result<bool>;
}

/// Ratings of chats by their users.
#[async_trait]
pub trait RatingStore: Send + Sync {
    /// Stores the chat's rating; false when it already has one (nothing changes).
    async fn rate_chat(&self, rating: &NewRating<'_>) -> Result<bool>;
    /// The ratings of the call's chats, newest first.
    async fn ratings_of_call(&self, call_id: CallId) -> Result<Vec<RatingRecord>>;
}

/// Rate limits shared by every instance on the database, one GCRA row per key (see
/// `sql::limits`). Costs and tolerances are in seconds: a limit of `burst` at `per_sec`
/// costs `n / per_sec` for `n` tokens within a tolerance of `burst / per_sec`. Times are
/// read on the database's clock.
#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Takes each `(key, cost)` from that key's budget, in one statement: for each, `None`
    /// when granted, or how long until it would be (nothing is taken then). A cost above
    /// `tolerance` is never granted; the wait is then until the budget is whole again.
    /// The keys must be distinct.
    async fn take_tokens(
        &self,
        takes: &[(String, f64)],
        tolerance: f64,
    ) -> Result<Vec<Option<std::time::Duration>>>;
    /// Returns `cost` to `key`'s budget (an attempt that turned out fine).
    async fn give_back_tokens(&self, key: &str, cost: f64) -> Result<()>;
    /// Starts `key` afresh.
    async fn forget_limit(&self, key: &str) -> Result<()>;
    /// Deletes the rows of whole budgets, which read the same as none; returns how many.
    async fn sweep_limits(&self) -> Result<u64>;
}

/// Chat windows (a user's sockets on a chat) open on each instance, and users' page
/// loads, for the instances that share the database: a leave or away timer that fires on
/// one instance asks whether the user is back on another. Times are read on the
/// database's clock; durations are milliseconds; `instance` is the caller's id among the
/// instances.
#[async_trait]
pub trait WindowStore: Send + Sync {
    /// Notes that a window on `chat_id` opened (`opened`) or closed on `instance`.
    async fn window_changed(&self, chat_id: ChatId, instance: i64, opened: bool) -> Result<()>;
    /// The heartbeat of `instance`'s open windows.
    async fn windows_seen(&self, instance: i64) -> Result<()>;
    /// Whether an instance other than `instance` has a window open on the chat (with a
    /// heartbeat in the last `live_ms`), or had one opened in the last `opened_within_ms`.
    async fn window_elsewhere(
        &self,
        chat_id: ChatId,
        instance: i64,
        live_ms: i64,
        opened_within_ms: i64,
    ) -> Result<bool>;
    /// Notes that `user_id` loaded a page of the site on `instance`.
    async fn page_loaded(&self, user_id: UserId, instance: i64) -> Result<()>;
    /// Whether `user_id` loaded a page on an instance other than `instance` in the last
    /// `within_ms`.
    async fn page_loaded_elsewhere(
        &self,
        user_id: UserId,
        instance: i64,
        within_ms: i64,
    ) -> Result<bool>;
    /// Deletes rows an hour stale (a dead instance's windows among them); returns how
    /// many.
    async fn sweep_windows(&self) -> Result<u64>;
}

/// The history the desk's figures are derived from.
#[async_trait]
pub trait InsightStore: Send + Sync {
    /// Every call logged in `[from, to)` (milliseconds), oldest first, with its first
    /// chat's times, the analyst who had it last and its newest rating.
    async fn call_history(&self, from: Millis, to: Millis) -> Result<Vec<CallHistory>>;

    /// The bot stage of the `limit` newest calls logged in `[from, to)` whose user accepted
    /// no suggestion, newest first: the description, whether the chat was handed off, and
    /// what the bot offered and the user declined (of the call's first chat).
    async fn unresolved_by_bot(
        &self,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<BotStage>>;
}

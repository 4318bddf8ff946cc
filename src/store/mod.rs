//! Storage behind one interface. The engine sees only [`Store`]; [`connect`] picks the
//! backend from the URL scheme (`sqlite://` embedded, `postgres://` for scale).
//!
//! Every operation that changes what a user was told (a message shown, a call logged, a
//! chat ended) is one transaction, committed before the engine announces it.

mod group_commit;
mod records;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;

pub use records::*;
pub use sql::{SqlStore, connect};

use crate::domain::Millis;
use crate::domain::chat::{ChatStatus, Transition};
use crate::domain::user::User;
use crate::error::Result;

pub type DynStore = Arc<dyn Store>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<()>;

    // Accounts.
    async fn create_user(&self, user: &NewUser, now: Millis) -> Result<User>;
    async fn user(&self, id: i64) -> Result<Option<User>>;
    /// The user and their password hash, for signing in.
    async fn login_record(&self, username: &str) -> Result<Option<(User, Option<String>)>>;
    async fn insert_token(&self, token: &NewToken<'_>) -> Result<()>;
    async fn user_by_token(&self, token_hash: &str, now: Millis) -> Result<Option<User>>;
    async fn delete_token(&self, token_hash: &str) -> Result<()>;

    // Analyst presence.
    async fn set_presence(
        &self,
        analyst_id: i64,
        online: bool,
        max_chats: i64,
        now: Millis,
    ) -> Result<()>;
    async fn presence(&self, analyst_id: i64) -> Result<Option<Presence>>;
    async fn desk_counts(&self) -> Result<DeskCounts>;

    // Calls and chats.
    /// Logs a call and opens its chat in the bot stage, in one transaction.
    async fn create_chat(&self, user_id: i64, description: &str, now: Millis)
    -> Result<ChatRecord>;
    async fn chat(&self, id: i64) -> Result<Option<ChatRecord>>;
    async fn chats_of_call(&self, call_id: i64) -> Result<Vec<ChatRecord>>;
    async fn chats_of_analyst(
        &self,
        analyst_id: i64,
        status: ChatStatus,
    ) -> Result<Vec<ChatRecord>>;
    async fn call(&self, id: i64) -> Result<Option<CallRecord>>;
    async fn recent_calls(&self, user_id: i64, limit: i64) -> Result<Vec<CallRecord>>;
    /// Waiting chats, oldest first.
    async fn queue(&self) -> Result<Vec<ChatRecord>>;

    /// Applies `Handoff` (or any transition without side effects). `Err(current)` when the
    /// chat was no longer in a state that allows it.
    async fn transition(
        &self,
        chat_id: i64,
        transition: Transition,
        now: Millis,
    ) -> Result<Result<(), ChatStatus>>;
    /// Takes a queued chat for `analyst_id` if they have capacity left.
    async fn accept(
        &self,
        chat_id: i64,
        analyst_id: i64,
        max_chats: i64,
        now: Millis,
    ) -> Result<AcceptOutcome>;
    /// Ends the chat, writes the final transcript to its call and appends the `ended`
    /// event, in one transaction.
    async fn end_chat(&self, end: &EndChat<'_>) -> Result<Result<Ended, ChatStatus>>;

    /// Appends an event with the chat's next `seq`. A message repeating a `client_id`
    /// of the same author returns the first one (`duplicate`) and stores nothing.
    async fn append_event(&self, chat_id: i64, event: &NewEvent<'_>) -> Result<Appended>;
    async fn events_after(&self, chat_id: i64, after_seq: i64) -> Result<Vec<StoredEvent>>;
    /// The message an author sent with this `client_id`, if any.
    async fn message_by_client_id(
        &self,
        chat_id: i64,
        author_id: i64,
        client_id: &str,
    ) -> Result<Option<StoredEvent>>;

    async fn link_call(&self, chat_id: i64, call_id: i64, by: i64, now: Millis) -> Result<()>;
    async fn linked_calls(&self, chat_id: i64) -> Result<Vec<i64>>;
    async fn linked_chats(&self, call_id: i64) -> Result<Vec<i64>>;

    async fn decline_article(&self, chat_id: i64, article_id: &str) -> Result<()>;
    async fn declined_articles(&self, chat_id: i64) -> Result<Vec<String>>;

    /// Records an attachment and appends its event, in one transaction.
    async fn add_attachment(
        &self,
        attachment: &AttachmentRecord,
        event: &NewEvent<'_>,
    ) -> Result<Appended>;
    async fn attachment(&self, id: &str) -> Result<Option<AttachmentRecord>>;
    async fn attachments_of_call(&self, call_id: i64) -> Result<Vec<AttachmentRecord>>;

    // Knowledge articles.
    /// Changes with every article edit, so that every instance knows to rebuild.
    async fn knowledge_generation(&self) -> Result<i64>;
    async fn articles(&self) -> Result<Vec<StoredArticle>>;
    async fn article(&self, id: &str) -> Result<Option<StoredArticle>>;
    async fn upsert_article(&self, article: &StoredArticle) -> Result<Upserted>;
    /// Deletes an article, leaving a tombstone that folder imports respect.
    async fn delete_article(&self, id: &str) -> Result<bool>;
    /// Makes the folder-imported articles exactly `files` (adding, changing, removing) in
    /// one transaction. Articles edited or deleted by an author are left as they are.
    async fn import_articles(&self, files: &[StoredArticle]) -> Result<Imported>;
}

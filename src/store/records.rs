//! Rows as the engine sees them, and the inputs of storage operations.

use crate::domain::Millis;
use crate::domain::call::{self, Call, Person};
use crate::domain::chat::ChatStatus;
use crate::domain::message::{Author, AuthorRole};
use crate::domain::rfc3339;
use crate::domain::user::Role;

pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub roles: Vec<Role>,
}

pub struct NewToken<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    /// `api` (from `user add`) or `session` (from signing in).
    pub kind: &'a str,
    pub now: Millis,
    pub expires_at: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    pub online: bool,
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
    pub id: i64,
    pub call_id: i64,
    pub user: Person,
    pub analyst: Option<Person>,
    pub status: ChatStatus,
    pub last_seq: i64,
    pub description: String,
    pub created_at: Millis,
    pub queued_at: Option<Millis>,
}

#[derive(Clone, Debug)]
pub struct CallRecord {
    pub id: i64,
    pub user: Person,
    pub source: String,
    pub status: String,
    pub description: String,
    pub resolved_by: Option<String>,
    /// The final transcript, written when the call's chat ends.
    pub transcript: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl CallRecord {
    pub fn view(&self) -> Call {
        Call {
            id: self.id,
            reference: call::reference(self.id),
            status: self.status.clone(),
            source: self.source.clone(),
            description: self.description.clone(),
            user: self.user.clone(),
            resolved_by: self.resolved_by.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

pub enum AcceptOutcome {
    Accepted(ChatRecord),
    /// The analyst already has `max_chats` active chats.
    AtCapacity,
    /// The chat is not waiting any more (someone else took it, or it ended).
    NotQueued(ChatStatus),
}

/// Event kinds as stored.
pub mod kind {
    pub const MESSAGE: &str = "message";
    pub const SUGGESTIONS: &str = "suggestions";
    pub const ATTACHMENT: &str = "attachment";
    pub const ENDED: &str = "ended";
}

pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub author: Option<&'a Author>,
    /// Message text.
    pub body: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// The event's JSON frame without `seq` (for kinds other than messages).
    pub payload: Option<&'a str>,
    pub now: Millis,
}

#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: i64,
    pub chat_id: i64,
    pub seq: i64,
    pub kind: String,
    pub author: Option<Author>,
    pub body: Option<String>,
    pub client_id: Option<String>,
    pub payload: Option<String>,
    pub created_at: Millis,
}

pub struct Appended {
    pub event: StoredEvent,
    /// True when a retry repeated an earlier `client_id`; nothing new was stored.
    pub duplicate: bool,
}

pub struct EndChat<'a> {
    pub chat_id: i64,
    /// The states it may be ended from ("this fixed it" only before an analyst joins).
    pub from: &'a [ChatStatus],
    /// Who ended it: `user`, `analyst`, or `bot` when a suggestion fixed it.
    pub ended_by: AuthorRole,
    /// Marks the call resolved by this resolver (e.g. the bot).
    pub resolved_by: Option<&'a str>,
    pub now: Millis,
}

pub struct Ended {
    pub chat: ChatRecord,
    pub call: CallRecord,
    pub event: StoredEvent,
}

#[derive(Clone, Debug)]
pub struct AttachmentRecord {
    /// Random and unguessable; also the file name under the data dir.
    pub id: String,
    pub call_id: i64,
    pub chat_id: i64,
    pub uploader_id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: Millis,
}

/// Where an article came from: the `knowledge/` folder, or an author through the API.
pub mod origin {
    pub const FILE: &str = "file";
    pub const API: &str = "api";
    /// Deleted by an author: kept as a tombstone so the folder does not bring it back.
    pub const DELETED: &str = "deleted";
}

#[derive(Clone, Debug)]
pub struct StoredArticle {
    pub id: String,
    pub title: String,
    /// The article file as written: front matter and Markdown body.
    pub source: String,
    pub origin: String,
    pub content_hash: String,
    pub updated_at: Millis,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Added,
    Changed,
    Unchanged,
}

/// What importing the folder did.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Files not imported because an author has edited or deleted that article.
    pub kept: Vec<String>,
}

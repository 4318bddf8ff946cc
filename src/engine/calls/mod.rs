//! Calls as people look them up: the call page with its transcript, files and linked
//! chats, the user's recently logged calls, and analysts linking a chat to more calls.

mod canned;

use crate::domain::Timestamp;
use serde::Serialize;

use super::core::{Core, call_view, rating_view};
use crate::domain::article::{Suggestion, first_offers};
use crate::domain::call::{self, Call, CallStatus, Note, OfferOutcome, Offered, Resolver};
use crate::domain::chat::ChatStatus;
use crate::domain::ids::{CallId, ChatId, UserId};
use crate::domain::message::{AttachmentInfo, Author, EventKind};
use crate::domain::rating::Rating;
use crate::domain::user::User;
use crate::domain::webhook::WebhookEvent;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{CallFilter, CallRecord, ChatRecord, NoteRecord, StoredEvent};
use crate::transcript::describe;

#[derive(Clone, Debug, Serialize)]
pub struct TranscriptEntry {
    pub chat_id: ChatId,
    pub seq: i64,
    pub kind: EventKind,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct LinkedChat {
    pub chat_id: ChatId,
    /// The call the chat was started for.
    pub call_id: CallId,
    pub call_reference: String,
    pub status: ChatStatus,
    pub transcript: Vec<TranscriptEntry>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttachmentView {
    #[serde(flatten)]
    pub info: AttachmentInfo,
    pub chat_id: ChatId,
    pub uploaded_by: UserId,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct CallDetails {
    #[serde(flatten)]
    pub call: Call,
    /// The chats started for this call (usually one).
    pub chats: Vec<ChatId>,
    pub transcript: Vec<TranscriptEntry>,
    /// The final transcript as written when the chat ended.
    pub transcript_text: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub linked_chats: Vec<LinkedChat>,
    /// The other calls this call's chats are linked to (the other side of
    /// `linked_chats`), those the viewer may see.
    pub linked_calls: Vec<Call>,
    /// The user's rating of the call's chat (the newest, if it had several).
    pub rating: Option<Rating>,
    /// The viewer's own ended chat on this call that has no rating yet: what they may rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratable_chat: Option<ChatId>,
    /// Internal notes, oldest first: only for analysts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<Note>>,
    /// The user's other calls, newest first: only for analysts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_calls: Option<Vec<Call>>,
    /// Every article the bot offered on the call's chats and how the user took it: only
    /// for analysts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered: Option<Vec<Offered>>,
}

fn note_view(n: NoteRecord) -> Note {
    Note {
        id: n.id,
        text: n.text,
        author: n.author,
        at: Timestamp(n.at),
    }
}

fn entry(e: &StoredEvent) -> TranscriptEntry {
    TranscriptEntry {
        chat_id: e.chat_id,
        seq: e.seq,
        kind: e.kind(),
        at: Timestamp(e.created_at),
        author: e.event.author().cloned(),
        text: describe(e),
    }
}

/// The calls service: the call page (transcript, files, linked chats, notes, offers),
/// resolving and reopening, internal notes, links between chats and calls, and canned
/// responses. Holds only the shared core.
#[derive(Clone)]
pub struct CallService {
    core: Core,
}

impl CallService {
    pub(super) fn new(core: Core) -> Self {
        Self { core }
    }

    async fn visible_call(&self, user: &User, call_id: CallId) -> Result<CallRecord> {
        let call = self
            .core
            .store
            .call(call_id)
            .await?
            .ok_or(Error::NotFound("call"))?;
        if call.user.id != user.id && !user.is_analyst() {
            return Err(Error::NotFound("call"));
        }
        Ok(call)
    }

    async fn transcript(&self, chat_id: ChatId) -> Result<Vec<TranscriptEntry>> {
        Ok(self
            .core
            .store
            .events_after(chat_id, 0)
            .await?
            .iter()
            .map(entry)
            .collect())
    }

    pub async fn call_details(&self, user: &User, call_id: CallId) -> Result<CallDetails> {
        let call = self.visible_call(user, call_id).await?;
        let chats = self.core.store.chats_of_call(call_id).await?;
        // The desk's side of the call: analysts looking at someone else's call. Notes
        // never reach the call's own user, even one who is also an analyst.
        let desk = user.is_analyst() && call.user.id != user.id;
        let mut transcript = Vec::new();
        let mut offered = Vec::new();
        let mut linked_calls = Vec::new();
        for chat in &chats {
            let events = self.core.store.events_after(chat.id, 0).await?;
            transcript.extend(events.iter().map(entry));
            if desk {
                self.add_offers(chat, &events, &mut offered).await?;
            }
            for linked in self.core.store.linked_calls(chat.id).await? {
                if let Some(other) = self.core.store.call(linked).await?
                    && (user.is_analyst() || other.user.id == user.id)
                {
                    linked_calls.push(call_view(&other));
                }
            }
        }
        let attachments = self
            .core
            .store
            .attachments_of_call(call_id)
            .await?
            .into_iter()
            .map(|a| AttachmentView {
                info: AttachmentInfo {
                    id: a.id,
                    name: a.name,
                    size: a.size,
                    content_type: a.content_type,
                },
                chat_id: a.chat_id,
                uploaded_by: a.uploader_id,
                at: Timestamp(a.created_at),
            })
            .collect();
        let mut linked_chats = Vec::new();
        for chat_id in self.core.store.linked_chats(call_id).await? {
            let Some(chat) = self.core.store.chat(chat_id).await? else {
                continue;
            };
            // Someone else's conversation linked to this call stays private to analysts.
            if !user.is_analyst() && chat.user.id != user.id {
                continue;
            }
            linked_chats.push(LinkedChat {
                chat_id,
                call_id: chat.call_id,
                call_reference: call::reference(chat.call_id),
                status: chat.status,
                transcript: self.transcript(chat_id).await?,
            });
        }
        let ratings = self.core.store.ratings_of_call(call_id).await?;
        let ratable_chat = chats
            .iter()
            .rev()
            .find(|c| {
                c.user.id == user.id
                    && c.status == ChatStatus::Ended
                    && !ratings.iter().any(|r| r.chat_id == c.id)
            })
            .map(|c| c.id);
        let (notes, user_calls) = if desk {
            let notes = self.core.store.notes_of_call(call_id).await?;
            let others = self.core.store.recent_calls(call.user.id, 20).await?;
            (
                Some(notes.into_iter().map(note_view).collect()),
                Some(
                    others
                        .iter()
                        .filter(|c| c.id != call_id)
                        .map(call_view)
                        .collect(),
                ),
            )
        } else {
            (None, None)
        };
        let offered = desk.then_some(offered);
        Ok(CallDetails {
            notes,
            user_calls,
            offered,
            linked_calls,
            rating: ratings.first().map(rating_view),
            ratable_chat,
            transcript_text: call.transcript.clone(),
            call: call_view(&call),
            chats: chats.iter().map(|c| c.id).collect(),
            transcript,
            attachments,
            linked_chats,
        })
    }

    /// Adds the articles offered in one chat of a call to `offered`: once per call, with
    /// the strongest outcome any of its chats gave (accepted, then declined, then none).
    async fn add_offers(
        &self,
        chat: &ChatRecord,
        events: &[StoredEvent],
        offered: &mut Vec<Offered>,
    ) -> Result<()> {
        let found = first_offers(events.iter().flat_map(|e| e.event.offered()));
        let declined = self.core.store.declined_articles(chat.id).await?;
        for Suggestion {
            article_id, title, ..
        } in found.into_iter().cloned()
        {
            let outcome = if chat.accepted_article.as_ref() == Some(&article_id) {
                OfferOutcome::Accepted
            } else if declined.contains(&article_id) {
                OfferOutcome::Declined
            } else {
                OfferOutcome::None
            };
            match offered.iter_mut().find(|o| o.article_id == article_id) {
                Some(seen) => seen.outcome = seen.outcome.max(outcome),
                None => offered.push(Offered {
                    article_id,
                    title,
                    outcome,
                }),
            }
        }
        Ok(())
    }

    /// Calls for analysts, newest first: by status, by the username of who logged them,
    /// and by words of the description or a reference (`CALL-000042`). `forbidden` for
    /// anyone else.
    pub async fn calls(
        &self,
        user: &User,
        status: Option<CallStatus>,
        username: Option<&str>,
        text: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Call>> {
        user.as_analyst("only analysts list every call")?;
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        let filter = CallFilter {
            status,
            username: username.map(str::trim).filter(|u| !u.is_empty()),
            text,
            id: text.and_then(call::parse_reference),
            limit: limit.clamp(1, 200),
        };
        Ok(self
            .core
            .store
            .find_calls(&filter)
            .await?
            .iter()
            .map(call_view)
            .collect())
    }

    /// An analyst resolves an open call with how it was resolved; `invalid_state`
    /// when it is already resolved.
    #[tracing::instrument(skip_all, fields(call_id = %call_id, user = %user.id), err(level = "debug"))]
    pub async fn resolve_call(
        &self,
        user: &User,
        call_id: CallId,
        resolution: &str,
    ) -> Result<Call> {
        let analyst = user.as_analyst("only analysts resolve calls")?;
        let resolution = call::checked_text("resolution", resolution)?;
        self.visible_call(user, call_id).await?;
        if !self
            .core
            .store
            .resolve_call(
                call_id,
                &resolution,
                Resolver::Analyst(&analyst.username),
                self.core.now(),
            )
            .await?
        {
            return Err(Error::conflict(
                ErrorCode::InvalidState,
                "the call is already resolved",
            ));
        }
        let call = call_view(&self.visible_call(user, call_id).await?);
        if self.core.outbox.wants(WebhookEvent::CallResolved)
            && let Some(chat) = self.core.store.chats_of_call(call_id).await?.last()
        {
            self.core
                .happened(
                    WebhookEvent::CallResolved,
                    chat.id,
                    None,
                    || serde_json::json!({"call": call}),
                )
                .await;
        }
        Ok(call)
    }

    /// Its user or an analyst opens a resolved call again; `invalid_state` when it
    /// is open.
    #[tracing::instrument(skip_all, fields(call_id = %call_id, user = %user.id), err(level = "debug"))]
    pub async fn reopen_call(&self, user: &User, call_id: CallId) -> Result<Call> {
        self.visible_call(user, call_id).await?;
        if !self
            .core
            .store
            .reopen_call(call_id, self.core.now())
            .await?
        {
            return Err(Error::conflict(
                ErrorCode::InvalidState,
                "the call is already open",
            ));
        }
        Ok(call_view(&self.visible_call(user, call_id).await?))
    }

    /// An analyst writes an internal note on a call; the call's user never sees it.
    #[tracing::instrument(skip_all, fields(call_id = %call_id, user = %user.id), err(level = "debug"))]
    pub async fn add_note(&self, user: &User, call_id: CallId, text: &str) -> Result<Note> {
        let analyst = user.as_analyst("only analysts write notes")?;
        let text = call::checked_text("text", text)?;
        self.visible_call(user, call_id).await?;
        let at = self.core.now();
        let id = self
            .core
            .store
            .add_note(call_id, analyst.id, &text, at)
            .await?;
        Ok(note_view(NoteRecord {
            id,
            text,
            author: analyst.username.clone(),
            at,
        }))
    }

    /// The user's own calls, newest first.
    pub async fn recent_calls(&self, user: &User, limit: i64) -> Result<Vec<Call>> {
        let limit = limit.clamp(1, 100);
        Ok(self
            .core
            .store
            .recent_calls(user.id, limit)
            .await?
            .iter()
            .map(call_view)
            .collect())
    }

    /// Links a chat to another call; returns every call the chat is linked to.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, call_id = %call_id), err(level = "debug"))]
    pub async fn link_call(
        &self,
        user: &User,
        chat_id: ChatId,
        call_id: CallId,
    ) -> Result<Vec<Call>> {
        let analyst = user.as_analyst("only analysts can link chats to calls")?;
        let (chat, _) = self.core.chat_for(user, chat_id).await?;
        if chat.call_id == call_id {
            return Err(Error::invalid(
                "call_id",
                "the chat already belongs to that call",
            ));
        }
        self.core
            .store
            .call(call_id)
            .await?
            .ok_or(Error::NotFound("call"))?;
        self.core
            .store
            .link_call(chat_id, call_id, analyst.id, self.core.now())
            .await?;
        let mut linked = Vec::new();
        for id in self.core.store.linked_calls(chat_id).await? {
            if let Some(c) = self.core.store.call(id).await? {
                linked.push(call_view(&c));
            }
        }
        Ok(linked)
    }
}

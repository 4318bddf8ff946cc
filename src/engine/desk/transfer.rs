//! Transfer: the analyst in a chat hands it to another analyst who is online and has
//! room, or puts it back in the queue at the place it first queued at. The transcript
//! simply continues; a system message says who took over.

use super::DeskService;
use crate::domain::chat::{ChatStatus, ChatView, Party, TransferTarget, Transition};
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ChatId, UserId};
use crate::domain::message::Author;
use crate::domain::user::{User, Username};
use crate::domain::webhook::WebhookEvent;
use crate::engine::core::refused;
use crate::error::{Error, ErrorCode, Result};
use crate::events::{self, Frame};
use crate::store::{AnalystLoad, NewEvent, TransferOutcome, TransferTo};

impl DeskService {
    /// Transfers the chat `user` is handling to `to`. Returns the chat as it is now.
    ///
    /// # Errors
    /// - `forbidden` unless `user` is the chat's analyst; `not_found` for a chat they
    ///   cannot see or an unknown username; `invalid` (field `to`) for themselves, the
    ///   chat's own user, or someone who is not an analyst.
    /// - a conflict, and nothing changes: `analyst_offline` when the target is not online,
    ///   `at_capacity` when they have no room, `chat_ended`/`invalid_state` when the chat is
    ///   no longer active with `user` (it ended, or was transferred meanwhile).
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, analyst = %user.id, to = %to), err(level = "debug"))]
    pub async fn transfer_chat(
        &self,
        user: &User,
        chat_id: ChatId,
        to: &TransferTarget,
    ) -> Result<ChatView> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::AssignedAnalyst {
            return Err(Error::forbidden(
                "only the analyst handling this chat can transfer it",
            ));
        }
        if chat.status != ChatStatus::Active {
            return Err(not_active(chat.status));
        }
        let (target, target_user) = match to {
            TransferTarget::Queue => (TransferTo::Queue, None),
            TransferTarget::Analyst(name) => {
                let target = self.transfer_target(user, chat.user.id, name).await?;
                (TransferTo::Analyst(target.id), Some(target))
            }
        };
        let note = match &target_user {
            Some(target) => format!(
                "{} transferred the chat to {}, who takes over from here.",
                user.display_name, target.display_name
            ),
            None => format!(
                "{} put the chat back in the queue; the next analyst takes over from here.",
                user.display_name
            ),
        };
        let event = NewEvent {
            event: ChatEvent::Message {
                author: Author::system(),
                text: note,
                client_id: None,
                article: None,
            },
            now: self.core.now(),
        };
        let (moved, noted) = match self
            .core
            .store
            .transfer(chat_id, user.id, target, &event)
            .await?
        {
            TransferOutcome::Transferred(done) => *done,
            TransferOutcome::TargetOffline => {
                return Err(Error::conflict(
                    ErrorCode::AnalystOffline,
                    format!("{to} is not online; choose someone else or the queue"),
                ));
            }
            TransferOutcome::TargetAtCapacity(max) => {
                return Err(Error::conflict(
                    ErrorCode::AtCapacity,
                    format!("{to} already has {max} active chats, their most at once"),
                ));
            }
            TransferOutcome::NotTheirs(status) => return Err(not_active(status)),
        };
        self.core.metrics.transfers.increment(1);
        self.core.publish(Frame::live(&noted));
        let view = self.core.view(&moved).await?;
        self.core.publish(events::status_frame(&view));
        self.core
            .happened(WebhookEvent::ChatTransferred, chat_id, None, || {
                serde_json::json!({
                    "from": chat.analyst,
                    "to": match &moved.analyst {
                        Some(analyst) => serde_json::json!(analyst),
                        None => serde_json::json!("queue"),
                    },
                })
            })
            .await;
        if let Some(target) = &target_user {
            self.core
                .publish(events::assigned_frame(target.id, &view, user));
        }
        self.core.announce_desk().await?;
        Ok(view)
    }

    /// The analyst `name` names, checked to be someone a chat can go to.
    async fn transfer_target(
        &self,
        user: &User,
        chat_user: UserId,
        name: &Username,
    ) -> Result<User> {
        let target = self
            .core
            .store
            .user_by_username(name.as_str())
            .await?
            .ok_or(Error::NotFound("analyst"))?;
        if target.id == user.id {
            return Err(Error::invalid("to", "the chat is already yours"));
        }
        if target.id == chat_user {
            return Err(Error::invalid("to", "that is the chat's own user"));
        }
        if !target.is_analyst() {
            return Err(Error::invalid(
                "to",
                format!(
                    "{} is not an analyst; chats go to analysts or the queue",
                    name.as_str()
                ),
            ));
        }
        Ok(target)
    }

    /// Every analyst with a presence, their load and whether they are online: whom a chat
    /// can be transferred to.
    pub async fn analyst_loads(&self, user: &User) -> Result<Vec<AnalystLoad>> {
        user.as_analyst("only analysts see the team")?;
        Ok(self.core.store.analyst_loads().await?)
    }
}

fn not_active(status: ChatStatus) -> Error {
    match status {
        ChatStatus::Ended => refused(Transition::End.refusal(status)),
        _ => Error::conflict(
            ErrorCode::InvalidState,
            "this chat is no longer active with you",
        ),
    }
}

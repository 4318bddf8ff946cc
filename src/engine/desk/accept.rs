//! Accepting a chat: an analyst who is online takes a queued chat, within their capacity;
//! of analysts racing for one chat exactly one wins (see the store's `accept`).

use super::DeskService;
use crate::domain::chat::{ChatStatus, ChatView, Transition};
use crate::domain::ids::ChatId;
use crate::domain::message::Author;
use crate::domain::user::User;
use crate::domain::webhook::WebhookEvent;
use crate::engine::core::{refused, seconds_between};
use crate::error::{Error, ErrorCode, Result};
use crate::events;
use crate::store::AcceptOutcome;

impl DeskService {
    /// An analyst takes a chat from the queue, within their capacity.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, analyst = %user.id), err(level = "debug"))]
    pub async fn accept_chat(&self, user: &User, chat_id: ChatId) -> Result<ChatView> {
        let analyst = user.as_analyst("only analysts can accept chats")?;
        let presence = self.core.store.presence(analyst.id).await?;
        let Some(presence) = presence.filter(|p| p.online) else {
            return Err(offline());
        };
        // Analysts may see any chat's state here: they can all see the queue it was in.
        let current = self.core.chat(chat_id).await?;
        if current.status != ChatStatus::Queued {
            return Err(refused(Transition::Accept.refusal(current.status)));
        }
        let accepted_now = self.core.now();
        let chat = match self
            .core
            .store
            .accept(chat_id, analyst.id, presence.max_chats, accepted_now)
            .await?
        {
            AcceptOutcome::Accepted(chat) => {
                // Timed on the first acceptance only: a chat put back in the queue by a
                // transfer keeps its first wait.
                if let (Some(queued), Some(accepted)) = (chat.queued_at, chat.accepted_at)
                    && accepted == accepted_now
                {
                    self.core
                        .metrics
                        .queue_wait
                        .record(seconds_between(queued, accepted));
                }
                chat
            }
            AcceptOutcome::Offline => return Err(offline()),
            AcceptOutcome::AtCapacity => {
                return Err(Error::conflict(
                    ErrorCode::AtCapacity,
                    format!(
                        "you already have {} active chats; end one or raise max_chats",
                        presence.max_chats
                    ),
                ));
            }
            AcceptOutcome::NotQueued(status) => {
                return Err(refused(Transition::Accept.refusal(status)));
            }
        };
        self.core
            .say(
                chat_id,
                &Author::system(),
                &format!("{} joined the chat.", analyst.display_name),
            )
            .await?;
        let view = self.core.current_view(chat.id).await?;
        self.core.publish(events::status_frame(&view));
        self.core
            .happened(
                WebhookEvent::ChatAccepted,
                chat.id,
                None,
                || serde_json::json!({"analyst": chat.analyst}),
            )
            .await;
        self.core.announce_desk().await?;
        Ok(view)
    }
}

fn offline() -> Error {
    Error::conflict(
        ErrorCode::AnalystOffline,
        "set your status to online before accepting chats",
    )
}

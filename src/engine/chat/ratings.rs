//! Ratings: the user rates a chat once, after it has ended, and its call shows it.

use super::ChatService;
use crate::domain::chat::{ChatStatus, Party};
use crate::domain::ids::ChatId;
use crate::domain::rating::{self, Rating};
use crate::domain::user::User;
use crate::domain::webhook::WebhookEvent;
use crate::engine::core::rating_view;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{NewRating, RatingRecord};

impl ChatService {
    /// The chat's user rates it, once, after it has ended. Errors: `forbidden` for anyone
    /// else who can see the chat; `invalid_state` while it is still open;
    /// `already_exists` for a second rating; `invalid` for a score outside 1 to 5 or
    /// an overlong comment.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, user = %user.id), err(level = "debug"))]
    pub async fn rate_chat(
        &self,
        user: &User,
        chat_id: ChatId,
        score: i64,
        comment: Option<&str>,
    ) -> Result<Rating> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::Owner {
            return Err(Error::forbidden("only the chat's user can rate it"));
        }
        let (score, comment) = rating::validated(score, comment)?;
        if chat.status != ChatStatus::Ended {
            return Err(Error::conflict(
                ErrorCode::InvalidState,
                "rate the chat once it has ended",
            ));
        }
        let record = RatingRecord {
            chat_id,
            score,
            comment,
            at: self.core.now(),
        };
        let stored = self
            .core
            .store
            .rate_chat(&NewRating {
                chat_id,
                call_id: chat.call_id,
                score,
                comment: record.comment.as_deref(),
                at: record.at,
            })
            .await?;
        if !stored {
            return Err(Error::conflict(
                ErrorCode::AlreadyExists,
                "you have already rated this chat",
            ));
        }
        let rating = rating_view(&record);
        self.core
            .happened(
                WebhookEvent::CallRated,
                chat_id,
                None,
                || serde_json::json!({"rating": rating}),
            )
            .await;
        Ok(rating)
    }
}

//! Canned responses: analysts manage one shared set and insert them into chats, with
//! `{user}` and `{call}` filled in from the chat at hand.

use super::CallService;
use crate::domain::Timestamp;
use crate::domain::call;
use crate::domain::canned::{self, CannedResponse};
use crate::domain::chat::Party;
use crate::domain::ids::{CannedId, ChatId};
use crate::domain::user::User;
use crate::error::{Error, Result};
use crate::store::CannedRecord;

fn view(record: CannedRecord, filled: Option<String>) -> CannedResponse {
    CannedResponse {
        id: record.id,
        title: record.title,
        text: record.text,
        author: record.author,
        updated_at: Timestamp(record.updated_at),
        filled,
    }
}

/// Why anyone else is refused.
const ANALYSTS_ONLY: &str = "only analysts use canned responses";

impl CallService {
    /// Every canned response, by title. With `chat`, each also carries its text filled in
    /// for that chat; the chat must be one the analyst may act on (else `not_found`).
    pub async fn canned_responses(
        &self,
        user: &User,
        chat: Option<ChatId>,
    ) -> Result<Vec<CannedResponse>> {
        user.as_analyst(ANALYSTS_ONLY)?;
        let target = match chat {
            Some(chat_id) => {
                let (chat, party) = self.core.chat_for(user, chat_id).await?;
                if party == Party::Owner {
                    return Err(Error::NotFound("chat"));
                }
                Some((chat.user.name, call::reference(chat.call_id)))
            }
            None => None,
        };
        Ok(self
            .core
            .store
            .canned_responses()
            .await?
            .into_iter()
            .map(|r| {
                let filled = target
                    .as_ref()
                    .map(|(user, call)| canned::fill(&r.text, user, call));
                view(r, filled)
            })
            .collect())
    }

    /// Saves a new canned response; `invalid` for an empty or overlong title or text.
    pub async fn create_canned(
        &self,
        user: &User,
        title: &str,
        text: &str,
    ) -> Result<CannedResponse> {
        user.as_analyst(ANALYSTS_ONLY)?;
        let (title, text) = canned::validated(title, text)?;
        let record = self
            .core
            .store
            .create_canned(&title, &text, user.id, self.core.now())
            .await?;
        Ok(view(record, None))
    }

    /// Replaces a canned response's title and text; `not_found` when there is none.
    pub async fn update_canned(
        &self,
        user: &User,
        id: CannedId,
        title: &str,
        text: &str,
    ) -> Result<CannedResponse> {
        user.as_analyst(ANALYSTS_ONLY)?;
        let (title, text) = canned::validated(title, text)?;
        let record = self
            .core
            .store
            .update_canned(id, &title, &text, user.id, self.core.now())
            .await?
            .ok_or(Error::NotFound("canned response"))?;
        Ok(view(record, None))
    }

    /// Deletes a canned response; `not_found` when there is none.
    pub async fn delete_canned(&self, user: &User, id: CannedId) -> Result<()> {
        user.as_analyst(ANALYSTS_ONLY)?;
        if self.core.store.delete_canned(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("canned response"))
        }
    }
}

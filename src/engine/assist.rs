//! Agent assist: the bot's help for the analyst. The articles it would offer on the
//! conversation so far (the description and the newest words the user and the analyst
//! wrote), with those the user declined, was offered or was sent marked; pushed to the
//! analyst's chat socket whenever the user writes. An article goes to the user in one
//! click, as a message they can open in the chat window.

use serde::Serialize;

use super::Engine;
use super::chats::offers;
use crate::domain::chat::{ChatStatus, Party, may_post};
use crate::domain::ids::{ArticleId, ChatId};
use crate::domain::message::{Author, AuthorRole, EventKind, Message, SharedArticle};
use crate::domain::now_millis;
use crate::domain::user::User;
use crate::error::{Error, Result};
use crate::events::{self, message_of};
use crate::knowledge::{RankRequest, Suggestion};
use crate::store::{ChatRecord, NewEvent};

/// Articles the analyst is shown.
const ASSIST_ARTICLES: usize = 5;
/// Words of the conversation ranked on, the newest kept: the model reads about 250
/// word pieces, and a long chat's newest words are the ones that say what is wrong now.
const CONVERSATION_WORDS: usize = 200;

/// The articles for the analyst, and the last event of the chat they were ranked on:
/// rankings run beside the chat, so a slower, older one may finish after a newer one,
/// and the console keeps the one with the highest `through_seq`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Assist {
    pub through_seq: i64,
    pub items: Vec<AssistItem>,
}

/// One article for the analyst (`GET /chats/{id}/assist`, `assist` frames).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AssistItem {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    /// The bot offered it to the user in this chat.
    pub offered: bool,
    /// The user marked it "Not helpful".
    pub declined: bool,
    /// An analyst already sent it to the user in this chat.
    pub sent: bool,
}

impl Engine {
    /// The articles for the chat's analyst, best first. Errors: `not_found` for a chat
    /// `user` may not see; `forbidden` unless `user` is the chat's analyst.
    pub async fn assist(&self, user: &User, chat_id: ChatId) -> Result<Assist> {
        let (chat, party) = self.chat_for(user, chat_id).await?;
        if party != Party::AssignedAnalyst {
            return Err(Error::forbidden(
                "only the chat's analyst gets the bot's suggestions for it",
            ));
        }
        self.assist_for(&chat).await
    }

    /// Ranks on the description and the newest [`CONVERSATION_WORDS`] words the user and
    /// the analyst wrote, with nothing left out: the analyst decides, seeing what was
    /// declined.
    async fn assist_for(&self, chat: &ChatRecord) -> Result<Assist> {
        let events = self.store.events_after(chat.id, 0).await?;
        let through_seq = events.last().map_or(0, |e| e.seq);
        let said: Vec<&str> = events
            .iter()
            .filter(|e| {
                e.kind == EventKind::Message
                    && e.author
                        .as_ref()
                        .is_some_and(|a| matches!(a.role, AuthorRole::User | AuthorRole::Analyst))
            })
            .flat_map(|e| e.body.as_deref().unwrap_or_default().split_whitespace())
            .collect();
        let newest = &said[said.len().saturating_sub(CONVERSATION_WORDS)..];
        let text = format!("{}\n{}", chat.description, newest.join(" "));
        let offered = offers(&events)?;
        let sent: Vec<ArticleId> = events
            .iter()
            .filter(|e| e.kind == EventKind::Message)
            .filter_map(|e| serde_json::from_str::<SharedArticle>(e.payload.as_deref()?).ok())
            .map(|shared| shared.article_id)
            .collect();
        let declined = self.store.declined_articles(chat.id).await?;
        let ranked = self
            .rank_with(RankRequest {
                text,
                k: ASSIST_ARTICLES,
                exclude: Vec::new(),
                confident_only: false,
            })
            .await?;
        let items = ranked
            .into_iter()
            .map(|suggestion| AssistItem {
                offered: offered
                    .iter()
                    .any(|(id, _)| id == suggestion.article_id.as_str()),
                declined: declined.contains(&suggestion.article_id),
                sent: sent.contains(&suggestion.article_id),
                suggestion,
            })
            .collect();
        Ok(Assist { through_seq, items })
    }

    /// After the user writes in an active chat: the analyst's socket gets fresh articles.
    /// Runs beside the request, so the user's message is never held up by ranking; a
    /// failure is logged and the analyst keeps the articles they had.
    pub(super) fn push_assist(&self, chat: ChatRecord) {
        if chat.status != ChatStatus::Active {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            match engine.assist_for(&chat).await {
                Ok(assist) => engine.publish_chat(chat.id, events::assist_frame(&assist)),
                Err(e) => tracing::warn!(chat_id = %chat.id, error = %e, "agent assist failed"),
            }
        });
    }

    /// The chat's analyst sends an article to the user: a message naming it, which the
    /// chat window shows with a button that opens the article. Errors: `not_found` for an
    /// unknown article; `forbidden` unless `user` is the chat's analyst; `conflict` once
    /// the chat has ended.
    pub async fn share_article(
        &self,
        user: &User,
        chat_id: ChatId,
        article_id: &str,
    ) -> Result<Message> {
        let (chat, party) = self.chat_for(user, chat_id).await?;
        if party != Party::AssignedAnalyst {
            return Err(Error::forbidden(
                "only the chat's analyst can send it an article",
            ));
        }
        // An article is a message: the sender's message rate applies.
        self.take_message_turn(user, chat_id)?;
        may_post(party, chat.status).map_err(super::refused)?;
        let id = ArticleId::parse(article_id).map_err(|_| Error::NotFound("article"))?;
        let title = self
            .store
            .article(&id)
            .await?
            .ok_or(Error::NotFound("article"))?
            .title;
        let text = format!("Here is an article that should help: \u{201c}{title}\u{201d}");
        let payload = serde_json::to_string(&SharedArticle {
            article_id: id,
            title,
        })
        .map_err(|e| Error::internal("writing a shared article", e))?;
        let author = Author {
            role: AuthorRole::Analyst,
            name: user.display_name.clone(),
            id: Some(user.id),
        };
        let appended = self
            .append(
                chat_id,
                &NewEvent {
                    kind: EventKind::Message,
                    author: Some(&author),
                    body: Some(&text),
                    client_id: None,
                    payload: Some(&payload),
                    now: now_millis(),
                },
            )
            .await?;
        self.metrics.messages.increment(1);
        if chat.first_response_at.is_none() {
            self.first_response(&chat, appended.event.created_at)
                .await?;
        }
        Ok(message_of(&appended.event))
    }
}

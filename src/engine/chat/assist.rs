//! Agent assist: the bot's help for the analyst. The articles it would offer on the
//! conversation so far (the description and the newest words the user and the analyst
//! wrote), with those the user declined, was offered or was sent marked; pushed to the
//! analyst's chat socket whenever the user writes. An article goes to the user in one
//! click, as a message they can open in the chat window.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use super::ChatService;
use super::lifecycle::{author_of, stored_message};
use crate::domain::article::{Assist, AssistItem};
use crate::domain::chat::{ChatStatus, Party, may_post};
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ArticleId, ChatId, UserId};
use crate::domain::message::{Message, SharedArticle};
use crate::domain::user::User;
use crate::engine::core::refused;
use crate::error::{Error, Result};
use crate::events;
use crate::knowledge::RankRequest;
use crate::store::{ChatRecord, NewEvent};

/// Articles the analyst is shown.
const ASSIST_ARTICLES: usize = 5;

/// The least time between the starts of two assist runs for one chat. The first message
/// after a quiet spell is ranked at once; a burst gets one more run on its newest words
/// when this has passed. Nobody reads new articles faster, and under load it keeps the
/// runs' reads and frames (and the clients' parsing of them) off the message path.
const ASSIST_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether someone waits for a ranking.
#[derive(Clone, Copy)]
enum Priority {
    /// A request (`GET /chats/{id}/assist`): ranked like the bot's answers.
    Asked,
    /// Pushed to the analyst's socket: ranked at low priority.
    Beside,
}

/// The chats with an assist run in flight.
#[derive(Default)]
pub(super) struct AssistRuns {
    /// Per chat in flight: whether the user wrote again since its run started.
    again: Mutex<HashMap<ChatId, bool>>,
}

impl AssistRuns {
    /// Asks for a run of the chat; true when none is in flight and the caller starts one.
    fn request(&self, chat_id: ChatId) -> bool {
        match self.again.lock().expect("assist lock").entry(chat_id) {
            Entry::Occupied(mut again) => {
                again.insert(true);
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(false);
                true
            }
        }
    }

    /// After a run: true when another was asked for meanwhile (and is now under way);
    /// otherwise the chat has none in flight.
    fn next_run(&self, chat_id: ChatId) -> bool {
        let mut again = self.again.lock().expect("assist lock");
        if again.get(&chat_id) == Some(&true) {
            again.insert(chat_id, false);
            true
        } else {
            again.remove(&chat_id);
            false
        }
    }

    fn forget(&self, chat_id: ChatId) {
        self.again.lock().expect("assist lock").remove(&chat_id);
    }
}

impl ChatService {
    /// The articles for the chat's analyst, best first. Errors: `not_found` for a chat
    /// `user` may not see; `forbidden` unless `user` is the chat's analyst.
    pub async fn assist(&self, user: &User, chat_id: ChatId) -> Result<Assist> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::AssignedAnalyst {
            return Err(Error::forbidden(
                "only the chat's analyst gets the bot's suggestions for it",
            ));
        }
        let assist = self.assist_for(&chat, Priority::Asked).await?;
        assist.ok_or_else(|| Error::Internal(anyhow::anyhow!("ranking has stopped")))
    }

    /// Ranks on the description and the newest
    /// [`CONVERSATION_WORDS`](super::conversation::CONVERSATION_WORDS) words the user and
    /// the analyst wrote, with nothing left out: the analyst decides, seeing what was
    /// declined.
    /// `None` when ranked beside the chats and the ranking threads have gone.
    async fn assist_for(&self, chat: &ChatRecord, priority: Priority) -> Result<Option<Assist>> {
        let (through_seq, said, offered, sent) = self
            .conversation(chat.id, |c| {
                (
                    c.through_seq(),
                    c.said_words.joined(),
                    c.offered.clone(),
                    c.sent.clone(),
                )
            })
            .await?;
        let text = format!("{}\n{said}", chat.description);
        let declined = self.core.store.declined_articles(chat.id).await?;
        let request = RankRequest {
            text,
            k: ASSIST_ARTICLES,
            exclude: Vec::new(),
            confident_only: false,
            beside: matches!(priority, Priority::Beside),
        };
        let ranked = match priority {
            Priority::Asked => self.ranking.rank_with(request).await?,
            Priority::Beside => match self.ranking.rank_beside(request).await? {
                Some(ranked) => ranked,
                None => return Ok(None),
            },
        };
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
        Ok(Some(Assist { through_seq, items }))
    }

    /// After the user writes in an active chat: the analyst's socket gets fresh articles.
    /// Runs beside the request, so the user's message is never held up by ranking; a
    /// failure is logged and the analyst keeps the articles they had.
    ///
    /// Coalesced: a chat has at most one run in flight, and messages that arrive during it
    /// ask for one more run, on the conversation as it is then (the newest wins), started
    /// no sooner than [`ASSIST_EVERY`] after the one before. Nothing
    /// runs while the chat's analyst has no socket on it in this process to receive the
    /// result (they read `GET /chats/{id}/assist` when they open it). Runs rank on
    /// [`limits.assist_rankings`](crate::config::Limits::assist_rankings) low-priority
    /// threads, which the bot's own rankings never wait for, and stop at shutdown.
    pub(super) fn push_assist(&self, chat: &ChatRecord) {
        if chat.status != ChatStatus::Active || !self.analyst_watching(chat) {
            return;
        }
        if !self.assist_runs.request(chat.id) {
            return;
        }
        let chats = self.clone();
        let chat_id = chat.id;
        self.ranking.background.spawn(async move {
            loop {
                let started = tokio::time::Instant::now();
                tokio::select! {
                    biased;
                    () = chats.ranking.background.stopping() => break,
                    () = chats.assist_once(chat_id) => {}
                }
                if !chats.assist_runs.next_run(chat_id) {
                    return;
                }
                // Messages until then are folded into the next run.
                tokio::select! {
                    biased;
                    () = chats.ranking.background.stopping() => break,
                    () = tokio::time::sleep_until(started + ASSIST_EVERY) => {}
                }
            }
            chats.assist_runs.forget(chat_id);
        });
    }

    /// The chat's user (`user`) wrote through another instance: when the chat's analyst
    /// has a socket on it here, they get fresh articles as [`push_assist`](Self::push_assist)
    /// gives them for a message written here. Reads the chat only when someone else
    /// watches it here.
    pub(crate) async fn push_assist_relayed(
        &self,
        chat_id: ChatId,
        user: Option<UserId>,
    ) -> Result<()> {
        if !self.core.liveness.has_feed_besides(chat_id, user) {
            return Ok(());
        }
        if let Some(chat) = self.core.store.chat(chat_id).await? {
            self.push_assist(&chat);
        }
        Ok(())
    }

    /// True when the chat's analyst has a socket open on it in this process.
    fn analyst_watching(&self, chat: &ChatRecord) -> bool {
        chat.analyst
            .as_ref()
            .is_some_and(|a| self.core.liveness.has_feed(chat.id, a.id))
    }

    /// One assist run: reads the chat as it is now and, while its analyst still watches
    /// it, ranks on a low-priority thread and publishes.
    async fn assist_once(&self, chat_id: ChatId) {
        // Reads and ranking both wait for a low-priority turn: a thousand chats asking at
        // once read the database one run at a time, not a thousand runs at once.
        let Some(_turn) = self.ranking.background.turn().await else {
            return;
        };
        let outcome = async {
            let chat = self.core.store.chat(chat_id).await?;
            let Some(chat) = chat.filter(|c| c.status == ChatStatus::Active) else {
                return Ok(None);
            };
            if !self.analyst_watching(&chat) {
                return Ok(None);
            }
            self.assist_for(&chat, Priority::Beside).await
        }
        .await;
        match outcome {
            Ok(Some(assist)) => self.core.publish(events::assist_frame(chat_id, &assist)),
            Ok(None) => {}
            Err(e) => tracing::warn!(%chat_id, error = %e, "agent assist failed"),
        }
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
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::AssignedAnalyst {
            return Err(Error::forbidden(
                "only the chat's analyst can send it an article",
            ));
        }
        // An article is a message: the sender's message rate applies.
        self.take_message_turn(user, chat_id).await?;
        may_post(party, chat.status).map_err(refused)?;
        let id = ArticleId::parse(article_id).map_err(|_| Error::NotFound("article"))?;
        let title = self
            .core
            .store
            .article(&id)
            .await?
            .ok_or(Error::NotFound("article"))?
            .title;
        let text = format!("Here is an article that should help: \u{201c}{title}\u{201d}");
        let author = author_of(user, party);
        let appended = self
            .core
            .append(
                chat_id,
                &NewEvent {
                    event: ChatEvent::Message {
                        author,
                        text,
                        client_id: None,
                        article: Some(SharedArticle {
                            article_id: id,
                            title,
                        }),
                    },
                    now: self.core.now(),
                },
            )
            .await?;
        self.core.metrics.messages.increment(1);
        if chat.first_response_at.is_none() {
            self.first_response(&chat, appended.event.created_at)
                .await?;
        }
        stored_message(&appended.event)
    }
}

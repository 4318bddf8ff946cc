//! The life of a chat: started with a description (the call is logged at once), helped by
//! the bot, handed off to the queue, ended by either side (accepting is the desk's).

use super::ChatService;
use crate::domain::Millis;
use crate::domain::call::{Call, CallStatus, Resolver};
use crate::domain::channel::CallSource;
use crate::domain::chat::{ChatStatus, ChatView, Party, Transition, may_post};
use crate::domain::event::ChatEvent;
use crate::domain::ids::{ArticleId, ChatId};
use crate::domain::message::{Author, AuthorRole, Message, clean_text, validate_client_id};
use crate::domain::user::User;
use crate::domain::webhook::WebhookEvent;
use crate::engine::core::{call_view, refused, seconds_between};
use crate::error::{Error, ErrorCode, Result};
use crate::events::{self, Frame, message_of};
use crate::knowledge::{Article, Suggestion};
use crate::store::{ChatRecord, EndChat, NewEvent, StoredEvent};
use crate::transcript::transcript_text;

/// What starting a chat returns: the chat, the call it logged, and the bot's first ideas.
pub struct Started {
    pub chat: ChatView,
    pub call: Call,
    pub suggestions: Vec<Suggestion>,
}

/// What the bot does with the user's words while it has the chat.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BotStage {
    /// Searches again on the conversation so far and answers.
    Answers,
    /// Nothing: the words ask for a person, and the chat is about to join the queue.
    HandsOff,
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// `user` as the author of what they post in a chat where they are `party`.
pub(super) fn author_of(user: &User, party: Party) -> Author {
    let role = match party {
        Party::Owner => AuthorRole::User,
        Party::AssignedAnalyst | Party::OtherAnalyst => AuthorRole::Analyst,
    };
    Author {
        role,
        name: user.display_name.clone(),
        id: Some(user.id),
    }
}

impl ChatService {
    /// Logs a call for the description and starts the bot stage.
    pub async fn start_chat(&self, user: &User, description: &str) -> Result<Started> {
        self.start_chat_from(user, description, CallSource::Chat)
            .await
    }

    /// [`start_chat`](Self::start_chat) from an external channel: the call's `source`
    /// names it.
    #[tracing::instrument(skip_all, fields(user = %user.id, %source), err(level = "debug"))]
    pub async fn start_chat_from(
        &self,
        user: &User,
        description: &str,
        source: CallSource,
    ) -> Result<Started> {
        if !user.can_chat() {
            return Err(Error::forbidden(
                "your account does not have the chat-user permission",
            ));
        }
        let description = clean_text(description, self.core.settings.limits.description_max_chars)
            .map_err(|m| Error::invalid("description", m))?;
        if !self.core.settings.chat.allow_when_offline
            && self.core.store.desk_counts().await?.online_analysts == 0
        {
            return Err(Error::conflict(
                ErrorCode::NoAnalystsOnline,
                "no analysts are online right now; please try again later",
            ));
        }
        let now = self.core.now();
        if let Err(wait) = self.limits.chats_started.take(&user.id, now).await? {
            let per_hour = self.core.settings.limits.chats_per_hour;
            return Err(Error::quota_exceeded(
                format!("you have started {per_hour} chats in the last hour; try again later"),
                wait,
            ));
        }
        // Rank first: a failure here must not leave a half-started chat behind.
        let suggestions = self.ranking.rank(description.clone(), Vec::new()).await?;
        let chat = self
            .core
            .store
            .create_chat_from(user.id, &description, source, self.core.now())
            .await?;
        self.core.metrics.chats_started.increment(1);
        self.core
            .happened(
                WebhookEvent::ChatStarted,
                chat.id,
                None,
                || serde_json::json!({"description": chat.description, "user": chat.user}),
            )
            .await;
        let call = call_view(
            &self
                .core
                .store
                .call(chat.call_id)
                .await?
                .ok_or(Error::NotFound("call"))?,
        );
        let greeting = if suggestions.is_empty() {
            format!(
                "Hi {}, I've logged your call {}. I couldn't find an article that matches, \
                 so let's get you an analyst: choose \u{201c}Talk to an analyst\u{201d}.",
                first_name(&user.display_name),
                call.reference
            )
        } else {
            format!(
                "Hi {}, I've logged your call {}. These articles may fix it. Choose \
                 \u{201c}This fixed it\u{201d} if one does, or talk to an analyst at any time.",
                first_name(&user.display_name),
                call.reference
            )
        };
        self.bot_says(chat.id, &greeting).await?;
        self.offer(chat.id, &suggestions).await?;
        Ok(Started {
            chat: self.core.current_view(chat.id).await?,
            call,
            suggestions,
        })
    }

    async fn bot_says(&self, chat_id: ChatId, text: &str) -> Result<StoredEvent> {
        self.core.say(chat_id, &Author::bot(), text).await
    }

    /// Persists the suggestions as an event of the chat.
    async fn offer(&self, chat_id: ChatId, suggestions: &[Suggestion]) -> Result<()> {
        self.core
            .append(
                chat_id,
                &NewEvent {
                    event: ChatEvent::Suggestions {
                        items: suggestions.to_vec(),
                    },
                    now: self.core.now(),
                },
            )
            .await?;
        Ok(())
    }

    /// The user's own chats that have not ended, newest first: what the portal offers to
    /// return to.
    pub async fn chats_in_progress(&self, user: &User) -> Result<Vec<ChatView>> {
        let mut views = Vec::new();
        for chat in self.core.store.open_chats_of_user(user.id).await? {
            views.push(self.core.view(&chat).await?);
        }
        Ok(views)
    }

    /// The chat as it is now (its status, place in the queue, wait), for its user or an
    /// analyst. Errors: `not_found` for a chat `user` may not see.
    pub async fn view(&self, user: &User, chat_id: ChatId) -> Result<ChatView> {
        self.core.chat_for(user, chat_id).await?;
        self.core.current_view(chat_id).await
    }

    /// Every stored event of the chat after `after`, in `seq` order, for its user or an
    /// analyst (what a channel turns into its own messages). Errors: `not_found` for a
    /// chat `user` may not see.
    pub async fn events_after(
        &self,
        user: &User,
        chat_id: ChatId,
        after: i64,
    ) -> Result<Vec<StoredEvent>> {
        self.core.chat_for(user, chat_id).await?;
        Ok(self.core.store.events_after(chat_id, after).await?)
    }

    /// The chat with every message so far.
    pub async fn chat(&self, user: &User, chat_id: ChatId) -> Result<(ChatView, Vec<Message>)> {
        let (chat, _) = self.core.chat_for(user, chat_id).await?;
        let messages = self
            .core
            .store
            .events_after(chat_id, 0)
            .await?
            .iter()
            .filter_map(message_of)
            .collect();
        Ok((self.core.view(&chat).await?, messages))
    }

    /// Posts a message; `true` beside it when a retry repeated an earlier `client_id` (the
    /// first message comes back and nothing is stored). In the bot stage the bot answers
    /// with suggestions re-ranked on the conversation so far. Each sender has a message
    /// rate per chat; past it the answer is `TooManyRequests` with the wait.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, user = %user.id), err(level = "debug"))]
    pub async fn post_message(
        &self,
        user: &User,
        chat_id: ChatId,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<(Message, bool)> {
        self.post(user, chat_id, text, client_id, BotStage::Answers)
            .await
    }

    /// Words from the chat's user that ask for a person ("can I talk to an agent"), as a
    /// channel hears them: stored as said, then, if the bot still has the chat, it joins
    /// the queue (the words come before the queue's note, and the bot does not search on
    /// them). Answers and errors as [`post_message`](Self::post_message) and
    /// [`handoff`](Self::handoff).
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, user = %user.id), err(level = "debug"))]
    pub async fn ask_for_analyst(
        &self,
        user: &User,
        chat_id: ChatId,
        text: &str,
        client_id: Option<&str>,
    ) -> Result<(Message, bool)> {
        let posted = self
            .post(user, chat_id, text, client_id, BotStage::HandsOff)
            .await?;
        // Also after a retry, in case the first try stopped short of the queue.
        match self.handoff(user, chat_id).await {
            Ok(_) => Ok(posted),
            // Out of the bot's hands already (a button or a copy of these words queued it,
            // or an analyst has it): as asked.
            Err(Error::Conflict { .. })
                if self.core.chat_for(user, chat_id).await?.0.status != ChatStatus::Bot =>
            {
                Ok(posted)
            }
            Err(e) => Err(e),
        }
    }

    async fn post(
        &self,
        user: &User,
        chat_id: ChatId,
        text: &str,
        client_id: Option<&str>,
        bot_stage: BotStage,
    ) -> Result<(Message, bool)> {
        self.take_message_turn(user, chat_id).await?;
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if let Err(refusal) = may_post(party, chat.status) {
            // A retry gets its first message back, even if the chat has ended since. (While
            // the chat is open, the append itself recognises a repeated `client_id`.)
            return self
                .first_message(user, chat_id, client_id, refused(refusal))
                .await;
        }
        let text = clean_text(text, self.core.settings.limits.message_max_chars)
            .map_err(|m| Error::invalid("text", m))?;
        if let Some(id) = client_id {
            validate_client_id(id).map_err(|m| Error::invalid("client_id", m))?;
        }
        let author = author_of(user, party);
        let appended = self
            .core
            .append(
                chat_id,
                &NewEvent {
                    event: ChatEvent::Message {
                        author,
                        text,
                        client_id: client_id.map(str::to_owned),
                        article: None,
                    },
                    now: self.core.now(),
                },
            )
            .await;
        let appended = match appended {
            // The chat ended just now: a retry still gets its first message back.
            Err(ended @ Error::Conflict { .. }) => {
                return self.first_message(user, chat_id, client_id, ended).await;
            }
            appended => appended?,
        };
        if appended.duplicate {
            return Ok((stored_message(&appended.event)?, true));
        }
        self.core.metrics.messages.increment(1);
        if party == Party::AssignedAnalyst && chat.first_response_at.is_none() {
            self.first_response(&chat, appended.event.created_at)
                .await?;
        }
        if chat.status == ChatStatus::Bot && party == Party::Owner && bot_stage == BotStage::Answers
        {
            self.follow_up(&chat).await?;
        }
        if party == Party::Owner {
            self.push_assist(&chat);
        }
        Ok((stored_message(&appended.event)?, false))
    }

    /// Each sender has a message rate per chat; past it, `TooManyRequests` with the wait.
    pub(super) async fn take_message_turn(&self, user: &User, chat_id: ChatId) -> Result<()> {
        self.limits
            .messages
            .take(&(user.id, chat_id), self.core.now())
            .await?
            .map_err(|wait| {
                Error::too_many("you are sending messages too quickly; slow down", wait)
            })
    }

    /// The analyst's first message in an active chat: kept for insights (once; a racing
    /// second message or a transfer does not move it) and timed.
    pub(super) async fn first_response(&self, chat: &ChatRecord, at: Millis) -> Result<()> {
        if self.core.store.record_first_response(chat.id, at).await?
            && let Some(accepted) = chat.accepted_at
        {
            self.core
                .metrics
                .first_response
                .record(seconds_between(accepted, at));
        }
        Ok(())
    }

    /// The message `user` already sent with `client_id` (a retry), else `refusal`.
    async fn first_message(
        &self,
        user: &User,
        chat_id: ChatId,
        client_id: Option<&str>,
        refusal: Error,
    ) -> Result<(Message, bool)> {
        let Some(id) = client_id else {
            return Err(refusal);
        };
        match self
            .core
            .store
            .message_by_client_id(chat_id, user.id, id)
            .await?
        {
            Some(first) => Ok((stored_message(&first)?, true)),
            None => Err(refusal),
        }
    }

    /// Re-ranks on the description and the newest words the user has said (at most
    /// [`CONVERSATION_WORDS`](super::conversation::CONVERSATION_WORDS)), leaving out what
    /// they declined.
    async fn follow_up(&self, chat: &ChatRecord) -> Result<()> {
        let said = self
            .conversation(chat.id, |c| c.user_words.joined())
            .await?;
        let text = format!("{}\n{said}", chat.description);
        let declined = self.core.store.declined_articles(chat.id).await?;
        let suggestions = self.ranking.rank(text, declined).await?;
        let reply = if suggestions.is_empty() {
            "I couldn't find anything more that matches. Choose \u{201c}Talk to an analyst\u{201d} \
             and someone will help you."
        } else {
            "Thanks, here is what I found with that:"
        };
        self.bot_says(chat.id, reply).await?;
        self.offer(chat.id, &suggestions).await
    }

    /// "This fixed it": the bot resolves the call and the chat ends.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id, article_id = %article_id), err(level = "debug"))]
    pub async fn accept_suggestion(
        &self,
        user: &User,
        chat_id: ChatId,
        article_id: &ArticleId,
    ) -> Result<Call> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::Owner {
            return Err(Error::forbidden("only the user who asked can accept a fix"));
        }
        match chat.status {
            ChatStatus::Bot | ChatStatus::Queued => {}
            ChatStatus::Active => {
                return Err(Error::conflict(
                    ErrorCode::AlreadyActive,
                    "an analyst is already helping you in this chat",
                ));
            }
            ChatStatus::Ended => return Err(refused(Transition::End.refusal(chat.status))),
        }
        let Some(title) = self.offered_title(chat_id, article_id).await? else {
            return Err(Error::NotFound("suggestion"));
        };
        self.bot_says(
            chat_id,
            &format!("Great, I'm glad \u{201c}{title}\u{201d} fixed it. I've resolved your call."),
        )
        .await?;
        let call = self
            .finish(
                &chat,
                &[ChatStatus::Bot, ChatStatus::Queued],
                AuthorRole::Bot,
                Some(article_id),
                None,
            )
            .await?;
        self.core.metrics.bot_resolutions.increment(1);
        Ok(call)
    }

    /// The user asks to read an article the bot offered or an analyst sent in the chat
    /// itself (a channel that cannot open chatdesk's article page): the bot answers with
    /// the article in full, as Markdown. Errors: `forbidden` unless `user` is the chat's
    /// user; `not_found` for an article not offered or sent in this chat; `conflict`
    /// once the chat has ended; `too_many_requests` past the message rate.
    pub async fn read_suggestion(
        &self,
        user: &User,
        chat_id: ChatId,
        article_id: &ArticleId,
    ) -> Result<Message> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::Owner {
            return Err(Error::forbidden(
                "only the user who asked can read the bot's suggestions",
            ));
        }
        may_post(party, chat.status).map_err(refused)?;
        // Each article posted is a message: the sender's message rate applies.
        self.take_message_turn(user, chat_id).await?;
        let shown = self
            .conversation(chat_id, |c| {
                c.offered.iter().any(|(id, _)| id == article_id.as_str())
                    || c.sent.contains(article_id)
            })
            .await?;
        if !shown {
            return Err(Error::NotFound("suggestion"));
        }
        let stored = self
            .core
            .store
            .article(article_id)
            .await?
            .ok_or(Error::NotFound("article"))?;
        let article = Article::parse(article_id.as_str(), article_id.as_str(), &stored.source)
            .map_err(|e| Error::internal("reading a stored article", e))?;
        let text = format!("**{}**\n\n{}", article.title, article.body.trim());
        stored_message(&self.bot_says(chat_id, &text).await?)
    }

    /// "Not helpful": the article is not offered again in this chat.
    pub async fn decline_suggestion(
        &self,
        user: &User,
        chat_id: ChatId,
        article_id: &ArticleId,
    ) -> Result<()> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::Owner {
            return Err(Error::forbidden(
                "only the user who asked can decline a fix",
            ));
        }
        if chat.status == ChatStatus::Ended {
            return Err(refused(Transition::End.refusal(chat.status)));
        }
        if self.offered_title(chat_id, article_id).await?.is_none() {
            return Err(Error::NotFound("suggestion"));
        }
        Ok(self.core.store.decline_article(chat_id, article_id).await?)
    }

    /// The title of `article_id` when the bot has offered it in the chat.
    async fn offered_title(
        &self,
        chat_id: ChatId,
        article_id: &ArticleId,
    ) -> Result<Option<String>> {
        self.conversation(chat_id, |c| {
            c.offered
                .iter()
                .find(|(id, _)| id == article_id.as_str())
                .map(|(_, title)| title.clone())
        })
        .await
    }

    /// The user declines the bot's help: the chat joins the queue.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id), err(level = "debug"))]
    pub async fn handoff(&self, user: &User, chat_id: ChatId) -> Result<ChatView> {
        let (_, party) = self.core.chat_for(user, chat_id).await?;
        if party != Party::Owner {
            return Err(Error::forbidden(
                "only the user who asked can request an analyst",
            ));
        }
        self.core
            .store
            .transition(chat_id, Transition::Handoff, self.core.now())
            .await?
            .map_err(|s| refused(Transition::Handoff.refusal(s)))?;
        self.core.metrics.handoffs.increment(1);
        self.core
            .happened(WebhookEvent::ChatQueued, chat_id, None, || {
                serde_json::json!({})
            })
            .await;
        let availability = self.core.availability().await?;
        let note = if availability.online_analysts == 0 {
            "You're in the queue. No analysts are online right now; your call stays logged \
             and an analyst will pick it up."
        } else {
            "You're in the queue for an analyst. You'll see your place update here."
        };
        self.core.say(chat_id, &Author::system(), note).await?;
        self.core.announce_desk().await?;
        self.core.current_view(chat_id).await
    }

    /// Either side ends the chat; the call keeps the transcript.
    #[tracing::instrument(skip_all, fields(chat_id = %chat_id), err(level = "debug"))]
    pub async fn end_chat(&self, user: &User, chat_id: ChatId) -> Result<Call> {
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        let role = match party {
            Party::Owner => AuthorRole::User,
            Party::AssignedAnalyst => AuthorRole::Analyst,
            Party::OtherAnalyst => {
                return Err(Error::forbidden(
                    "only the chat's user or its analyst can end it",
                ));
            }
        };
        self.finish(&chat, Transition::End.allowed_from(), role, None, None)
            .await
    }

    /// Ends the chat from one of the states `from`. With `accepted`, the user's "This
    /// fixed it" on that article ends it and the bot resolves the call. A `note` is a
    /// system message stored just before the end, only when this ending wins.
    pub(super) async fn finish(
        &self,
        chat: &ChatRecord,
        from: &[ChatStatus],
        ended_by: AuthorRole,
        accepted: Option<&ArticleId>,
        note: Option<&str>,
    ) -> Result<Call> {
        let now = self.core.now();
        let note = note.map(|text| ChatEvent::Message {
            author: Author::system(),
            text: text.to_owned(),
            client_id: None,
            article: None,
        });
        let ending = self
            .core
            .store
            .begin_ending(&EndChat {
                chat_id: chat.id,
                from,
                ended_by,
                resolved_by: accepted.map(|_| Resolver::Bot),
                accepted_article: accepted,
                note: note.as_ref(),
                now,
            })
            .await?
            .map_err(|s| refused(Transition::End.refusal(s)))?;
        let transcript = transcript_text(ending.chat(), ending.history(), ended_by, now);
        let call = call_view(ending.call());
        let ended = ending
            .commit(transcript, ChatEvent::Ended { call, ended_by })
            .await?;
        if let Some(accepted) = ended.chat.accepted_at {
            self.core
                .metrics
                .handle
                .record(seconds_between(accepted, now));
        }
        self.conversations.forget(chat.id);
        if let Some(note) = &ended.note {
            self.core.publish(Frame::of_event(note));
        }
        self.core.publish(Frame::of_event(&ended.event));
        let call = call_view(&ended.call);
        self.core
            .happened(
                WebhookEvent::ChatEnded,
                chat.id,
                Some(ended.event.seq),
                || serde_json::json!({"call": call, "ended_by": ended_by}),
            )
            .await;
        // Resolved by this ending (the bot's fix); an analyst's resolution was told when
        // it was made.
        if accepted.is_some() && call.status == CallStatus::Resolved {
            self.core
                .happened(
                    WebhookEvent::CallResolved,
                    chat.id,
                    None,
                    || serde_json::json!({"call": call}),
                )
                .await;
        }
        let view = self.core.view(&ended.chat).await?;
        self.core.publish(events::status_frame(&view));
        if matches!(chat.status, ChatStatus::Queued | ChatStatus::Active) {
            self.core.announce_desk().await?;
        }
        Ok(call_view(&ended.call))
    }

    /// Shows the other side that someone is typing. Not stored.
    pub async fn typing(&self, user: &User, chat_id: ChatId, typing: bool) -> Result<()> {
        if let Err(wait) = self.limits.typing.take(&user.id, self.core.now()) {
            return Err(Error::too_many(
                "typing frames are coming too fast; they are not shown",
                wait,
            ));
        }
        let (chat, party) = self.core.chat_for(user, chat_id).await?;
        may_post(party, chat.status).map_err(refused)?;
        let role = author_of(user, party).role;
        let typer = typing.then(|| (role, user.display_name.clone()));
        self.core.liveness.typing(chat_id, user.id, typer);
        self.core.publish(events::typing_frame(
            chat_id,
            role,
            &user.display_name,
            typing,
        ));
        Ok(())
    }
}

/// A message just stored or found, as clients see it.
pub(super) fn stored_message(e: &StoredEvent) -> Result<Message> {
    message_of(e).ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "event {} of chat {} is a {}, not a message",
            e.seq,
            e.chat_id,
            e.kind()
        ))
    })
}

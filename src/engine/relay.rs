//! What other instances did, brought to this one's sockets (contract, "Additions:
//! several instances on one PostgreSQL"). Each instance hears every hint
//! ([`crate::bus::ClusterBus`]) and turns those of the others into frames for its own
//! subscribers only: it reads the stored events a hint names, forwards frames that are
//! stored nowhere, and works out the desk for itself.
//!
//! Nothing here is trusted to arrive. A tick compares the last `seq` of every chat with a
//! socket here against what was sent to them, and sends what was stored before the last
//! tick and is still not sent (a lost hint; what is newer may have its hint on the way);
//! after the listening connection comes back, every such chat is caught up at once, and
//! its status and the desk are sent again too. A status hint sends the chat's status as it
//! is when the hint arrives. A user's message relayed to a chat whose analyst watches here
//! starts agent assist here, where it is shown. A hint that articles changed starts a
//! rebuild of the knowledge index.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::chat::WINDOW_HEARTBEAT;
use super::core::Core;
use super::{ChatService, Engine, KnowledgeService};
use crate::bus::{ClusterBus, EventBus, Hint, Topic};
use crate::domain::chat::ChatStatus;
use crate::domain::event::ChatEvent;
use crate::domain::ids::ChatId;
use crate::domain::message::AuthorRole;
use crate::error::Result;
use crate::events::{self, Frame};
use crate::store::hints::{Heard, Listener};

/// Chats whose events are read at the same time after a batch of hints: one chat's read
/// need not wait for another's.
const EVENT_READS: usize = 16;

/// Hints taken from the listener before they are acted on together (a burst of desk
/// changes is worked out once).
const BATCH: usize = 256;

impl Engine {
    /// Relays what other instances announce on `bus` to this process's sockets, from
    /// `listener`, until the engine's background work stops.
    pub fn start_relay(&self, bus: Arc<ClusterBus>, listener: Listener) {
        let (tx, rx) = mpsc::channel(4 * BATCH);
        let stop = self.core.timers.clone();
        // The listener runs in its own task, so that nothing cancels a read half done.
        tokio::spawn(hear(listener, tx, stop.clone()));
        let relay = Relay {
            core: self.core.clone(),
            chats: self.chats.clone(),
            behind: Default::default(),
            knowledge: self.knowledge.clone(),
            bus,
        };
        tokio::spawn(relay.run(rx, stop.clone()));
        // Apart from the relay, whose work after a reconnect may take a while: other
        // instances count this one's windows as open only while it beats.
        tokio::spawn(beat(self.chats.clone(), stop));
    }
}

async fn hear(mut listener: Listener, tx: mpsc::Sender<Heard>, stop: CancellationToken) {
    loop {
        let heard = tokio::select! {
            () = stop.cancelled() => return,
            heard = listener.next() => heard,
        };
        if tx.send(heard).await.is_err() {
            return;
        }
    }
}

/// Renews the heartbeat of this instance's open chat windows until the engine stops.
async fn beat(chats: ChatService, stop: CancellationToken) {
    let mut heartbeat = tokio::time::interval(WINDOW_HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = heartbeat.tick() => {
                if let Err(e) = chats.windows_heartbeat().await {
                    tracing::warn!(error = %e, "could not renew the chat windows' heartbeat");
                }
            }
        }
    }
}

struct Relay {
    core: Core,
    chats: ChatService,
    /// The chats whose sockets here were behind the table at the last reconcile tick,
    /// with their last stored `seq` then.
    behind: std::sync::Mutex<HashMap<ChatId, i64>>,
    knowledge: KnowledgeService,
    bus: Arc<ClusterBus>,
}

impl Relay {
    async fn run(self, mut rx: mpsc::Receiver<Heard>, stop: CancellationToken) {
        // How often the chats with a socket here are checked for events no hint
        // announced; never with `cluster.reconcile_ms = 0` (tests of the hints alone).
        let every = self.core.settings.cluster.reconcile_ms;
        let mut tick = (every > 0).then(|| {
            let mut tick = tokio::time::interval(Duration::from_millis(every));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let done = tokio::select! {
                () = stop.cancelled() => return,
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return;
                    }
                    self.act(batch.drain(..)).await
                }
                _ = async { tick.as_mut().expect("checked").tick().await }, if tick.is_some() => {
                    self.reconcile(false).await
                }

            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "relaying another instance's changes failed");
            }
        }
    }

    /// Acts on a batch of what was heard, in order, except that the chats' events are
    /// read after the rest, each chat once and up to [`EVENT_READS`] chats at a time; the
    /// desk is worked out once, last. A hint that fails is logged and the rest still run.
    async fn act(&self, heard: impl Iterator<Item = Heard>) -> Result<()> {
        let mut desk = false;
        // Each chat's highest seq heard, in the order the chats were first heard.
        let mut events: Vec<(ChatId, i64)> = Vec::new();
        let mut statuses: Vec<ChatId> = Vec::new();
        for heard in heard {
            let done = match heard {
                Heard::Reconnected => {
                    tracing::info!("listening for hints again; catching up");
                    desk = true;
                    self.catch_up_all().await
                }
                Heard::Hint(payload) => match self.bus.read(&payload) {
                    Some(Hint::Event { chat, seq }) => {
                        match events.iter_mut().find(|(c, _)| *c == chat) {
                            Some((_, highest)) => *highest = (*highest).max(seq),
                            None => events.push((chat, seq)),
                        }
                        Ok(())
                    }
                    Some(Hint::Desk) => {
                        desk = true;
                        Ok(())
                    }
                    Some(Hint::Status { chat }) => {
                        if !statuses.contains(&chat) {
                            statuses.push(chat);
                        }
                        Ok(())
                    }
                    Some(Hint::Knowledge) => {
                        // A rebuild takes a while: hints keep flowing meanwhile, and
                        // rebuilds run one at a time and skip a generation already built.
                        let knowledge = self.knowledge.clone();
                        tokio::spawn(async move {
                            if let Err(e) = knowledge.refresh_knowledge().await {
                                tracing::warn!(error = %e, "could not rebuild the knowledge index");
                            }
                        });
                        Ok(())
                    }
                    Some(Hint::Frame { frame }) => {
                        match Frame::from_wire(&frame) {
                            Ok(frame) => self.bus.publish_here(frame),
                            Err(e) => tracing::warn!(error = %e, "a relayed frame was skipped"),
                        }
                        Ok(())
                    }
                    None => Ok(()),
                },
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, "relaying a hint failed");
            }
        }
        futures_util::stream::iter(events)
            .for_each_concurrent(EVENT_READS, |(chat, seq)| async move {
                if let Err(e) = self.events(chat, seq).await {
                    tracing::warn!(%chat, error = %e, "relaying a chat's events failed");
                }
            })
            .await;
        for chat in statuses {
            if let Err(e) = self.status(chat, desk).await {
                tracing::warn!(%chat, error = %e, "relaying a chat's status failed");
            }
        }
        if desk {
            self.core.announce_desk_here().await?;
        }
        Ok(())
    }

    /// Sends the chat's status as it is now to its sockets here, if it has any; for a
    /// queued chat, not when the desk is about to be announced (`desk`), which sends every
    /// queued chat its place anyway.
    async fn status(&self, chat: ChatId, desk: bool) -> Result<()> {
        if self.bus.listened(Topic::Chat(chat)).is_none() {
            return Ok(());
        }
        let chat = self.core.chat(chat).await?;
        if desk && chat.status == ChatStatus::Queued {
            return Ok(());
        }
        let view = self.core.view(&chat).await?;
        self.bus.publish_here(events::status_frame(&view));
        Ok(())
    }

    /// Sends the chat's events up to `seq` that its sockets here have not been sent.
    async fn events(&self, chat: ChatId, seq: i64) -> Result<()> {
        match self.bus.listened(Topic::Chat(chat)) {
            Some(sent) if seq > sent => self.send_after(chat, resume_after(sent, seq)).await,
            _ => Ok(()),
        }
    }

    /// Sends the chat's events after `after` to its sockets here; when the user wrote, its
    /// analyst watching here gets agent assist (worked out here, where it is shown).
    async fn send_after(&self, chat: ChatId, after: i64) -> Result<()> {
        let mut user_wrote = None;
        for event in self.core.store.events_after(chat, after).await? {
            if let ChatEvent::Message { author, .. } = &event.event
                && author.role == AuthorRole::User
            {
                user_wrote = Some(author.id);
            }
            self.bus.publish_here(Frame::of_event(&event));
        }
        match user_wrote {
            Some(user) => self.chats.push_assist_relayed(chat, user).await,
            None => Ok(()),
        }
    }

    /// Sends every chat with a socket here the events no hint announced.
    async fn reconcile(&self, at_once: bool) -> Result<()> {
        let sent: HashMap<ChatId, i64> = self
            .bus
            .listeners()
            .into_iter()
            .filter_map(|(topic, seq)| match topic {
                Topic::Chat(chat) => Some((chat, seq)),
                _ => None,
            })
            .collect();
        if sent.is_empty() {
            return Ok(());
        }
        let ids: Vec<ChatId> = sent.keys().copied().collect();
        let behind: HashMap<ChatId, i64> = self
            .core
            .store
            .last_seqs(&ids)
            .await?
            .into_iter()
            .filter(|(chat, last)| *last > sent.get(chat).copied().unwrap_or_default())
            .collect();
        // Under load many chats are behind for the moment their hint takes to arrive:
        // only what was already stored at the last tick and is still not sent is lost.
        let lost: Vec<(ChatId, i64)> = {
            let mut before = self.behind.lock().expect("behind lock");
            let lost = behind
                .iter()
                .filter(|(chat, _)| {
                    at_once || before.get(chat).is_some_and(|was| *was > sent[chat])
                })
                .map(|(chat, last)| (*chat, resume_after(sent[chat], *last)))
                .collect();
            *before = behind;
            lost
        };
        futures_util::stream::iter(lost)
            .for_each_concurrent(EVENT_READS, |(chat, after)| async move {
                if let Err(e) = self.send_after(chat, after).await {
                    tracing::warn!(%chat, error = %e, "catching a chat's sockets up failed");
                }
            })
            .await;
        Ok(())
    }

    /// After hints were lost: every chat with a socket here gets what it missed and its
    /// status as it is now; every account with a socket here is checked again (a sign-out
    /// or a changed role elsewhere), and every analyst's console reads its chats again
    /// (a transfer to them elsewhere).
    async fn catch_up_all(&self) -> Result<()> {
        self.reconcile(true).await?;
        for (topic, _) in self.bus.listeners() {
            match topic {
                Topic::Chat(chat) => self.status(chat, false).await?,
                Topic::Account(user) => self.bus.publish_here(events::account_changed_frame(user)),
                Topic::Analyst(user) => self.bus.publish_here(events::chats_changed_frame(user)),
                Topic::Desk => {}
            }
        }
        Ok(())
    }
}

/// Where to read a chat's events from to bring its sockets here up to `seq`, when `sent`
/// is the highest `seq` sent to them through the bus. With nothing sent yet, a socket
/// opened since and replayed the chat from the table itself: the last event is enough
/// (a feed further behind sees the gap and catches up on its own).
fn resume_after(sent: i64, seq: i64) -> i64 {
    if sent == 0 { seq - 1 } else { sent }
}

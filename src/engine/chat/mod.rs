//! The chat service: a chat from start to end. The bot stage (suggestions, "This fixed
//! it", declines), messages and typing, the handoff to the queue, files, agent assist for
//! the analyst, the chat windows a user has open (a chat whose user left ends), the live
//! feed a socket reads, and the rating after the end.

mod assist;
mod conversation;
mod feed;
mod files;
mod lifecycle;
mod links;
mod ratings;
mod windows;

use std::sync::Arc;

pub use feed::ChatFeed;
pub use files::{Download, Upload};
pub use lifecycle::Started;
pub use links::{FILE_LINK_SECS, FileLinks};
pub use windows::{LEAVING_WINDOW, WINDOW_HEARTBEAT};

use super::core::Core;
use super::ranking::Ranking;
use super::throttle::{Buckets, Limiter};
use crate::config::Limits;
use crate::domain::ids::{ChatId, UserId};
use crate::store::DynStore;
use crate::store::objects::Attachments;

#[derive(Clone)]
pub struct ChatService {
    core: Core,
    ranking: Ranking,
    files: Arc<Attachments>,
    limits: Arc<ChatLimits>,
    /// What each chat has said, for the bot's follow-ups and for assist.
    conversations: Arc<conversation::Conversations>,
    /// Assist rankings asked for and running, per chat.
    assist_runs: Arc<assist::AssistRuns>,
    /// The chat windows each user has open.
    windows: Arc<windows::Windows>,
    /// The key that signs links to files (see `links`), read once from the store.
    link_key: Arc<tokio::sync::OnceCell<Arc<[u8]>>>,
}

/// The chat's rate limits and quotas (see [`super::throttle`]).
struct ChatLimits {
    /// By (sender, chat).
    messages: Limiter<(UserId, ChatId)>,
    /// Kept by each instance even when they share a database: typing frames are not
    /// stored, and a client spreading them over N instances shows at most N times as
    /// many, each still bounded.
    typing: Buckets<UserId>,
    chats_started: Limiter<UserId>,
    /// In bytes.
    upload_bytes: Limiter<UserId>,
}

impl ChatLimits {
    fn new(store: &DynStore, limits: &Limits) -> Self {
        let chats = limits.chats_per_hour.max(1);
        let bytes = limits.upload_bytes_per_day.max(1) as f64;
        let typing = limits.typing_per_sec.max(1);
        Self {
            messages: Limiter::new(
                store,
                "messages",
                f64::from(limits.message_burst),
                f64::from(limits.messages_per_sec.max(1)),
            ),
            typing: Buckets::new(f64::from(typing * 2), f64::from(typing)),
            chats_started: Limiter::new(
                store,
                "chats_started",
                f64::from(chats),
                f64::from(chats) / 3600.0,
            ),
            upload_bytes: Limiter::new(store, "upload_bytes", bytes, bytes / 86_400.0),
        }
    }
}

impl ChatService {
    pub(super) fn new(core: Core, ranking: Ranking, files: Attachments) -> Self {
        Self {
            files: Arc::new(files),
            limits: Arc::new(ChatLimits::new(&core.store, &core.settings.limits)),
            core,
            ranking,
            conversations: Default::default(),
            assist_runs: Default::default(),
            windows: Default::default(),
            link_key: Default::default(),
        }
    }
}

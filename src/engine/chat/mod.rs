//! The chat service: a chat from start to end. The bot stage (suggestions, "This fixed
//! it", declines), messages and typing, the handoff to the queue, files, agent assist for
//! the analyst, the chat windows a user has open (a chat whose user left ends), the live
//! feed a socket reads, and the rating after the end.

mod assist;
mod conversation;
mod feed;
mod files;
mod lifecycle;
mod ratings;
mod windows;

use std::sync::Arc;

pub use feed::ChatFeed;
pub use files::{Download, FileStore, Upload};
pub use lifecycle::Started;
pub use windows::LEAVING_WINDOW;

use super::core::Core;
use super::ranking::Ranking;
use super::throttle::Buckets;
use crate::config::Limits;
use crate::domain::ids::{ChatId, UserId};

#[derive(Clone)]
pub struct ChatService {
    core: Core,
    ranking: Ranking,
    files: Arc<FileStore>,
    limits: Arc<ChatLimits>,
    /// What each chat has said, for the bot's follow-ups and for assist.
    conversations: Arc<conversation::Conversations>,
    /// Assist rankings asked for and running, per chat.
    assist_runs: Arc<assist::AssistRuns>,
    /// The chat windows each user has open.
    windows: Arc<windows::Windows>,
}

/// The chat's rate limits and quotas (see [`super::throttle`]).
struct ChatLimits {
    /// By (sender, chat).
    messages: Buckets<(UserId, ChatId)>,
    typing: Buckets<UserId>,
    chats_started: Buckets<UserId>,
    /// In bytes.
    upload_bytes: Buckets<UserId>,
}

impl ChatLimits {
    fn new(limits: &Limits) -> Self {
        let chats = limits.chats_per_hour.max(1);
        let bytes = limits.upload_bytes_per_day.max(1) as f64;
        let typing = limits.typing_per_sec.max(1);
        Self {
            messages: Buckets::new(
                f64::from(limits.message_burst),
                f64::from(limits.messages_per_sec.max(1)),
            ),
            typing: Buckets::new(f64::from(typing * 2), f64::from(typing)),
            chats_started: Buckets::new(f64::from(chats), f64::from(chats) / 3600.0),
            upload_bytes: Buckets::new(bytes, bytes / 86_400.0),
        }
    }
}

impl ChatService {
    pub(super) fn new(core: Core, ranking: Ranking) -> Self {
        Self {
            files: Arc::new(FileStore::new(core.settings.data_dir.join("attachments"))),
            limits: Arc::new(ChatLimits::new(&core.settings.limits)),
            core,
            ranking,
            conversations: Default::default(),
            assist_runs: Default::default(),
            windows: Default::default(),
        }
    }
}

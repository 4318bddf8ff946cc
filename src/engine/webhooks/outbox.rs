//! What the chat services tell webhooks: each event, written as one delivery per endpoint
//! that wants it, to the database's outbox. With no endpoint for an event the cost is one
//! read of an in-memory list; the list is read again from the database every few
//! seconds (endpoints another instance registered) and at once after a change here.
//!
//! Deliveries are written in groups: one task stores whatever has gathered as one
//! statement (as the SQLite store does with chat events), and each event's caller waits
//! until its own are stored. One write per event cost a busy desk two thirds of its
//! messages a second on SQLite (see the README's load figures).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::domain::call;
use crate::domain::channel::CallSource;
use crate::domain::ids::{CallId, ChatId};
use crate::domain::webhook::WebhookEvent;
use crate::domain::{Millis, Timestamp};
use crate::store::{DynStore, NewWebhookDelivery, WebhookRecord};

/// Chats whose call and channel are kept in memory, for their messages' payloads.
const CHATS_KEPT: usize = 4096;

/// Deliveries written by one statement at most.
const WRITE_BATCH: usize = 256;

/// The endpoints and the outbox they are fed through.
pub struct Outbox {
    endpoints: RwLock<Arc<Vec<WebhookRecord>>>,
    chats: Mutex<lru::LruCache<ChatId, (CallId, CallSource)>>,
    /// Woken when deliveries were stored here, so that they go out at once.
    pub(super) stored: Notify,
    /// To the task that writes deliveries in groups (started with the first).
    writes: mpsc::UnboundedSender<Pending>,
    unstarted: Mutex<Option<(DynStore, mpsc::UnboundedReceiver<Pending>)>>,
}

/// One event's deliveries, waiting to be written.
struct Pending {
    rows: Vec<NewWebhookDelivery>,
    /// The outcome: `None` when stored, else what went wrong.
    done: oneshot::Sender<Option<String>>,
}

/// The chat an event is about, as its payload names it.
#[derive(Clone, Copy, Debug)]
pub struct About {
    pub chat_id: ChatId,
    pub call_id: CallId,
    pub source: CallSource,
}

impl Outbox {
    /// An outbox writing to `store`.
    pub fn new(store: DynStore) -> Self {
        let (writes, pending) = mpsc::unbounded_channel();
        Self {
            endpoints: RwLock::new(Arc::new(Vec::new())),
            chats: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CHATS_KEPT).expect("non-zero"),
            )),
            stored: Notify::new(),
            writes,
            unstarted: Mutex::new(Some((store, pending))),
        }
    }

    /// Whether any enabled endpoint wants `event`.
    pub fn wants(&self, event: WebhookEvent) -> bool {
        self.endpoints
            .read()
            .expect("endpoints lock")
            .iter()
            .any(|e| e.disabled_at.is_none() && e.events.contains(&event))
    }

    /// Whether any endpoint is enabled at all (the sender idles otherwise).
    pub fn any(&self) -> bool {
        self.endpoints
            .read()
            .expect("endpoints lock")
            .iter()
            .any(|e| e.disabled_at.is_none())
    }

    /// The endpoints as last read.
    pub fn endpoints(&self) -> Arc<Vec<WebhookRecord>> {
        self.endpoints.read().expect("endpoints lock").clone()
    }

    /// Reads the endpoints again.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn refresh(&self, store: &DynStore) -> crate::store::Result<()> {
        let endpoints = store.webhooks().await?;
        *self.endpoints.write().expect("endpoints lock") = Arc::new(endpoints);
        Ok(())
    }

    /// The call and channel of `chat`, from memory or the database.
    pub async fn about(&self, store: &DynStore, chat_id: ChatId) -> crate::store::Result<About> {
        if let Some(&(call_id, source)) = self.chats.lock().expect("chats lock").get(&chat_id) {
            return Ok(About {
                chat_id,
                call_id,
                source,
            });
        }
        let chat = store
            .chat(chat_id)
            .await?
            .ok_or(crate::store::StoreError::NotFound("chat"))?;
        self.chats
            .lock()
            .expect("chats lock")
            .put(chat_id, (chat.call_id, chat.source));
        Ok(About {
            chat_id,
            call_id: chat.call_id,
            source: chat.source,
        })
    }

    /// Stores `event` about a chat for every endpoint that wants it: `{"type",
    /// "timestamp", "data": {"chat_id", "call_id", "call_reference", "seq"?, "channel",
    /// ...fields}}`. Failures are logged, never the caller's: the event itself is stored.
    pub async fn emit(
        &self,
        now: Millis,
        event: WebhookEvent,
        about: About,
        seq: Option<i64>,
        fields: Value,
    ) {
        let endpoints: Vec<_> = self
            .endpoints()
            .iter()
            .filter(|e| e.disabled_at.is_none() && e.events.contains(&event))
            .map(|e| e.id)
            .collect();
        if endpoints.is_empty() {
            return;
        }
        let mut data = Map::new();
        data.insert("chat_id".into(), json!(about.chat_id));
        data.insert("call_id".into(), json!(about.call_id));
        data.insert(
            "call_reference".into(),
            json!(call::reference(about.call_id)),
        );
        if let Some(seq) = seq {
            data.insert("seq".into(), json!(seq));
        }
        data.insert("channel".into(), json!(about.source));
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        let payload = json!({
            "type": event,
            "timestamp": Timestamp(now),
            "data": data,
        })
        .to_string();
        let payload: Arc<str> = payload.into();
        let rows = endpoints
            .iter()
            .map(|&webhook_id| NewWebhookDelivery {
                id: message_id(),
                webhook_id,
                event,
                payload: payload.clone(),
                now,
            })
            .collect();
        self.start_writing();
        let (done, stored) = oneshot::channel();
        let outcome = match self.writes.send(Pending { rows, done }) {
            Ok(()) => stored
                .await
                .unwrap_or(Some("the outbox writer stopped".into())),
            Err(_) => Some("the outbox writer stopped".into()),
        };
        match outcome {
            None => self.stored.notify_one(),
            Some(e) => {
                tracing::error!(%event, chat_id = %about.chat_id, error = e, "a webhook event could not be stored; it will not be sent");
            }
        }
    }

    /// Starts the writing task, the first time.
    fn start_writing(&self) {
        if let Some((store, pending)) = self.unstarted.lock().expect("outbox lock").take() {
            tokio::spawn(write_groups(store, pending));
        }
    }
}

/// Writes whatever deliveries have gathered, as one statement, until the outbox is gone.
async fn write_groups(store: DynStore, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let mut group = Vec::new();
    while pending.recv_many(&mut group, WRITE_BATCH).await > 0 {
        let rows: Vec<NewWebhookDelivery> = group
            .iter_mut()
            .flat_map(|p| std::mem::take(&mut p.rows))
            .collect();
        let outcome = store
            .enqueue_deliveries(&rows)
            .await
            .err()
            .map(|e| e.to_string());
        for p in group.drain(..) {
            let _ = p.done.send(outcome.clone());
        }
    }
}

/// A `webhook-id`: `msg_` and 24 random letters and digits.
fn message_id() -> String {
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("msg_{random}")
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64, as the Standard
/// Webhooks libraries read it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

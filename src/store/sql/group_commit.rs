//! Group commit for SQLite. SQLite has one writer at a time, and every statement is a
//! round trip to the connection's thread; one statement per message caps a busy desk at
//! a few thousand messages a second. So appends queue here, and one task writes
//! whatever has gathered (one event per chat at a time, in arrival order) as a single
//! `INSERT ... SELECT` that claims each chat's next `seq`: one round trip and one commit
//! for the lot. Under light load a batch is a single event, so nothing waits for company.

use std::collections::{HashMap, HashSet, VecDeque};

use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::domain::ids::{ChatId, EventId, UserId};
use crate::domain::message::{AuthorRole, EventKind};
use crate::store::NewEvent;
use crate::store::{Result, StoreError};

/// Events per statement: 9 parameters each, far below SQLite's limit of 32,766.
const MAX_BATCH: usize = 256;

/// `(id, seq)` of the stored event, or `None` when nothing was stored: the chat is missing
/// or has ended, or the event repeats a `client_id` of its author in that chat.
pub type Inserted = Option<(EventId, i64)>;

pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    chat_id: ChatId,
    event: OwnedEvent,
    reply: oneshot::Sender<Result<Inserted>>,
}

struct OwnedEvent {
    kind: EventKind,
    author_role: Option<AuthorRole>,
    author_id: Option<UserId>,
    author_name: Option<String>,
    body: Option<String>,
    client_id: Option<String>,
    payload: Option<String>,
    now: i64,
}

impl GroupCommit {
    /// Starts the writing task on `writer` (the single writing connection).
    pub fn start(writer: AnyPool) -> Self {
        let (queue, rx) = mpsc::channel(4096);
        tokio::spawn(write_batches(writer, rx));
        Self { queue }
    }

    pub async fn append(&self, chat_id: ChatId, e: &NewEvent) -> Result<Inserted> {
        let (reply, answer) = oneshot::channel();
        let columns = e.event.stored();
        let event = OwnedEvent {
            kind: columns.kind,
            author_role: columns.author.map(|a| a.role),
            author_id: columns.author.and_then(|a| a.id),
            author_name: columns.author.map(|a| a.name.clone()),
            body: columns.body.map(str::to_owned),
            client_id: columns.client_id.map(str::to_owned),
            payload: columns.payload,
            now: e.now,
        };
        let stopped = || StoreError::Failed("the database writer has stopped".into());
        self.queue
            .send(Pending {
                chat_id,
                event,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(writer: AnyPool, mut queue: mpsc::Receiver<Pending>) {
    // Later events of chats already in the batch being gathered wait here, in order.
    let mut held: VecDeque<Pending> = VecDeque::new();
    loop {
        let mut batch = Vec::new();
        let mut seen = HashSet::new();
        let mut later = VecDeque::new();
        for p in held.drain(..) {
            // A caller that has gone was told nothing: its event is not written.
            if p.reply.is_closed() {
                continue;
            }
            if batch.len() < MAX_BATCH && seen.insert(p.chat_id) {
                batch.push(p);
            } else {
                seen.insert(p.chat_id);
                later.push_back(p);
            }
        }
        held = later;
        if batch.is_empty() {
            let Some(p) = queue.recv().await else { return };
            seen.insert(p.chat_id);
            batch.push(p);
        }
        // Held events are bounded too, so a single busy chat cannot drain the channel
        // (and its back-pressure) into memory.
        while batch.len() < MAX_BATCH && held.len() < MAX_BATCH {
            let Ok(p) = queue.try_recv() else { break };
            if p.reply.is_closed() {
                continue;
            }
            if seen.insert(p.chat_id) {
                batch.push(p);
            } else {
                held.push_back(p);
            }
        }
        if write(&writer, batch).await == Outcome::Unavailable {
            // Everything waiting would wait out the busy timeout in turn: tell them all now.
            while let Ok(p) = queue.try_recv() {
                held.push_back(p);
            }
            for p in held.drain(..) {
                let _ = p.reply.send(Err(unavailable()));
            }
        }
    }
}

#[derive(PartialEq, Eq)]
enum Outcome {
    Written,
    Unavailable,
}

async fn write(writer: &AnyPool, mut batch: Vec<Pending>) -> Outcome {
    match insert(writer, &batch).await {
        Ok(stored) => {
            for p in batch {
                let _ = p.reply.send(Ok(stored.get(&p.chat_id).copied()));
            }
            Outcome::Written
        }
        Err(StoreError::Unavailable(_)) => {
            for p in batch {
                let _ = p.reply.send(Err(unavailable()));
            }
            Outcome::Unavailable
        }
        Err(e) if batch.len() == 1 => {
            let p = batch.pop().expect("one event");
            let _ = p.reply.send(Err(e));
            Outcome::Written
        }
        // One bad event (one that breaks a constraint, say) fails the statement: write
        // them singly, so that only that one gets the error.
        Err(_) => {
            for p in batch {
                let result = insert(writer, std::slice::from_ref(&p)).await;
                let _ = p
                    .reply
                    .send(result.map(|stored| stored.get(&p.chat_id).copied()));
            }
            Outcome::Written
        }
    }
}

/// The database is out of reach (busy past its timeout, or gone).
fn unavailable() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolTimedOut)
}

async fn insert(writer: &AnyPool, batch: &[Pending]) -> Result<HashMap<ChatId, (EventId, i64)>> {
    let sql = statement(batch.len());
    let mut query = sqlx::query(&sql);
    for p in batch {
        let e = &p.event;
        query = query
            .bind(p.chat_id)
            .bind(e.kind)
            .bind(e.author_role)
            .bind(e.author_id)
            .bind(e.author_name.as_deref())
            .bind(e.body.as_deref())
            .bind(e.client_id.as_deref())
            .bind(e.payload.as_deref())
            .bind(e.now);
    }
    let rows = query.fetch_all(writer).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("chat_id")?,
                (row.try_get("id")?, row.try_get("seq")?),
            ))
        })
        .collect::<sqlx::Result<_>>()
        .map_err(StoreError::from)
}

/// `INSERT ... SELECT` of `n` events, each given the next `seq` of its (open) chat; the
/// `chat_events_advance_seq` trigger moves the chats' `last_seq` along. An event that
/// repeats its author's `client_id` in the chat is left out (with one writer, nothing can
/// slip in between the check and the insert), so a retry never fails the batch.
///
/// Parameters are anonymous (`?`), bound in order: sqlx binds by asking SQLite each
/// parameter's name, and SQLite finds a numbered one (`$N`) by a scan of all the names,
/// so a full batch of 2,304 numbered parameters took millions of steps to bind (10% of the
/// server's time under load).
fn statement(n: usize) -> String {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let rows = vec![ROW; n].join(", ");
    format!(
        "WITH incoming (chat_id, kind, author_role, author_id, author_name, body, client_id, \
         payload, created_at) AS (VALUES {rows}) \
         INSERT INTO chat_events (chat_id, seq, kind, author_role, author_id, author_name, \
         body, client_id, payload, created_at) \
         SELECT c.id, c.last_seq + 1, i.kind, i.author_role, i.author_id, i.author_name, \
         i.body, i.client_id, i.payload, i.created_at \
         FROM incoming i JOIN chats c ON c.id = i.chat_id WHERE c.status <> 'ended' \
         AND NOT EXISTS (SELECT 1 FROM chat_events e WHERE e.chat_id = i.chat_id \
         AND e.author_id = i.author_id AND e.client_id = i.client_id) \
         RETURNING id, chat_id, seq"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_nine_parameters_per_event() {
        let sql = statement(2);
        assert!(sql.contains("VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?))"));
        assert_eq!(sql.matches('?').count(), 18);
        assert!(sql.ends_with("RETURNING id, chat_id, seq"));
    }
}

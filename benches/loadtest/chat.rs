//! One simulated chat, the whole story: the user starts it (a call is logged and the bot
//! suggests), declines the suggestions, an analyst accepts, both talk over WebSockets,
//! one side ends it. Then the call is read back and checked against what was
//! acknowledged. Talking and ending are separate phases, so that message latency is
//! measured on conversations and not on a thousand chats ending in the same second.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::{Person, Sink, Source, Stream, message_frame};

/// How a chat paces its messages.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Each side answers as soon as the other's message arrives: one message in flight
    /// per chat, as fast as the server goes.
    PingPong,
    /// A message every `every`, sides taking turns, starting after `offset`.
    Every { every: Duration, offset: Duration },
}

pub struct Live {
    pub chat_id: i64,
    pub call_id: i64,
    pub user: Person,
    pub analyst: Person,
    user_ws: Stream,
    analyst_ws: Stream,
}

#[derive(Default)]
pub struct Outcome {
    /// Send to receipt on the other side's socket, in microseconds, with when it was
    /// received.
    pub latencies_us: Vec<(Instant, u32)>,
    /// Messages the server acknowledged to their sender: seq -> text.
    pub acked: BTreeMap<i64, String>,
    pub sent: usize,
    pub delivered: usize,
    pub errors: Vec<String>,
}

const DESCRIPTIONS: &[&str] = &[
    "my vpn keeps disconnecting every few minutes",
    "I forgot my password and I'm locked out of my account",
    "the printer on floor 3 shows offline",
    "Outlook will not sync my mailbox since this morning",
    "my laptop is very slow after the latest update",
    "I cannot connect to the office wifi",
    "Teams calls drop and the audio is choppy",
    "I need access to the shared finance drive",
];

/// Starts the chat, hands it off and has `analyst` accept it, with both sockets open.
pub async fn set_up(n: usize, user: Person, analyst: Person) -> anyhow::Result<Live> {
    let description = DESCRIPTIONS[n % DESCRIPTIONS.len()];
    let started = user
        .post("/chats", json!({"description": description}))
        .await?;
    let chat_id = started["chat"]["id"].as_i64().context("no chat id")?;
    let call_id = started["call"]["id"].as_i64().context("no call id")?;
    let user_ws = user.chat_socket(chat_id, 0).await?;
    user.post(&format!("/chats/{chat_id}/handoff"), json!({}))
        .await?;
    analyst
        .post(&format!("/chats/{chat_id}/accept"), json!({}))
        .await?;
    let analyst_ws = analyst.chat_socket(chat_id, 0).await?;
    Ok(Live {
        chat_id,
        call_id,
        user,
        analyst,
        user_ws,
        analyst_ws,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    User,
    Analyst,
}

impl Side {
    fn tag(self) -> &'static str {
        match self {
            Side::User => "u",
            Side::Analyst => "a",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::User => Side::Analyst,
            Side::Analyst => Side::User,
        }
    }
}

struct Talk {
    chat_id: i64,
    per_side: usize,
    sent_at: HashMap<String, Instant>,
    sent: [usize; 2],
    acked: usize,
    out: Outcome,
}

impl Talk {
    fn index(side: Side) -> usize {
        match side {
            Side::User => 0,
            Side::Analyst => 1,
        }
    }

    fn done(&self) -> bool {
        let total = 2 * self.per_side;
        self.acked == total && self.out.delivered == total
    }

    /// The next message of `side`, if it has any left.
    fn next_message(&mut self, side: Side) -> Option<WsMessage> {
        let i = Self::index(side);
        if self.sent[i] == self.per_side {
            return None;
        }
        self.sent[i] += 1;
        let n = self.sent[i];
        let client_id = format!("{}-{}-{n}", side.tag(), self.chat_id);
        let text = match side {
            Side::User => format!("Still happening, attempt {n} <b>after</b> a restart & a retry"),
            Side::Analyst => format!("Thanks, step {n}: please check the network settings"),
        };
        self.sent_at.insert(client_id.clone(), Instant::now());
        self.out.sent += 1;
        Some(message_frame(&text, &client_id))
    }

    /// Takes in a frame `side` received; true when it was the other side's message.
    fn receive(&mut self, side: Side, frame: &Value) -> bool {
        match frame["type"].as_str() {
            Some("message") => {
                let Some(client_id) = frame["client_id"].as_str() else {
                    return false;
                };
                if client_id.starts_with(side.tag()) {
                    let seq = frame["seq"].as_i64().unwrap_or(-1);
                    let text = frame["text"].as_str().unwrap_or_default().to_owned();
                    self.out.acked.insert(seq, text);
                    self.acked += 1;
                    false
                } else if let Some(at) = self.sent_at.get(client_id) {
                    let us = at.elapsed().as_micros().min(u128::from(u32::MAX));
                    self.out.latencies_us.push((Instant::now(), us as u32));
                    self.out.delivered += 1;
                    true
                } else {
                    false
                }
            }
            Some("error") => {
                self.out
                    .errors
                    .push(format!("chat {}: {frame}", self.chat_id));
                false
            }
            _ => false,
        }
    }
}

fn parse(
    msg: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
) -> anyhow::Result<Option<Value>> {
    match msg {
        Some(Ok(WsMessage::Text(t))) => Ok(Some(serde_json::from_str(&t)?)),
        Some(Ok(WsMessage::Close(c))) => bail!("the server closed the socket: {c:?}"),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(e.into()),
        None => bail!("the socket ended"),
    }
}

async fn send(sink: &mut Sink, message: Option<WsMessage>) -> anyhow::Result<()> {
    if let Some(m) = message {
        sink.send(m).await?;
    }
    Ok(())
}

/// Both sides send `per_side` messages at `pace`, until every one is acknowledged to its
/// sender and delivered to the other side (or `limit` passes).
pub async fn converse(
    live: Live,
    per_side: usize,
    pace: Pace,
    limit: Duration,
) -> (Talked, Outcome) {
    let Live {
        chat_id,
        call_id,
        user,
        analyst,
        user_ws,
        analyst_ws,
    } = live;
    let (mut user_tx, mut user_rx) = user_ws.split();
    let (mut analyst_tx, mut analyst_rx) = analyst_ws.split();
    let mut talk = Talk {
        chat_id,
        per_side,
        sent_at: HashMap::new(),
        sent: [0, 0],
        acked: 0,
        out: Outcome::default(),
    };
    let result = tokio::time::timeout(
        limit,
        talk_until_done(
            &mut talk,
            pace,
            (&mut user_tx, &mut user_rx),
            (&mut analyst_tx, &mut analyst_rx),
        ),
    )
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => talk.out.errors.push(format!("chat {chat_id}: {e:#}")),
        Err(_) => talk.out.errors.push(format!(
            "chat {chat_id}: not done within {limit:?} ({} acked, {} delivered of {})",
            talk.acked,
            talk.out.delivered,
            2 * per_side
        )),
    }
    let talked = Talked {
        chat_id,
        call_id,
        user,
        analyst,
        user_socket: (user_tx, user_rx),
        analyst_socket: (analyst_tx, analyst_rx),
    };
    (talked, talk.out)
}

/// A chat whose conversation is over but which has not ended yet.
pub struct Talked {
    chat_id: i64,
    call_id: i64,
    user: Person,
    analyst: Person,
    user_socket: (Sink, Source),
    analyst_socket: (Sink, Source),
}

/// What is left of a chat once it is over: enough to read its call back.
pub struct Ended {
    pub call_id: i64,
    pub user: Person,
}

/// The user (even chats) or the analyst (odd) ends the chat; both sockets must see it.
pub async fn end(chat: Talked, limit: Duration) -> (Ended, Option<String>) {
    let Talked {
        chat_id,
        call_id,
        user,
        analyst,
        user_socket: (mut user_tx, mut user_rx),
        analyst_socket: (mut analyst_tx, mut analyst_rx),
    } = chat;
    let result = tokio::time::timeout(limit, async {
        let ender = if chat_id % 2 == 0 { &user } else { &analyst };
        ender
            .post(&format!("/chats/{chat_id}/end"), json!({}))
            .await?;
        wait_for_end(&mut user_rx).await?;
        wait_for_end(&mut analyst_rx).await?;
        anyhow::Ok(())
    })
    .await;
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("chat {chat_id}: ending: {e:#}")),
        Err(_) => Some(format!("chat {chat_id}: not ended within {limit:?}")),
    };
    let _ = user_tx.close().await;
    let _ = analyst_tx.close().await;
    (Ended { call_id, user }, error)
}

async fn talk_until_done(
    talk: &mut Talk,
    pace: Pace,
    (user_tx, user_rx): (&mut Sink, &mut Source),
    (analyst_tx, analyst_rx): (&mut Sink, &mut Source),
) -> anyhow::Result<()> {
    let mut ticker = match pace {
        Pace::PingPong => None,
        Pace::Every { every, offset } => {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            Some(t)
        }
    };
    let mut turn = Side::User;
    if ticker.is_none() {
        send(user_tx, talk.next_message(Side::User)).await?;
    }
    while !talk.done() {
        tokio::select! {
            msg = user_rx.next() => {
                if let Some(frame) = parse(msg)?
                    && talk.receive(Side::User, &frame)
                    && ticker.is_none()
                {
                    send(user_tx, talk.next_message(Side::User)).await?;
                }
            }
            msg = analyst_rx.next() => {
                if let Some(frame) = parse(msg)?
                    && talk.receive(Side::Analyst, &frame)
                    && ticker.is_none()
                {
                    send(analyst_tx, talk.next_message(Side::Analyst)).await?;
                }
            }
            _ = async { ticker.as_mut().expect("paced").tick().await }, if ticker.is_some() => {
                let tx = match turn {
                    Side::User => &mut *user_tx,
                    Side::Analyst => &mut *analyst_tx,
                };
                send(tx, talk.next_message(turn)).await?;
                turn = turn.other();
            }
        }
    }
    Ok(())
}

async fn wait_for_end(rx: &mut Source) -> anyhow::Result<()> {
    loop {
        if let Some(frame) = parse(rx.next().await)?
            && frame["type"] == "ended"
        {
            return Ok(());
        }
    }
}

/// Reads the call back: it must hold exactly the acknowledged messages, in `seq` order,
/// in its transcript and in the final transcript text.
pub async fn verify(chat: &Ended, out: &Outcome) -> anyhow::Result<usize> {
    let call = chat.user.get(&format!("/calls/{}", chat.call_id)).await?;
    let stored: BTreeMap<i64, String> = call["transcript"]
        .as_array()
        .context("no transcript")?
        .iter()
        .filter(|e| {
            e["kind"] == "message"
                && matches!(e["author"]["role"].as_str(), Some("user" | "analyst"))
        })
        .map(|e| {
            (
                e["seq"].as_i64().unwrap_or(-1),
                e["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = out
        .acked
        .keys()
        .filter(|s| !stored.contains_key(s))
        .collect();
    let extra: Vec<_> = stored
        .keys()
        .filter(|s| !out.acked.contains_key(s))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        bail!(
            "call {}: acknowledged seqs missing {missing:?}, unacknowledged stored {extra:?}",
            chat.call_id
        );
    }
    // Transcript entries read "Name (role): text".
    let same = |seq: &i64, text: &String| {
        stored.get(seq).is_some_and(|t| {
            t.strip_suffix(text.as_str())
                .is_some_and(|h| h.ends_with(": "))
        })
    };
    if let Some((seq, _)) = out.acked.iter().find(|(s, t)| !same(s, t)) {
        bail!("call {}: message {seq} differs", chat.call_id);
    }
    let text = call["transcript_text"].as_str().unwrap_or_default();
    if text.is_empty() {
        bail!("call {}: no final transcript", chat.call_id);
    }
    let escaped = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    if let Some(t) = out
        .acked
        .values()
        .find(|t| !text.contains(t.as_str()) && !text.contains(&escaped(t)))
    {
        bail!("call {}: final transcript lacks {t:?}", chat.call_id);
    }
    Ok(stored.len())
}

//! Storage on its own, on SQLite and on PostgreSQL: the parts where concurrent requests
//! meet (seq claims, retried messages, accepting chats, unique names) and the rules that
//! keep data (tombstones, ending a chat). Each test opens a fresh database through
//! `store::connect`, exactly as the service does.

#[path = "../common/pg.rs"]
mod pg;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chatdesk::domain::article::ArticleOrigin;
use chatdesk::domain::call::Resolver;
use chatdesk::domain::chat::{ChatStatus, Transition};
use chatdesk::domain::event::ChatEvent;
use chatdesk::domain::ids::{ArticleId, ChatId};
use chatdesk::domain::insights::{CallHistory, Insights, Outcome};
use chatdesk::domain::message::{Author, AuthorRole, EventKind};
use chatdesk::domain::user::{Role, User, Username};
use chatdesk::store::{
    AcceptOutcome, Constraint, DynStore, EndChat, ImportWhen, NewEvent, NewRating, NewUser,
    StoreError, StoredArticle, TransferOutcome, TransferTo, Upserted,
};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh store and the folder that holds it (SQLite) for as long as the test runs.
async fn open(backend: Backend) -> (DynStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("store.db").display()),
        Backend::Postgres => pg::fresh_pg_database().await,
    };
    let store = chatdesk::store::connect(&url).await.expect("store opens");
    (Arc::new(store), dir)
}

async fn user(store: &DynStore, name: &str, roles: &[Role]) -> User {
    store
        .create_user(
            &NewUser {
                username: Username::parse(name).unwrap(),
                display_name: format!("{name} Test"),
                password_hash: None,
                roles: roles.to_vec(),
            },
            1,
        )
        .await
        .expect("user created")
}

fn author(user: &User, role: AuthorRole) -> Author {
    Author {
        role,
        name: user.display_name.clone(),
        id: Some(user.id),
    }
}

async fn say(
    store: &DynStore,
    chat: ChatId,
    who: &Author,
    text: &str,
    client_id: Option<&str>,
) -> chatdesk::store::Result<chatdesk::store::Appended> {
    store
        .append_event(
            chat,
            &NewEvent {
                event: ChatEvent::Message {
                    author: who.clone(),
                    text: text.to_owned(),
                    client_id: client_id.map(str::to_owned),
                    article: None,
                },
                now: 2,
            },
        )
        .await
}

/// The `ended` event of a chat whose call is now `call`.
fn ended(call: &chatdesk::store::CallRecord) -> ChatEvent {
    ChatEvent::Ended {
        call: chatdesk::engine::call_view(call),
        ended_by: AuthorRole::User,
    }
}

async fn queued_chat(store: &DynStore, owner: &User) -> ChatId {
    let chat = store.create_chat(owner.id, "help", 1).await.unwrap();
    store
        .transition(chat.id, Transition::Handoff, 2)
        .await
        .unwrap()
        .expect("handed off");
    chat.id
}

/// Writers on one chat and on others at once: every append gets its own seq, each chat's
/// seqs run 1, 2, 3... without gaps, and each stored text is at the seq its writer got.
async fn seq_claims_are_gapless_under_concurrent_writers(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let busy = store.create_chat(owner.id, "busy", 1).await.unwrap().id;
    let mut others = Vec::new();
    for i in 0..6 {
        others.push(
            store
                .create_chat(owner.id, &format!("other {i}"), 1)
                .await
                .unwrap()
                .id,
        );
    }
    let who = author(&owner, AuthorRole::User);
    let mut tasks = Vec::new();
    for writer in 0..4 {
        for n in 0..40 {
            let (store, who) = (store.clone(), who.clone());
            let chat = if n % 2 == 0 {
                busy
            } else {
                others[(writer + n) % others.len()]
            };
            tasks.push(tokio::spawn(async move {
                let text = format!("w{writer} n{n}");
                let stored = say(&store, chat, &who, &text, None)
                    .await
                    .expect("appended");
                (chat, stored.event.seq, text)
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    for chat in std::iter::once(busy).chain(others.iter().copied()) {
        let events = store.events_after(chat, 0).await.unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=events.len() as i64).collect::<Vec<_>>(),
            "{backend:?} {chat}"
        );
        let mine: BTreeSet<(i64, String)> = acknowledged
            .iter()
            .filter(|(c, _, _)| *c == chat)
            .map(|(_, seq, text)| (*seq, text.clone()))
            .collect();
        let stored: BTreeSet<(i64, String)> = events
            .iter()
            .map(|e| (e.seq, e.event.text().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            mine, stored,
            "{backend:?}: what was acknowledged is what is stored"
        );
        let chat = store.chat(chat).await.unwrap().unwrap();
        assert_eq!(chat.last_seq, events.len() as i64);
    }
}

/// Retries of one message racing each other store it once; each gets the same event back,
/// and all but one are told it was a repeat. Another author may use the same key.
async fn a_client_id_race_stores_one_message(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let chat = store.create_chat(owner.id, "help", 1).await.unwrap().id;
    let who = author(&owner, AuthorRole::User);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, who) = (store.clone(), who.clone());
        tasks.push(tokio::spawn(async move {
            say(&store, chat, &who, "only once", Some("retry-1"))
                .await
                .expect("answered")
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(
        answers.iter().filter(|a| !a.duplicate).count(),
        1,
        "{backend:?}"
    );
    let first = answers[0].event.id;
    assert!(
        answers
            .iter()
            .all(|a| a.event.id == first && a.event.seq == 1)
    );
    let events = store.events_after(chat, 0).await.unwrap();
    assert_eq!(events.len(), 1, "{backend:?}: stored once");

    let other = user(&store, "bob", &[Role::Analyst]).await;
    let theirs = say(
        &store,
        chat,
        &author(&other, AuthorRole::Analyst),
        "mine",
        Some("retry-1"),
    )
    .await
    .unwrap();
    assert!(!theirs.duplicate, "keys are per author");
    assert_eq!(theirs.event.seq, 2);
    let again = say(&store, chat, &who, "changed text", Some("retry-1"))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(
        again.event.event.text(),
        Some("only once"),
        "the first one comes back"
    );
    assert_eq!(
        store.chat(chat).await.unwrap().unwrap().last_seq,
        2,
        "no seq used up"
    );
}

/// Analysts racing for one chat: exactly one gets it. One analyst racing for several
/// chats stays within capacity.
async fn accept_races_have_one_winner(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let chat = queued_chat(&store, &owner).await;
    let mut analysts = Vec::new();
    for i in 0..8 {
        let a = user(&store, &format!("analyst{i}"), &[Role::Analyst]).await;
        store.set_presence(a.id, true, 3, 1).await.unwrap();
        analysts.push(a);
    }
    let mut tasks = Vec::new();
    for a in &analysts {
        let (store, id) = (store.clone(), a.id);
        tasks.push(tokio::spawn(async move {
            store.accept(chat, id, 3, 3).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            AcceptOutcome::Accepted(c) => winners.push(c.analyst.expect("an analyst").id),
            AcceptOutcome::NotQueued(status) => assert_eq!(status, ChatStatus::Active),
            AcceptOutcome::AtCapacity => panic!("nobody was at capacity"),
            AcceptOutcome::Offline => panic!("everyone was online"),
        }
    }
    assert_eq!(winners.len(), 1, "{backend:?}");
    let stored = store.chat(chat).await.unwrap().unwrap();
    assert_eq!(stored.analyst.map(|a| a.id), Some(winners[0]));

    let busy = &analysts[0];
    let mut chats = Vec::new();
    for _ in 0..5 {
        chats.push(queued_chat(&store, &owner).await);
    }
    let already = i64::from(winners[0] == busy.id);
    let mut tasks = Vec::new();
    for chat in chats {
        let (store, id) = (store.clone(), busy.id);
        tasks.push(tokio::spawn(async move {
            store.accept(chat, id, 2, 4).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            AcceptOutcome::Accepted(_) => accepted += 1,
            AcceptOutcome::AtCapacity => {}
            AcceptOutcome::NotQueued(s) => panic!("{s} chats are not raced for"),
            AcceptOutcome::Offline => panic!("the analyst was online"),
        }
    }
    // Gone offline (a sweeper on another instance, say) after the engine's check: the
    // accept itself refuses and the chat stays queued.
    let late = queued_chat(&store, &owner).await;
    let idle = &analysts[7];
    store.set_presence(idle.id, false, 3, 5).await.unwrap();
    assert!(matches!(
        store.accept(late, idle.id, 3, 6).await.unwrap(),
        AcceptOutcome::Offline
    ));
    let stored = store.chat(late).await.unwrap().unwrap();
    assert_eq!(stored.status, ChatStatus::Queued, "{backend:?}");
    assert_eq!(
        accepted + already,
        2,
        "{backend:?}: capacity 2 holds under a race"
    );
}

/// Two requests for one username: one account, and a clear `username_taken`.
async fn a_username_race_makes_one_account(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_user(
                    &NewUser {
                        username: Username::parse("same").unwrap(),
                        display_name: "Same".into(),
                        password_hash: None,
                        roles: vec![Role::User],
                    },
                    1,
                )
                .await
        }));
    }
    let mut made = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => made += 1,
            Err(StoreError::Conflict(Constraint::UniqueUsername)) => {}
            Err(e) => panic!("{backend:?}: {e}"),
        }
    }
    assert_eq!(made, 1, "{backend:?}");
}

fn article(id: &str, text: &str, origin: ArticleOrigin) -> StoredArticle {
    StoredArticle {
        id: ArticleId::parse(id).unwrap(),
        title: id.to_owned(),
        source: text.to_owned(),
        origin,
        content_hash: format!("hash of {text}"),
        updated_at: 1,
    }
}

/// A deleted article stays deleted when the folder is imported again; an author can bring
/// it back; articles an author edited are not overwritten by the folder.
async fn deleted_articles_stay_deleted(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let files = [
        article("vpn", "v1", ArticleOrigin::File),
        article("printer", "p1", ArticleOrigin::File),
    ];
    let first = store
        .import_articles(&files, ImportWhen::Always)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.added.len(), 2);
    let generation = store.knowledge_generation().await.unwrap();

    let vpn = ArticleId::parse("vpn").unwrap();
    assert!(store.delete_article(&vpn, 5).await.unwrap());
    assert!(
        !store.delete_article(&vpn, 6).await.unwrap(),
        "already deleted"
    );
    assert!(store.knowledge_generation().await.unwrap() > generation);
    let again = store
        .import_articles(&files, ImportWhen::Always)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.kept,
        vec![vpn.clone()],
        "{backend:?}: the tombstone holds"
    );
    assert!(again.added.is_empty());
    assert!(store.article(&vpn).await.unwrap().is_none());
    let ids: Vec<String> = store
        .articles()
        .await
        .unwrap()
        .iter()
        .map(|a| a.id.to_string())
        .collect();
    assert_eq!(ids, ["printer"]);

    let revived = store
        .upsert_article(&article("vpn", "v2", ArticleOrigin::Api))
        .await
        .unwrap();
    assert_eq!(revived, Upserted::Added);
    let edited = [
        article("vpn", "v3 from the folder", ArticleOrigin::File),
        article("printer", "p1", ArticleOrigin::File),
    ];
    let third = store
        .import_articles(&edited, ImportWhen::Always)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        third.kept,
        vec![vpn.clone()],
        "an author's edit wins over the folder"
    );
    assert_eq!(store.article(&vpn).await.unwrap().unwrap().source, "v2");
    let fourth = store
        .import_articles(&edited[..1], ImportWhen::Always)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        fourth.removed,
        vec![ArticleId::parse("printer").unwrap()],
        "a file that went away goes"
    );
}

/// Starting instances import a folder version once: two racing first starts add each
/// article once, and an older version started after a newer one changes nothing.
async fn a_folder_version_is_imported_once(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let old = [article("vpn", "v1", ArticleOrigin::File)];
    let new = [
        article("vpn", "v2", ArticleOrigin::File),
        article("printer", "p1", ArticleOrigin::File),
    ];
    let first = store
        .import_articles(&old, ImportWhen::IfNew)
        .await
        .unwrap();
    assert_eq!(first.unwrap().added.len(), 1);
    let racers = (0..4).map(|_| {
        let (store, new) = (store.clone(), new.clone());
        tokio::spawn(async move { store.import_articles(&new, ImportWhen::IfNew).await })
    });
    let imports: Vec<_> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .map(|r| r.unwrap().expect("no racer fails"))
        .collect();
    assert_eq!(
        imports.iter().filter(|i| i.is_some()).count(),
        1,
        "imported once"
    );
    // The older version restarts during the rolling deploy: the newer articles stay.
    assert!(
        store
            .import_articles(&old, ImportWhen::IfNew)
            .await
            .unwrap()
            .is_none()
    );
    let vpn = ArticleId::parse("vpn").unwrap();
    assert_eq!(store.article(&vpn).await.unwrap().unwrap().source, "v2");
    assert_eq!(store.articles().await.unwrap().len(), 2);
    // `reindex` imports whatever the folder holds.
    let forced = store
        .import_articles(&old, ImportWhen::Always)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(forced.removed, [ArticleId::parse("printer").unwrap()]);
    assert_eq!(store.article(&vpn).await.unwrap().unwrap().source, "v1");
}

/// Ending writes the transcript from exactly the events stored before the end, appends
/// `ended` after them, and nothing can be appended afterwards.
async fn ending_a_chat_is_one_step(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let chat = store.create_chat(owner.id, "help", 1).await.unwrap().id;
    let who = author(&owner, AuthorRole::User);
    say(&store, chat, &who, "one", None).await.unwrap();
    say(&store, chat, &who, "two", Some("c2")).await.unwrap();
    let left = ChatEvent::Message {
        author: Author::system(),
        text: "Ann left and did not come back.".into(),
        client_id: None,
        article: None,
    };
    let abandoned = store
        .begin_ending(&EndChat {
            chat_id: chat,
            from: Transition::End.allowed_from(),
            ended_by: AuthorRole::User,
            resolved_by: Some(Resolver::Bot),
            accepted_article: None,
            note: Some(&left),
            now: 8,
        })
        .await
        .unwrap()
        .expect("ending");
    assert_eq!(abandoned.history().len(), 3, "the note is in the history");
    drop(abandoned);
    assert_eq!(
        store.events_after(chat, 0).await.unwrap().len(),
        2,
        "{backend:?}: an ending dropped before its commit keeps no note"
    );
    assert_eq!(
        store.chat(chat).await.unwrap().unwrap().status,
        ChatStatus::Bot,
        "{backend:?}: an ending dropped before its commit changes nothing"
    );
    let ending = store
        .begin_ending(&EndChat {
            chat_id: chat,
            from: Transition::End.allowed_from(),
            ended_by: AuthorRole::User,
            resolved_by: Some(Resolver::Bot),
            accepted_article: None,
            note: Some(&left),
            now: 9,
        })
        .await
        .unwrap()
        .expect("ended");
    let transcript = format!(
        "{} events for call {}",
        ending.history().len(),
        ending.call().id
    );
    let ended_event = ended(ending.call());
    let ended = ending.commit(transcript, ended_event).await.unwrap();
    assert_eq!(ended.note.as_ref().map(|n| n.seq), Some(3));
    assert_eq!(ended.event.seq, 4);
    assert_eq!(ended.event.kind(), EventKind::Ended);
    let call = store.call(ended.chat.call_id).await.unwrap().unwrap();
    assert_eq!(
        call.transcript.as_deref(),
        Some(format!("3 events for call {}", call.id).as_str())
    );
    assert_eq!(call.resolved_by.as_deref(), Some("bot"));
    match say(&store, chat, &who, "three", None).await {
        Err(StoreError::Conflict(Constraint::ChatNotEnded)) => {}
        other => panic!("{backend:?}: {:?}", other.map(|a| a.event)),
    }
    let retry = say(&store, chat, &who, "two", Some("c2")).await.unwrap();
    assert!(
        retry.duplicate,
        "a retry still gets its first message after the end"
    );
    let again = store
        .begin_ending(&EndChat {
            chat_id: chat,
            from: Transition::End.allowed_from(),
            ended_by: AuthorRole::Analyst,
            resolved_by: None,
            accepted_article: None,
            note: Some(&left),
            now: 10,
        })
        .await
        .unwrap();
    assert_eq!(again.err(), Some(ChatStatus::Ended));
    assert_eq!(
        store.events_after(chat, 0).await.unwrap().len(),
        4,
        "{backend:?}: an ending that lost stores no second note"
    );
}

/// Ends a chat at `now` from any open state, with an empty transcript.
async fn end_at(store: &DynStore, chat: ChatId, now: i64, accepted: Option<&ArticleId>) {
    let ending = store
        .begin_ending(&EndChat {
            chat_id: chat,
            from: Transition::End.allowed_from(),
            ended_by: AuthorRole::User,
            resolved_by: accepted.map(|_| Resolver::Bot),
            accepted_article: accepted,
            note: None,
            now,
        })
        .await
        .unwrap()
        .expect("ended");
    let ended_event = ended(ending.call());
    ending.commit(String::new(), ended_event).await.unwrap();
}

/// A scripted desk with known times: the history keeps every clock, a transfer back to
/// the queue and a second acceptance move none of them, and the figures come out exact.
async fn call_history_keeps_every_clock(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let alice = user(&store, "alice", &[Role::ChatUser]).await;
    let bob = user(&store, "bob", &[Role::Analyst]).await;
    let erin = user(&store, "erin", &[Role::Analyst]).await;
    for analyst in [&bob, &erin] {
        store.set_presence(analyst.id, true, 3, 1).await.unwrap();
    }
    const S: i64 = 1000;

    // The bot fixes the first call.
    let bot = store.create_chat(alice.id, "vpn", 10 * S).await.unwrap();
    end_at(
        &store,
        bot.id,
        20 * S,
        Some(&ArticleId::parse("vpn-setup").unwrap()),
    )
    .await;
    // The user gives up waiting on the second.
    let gave_up = store
        .create_chat(alice.id, "printer", 30 * S)
        .await
        .unwrap();
    store
        .transition(gave_up.id, Transition::Handoff, 40 * S)
        .await
        .unwrap()
        .unwrap();
    end_at(&store, gave_up.id, 130 * S, None).await;
    // Bob takes the third after 30 s and answers in 5, puts it back in the queue; Erin
    // takes it over, and it ends 300 s after Bob first accepted it.
    let helped = store
        .create_chat(alice.id, "laptop", 200 * S)
        .await
        .unwrap();
    store
        .transition(helped.id, Transition::Handoff, 210 * S)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store.accept(helped.id, bob.id, 3, 240 * S).await.unwrap(),
        AcceptOutcome::Accepted(_)
    ));
    assert!(
        store
            .record_first_response(helped.id, 245 * S)
            .await
            .unwrap()
    );
    let system = Author {
        role: AuthorRole::System,
        name: "chatdesk".into(),
        id: None,
    };
    let note = NewEvent {
        event: ChatEvent::Message {
            author: system,
            text: "Bob put the chat back in the queue.".into(),
            client_id: None,
            article: None,
        },
        now: 250 * S,
    };
    assert!(matches!(
        store
            .transfer(helped.id, bob.id, TransferTo::Queue, &note)
            .await
            .unwrap(),
        TransferOutcome::Transferred(_)
    ));
    assert!(matches!(
        store.accept(helped.id, erin.id, 3, 400 * S).await.unwrap(),
        AcceptOutcome::Accepted(_)
    ));
    assert!(
        !store
            .record_first_response(helped.id, 405 * S)
            .await
            .unwrap(),
        "the first response stays the first"
    );
    end_at(&store, helped.id, 540 * S, None).await;
    assert!(
        store
            .resolve_call(helped.call_id, "fixed", Resolver::Analyst("erin"), 600 * S)
            .await
            .unwrap()
    );
    store
        .rate_chat(&NewRating {
            chat_id: helped.id,
            call_id: helped.call_id,
            score: 4,
            comment: None,
            at: 600 * S,
        })
        .await
        .unwrap();
    // One still with the bot, and one logged after the range.
    store.create_chat(alice.id, "mouse", 700 * S).await.unwrap();
    store
        .create_chat(alice.id, "later", 5_000 * S)
        .await
        .unwrap();

    let history = store.call_history(0, 1_000 * S).await.unwrap();
    let outcomes: Vec<Outcome> = history.iter().map(CallHistory::outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::BotResolved,
            Outcome::Abandoned,
            Outcome::AnalystResolved,
            Outcome::Open
        ]
    );
    let third = &history[2];
    assert_eq!(third.queued_at, Some(210 * S));
    assert_eq!(
        third.accepted_at,
        Some(240 * S),
        "a transfer keeps the first acceptance"
    );
    assert_eq!(third.first_response_at, Some(245 * S));
    assert_eq!(third.ended_at, Some(540 * S));
    assert_eq!(third.analyst.as_deref(), Some("erin"));
    assert_eq!(third.rating, Some(4));
    let figures = Insights::of(&history);
    assert_eq!(
        (
            figures.calls,
            figures.bot_resolved,
            figures.handed_off,
            figures.abandoned
        ),
        (4, 1, 2, 1)
    );
    assert_eq!(figures.wait_secs.p50, Some(30.0));
    assert_eq!(figures.first_response_secs.p50, Some(5.0));
    assert_eq!(figures.handle_secs.p50, Some(300.0));
    assert_eq!(figures.rating.mean, Some(4.0));
}

/// The relay's reconcile tick reads many chats' last `seq` at once; unknown ids are left
/// out, and more ids than one statement takes are read in parts.
async fn last_seqs_are_read_for_many_chats(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let who = author(&owner, AuthorRole::User);
    let quiet = store.create_chat(owner.id, "quiet", 1).await.unwrap().id;
    let busy = store.create_chat(owner.id, "busy", 1).await.unwrap().id;
    for text in ["one", "two", "three"] {
        say(&store, busy, &who, text, None).await.unwrap();
    }
    let mut asked: Vec<ChatId> = (1_000_000..1_000_600).map(ChatId).collect();
    asked.extend([quiet, busy]);
    let mut found = store.last_seqs(&asked).await.unwrap();
    found.sort_by_key(|(chat, _)| chat.0);
    assert_eq!(found, [(quiet, 0), (busy, 3)]);
}

/// Two hosts whose clocks disagree queue chats: the queue keeps the order in which they
/// were queued on the database's clock, whatever `queued_at` each host wrote.
async fn the_queue_is_ordered_on_the_databases_clock(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let mut queued = Vec::new();
    // Each host's clock is further behind than the one before it.
    for host_now in [9_000_000_000_000, 5_000_000_000_000, 1_000] {
        let chat = store.create_chat(owner.id, "help", 1).await.unwrap().id;
        store
            .transition(chat, Transition::Handoff, host_now)
            .await
            .unwrap()
            .expect("handed off");
        queued.push(chat);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let order: Vec<ChatId> = store.queue().await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!(order, queued, "{backend:?}: queued first, served first");
}

/// Article vectors are shared by key: what one instance cached the others read, a key
/// cached twice keeps the first, and on PostgreSQL one instance encodes at a time.
async fn vectors_are_shared_by_key(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    store
        .cache_vectors(&[(a.clone(), vec![1, 2, 3, 4])])
        .await
        .unwrap();
    store
        .cache_vectors(&[(a.clone(), vec![9; 4]), (b.clone(), vec![5; 8])])
        .await
        .unwrap();
    let mut found = store
        .cached_vectors(&[a.clone(), b.clone(), "c".repeat(64)])
        .await
        .unwrap();
    found.sort();
    assert_eq!(found, [(a, vec![1, 2, 3, 4]), (b, vec![5; 8])]);

    let first = store.encoding_turn().await.unwrap();
    let second = tokio::time::timeout(Duration::from_millis(300), store.encoding_turn()).await;
    match backend {
        Backend::Postgres => assert!(second.is_err(), "the second waits for the first"),
        Backend::Sqlite => assert!(second.is_ok(), "one instance: no waiting"),
    }
    drop(second);
    first.end().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), store.encoding_turn())
        .await
        .expect("the next turn once the first ended")
        .unwrap();
    next.end().await.unwrap();
}

/// One take of `cost` from `key`'s budget of `tolerance` (seconds).
async fn take(store: &DynStore, key: &str, cost: f64, tolerance: f64) -> Option<Duration> {
    let answers = store
        .take_tokens(&[(key.to_owned(), cost)], tolerance)
        .await
        .unwrap();
    answers[0]
}

/// The GCRA rows behind shared rate limits: a burst, then refusals that take nothing and
/// say how long; budgets are per key; many racing takes grant exactly the burst.
async fn rate_limit_rows_grant_a_burst_and_then_wait(backend: Backend) {
    let (store, _dir) = open(backend).await;
    // 3 tokens at 1 a second: a token costs 1 s within a tolerance of 3 s.
    for _ in 0..3 {
        assert_eq!(take(&store, "k", 1.0, 3.0).await, None);
    }
    let wait = take(&store, "k", 1.0, 3.0).await.expect("refused");
    assert!(
        wait <= Duration::from_secs(1),
        "at most one token's time: {wait:?}"
    );
    assert_eq!(
        take(&store, "other", 1.0, 3.0).await,
        None,
        "keys are apart"
    );
    store.give_back_tokens("k", 1.0).await.unwrap();
    assert_eq!(take(&store, "k", 1.0, 3.0).await, None, "given back");
    let wait = take(&store, "k", 5.0, 3.0).await.expect("never granted");
    assert!(wait > Duration::from_secs(2), "until whole again: {wait:?}");
    assert!(take(&store, "fresh", 5.0, 3.0).await.is_some());
    store.forget_limit("k").await.unwrap();
    assert_eq!(take(&store, "k", 3.0, 3.0).await, None, "afresh");
    assert_eq!(
        store.sweep_limits().await.unwrap(),
        0,
        "no budget is whole yet"
    );

    let racers = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { take(&store, "raced", 1.0, 5.0).await })
    });
    let granted = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_none())
        .count();
    assert_eq!(granted, 5, "the burst, whoever races");

    // Several keys in one statement, each decided on its own.
    let answers = store
        .take_tokens(
            &[
                ("k".into(), 1.0),
                ("many-1".into(), 1.0),
                ("many-2".into(), 4.0),
            ],
            3.0,
        )
        .await
        .unwrap();
    assert!(answers[0].is_some(), "k is spent: {answers:?}");
    assert_eq!(answers[1], None);
    assert!(answers[2].is_some(), "more than the tolerance");

    // A budget whose time has passed is whole: its row is swept and reads as none.
    assert_eq!(take(&store, "brief", 0.05, 1.0).await, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.sweep_limits().await.unwrap() >= 1);
    assert_eq!(take(&store, "brief", 1.0, 1.0).await, None);
}

/// Windows and page loads as other instances see them: counted per instance, live while
/// their heartbeat is recent, and an instance never sees its own.
async fn windows_are_seen_from_other_instances(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let owner = user(&store, "ann", &[Role::User, Role::ChatUser]).await;
    let chat = store.create_chat(owner.id, "vpn", 1).await.unwrap().id;
    let (a, b) = (7_i64, -9_i64);
    let elsewhere = |me: i64, live: i64, opened: i64| {
        let store = store.clone();
        async move {
            store
                .window_elsewhere(chat, me, live, opened)
                .await
                .unwrap()
        }
    };
    assert!(!elsewhere(b, 60_000, 60_000).await, "nothing open yet");
    store.window_changed(chat, a, true).await.unwrap();
    assert!(elsewhere(b, 60_000, 0).await, "open on A, seen from B");
    assert!(
        !elsewhere(a, 60_000, 60_000).await,
        "A does not count its own"
    );
    // Closed before it was opened (the notes raced): the count still comes out right.
    store.window_changed(chat, b, false).await.unwrap();
    store.window_changed(chat, b, true).await.unwrap();
    store.window_changed(chat, a, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(!elsewhere(b, 60_000, 0).await, "closed on A");
    store.window_changed(chat, b, true).await.unwrap();
    assert!(
        elsewhere(b, 60_000, 60_000).await,
        "but opened on A within the minute"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!elsewhere(b, 60_000, 10).await, "not within the last 10 ms");
    assert!(
        !elsewhere(a, 10, 10).await,
        "B's window: its heartbeat is older than 10 ms"
    );
    store.windows_seen(b).await.unwrap();
    assert!(elsewhere(a, 1_000, 0).await, "a fresh heartbeat");

    store.page_loaded(owner.id, a).await.unwrap();
    assert!(
        store
            .page_loaded_elsewhere(owner.id, b, 60_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .page_loaded_elsewhere(owner.id, a, 60_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store.sweep_windows().await.unwrap(),
        0,
        "nothing an hour old"
    );
}

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_databases!(
    seq_claims_are_gapless_under_concurrent_writers,
    a_client_id_race_stores_one_message,
    accept_races_have_one_winner,
    a_username_race_makes_one_account,
    deleted_articles_stay_deleted,
    ending_a_chat_is_one_step,
    call_history_keeps_every_clock,
    last_seqs_are_read_for_many_chats,
    rate_limit_rows_grant_a_burst_and_then_wait,
    a_folder_version_is_imported_once,
    windows_are_seen_from_other_instances,
    the_queue_is_ordered_on_the_databases_clock,
    vectors_are_shared_by_key,
);

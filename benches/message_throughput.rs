//! Message throughput through the engine on SQLite: each message is persisted (its own
//! transaction, with its `seq`) and fanned out to the other side's live feed, which
//! receives it before the next one is sent.
//!
//! Run: `cargo bench --bench message_throughput`

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use chatdesk::config::{Secret, Settings};
use chatdesk::domain::ids::ChatId;
use chatdesk::domain::user::{Role, User};
use chatdesk::engine::clock::SystemClock;
use chatdesk::engine::{ChatFeed, Engine};
use chatdesk::metrics::Metrics;
use chatdesk::startup::build_engine;

const BATCH: u64 = 100;

struct Live {
    engine: Engine,
    user: User,
    chat_id: ChatId,
    analyst_feed: ChatFeed,
}

async fn live_chat(dir: &std::path::Path) -> Live {
    let mut settings = Settings::from_sources(None, Vec::new()).unwrap();
    settings.database_url = Secret(format!("sqlite://{}", dir.join("bench.db").display()));
    settings.data_dir = dir.join("data");
    settings.knowledge_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge").into();
    let engine = build_engine(settings, Arc::new(Metrics::new()), Arc::new(SystemClock))
        .await
        .unwrap();
    let (user, _) = engine
        .accounts
        .create_user("una", None, None, &[Role::User, Role::ChatUser])
        .await
        .unwrap();
    let (analyst, _) = engine
        .accounts
        .create_user("ann", None, None, &[Role::Analyst])
        .await
        .unwrap();
    engine
        .desk
        .set_presence(&analyst, true, Some(3))
        .await
        .unwrap();
    let started = engine
        .chats
        .start_chat(&user, "my vpn keeps disconnecting")
        .await
        .unwrap();
    let chat_id = started.chat.id;
    engine.chats.handoff(&user, chat_id).await.unwrap();
    let chat = engine.desk.accept_chat(&analyst, chat_id).await.unwrap();
    let analyst_feed = engine
        .chats
        .open_feed(&analyst, chat_id, chat.last_seq)
        .await
        .unwrap();
    Live {
        engine,
        user,
        chat_id,
        analyst_feed,
    }
}

fn message_throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live = runtime.block_on(live_chat(dir.path()));
    let live = tokio::sync::Mutex::new(live);

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    group.bench_function("persist_and_fan_out_100_messages_sqlite", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut live = live.lock().await;
            let Live {
                engine,
                user,
                chat_id,
                analyst_feed,
            } = &mut *live;
            for i in 0..BATCH {
                let (message, _) = engine
                    .chats
                    .post_message(user, *chat_id, &format!("message {i}"), None)
                    .await
                    .unwrap();
                // Wait for the analyst's feed to deliver it (skipping status frames).
                loop {
                    let frame = analyst_feed.next().await.unwrap().unwrap();
                    if frame.seq == Some(message.seq) {
                        break;
                    }
                }
            }
        });
    });
    group.finish();
}

criterion_group!(benches, message_throughput);
criterion_main!(benches);

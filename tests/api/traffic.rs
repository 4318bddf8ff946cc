//! `chatdesk traffic`: a fresh database filled with made-up desk traffic is the same for
//! the same seed, reads as a desk (insights and the CSV agree with what was made), and a
//! database that already holds calls is refused.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};
use crate::on_both_databases;
use chatdesk::domain::user::Role;
use chatdesk::traffic::{Plan, fill};

on_both_databases!(traffic_is_reproducible_and_reads_as_a_desk);

const NOW: i64 = 1_780_000_000_000;

fn plan(seed: u64) -> Plan {
    Plan {
        days: 4,
        calls_per_day: 15,
        users: 10,
        analysts: 3,
        seed,
    }
}

/// The traffic's analysts make no requests of their own: their presence must not lapse
/// as the clock moves through the month.
fn no_presence_lapse(settings: &mut chatdesk::config::Settings) {
    settings.chat.presence_timeout_secs = 0;
}

async fn traffic_is_reproducible_and_reads_as_a_desk(backend: Backend) {
    let (first, second) = (
        TestApp::spawn_on_clock(backend, 0, no_presence_lapse).await,
        TestApp::spawn_on_clock(backend, 0, no_presence_lapse).await,
    );
    let made = fill(&first.engine, first.clock(), &plan(7), NOW)
        .await
        .expect("filled");
    fill(&second.engine, second.clock(), &plan(7), NOW)
        .await
        .expect("filled");
    assert!(made.calls > 20, "{made:?}");
    assert_eq!(
        made.calls,
        made.bot_resolved + made.abandoned + made.analyst_helped
    );

    // The same seed, the same calls, outcomes and times.
    let range = "?from=2026-05-01&to=2026-06-30";
    let mut exports = Vec::new();
    for app in [&first, &second] {
        let sam = app.user("sam", &[Role::Supervisor]).await;
        let resp = sam.http_get(&format!("/insights/calls.csv{range}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        exports.push((sam, resp.text().await.unwrap()));
    }
    assert_eq!(exports[0].1, exports[1].1, "one seed, one history");
    let rows = exports[0].1.lines().count() - 1;
    assert_eq!(rows as u64, made.calls);

    // The figures are the ones made.
    let (_, figures) = exports[0].0.get(&format!("/insights{range}")).await;
    assert_eq!(figures["calls"], made.calls, "{figures}");
    assert_eq!(figures["bot_resolved"], made.bot_resolved);
    assert_eq!(figures["abandoned"], made.abandoned);
    assert_eq!(figures["handed_off"], made.abandoned + made.analyst_helped);
    assert!(figures["wait_secs"]["p50"].as_f64().unwrap() > 0.0);
    assert!(figures["rating"]["responses"].as_u64().unwrap() > 0);

    // Real history is never mixed with made-up traffic.
    let again = fill(&first.engine, first.clock(), &plan(8), NOW).await;
    assert!(again.is_err(), "a database with calls is refused");
}

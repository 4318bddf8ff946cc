//! What `/metrics` shows, in Prometheus text format, kept by the `metrics` crate and
//! rendered by its Prometheus exporter.
//!
//! Each [`Metrics`] has its own registry rather than the process-wide recorder, so that
//! several engines in one process (the tests run many) count separately.
//!
//! Latencies are histograms in seconds: `chatdesk_http_request_duration_seconds` by
//! method, route template and status; `chatdesk_ranking_duration_seconds` (one ranking of
//! the knowledge base, query encoding included); `chatdesk_message_delivery_seconds`
//! (from a message's commit to its frame leaving on the other side's socket).
//!
//! Instances that share PostgreSQL count the hints they send each other:
//! `chatdesk_hint_transactions_total` (NOTIFY statements, one transaction each),
//! `chatdesk_hints_total` (hints in them), and `chatdesk_notification_queue_usage`, the
//! share of the database's NOTIFY queue in use (`pg_notification_queue_usage()`, 0 to 1,
//! sampled every 10 s): it grows only while some instance does not read its hints.
//!
//! The desk's times are histograms in seconds too, recorded as they happen (insights
//! derive the same figures from stored history): `chatdesk_queue_wait_seconds` (queued to
//! accepted), `chatdesk_first_response_seconds` (accepted to the analyst's first
//! message) and `chatdesk_handle_seconds` (accepted to end).

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

/// The desk's times, in seconds: 5 s to 2 h.
const DESK_BUCKETS: &[f64] = &[
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// The desk's time histograms: name and help.
const DESK_TIMES: [(&str, &str); 3] = [
    (
        "chatdesk_queue_wait_seconds",
        "A chat's wait in the queue, queued to accepted.",
    ),
    (
        "chatdesk_first_response_seconds",
        "From accepting a chat to the analyst's first message.",
    ),
    (
        "chatdesk_handle_seconds",
        "An analyst's handle time, accepted to end.",
    ),
];

/// Bucket bounds for latencies, in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The hints an instance sends the others, and the database's NOTIFY queue.
#[derive(Clone)]
pub struct HintMetrics {
    /// NOTIFY statements sent (each its own transaction).
    pub transactions: Counter,
    /// Hints sent in them.
    pub hints: Counter,
    /// `pg_notification_queue_usage()`, 0 to 1.
    pub queue_usage: Gauge,
}

pub struct Metrics {
    recorder: PrometheusRecorder,
    pub chats_started: Counter,
    pub messages: Counter,
    pub handoffs: Counter,
    /// Chats an analyst passed to another analyst or back to the queue.
    pub transfers: Counter,
    pub bot_resolutions: Counter,
    pub open_sockets: Gauge,
    /// What this instance tells the others (see `store::hints`).
    pub hints: HintMetrics,
    /// Seconds per ranking.
    pub ranking: Histogram,
    /// Seconds from commit to the other side's socket.
    pub delivery: Histogram,
    /// Seconds from queued to accepted.
    pub queue_wait: Histogram,
    /// Seconds from accepted to the analyst's first message.
    pub first_response: Histogram,
    /// Seconds from accepted to the end of the chat.
    pub handle: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("chatdesk_message_delivery_seconds".into()),
                    LATENCY_BUCKETS,
                )
            })
            .expect("latency buckets are valid");
        for (name, _) in DESK_TIMES {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.into()), DESK_BUCKETS)
                .expect("desk buckets are valid");
        }
        let recorder = builder.build_recorder();
        let counter = |name: &'static str, help: &'static str| {
            recorder.describe_counter(name.into(), None, help.into());
            recorder.register_counter(&Key::from_static_name(name), &METADATA)
        };
        let histogram = |name: &'static str, help: &'static str| {
            recorder.describe_histogram(name.into(), Some(Unit::Seconds), help.into());
            recorder.register_histogram(&Key::from_static_name(name), &METADATA)
        };
        let chats_started = counter(
            "chatdesk_chats_started_total",
            "Chats started (calls logged).",
        );
        let messages = counter("chatdesk_messages_total", "Messages people sent.");
        let handoffs = counter("chatdesk_handoffs_total", "Chats handed off to the queue.");
        let transfers = counter(
            "chatdesk_transfers_total",
            "Chats transferred to another analyst or back to the queue.",
        );
        let bot_resolutions = counter(
            "chatdesk_bot_resolutions_total",
            "Calls the bot resolved (\"this fixed it\").",
        );
        recorder.describe_gauge(
            "chatdesk_open_websockets".into(),
            None,
            "Chat sockets open now.".into(),
        );
        let open_sockets = recorder.register_gauge(
            &Key::from_static_name("chatdesk_open_websockets"),
            &METADATA,
        );
        recorder.describe_gauge(
            "chatdesk_notification_queue_usage".into(),
            None,
            "Share of PostgreSQL's NOTIFY queue in use, 0 to 1.".into(),
        );
        let hints = HintMetrics {
            transactions: counter(
                "chatdesk_hint_transactions_total",
                "NOTIFY statements sent to the other instances (a transaction each).",
            ),
            hints: counter("chatdesk_hints_total", "Hints sent to the other instances."),
            queue_usage: recorder.register_gauge(
                &Key::from_static_name("chatdesk_notification_queue_usage"),
                &METADATA,
            ),
        };
        let ranking = histogram(
            "chatdesk_ranking_duration_seconds",
            "One ranking of the knowledge base, query encoding included.",
        );
        let delivery = histogram(
            "chatdesk_message_delivery_seconds",
            "From a message's commit to its frame leaving on the other side's socket.",
        );
        let [queue_wait, first_response, handle] =
            DESK_TIMES.map(|(name, help)| histogram(name, help));
        Self {
            queue_wait,
            first_response,
            handle,
            recorder,
            chats_started,
            messages,
            handoffs,
            transfers,
            bot_resolutions,
            open_sockets,
            hints,
            ranking,
            delivery,
        }
    }

    /// Counts a request by method (a standard name or `other`), route template (or
    /// `unmatched`) and status, and records its duration. Every label is one the server
    /// chose, so a client cannot add series.
    pub fn record_request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let labels = vec![
            Label::new("method", method),
            Label::new("route", route.to_owned()),
            Label::new("status", status.to_string()),
        ];
        self.recorder
            .register_counter(
                &Key::from_parts("chatdesk_http_requests_total", labels.clone()),
                &METADATA,
            )
            .increment(1);
        self.recorder
            .register_histogram(
                &Key::from_parts("chatdesk_http_request_duration_seconds", labels),
                &METADATA,
            )
            .record(took.as_secs_f64());
    }

    /// Folds recorded latencies into their histograms. Without it they pile up until
    /// the next scrape, so the service calls it every few seconds (see `startup`).
    pub fn upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// Everything, in Prometheus text format.
    pub fn render(&self) -> String {
        self.upkeep();
        self.recorder.handle().render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        let took = Duration::from_millis(3);
        m.record_request("GET", "/api/v1/chats/{id}", 200, took);
        m.record_request("GET", "/api/v1/chats/{id}", 200, took);
        m.messages.increment(1);
        m.ranking.record(0.012);
        m.queue_wait.record(45.0);
        let text = m.render();
        assert!(
            text.contains(
                "chatdesk_http_requests_total{method=\"GET\",route=\"/api/v1/chats/{id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("chatdesk_messages_total 1"), "{text}");
        assert!(
            text.contains("chatdesk_ranking_duration_seconds_bucket{le=\"0.025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("chatdesk_queue_wait_seconds_bucket{le=\"60\"} 1"),
            "desk times have their own buckets: {text}"
        );
        assert!(
            text.contains(
                "chatdesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/chats/{id}\",status=\"200\",le=\"0.005\"} 2"
            ),
            "{text}"
        );
    }

    #[test]
    fn each_engine_counts_for_itself() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.messages.increment(1);
        assert!(b.render().contains("chatdesk_messages_total 0"));
    }
}

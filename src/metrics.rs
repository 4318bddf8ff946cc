//! Counters for `/metrics`, in Prometheus text format. A handful of atomics and one map
//! keyed by route template: enough to watch the service without a metrics stack.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    pub chats_started: AtomicU64,
    pub messages: AtomicU64,
    pub handoffs: AtomicU64,
    pub bot_resolutions: AtomicU64,
    pub open_sockets: AtomicI64,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16) {
        let mut map = self.requests.lock().expect("metrics lock");
        *map.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# TYPE chatdesk_http_requests_total counter\n");
        for ((method, route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "chatdesk_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let counters = [
            ("chatdesk_chats_started_total", &self.chats_started),
            ("chatdesk_messages_total", &self.messages),
            ("chatdesk_handoffs_total", &self.handoffs),
            ("chatdesk_bot_resolutions_total", &self.bot_resolutions),
        ];
        for (name, c) in counters {
            let _ = writeln!(
                out,
                "# TYPE {name} counter\n{name} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# TYPE chatdesk_open_websockets gauge\nchatdesk_open_websockets {}",
            self.open_sockets.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_request("GET", "/api/v1/chats/{id}", 200);
        m.record_request("GET", "/api/v1/chats/{id}", 200);
        Metrics::count(&m.messages);
        let text = m.render();
        assert!(text.contains(
            "chatdesk_http_requests_total{method=\"GET\",route=\"/api/v1/chats/{id}\",status=\"200\"} 2"
        ));
        assert!(text.contains("chatdesk_messages_total 1"));
    }
}

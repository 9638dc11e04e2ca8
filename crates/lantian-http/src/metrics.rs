//! Prometheus metrics in the text exposition format: request counts by route and status, a latency
//! histogram by route, login outcomes, and the store's writer counters. Kept per server (no global
//! recorder), so several servers in one test process do not mix their figures.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub login_success: AtomicU64,
    pub login_failure: AtomicU64,
    pub login_rate_limited: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(route.to_owned()).or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.total += 1;
        }
    }

    pub fn render(&self, store: &lantian_store::WriterStats, statements: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP lantian_sql_statements_total SQL statements run by the store.\n# TYPE lantian_sql_statements_total counter\nlantian_sql_statements_total {statements}"
        );
        out.push_str("# HELP lantian_http_requests_total HTTP requests by route and status.\n# TYPE lantian_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "lantian_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP lantian_http_request_duration_seconds Request latency by route.\n# TYPE lantian_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "lantian_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "lantian_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.total
                );
                let _ = writeln!(
                    out,
                    "lantian_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "lantian_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.total
                );
            }
        }
        let counters = [
            (
                "lantian_logins_total{outcome=\"success\"}",
                self.login_success.load(Ordering::Relaxed),
            ),
            (
                "lantian_logins_total{outcome=\"failure\"}",
                self.login_failure.load(Ordering::Relaxed),
            ),
            (
                "lantian_logins_total{outcome=\"rate_limited\"}",
                self.login_rate_limited.load(Ordering::Relaxed),
            ),
        ];
        out.push_str("# HELP lantian_logins_total Login attempts by outcome.\n# TYPE lantian_logins_total counter\n");
        for (name, v) in counters {
            let _ = writeln!(out, "{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP lantian_store_transactions_total Write transactions committed.\n# TYPE lantian_store_transactions_total counter\nlantian_store_transactions_total {}",
            store.transactions()
        );
        let _ = writeln!(
            out,
            "# HELP lantian_store_write_requests_total Write requests run by the writer.\n# TYPE lantian_store_write_requests_total counter\nlantian_store_write_requests_total {}",
            store.requests()
        );
        let _ = writeln!(
            out,
            "# HELP lantian_store_failed_commits_total Batches whose commit failed.\n# TYPE lantian_store_failed_commits_total counter\nlantian_store_failed_commits_total {}",
            store.failed_commits()
        );
        out
    }
}

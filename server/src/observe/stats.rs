//! `/stats`: the Go server's JSON counters, kept with its field names, but counting only real
//! tools as tool calls and counting tool errors (the Go server's defects 1 and 2). Pure.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Counts {
    pub total_tool_calls: u64,
    pub tool_call_errors: u64,
    pub tool_calls_by_name: BTreeMap<String, u64>,
    pub tool_errors_by_name: BTreeMap<String, u64>,
    pub total_http_requests: u64,
    pub http_requests_by_path: BTreeMap<String, u64>,
    pub http_requests_by_status: BTreeMap<String, u64>,
    pub http_requests_by_method: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub counts: Counts,
    pub uptime_seconds: f64,
    pub start_time_unix: u64,
    /// Open MCP sessions by transport (`streamable_http`, `sse`), filled in by the handler.
    pub open_sessions: BTreeMap<&'static str, u64>,
}

pub struct Stats {
    started: Instant,
    start_time_unix: u64,
    counts: Mutex<Counts>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            start_time_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            counts: Mutex::default(),
        }
    }

    fn with(&self, f: impl FnOnce(&mut Counts)) {
        // Counters stay consistent even if a holder panicked: recover the lock.
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut counts);
    }

    pub fn tool_call(&self, name: &str, failed: bool) {
        self.with(|c| {
            c.total_tool_calls += 1;
            *c.tool_calls_by_name.entry(name.to_owned()).or_default() += 1;
            if failed {
                c.tool_call_errors += 1;
                *c.tool_errors_by_name.entry(name.to_owned()).or_default() += 1;
            }
        });
    }

    pub fn http_request(&self, method: &str, path: &str, status_class: &str) {
        self.with(|c| {
            c.total_http_requests += 1;
            *c.http_requests_by_path.entry(path.to_owned()).or_default() += 1;
            *c.http_requests_by_method
                .entry(method.to_owned())
                .or_default() += 1;
            *c.http_requests_by_status
                .entry(status_class.to_owned())
                .or_default() += 1;
        });
    }

    pub fn snapshot(&self) -> Snapshot {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Snapshot {
            counts,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            start_time_unix: self.start_time_unix,
            open_sessions: BTreeMap::new(),
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tools_errors_and_requests() {
        let s = Stats::new();
        s.tool_call("pods_list", false);
        s.tool_call("pods_get", true);
        s.http_request("POST", "/mcp", "2xx");
        s.http_request("GET", "/sse", "4xx");
        let snap = s.snapshot();
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["total_tool_calls"], 2);
        assert_eq!(json["tool_call_errors"], 1);
        assert_eq!(json["tool_errors_by_name"]["pods_get"], 1);
        assert_eq!(json["http_requests_by_path"]["/mcp"], 1);
        assert_eq!(json["http_requests_by_status"]["4xx"], 1);
        assert_eq!(json["http_requests_by_method"]["GET"], 1);
        assert!(json["uptime_seconds"].as_f64().unwrap() >= 0.0);
        assert!(json["start_time_unix"].as_u64().unwrap() > 1_700_000_000);
    }
}

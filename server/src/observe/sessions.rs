//! The open MCP sessions of each transport, counted when asked. The transports keep their
//! sessions (rmcp's session manager for streamable HTTP, `sse::SseSessions` for legacy SSE);
//! each registers here how to count them, and `/stats`, `/metrics` and the OTLP export ask at
//! the time they report. Pure.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// How many sessions a transport holds now; `None` when it cannot tell at once (its map is
/// being written), and the last count stands.
pub type Count = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// The label value of streamable HTTP sessions (`/mcp`).
pub const STREAMABLE_HTTP: &str = "streamable_http";
/// The label value of legacy SSE sessions (`/sse`).
pub const SSE: &str = "sse";

#[derive(Clone, Default)]
pub struct OpenSessions(Arc<Mutex<BTreeMap<&'static str, (Count, u64)>>>);

impl OpenSessions {
    /// Counts `transport`'s sessions with `count` from now on (replacing an earlier one).
    pub fn register(&self, transport: &'static str, count: Count) {
        let now = count().unwrap_or_default();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(transport, (count, now));
    }

    /// The open sessions of each registered transport, now.
    pub fn now(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter_mut()
            .map(|(transport, (count, last))| {
                if let Some(now) = count() {
                    *last = now;
                }
                (*transport, *last)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_count_that_cannot_be_read_keeps_the_last_one() {
        let sessions = OpenSessions::default();
        let open = Arc::new(AtomicU64::new(3));
        let seen = open.clone();
        sessions.register(
            SSE,
            Arc::new(move || Some(seen.load(Ordering::Relaxed)).filter(|n| *n != u64::MAX)),
        );
        sessions.register(STREAMABLE_HTTP, Arc::new(|| Some(0)));
        assert_eq!(
            sessions.now(),
            BTreeMap::from([(SSE, 3), (STREAMABLE_HTTP, 0)])
        );
        open.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(sessions.now()[SSE], 3);
        open.store(1, Ordering::Relaxed);
        assert_eq!(sessions.now()[SSE], 1);
    }
}

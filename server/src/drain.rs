//! Tool calls in flight, counted so that a graceful shutdown can wait for them before it closes
//! the sessions' event streams (which carry their answers). No I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The number of tool calls running now; cheap to clone, every clone counts the same calls.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    finished: Notify,
}

/// One running call; it stops counting when dropped.
#[derive(Debug)]
pub struct Running(Arc<Inner>);

impl InFlight {
    /// Counts one call until the returned guard is dropped.
    #[must_use]
    pub fn enter(&self) -> Running {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        Running(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.running.load(Ordering::Acquire)
    }

    /// Resolves once no call runs, or after `limit`; `true` when none runs.
    pub async fn idle(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                // Registered before the check, so a call ending in between still wakes us.
                let finished = self.0.finished.notified();
                if self.count() == 0 {
                    return;
                }
                finished.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.finished.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_call_and_no_longer() {
        let calls = InFlight::default();
        assert!(
            calls.idle(Duration::from_millis(10)).await,
            "idle with no call"
        );
        let first = calls.enter();
        let second = calls.enter();
        assert!(
            !calls.idle(Duration::from_millis(20)).await,
            "two calls run"
        );
        let waiting = tokio::spawn({
            let calls = calls.clone();
            async move { calls.idle(Duration::from_secs(5)).await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one call still runs");
        drop(second);
        assert!(waiting.await.unwrap());
        assert_eq!(calls.count(), 0);
    }
}

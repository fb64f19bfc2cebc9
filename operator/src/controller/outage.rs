//! Riding out an apiserver outage. Every watch retries after a back-off that starts at 250 ms
//! and is capped at 2 s; kube-runtime's default grows to 30 s. The controller's merged stream
//! of its watches does not pause at all: kube-runtime pauses it after each error of any watch
//! (its own 30 s back-off), which stops polling every watch, and delivers one queued error per
//! pause, so that after an outage the errors the watches had met were drained one per pause
//! and the operator resumed 16 s (20 s outage) to a minute late. `Reachable` records whether
//! the latest watch attempt reached the apiserver, for `/readyz`, and fires when the apiserver
//! is back: then every McpServer is reconciled again, because the reconciles that failed during
//! the outage back off for minutes and a child deleted meanwhile sends no event (a watch that
//! lists again reports what exists, not what went). No I/O of its own.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _, future};
use kube::runtime::utils::Backoff;
use tokio::sync::watch;

/// The first retry of a failed watch.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between two attempts of a watch, and so the longest delay of its return
/// after the apiserver's.
pub const MAX_RETRY: Duration = Duration::from_secs(2);

/// The back-off of one watch: 250 ms, doubling up to 2 s; reset by any event it receives.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: FIRST_RETRY }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = now.saturating_mul(2).min(MAX_RETRY);
        Some(now)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
}

/// The merged stream of a controller's watches: on at once after an error (each watch has
/// paused on its own).
#[derive(Debug, Clone)]
pub struct NoPause;

impl Iterator for NoPause {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoPause {
    fn reset(&mut self) {}
}

/// Whether the latest attempt of any watch reached the apiserver; shared by the watches, the
/// controllers and `/readyz`.
#[derive(Clone, Debug)]
pub struct Reachable(Arc<watch::Sender<bool>>);

impl Reachable {
    pub fn new(reached: bool) -> Self {
        Self(Arc::new(watch::Sender::new(reached)))
    }

    pub fn get(&self) -> bool {
        *self.0.borrow()
    }

    /// Records an attempt; a change is logged once, not per attempt.
    pub fn set(&self, reached: bool) {
        if self
            .0
            .send_if_modified(|was| std::mem::replace(was, reached) != reached)
        {
            if reached {
                tracing::info!("the apiserver is reachable");
            } else {
                tracing::warn!(
                    retry_at_most_every = ?MAX_RETRY,
                    "the apiserver is unreachable: the watches retry"
                );
            }
        }
    }

    /// `stream`, each of whose items records whether its attempt reached the apiserver.
    pub fn track<S, T, E>(&self, stream: S) -> impl Stream<Item = Result<T, E>> + use<S, T, E>
    where
        S: Stream<Item = Result<T, E>>,
    {
        let reachable = self.clone();
        stream.inspect(move |item| reachable.set(item.is_ok()))
    }

    /// Fires each time the apiserver is reachable again after it was not.
    pub fn returns(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self.0.subscribe(), |mut receiver| async move {
            receiver.changed().await.ok()?;
            let reached = *receiver.borrow_and_update();
            Some((reached, receiver))
        })
        .filter_map(|reached| future::ready(reached.then_some(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_retries_within_two_seconds_however_long_the_outage() {
        let mut backoff = WatchBackoff::default();
        let millis: Vec<u128> = backoff.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(millis, [250, 500, 1000, 2000, 2000, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.next(), Some(FIRST_RETRY));
        assert_eq!(NoPause.take(3).max(), Some(Duration::ZERO));
    }

    #[tokio::test]
    async fn the_return_of_the_apiserver_fires_once_per_outage() {
        let reachable = Reachable::new(true);
        let mut returns = Box::pin(reachable.returns());
        let attempts = futures::stream::iter([Err(()), Err(()), Ok(()), Ok(())]);
        let seen: Vec<bool> = reachable
            .track(attempts)
            .map(|_| reachable.get())
            .collect()
            .await;
        assert_eq!(seen, [false, false, true, true]);
        assert_eq!(returns.next().await, Some(()));
        reachable.set(true);
        let more = tokio::time::timeout(Duration::from_millis(50), returns.next()).await;
        assert!(more.is_err(), "no second return without an outage");
    }
}

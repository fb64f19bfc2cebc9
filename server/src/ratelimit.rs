//! `http.rate_limit_rps` / `rate_limit_burst`: one token bucket per MCP session, as in the Go
//! server; `http.rs` answers a request over the limit with [`RATE_LIMITED`]. A SIGHUP may set,
//! change or remove the limit. Pure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::config::compat::RateLimit;

/// The Go server's code for a request over the rate limit.
pub const RATE_LIMITED: i64 = -32029;

/// Past this many buckets, the full ones (idle sessions) are dropped.
const MAX_BUCKETS: usize = 10_000;

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The buckets of every session, under the limit in force (none: every request passes).
pub struct Buckets {
    limit: RwLock<Option<RateLimit>>,
    by_key: Mutex<HashMap<String, Bucket>>,
}

impl Buckets {
    pub fn new(limit: Option<RateLimit>) -> Arc<Self> {
        Arc::new(Self {
            limit: RwLock::new(limit),
            by_key: Mutex::default(),
        })
    }

    /// A new limit: the sessions start again with full buckets of the new size.
    pub fn set(&self, limit: Option<RateLimit>) {
        if let Ok(mut current) = self.limit.write() {
            if *current == limit {
                return;
            }
            *current = limit;
        }
        if let Ok(mut buckets) = self.by_key.lock() {
            buckets.clear();
        }
    }

    /// Whether a limit is in force (without one, nothing needs to be read to admit a request).
    pub fn limited(&self) -> bool {
        self.limit.read().is_ok_and(|limit| limit.is_some())
    }

    /// Takes one token from `key`'s bucket; `false` when it is empty.
    pub fn admit(&self, key: &str, now: Instant) -> bool {
        let Some(RateLimit { rps, burst }) = self.limit.read().ok().and_then(|l| *l) else {
            return true;
        };
        let Ok(mut buckets) = self.by_key.lock() else {
            return true;
        };
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.refilled).as_secs_f64() * rps < burst
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.refilled).as_secs_f64() * rps).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_session_gets_its_burst_then_the_rate_and_sessions_are_apart() {
        let buckets = Buckets::new(Some(RateLimit {
            rps: 2.0,
            burst: 2.0,
        }));
        let t0 = Instant::now();
        assert!(buckets.admit("a", t0) && buckets.admit("a", t0));
        assert!(!buckets.admit("a", t0), "the burst is spent");
        assert!(buckets.admit("b", t0), "another session has its own bucket");
        assert!(
            buckets.admit("a", t0 + Duration::from_millis(500)),
            "2 rps refill one in 0.5 s"
        );
        assert!(!buckets.admit("a", t0 + Duration::from_millis(500)));
        assert!(buckets.limited());
        buckets.set(None);
        assert!(!buckets.limited());
        assert!(
            (0..10).all(|_| buckets.admit("a", t0)),
            "a reload removed the limit"
        );
    }
}

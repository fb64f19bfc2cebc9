//! A small bounded cache of review results keyed by a SHA-256 digest (of a bearer token), so
//! that neither the token nor anything it could be recovered from is kept. Entries live for a
//! fixed TTL; when full, the oldest entry goes first. The clock is passed in, so tests need no
//! sleeping. Pure.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The SHA-256 digest of a secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of(secret: &str) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(
            ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref(),
        );
        Self(bytes)
    }
}

pub struct TtlCache<V> {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<Digest, Entry<V>>,
    /// Keys in insertion order. All entries share one TTL, so this is also expiry order. A key
    /// inserted again leaves a stale record (its `seq` no longer matches) that eviction skips;
    /// the queue is capped at twice the capacity so stale records cannot pile up.
    order: VecDeque<(Digest, u64)>,
    seq: u64,
}

struct Entry<V> {
    seq: u64,
    stored: Instant,
    value: V,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }

    /// The value stored less than the TTL before `now`.
    pub fn get(&self, key: &Digest, now: Instant) -> Option<V> {
        let entry = self.entries.get(key)?;
        (now.saturating_duration_since(entry.stored) < self.ttl).then(|| entry.value.clone())
    }

    pub fn insert(&mut self, key: Digest, value: V, now: Instant) {
        let grows = !self.entries.contains_key(&key);
        while let Some(&(oldest, seq)) = self.order.front() {
            let live = self.entries.get(&oldest).filter(|e| e.seq == seq);
            let keep = live.is_some_and(|e| {
                now.saturating_duration_since(e.stored) < self.ttl
                    && !(grows && self.entries.len() >= self.capacity)
                    && self.order.len() < 2 * self.capacity
            });
            if keep {
                break;
            }
            self.order.pop_front();
            if live.is_some() {
                self.entries.remove(&oldest);
            }
        }
        self.seq += 1;
        self.entries.insert(
            key,
            Entry {
                seq: self.seq,
                stored: now,
                value,
            },
        );
        self.order.push_back((key, self.seq));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(10);

    #[test]
    fn digests_differ_per_secret_and_hide_it() {
        assert!(Digest::of("a") == Digest::of("a"));
        assert!(Digest::of("a") != Digest::of("b"));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let start = Instant::now();
        let mut cache = TtlCache::new(TTL, 8);
        cache.insert(Digest::of("t"), 1, start);
        assert_eq!(cache.get(&Digest::of("t"), start + TTL / 2), Some(1));
        assert_eq!(cache.get(&Digest::of("t"), start + TTL), None);
        assert_eq!(cache.get(&Digest::of("other"), start), None);
    }

    #[test]
    fn the_oldest_entry_goes_when_full() {
        let start = Instant::now();
        let mut cache = TtlCache::new(TTL, 3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let at = start + Duration::from_millis(u64::try_from(i).unwrap());
            cache.insert(Digest::of(key), i, at);
        }
        assert_eq!(cache.entries.len(), 3);
        assert_eq!(cache.get(&Digest::of("a"), start), None);
        assert_eq!(cache.get(&Digest::of("d"), start), Some(3));
    }

    #[test]
    fn expired_entries_are_dropped_on_insert_and_reinsertion_refreshes() {
        let start = Instant::now();
        let mut cache = TtlCache::new(TTL, 100);
        cache.insert(Digest::of("a"), 1, start);
        cache.insert(Digest::of("b"), 2, start);
        cache.insert(Digest::of("a"), 3, start + TTL / 2);
        cache.insert(Digest::of("c"), 4, start + TTL);
        assert_eq!(
            cache.entries.len(),
            2,
            "b expired and was dropped; a was refreshed"
        );
        assert_eq!(cache.get(&Digest::of("a"), start + TTL), Some(3));
        // Many insertions of one key never grow the cache past one entry.
        for i in 0..1000 {
            cache.insert(Digest::of("x"), i, start + TTL * 3);
        }
        assert_eq!(cache.entries.len(), 1);
        assert!(cache.order.len() <= 200);
    }
}

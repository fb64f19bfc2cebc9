//! What the operator remembers of each McpServer between reconciles, in one map keyed by its
//! uid: failed reconciles in a row (for the back-off), the uid of every child as last applied
//! (so that a repaired child is told from a first one), the children at the last orphan
//! sweep, the last MCP handshake answered (so that a server is asked once per generation
//! and Deployment state, not at rest) and a hash of every child as applied (so that an
//! unchanged child untouched by others is not applied again; the watches forget the hash of a
//! child others touched). Only hints: lost at a restart, forgotten at cleanup. No I/O.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use super::handshake::Handshake;

/// A hash of `value` as JSON, to tell whether it changed (not stored across runs).
pub fn hash_of<T: Serialize>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(value)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// (kind, namespace, name) of a child; the namespace is empty for cluster-scoped ones.
pub type ChildKey = (&'static str, String, String);

/// What the operator remembers of every McpServer, by uid.
#[derive(Default)]
pub struct Memory(Mutex<HashMap<String, Remembered>>);

#[derive(Default)]
struct Remembered {
    /// Failed reconciles in a row.
    failures: u32,
    /// The uid of every child as last applied: a child whose uid changed was deleted or
    /// replaced by someone, and its repair deserves an Event.
    child_uids: HashMap<ChildKey, String>,
    /// The children at the last sweep: the sweep's cluster-wide lists run again only when
    /// that set changes (and once per McpServer after a start).
    swept: Option<BTreeSet<ChildKey>>,
    /// A hash of every child as last applied: one built the same since, and untouched by
    /// others, is not applied again.
    child_hashes: HashMap<ChildKey, u64>,
    /// The state the last answered handshake was for, and its answer.
    answered: Option<(String, Handshake)>,
}

/// What one apply tells, compared with what was remembered.
pub struct Applied {
    /// Children that had been deleted or replaced since the last apply.
    pub recreated: Vec<ChildKey>,
    /// The children just applied, when they differ from those at the last sweep: sweep then.
    pub sweep: Option<BTreeSet<ChildKey>>,
}

impl Memory {
    /// The one lock: a panic elsewhere cannot poison it for good, the map only holds hints.
    fn locked(&self) -> MutexGuard<'_, HashMap<String, Remembered>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A child of the McpServer `uid` that someone else deleted or changed (the watches tell):
    /// its hash is forgotten, so that the next reconcile applies it again.
    pub fn touched(&self, uid: &str, child: &ChildKey) {
        if let Some(remembered) = self.locked().get_mut(uid) {
            remembered.child_hashes.remove(child);
        }
    }

    /// The uid of `child` if it was applied with this `hash` and nobody touched it since: no
    /// need to apply it again.
    pub fn unchanged(&self, uid: &str, child: &ChildKey, hash: u64) -> Option<String> {
        let all = self.locked();
        let remembered = all.get(uid)?;
        (remembered.child_hashes.get(child) == Some(&hash))
            .then(|| remembered.child_uids.get(child).cloned())
            .flatten()
    }

    /// Remembers the hash `child` was applied with.
    pub fn applied_as(&self, uid: &str, child: ChildKey, hash: u64) {
        self.locked()
            .entry(uid.to_owned())
            .or_default()
            .child_hashes
            .insert(child, hash);
    }

    /// Counts a failed reconcile; returns the failures in a row.
    pub fn failed(&self, uid: &str) -> u32 {
        let mut all = self.locked();
        let remembered = all.entry(uid.to_owned()).or_default();
        remembered.failures += 1;
        remembered.failures
    }

    /// A reconcile succeeded: the back-off starts over.
    pub fn succeeded(&self, uid: &str) {
        if let Some(remembered) = self.locked().get_mut(uid) {
            remembered.failures = 0;
        }
    }

    /// Remembers the children just applied (with their uids).
    pub fn applied(&self, uid: &str, children: Vec<(ChildKey, String)>) -> Applied {
        let kept: BTreeSet<ChildKey> = children.iter().map(|(key, _)| key.clone()).collect();
        let mut all = self.locked();
        let remembered = all.entry(uid.to_owned()).or_default();
        // A child no longer wanted (and so swept) is applied afresh if it is wanted again.
        remembered.child_hashes.retain(|key, _| kept.contains(key));
        Applied {
            recreated: recreated(&mut remembered.child_uids, children),
            sweep: (remembered.swept.as_ref() != Some(&kept)).then_some(kept),
        }
    }

    /// Remembers the children a sweep kept.
    pub fn swept(&self, uid: &str, kept: BTreeSet<ChildKey>) {
        self.locked().entry(uid.to_owned()).or_default().swept = Some(kept);
    }

    /// The last answered handshake: the state it was for and its answer.
    pub fn answered(&self, uid: &str) -> Option<(String, Handshake)> {
        self.locked().get(uid)?.answered.clone()
    }

    /// Remembers a handshake answered for `state`.
    pub fn answer(&self, uid: &str, state: String, answer: Handshake) {
        self.locked().entry(uid.to_owned()).or_default().answered = Some((state, answer));
    }

    /// Forgets an McpServer that is gone.
    pub fn forget(&self, uid: &str) {
        self.locked().remove(uid);
    }
}

/// The children whose uid differs from the one last applied (first sightings are not news);
/// `known` is updated to what was applied now.
fn recreated(
    known: &mut HashMap<ChildKey, String>,
    applied: Vec<(ChildKey, String)>,
) -> Vec<ChildKey> {
    let mut changed = Vec::new();
    for (key, uid) in applied {
        if let Some(previous) = known.insert(key.clone(), uid.clone())
            && previous != uid
        {
            changed.push(key);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_child_whose_uid_changed_counts_as_recreated() {
        let key = |name: &str| ("ConfigMap", "apps".to_owned(), name.to_owned());
        let mut known = HashMap::new();
        let first = vec![(key("a"), "1".to_owned()), (key("b"), "2".to_owned())];
        assert!(recreated(&mut known, first.clone()).is_empty());
        assert!(recreated(&mut known, first).is_empty());
        let again = vec![(key("a"), "1".to_owned()), (key("b"), "3".to_owned())];
        assert_eq!(recreated(&mut known, again), [key("b")]);
    }

    #[test]
    fn the_sweep_is_due_after_a_start_and_when_the_children_change() {
        let memory = Memory::default();
        let child = |name: &str| (("Role", "apps".to_owned(), name.to_owned()), "1".to_owned());
        let kept = memory.applied("u", vec![child("a")]).sweep.unwrap();
        memory.swept("u", kept);
        assert!(memory.applied("u", vec![child("a")]).sweep.is_none());
        assert!(memory.applied("u", vec![child("b")]).sweep.is_some());
        memory.forget("u");
        assert!(memory.applied("u", vec![child("a")]).sweep.is_some());
    }

    #[test]
    fn a_child_is_applied_again_when_built_otherwise_or_touched() {
        let memory = Memory::default();
        let key = ("ConfigMap", "apps".to_owned(), "m-config".to_owned());
        assert_eq!(memory.unchanged("u", &key, 1), None, "never applied");
        memory.applied_as("u", key.clone(), 1);
        memory.applied("u", vec![(key.clone(), "c-1".to_owned())]);
        assert_eq!(memory.unchanged("u", &key, 1).as_deref(), Some("c-1"));
        assert_eq!(memory.unchanged("u", &key, 2), None, "built otherwise");
        memory.touched("u", &key);
        assert_eq!(memory.unchanged("u", &key, 1), None, "touched");
        assert_eq!(memory.unchanged("u", &key, 1), None, "not applied since");
        memory.applied_as("u", key.clone(), 1);
        assert_eq!(memory.unchanged("u", &key, 1).as_deref(), Some("c-1"));
        memory.applied("u", Vec::new());
        assert_eq!(memory.unchanged("u", &key, 1), None, "no longer wanted");
    }

    #[test]
    fn failures_count_until_a_success() {
        let memory = Memory::default();
        assert_eq!((memory.failed("u"), memory.failed("u")), (1, 2));
        memory.succeeded("u");
        assert_eq!(memory.failed("u"), 1);
    }
}

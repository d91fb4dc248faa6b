//! Actor identities: what names an actor anywhere in the cluster (and in
//! storage).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Which actor: its type's stable name and its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorId {
    /// The actor type's [`Actor::TYPE_NAME`](crate::actor::Actor::TYPE_NAME).
    pub type_name: Cow<'static, str>,
    /// The key within the type. Shared: the directory, the host's table
    /// and a call's route each hold the id, and a clone is a reference
    /// count, not a copy of the text.
    pub key: Arc<str>,
}

impl ActorId {
    /// Where the actor sits on the cluster's consistent-hash ring: the
    /// node owning this position keeps the actor's directory entry and
    /// fires its reminders. Stable across versions and platforms (FNV-1a
    /// of the type name and key, mixed), so a reminder table may store it
    /// and read by ranges of it.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_core::ActorId;
    /// let id = |key: &str| ActorId { type_name: "Account".into(), key: key.into() };
    /// assert_eq!(id("alice").ring_position(), id("alice").ring_position());
    /// assert_ne!(id("alice").ring_position(), id("bob").ring_position());
    /// ```
    pub fn ring_position(&self) -> u64 {
        use moonpool_sim::{fnv1a, mix64};
        mix64(fnv1a(self.type_name.as_bytes()) ^ fnv1a(self.key.as_bytes()).rotate_left(17))
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.type_name, self.key)
    }
}

/// A table keyed by actor id. Hashed without a random seed, so iteration
/// order is the same on every run (the simulator relies on it).
pub(crate) type IdMap<V> = std::collections::HashMap<ActorId, V, rustc_hash::FxBuildHasher>;

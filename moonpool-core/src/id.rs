//! Actor identities: what names an actor anywhere in the cluster (and in
//! storage).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which actor: its type's stable name and its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActorId {
    /// The actor type's [`Actor::TYPE_NAME`](crate::actor::Actor::TYPE_NAME).
    pub type_name: Cow<'static, str>,
    /// The key within the type.
    pub key: String,
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.type_name, self.key)
    }
}

/// A table keyed by actor id. Hashed without a random seed, so iteration
/// order is the same on every run (the simulator relies on it).
pub(crate) type IdMap<V> = std::collections::HashMap<ActorId, V, rustc_hash::FxBuildHasher>;

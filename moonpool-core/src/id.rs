//! Actor identities: what names an actor anywhere in the cluster (and in
//! storage).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

/// Which actor: its type's stable name and its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

/// Decoded with one allocation, for the key: the type name of a type this
/// process hosts shares that type's static text, and the key is read in
/// place (where the format lends its text) rather than through a `Box<str>`
/// then copied into the `Arc`.
impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The wire form of an id (the derived one's), its text borrowed.
        #[derive(Deserialize)]
        #[serde(rename = "ActorId")]
        struct Wire<'a> {
            #[serde(borrow)]
            type_name: Cow<'a, str>,
            #[serde(borrow)]
            key: Cow<'a, str>,
        }
        let Wire { type_name, key } = Wire::deserialize(d)?;
        Ok(ActorId {
            type_name: crate::type_names::intern(type_name),
            key: Arc::from(&*key),
        })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use serde::de::value::{Error, SeqDeserializer};

    use super::*;

    fn id(type_name: &'static str, key: &str) -> ActorId {
        ActorId {
            type_name: Cow::Borrowed(type_name),
            key: key.into(),
        }
    }

    #[test]
    fn an_id_survives_the_wire_and_a_hosted_type_name_is_not_copied() {
        crate::type_names::remember("id::tests::Hosted");
        for original in [id("id::tests::Hosted", "alice"), id("id::tests::Other", "")] {
            let bytes = postcard::to_allocvec(&original).unwrap();
            let back: ActorId = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, original);
            assert_eq!(
                matches!(back.type_name, Cow::Borrowed(_)),
                original.type_name == "id::tests::Hosted"
            );
        }
    }

    #[test]
    fn an_id_decodes_from_a_format_that_lends_no_text() {
        let fields = vec!["id::tests::Owned".to_string(), "bob".to_string()];
        let d = SeqDeserializer::<_, Error>::new(fields.into_iter());
        let back = ActorId::deserialize(d).unwrap();
        assert_eq!(back, id("id::tests::Owned", "bob"));
    }

    #[test]
    fn a_truncated_id_is_refused() {
        let bytes = postcard::to_allocvec(&id("id::tests::Hosted", "alice")).unwrap();
        for cut in 0..bytes.len() {
            assert!(postcard::from_bytes::<ActorId>(&bytes[..cut]).is_err());
        }
    }
}

//! Per-type behaviour: where new activations go, and when idle ones leave.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the first message to an actor activates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Placement {
    /// A live host chosen at random. The default.
    #[default]
    Random,
    /// The calling node, when it hosts the type.
    PreferLocal,
    /// The host with the fewest activations, as last reported.
    LeastLoaded,
    /// The host that owns the id on the consistent-hash ring (stable while
    /// membership is).
    ConsistentHash,
}

/// Per-type behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorOptions {
    /// Where new activations go.
    pub placement: Placement,
    /// An activation with no message for this long is deactivated.
    pub idle_timeout: Duration,
}

impl Default for ActorOptions {
    fn default() -> Self {
        Self {
            placement: Placement::Random,
            idle_timeout: Duration::from_secs(600),
        }
    }
}

//! An activation whatever its actor type: what the node's table holds, and
//! what stays the same for every turn of an activation.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use moonpool_sim::{Instant, JoinHandle, Providers, WallTime};

use super::chain::CallChain;
use super::remote::{CallTag, RemoteReply};
use super::runtime::{Idle, Runtime};
use crate::id::ActorId;
use crate::state::StateOwner;
use crate::sync::lock;
use crate::transport::Payload;

/// A reminder's schedule, as an activation tells its ticks apart.
#[derive(Debug)]
pub(crate) struct TickSchedule {
    pub(crate) name: String,
    pub(crate) first_due: WallTime,
    pub(crate) period: std::time::Duration,
}

/// An activation's timers and reminder ticks (see
/// [`ActivationInfo::with_schedules`]).
#[derive(Default)]
pub(crate) struct Schedules {
    /// Timers of this activation, stopped when it deactivates.
    pub(crate) timers: Vec<Option<JoinHandle<()>>>,
    /// The latest due time of each reminder whose tick this activation
    /// handled: a tick sent again (its sender did not hear back) is not
    /// handled twice here.
    pub(crate) ticks: Vec<(TickSchedule, WallTime)>,
}

/// What an activation is, whatever its actor type: the part of an
/// [`ActorContext`] that stays the same for every turn.
pub(crate) struct ActivationInfo {
    pub(crate) id: ActorId,
    /// The node hosting the activation.
    pub(crate) runtime: Weak<dyn Runtime>,
    pub(crate) providers: Arc<Providers>,
    /// Tells this activation from earlier and later ones of the same actor
    /// on this node.
    pub(crate) generation: u64,
    /// Its timers and the reminder ticks it handled: allocated when the
    /// actor first uses either, so an activation without them (most, at
    /// rest) pays one pointer.
    pub(crate) schedules: Mutex<Option<Box<Schedules>>>,
    /// How many of the actor's [`Persisted`](crate::state::Persisted)
    /// states are unsure: while any is, no further turn runs and the
    /// activation leaves.
    pub(crate) unsure_states: AtomicU32,
    /// The node was declared dead: nothing more runs here.
    pub(crate) halted: AtomicBool,
}

impl ActivationInfo {
    /// Whether the actor holds a state it cannot vouch for.
    pub(crate) fn holds_unsure_state(&self) -> bool {
        // Written and read by the turns of this activation, which run one
        // after the other (a happens-before edge between them already).
        self.unsure_states.load(Ordering::Relaxed) > 0
    }

    /// Whether the activation was halted (its node was declared dead).
    pub(crate) fn is_halted(&self) -> bool {
        // Acquire: pairs with the Release in `halt`, so a runner that sees
        // the flag also sees the queue it drained.
        self.halted.load(Ordering::Acquire)
    }

    /// Runs `f` on the activation's timers and ticks, making them on
    /// first use.
    pub(crate) fn with_schedules<R>(&self, f: impl FnOnce(&mut Schedules) -> R) -> R {
        f(lock(&self.schedules).get_or_insert_with(Box::default))
    }

    /// Stops every timer of the activation.
    pub(crate) fn stop_all_timers(&self) {
        if let Some(schedules) = lock(&self.schedules).as_mut() {
            for task in schedules.timers.iter_mut().filter_map(Option::take) {
                task.abort();
            }
        }
    }
}

/// The type-erased view of an activation.
pub(crate) trait AnyActivation: StateOwner + Idle + Send + Sync + 'static {
    fn info(&self) -> &ActivationInfo;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// Starts building the actor of a new activation: right here as far as
    /// it goes without waiting (most actors build at once, so the first
    /// call finds the actor at rest and runs its turn right here too, with
    /// no task to spawn), the rest in a task of its own. Called once.
    fn start(self: Arc<Self>);
    /// Delivers a call that arrived as bytes; `now` is a clock reading
    /// taken without waiting since (the lease check's), for the idle clock
    /// of a turn run right here, or `None` to read afresh.
    fn deliver_remote(
        self: Arc<Self>,
        method: u32,
        body: Payload,
        chain: CallChain,
        reply: RemoteReply,
        tag: CallTag,
        now: Option<Instant>,
    );
    /// Deactivates once the messages queued before this one have run.
    fn stop(self: Arc<Self>);
    /// Stops at once: drops what is queued unrun (its callers route
    /// again), refuses what arrives, and leaves without the deactivation
    /// hook once the running turn, if any, ends. For a node declared dead.
    fn halt(self: Arc<Self>);
}

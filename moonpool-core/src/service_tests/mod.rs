//! Tests of the core services from inside the crate, in simulation: what
//! the directory holds after hand-offs, reports, deactivations and ring
//! changes, and where placement puts actors. Behaviour a caller cannot see
//! through the public API (a stale entry, a recovery that never settles, a
//! duplicate left running) but that a mutation of the code must not get
//! past (see `scripts/mutants`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod call_deadline;
mod directory;
mod lifecycle;
mod membership;
mod placement;
mod routing;

use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::{BoxFuture, SimContext};
use serde::{Deserialize, Serialize};

use crate::actor::{
    ActivationError, Actor, ActorContext, ActorOptions, ActorRef, CallError, Handler, Message,
    Placement, Runtime, dispatch, method_id, unknown_method,
};
use crate::id::ActorId;
use crate::node::Node;
use crate::sim_cluster::SimCluster;

/// Answers how many messages this activation has handled, this one
/// included.
#[derive(Serialize, Deserialize)]
pub(crate) struct Touch;
impl Message for Touch {
    type Reply = u64;
    const NAME: &'static str = "touch";
}

/// Records a number (sent one-way, to check delivery order).
#[derive(Serialize, Deserialize)]
pub(crate) struct Stamp(pub(crate) u64);

impl Message for Stamp {
    type Reply = ();
    const NAME: &'static str = "stamp";
}

/// Answers the numbers `Stamp`ed so far, in the order they arrived.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stamps;

impl Message for Stamps {
    type Reply = Vec<u64>;
    const NAME: &'static str = "stamps";
}

/// Sleeps this many milliseconds (simulated) in the activation's turn,
/// then answers: a call still running when something happens to its node.
#[derive(Serialize, Deserialize)]
pub(crate) struct Nap(pub(crate) u64);

impl Message for Nap {
    type Reply = ();
    const NAME: &'static str = "nap";
}

/// Declares an actor that counts the `Touch`es its activation handled,
/// placed by `placement`.
macro_rules! touch_counter {
    ($(#[$doc:meta])* $name:ident, $placement:expr) => {
        $(#[$doc])*
        #[derive(Default)]
        pub(crate) struct $name {
            touched: u64,
            stamps: Vec<u64>,
        }

        impl Actor for $name {
            const TYPE_NAME: &'static str = stringify!($name);
            const HAS_SHARED_METHODS: bool = false;
            type Ref = ActorRef<Self>;

            fn options() -> ActorOptions {
                ActorOptions {
                    placement: $placement,
                    idle_timeout: Duration::from_secs(3600),
                }
            }

            async fn activate(_ctx: &ActorContext) -> Result<Self, ActivationError> {
                Ok(Self::default())
            }

            fn dispatch<'a>(
                &'a mut self,
                method: u32,
                body: &'a [u8],
                ctx: &'a ActorContext,
            ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
                Box::pin(async move {
                    match method {
                        m if m == method_id(Touch::NAME) => {
                            dispatch::<Self, Touch>(self, body, ctx).await
                        }
                        m if m == method_id(Stamp::NAME) => {
                            dispatch::<Self, Stamp>(self, body, ctx).await
                        }
                        m if m == method_id(Stamps::NAME) => {
                            dispatch::<Self, Stamps>(self, body, ctx).await
                        }
                        m if m == method_id(Nap::NAME) => {
                            dispatch::<Self, Nap>(self, body, ctx).await
                        }
                        m => Err(unknown_method::<Self>(m)),
                    }
                })
            }
        }

        impl Handler<Touch> for $name {
            async fn handle(&mut self, _: Touch, _ctx: &ActorContext) -> u64 {
                self.touched += 1;
                self.touched
            }
        }

        impl Handler<Stamp> for $name {
            async fn handle(&mut self, stamp: Stamp, _ctx: &ActorContext) {
                self.stamps.push(stamp.0);
            }
        }

        impl Handler<Stamps> for $name {
            async fn handle(&mut self, _: Stamps, _ctx: &ActorContext) -> Vec<u64> {
                self.stamps.clone()
            }
        }

        impl Handler<Nap> for $name {
            async fn handle(&mut self, nap: Nap, ctx: &ActorContext) {
                ctx.providers().sleep(Duration::from_millis(nap.0)).await;
            }
        }
    };
}

touch_counter!(
    /// Placed at random.
    Probe,
    Placement::Random
);
touch_counter!(
    /// Placed on the calling node.
    Local,
    Placement::PreferLocal
);
touch_counter!(
    /// Placed on the least-loaded host.
    Light,
    Placement::LeastLoaded
);
touch_counter!(
    /// Placed by a hash of its id over the hosts of its type.
    Hashed,
    Placement::ConsistentHash
);

/// `Probe`'s id for `key`.
pub(crate) fn probe(key: impl Into<String>) -> ActorId {
    ActorId::of::<Probe>(key)
}

/// A cluster of `hosts` nodes hosting every actor above, probing every
/// 500 ms.
pub(crate) async fn cluster(sim: &SimContext, hosts: usize) -> SimCluster {
    SimCluster::builder(sim, "service-tests")
        .hosts(hosts)
        .configure(move |_, b| {
            b.host::<Probe>()
                .host::<Local>()
                .host::<Light>()
                .host::<Hashed>()
                .failure_detection(Duration::from_millis(500), Duration::from_millis(500), 4)
        })
        .start()
        .await
        .unwrap()
}

/// Calls `Touch` on `A`'s `key` from `via` until it gets through (at most
/// a minute, simulated).
pub(crate) async fn touch<A: Actor<Ref = ActorRef<A>> + Handler<Touch>>(
    sim: &SimContext,
    via: &Node,
    key: &str,
) -> u64 {
    let deadline = sim.now() + Duration::from_secs(60);
    loop {
        match via.actor::<A>(key).call(Touch).await {
            Ok(n) => return n,
            Err(e) => {
                assert!(
                    sim.now() < deadline,
                    "{}/{key} unreachable for a minute: {e} (seed {})",
                    A::TYPE_NAME,
                    sim.seed()
                );
                sim.sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The running node whose id is `id`.
pub(crate) fn node_with(cluster: &SimCluster, id: crate::transport::NodeId) -> Node {
    cluster
        .running()
        .into_iter()
        .map(|(_, n)| n)
        .find(|n| n.id() == id)
        .expect("a running node with that id")
}

/// Waits (at most `limit`, simulated) until `done` holds.
pub(crate) async fn eventually(
    sim: &SimContext,
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let deadline = sim.now() + limit;
    while !done() {
        assert!(
            sim.now() < deadline,
            "not within {limit:?}: {what} (seed {})",
            sim.seed()
        );
        sim.sleep(Duration::from_millis(50)).await;
    }
}

/// Starts an activation of `id` on `node` without asking the directory:
/// the duplicate a lost entry or a split view could leave.
pub(crate) fn activate_behind_the_directorys_back(node: &Node, id: &ActorId) {
    let runtime: Weak<dyn Runtime> = Arc::downgrade(&node.inner) as Weak<dyn Runtime>;
    assert!(node.inner.host.activate(id, &runtime).is_some());
}

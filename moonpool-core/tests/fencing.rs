//! A node declared dead must have stopped serving before its actors start
//! anew elsewhere: two activations of one actor never both run turns, even
//! when the dead node is cut off (and so cannot hear that it was declared
//! dead) and later comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::actor::{dispatch, method_id, unknown_method};
use moonpool_core::node::InMemoryMembership;
use moonpool_core::{
    ActivationError, Actor, ActorContext, ActorId, ActorRef, CallError, Handler, Message, Node,
};
use moonpool_sim::{BoxFuture, Instant, ProcessId, Providers, SimContext};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

thread_local! {
    /// Every turn of `Witness`: the node it ran on and when. A seed runs on
    /// one thread, so this is the seed's own log.
    static TURNS: RefCell<Vec<(String, SocketAddr, Instant)>> = const { RefCell::new(Vec::new()) };
}

/// Records where and when each of its turns runs.
#[derive(Default)]
struct Witness;

#[derive(Serialize, Deserialize)]
struct Whoami;
impl Message for Whoami {
    type Reply = SocketAddr;
    const NAME: &'static str = "whoami";
}

impl Actor for Witness {
    const TYPE_NAME: &'static str = "Witness";
    const HAS_SHARED_METHODS: bool = false;
    type Ref = ActorRef<Self>;

    async fn activate(_ctx: &ActorContext) -> Result<Self, ActivationError> {
        Ok(Self)
    }

    fn dispatch<'a>(
        &'a mut self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move {
            match method {
                m if m == method_id(Whoami::NAME) => {
                    dispatch::<Self, Whoami>(self, body, ctx).await
                }
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<Whoami> for Witness {
    async fn handle(&mut self, _: Whoami, ctx: &ActorContext) -> SocketAddr {
        let here = ctx.node().map(|n| n.id().addr).expect("a hosting node");
        TURNS.with(|t| {
            t.borrow_mut()
                .push((ctx.id().key.to_string(), here, ctx.providers().now()))
        });
        here
    }
}

/// Three hosting nodes, each a process of its own, with their pids.
async fn cluster(sim: &SimContext, table: &InMemoryMembership) -> Vec<(ProcessId, Node)> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut pids = Vec::new();
    for i in 0..3usize {
        let (table, tx) = (table.clone(), tx.clone());
        pids.push(sim.start_process(format!("n{i}"), move |p: Providers| {
            let (table, tx) = (table.clone(), tx.clone());
            async move {
                let node = Node::builder("fence")
                    .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                    .providers(p)
                    .membership(table)
                    .host::<Witness>()
                    .call_timeout(Duration::from_secs(1))
                    .failure_detection(Duration::from_millis(300), Duration::from_millis(300), 3)
                    .build()
                    .await
                    .expect("node starts");
                let _ = tx.send((i, node.clone()));
                std::future::pending::<()>().await;
                drop(node);
            }
        }));
    }
    let mut nodes: Vec<Option<Node>> = vec![None, None, None];
    for _ in 0..3 {
        let (i, node) = rx.recv().await.unwrap();
        nodes[i] = Some(node);
    }
    pids.into_iter()
        .zip(nodes.into_iter().map(Option::unwrap))
        .collect()
}

#[moonpool::sim_test(seeds = 300, faults = "calm", coverage = "strict", coverage_of = ["fencing"])]
async fn a_node_cut_off_and_declared_dead_never_serves_alongside_its_successor(sim: SimContext) {
    TURNS.with(|t| t.borrow_mut().clear());
    let table = InMemoryMembership::new();
    let hosts = cluster(&sim, &table).await;
    let client = Node::builder("fence")
        .listen(SocketAddr::new(sim.ip_of(ProcessId::MAIN), 7000))
        .providers(sim.providers())
        .membership(table.clone())
        .client_only()
        .call_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    while client.live_members().len() < 4 {
        sim.sleep(Duration::from_millis(50)).await;
    }
    // A witness on the node that will be cut off.
    let (victim_pid, victim) = hosts[2].clone();
    let mut key = None;
    for k in 0..60 {
        let id = ActorId::of::<Witness>(format!("w{k}"));
        if let Ok(at) = client.actor_ref::<Witness>(&*id.key).call(Whoami).await
            && at == victim.id().addr
        {
            key = Some(id.key);
            break;
        }
    }
    let Some(key) = key else { return };

    // Callers everywhere — the client and every host — keep calling it,
    // each through its own view and location cache.
    let p = sim.providers();
    let mut callers = Vec::new();
    let mut from: Vec<Node> = hosts.iter().map(|(_, n)| n.clone()).collect();
    from.push(client.clone());
    for node in from {
        let (q, key) = (p.clone(), key.clone());
        callers.push(p.spawn(async move {
            for _ in 0..200 {
                let _ = node.actor_ref::<Witness>(&*key).call(Whoami).await;
                q.sleep(q.random_duration(Duration::from_millis(10), Duration::from_millis(60)))
                    .await;
            }
        }));
    }
    // Cut the witness's node off until the others declare it dead, then
    // let it back.
    sim.sleep(p.random_duration(Duration::from_millis(50), Duration::from_millis(500)))
        .await;
    sim.isolate(victim_pid);
    let cut = sim.now();
    while hosts[0].1.live_members().contains(&victim.id()) {
        assert!(
            sim.now() - cut < Duration::from_secs(30),
            "never declared dead"
        );
        sim.sleep(Duration::from_millis(20)).await;
    }
    sim.sleep(p.random_duration(Duration::ZERO, Duration::from_secs(2)))
        .await;
    sim.heal_all();
    for c in callers {
        let _ = c.await;
    }

    let turns: Vec<(SocketAddr, Instant)> = TURNS.with(|t| {
        t.borrow()
            .iter()
            .filter(|(k, _, _)| **k == *key)
            .map(|(_, at, when)| (*at, *when))
            .collect()
    });
    let old = victim.id().addr;
    let Some(&(new_host, first_new)) = turns.iter().find(|(at, _)| *at != old) else {
        return;
    };
    moonpool::sometimes!(
        true,
        "the witness was activated anew after its node was declared dead"
    );
    for (at, when) in &turns {
        assert!(
            *at != old || *when <= first_new,
            "the dead node {old} ran a turn at {when} after the new activation on {new_host} ran one at {first_new}"
        );
    }
}

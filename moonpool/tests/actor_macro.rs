//! `#[actor]`/`#[actor_impl]` end to end: generated references, messages,
//! dispatch (local and remote), registration, options, hooks and state.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::node::InMemoryMembership;
use moonpool::runtime::state::InMemoryStorage;

/// A counter.
#[moonpool::actor(placement = "consistent_hash", idle_timeout = "30s")]
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[moonpool::actor_impl]
impl Counter {
    /// Adds `n` and returns the new value.
    pub async fn add(&mut self, n: u64) -> u64 {
        self.value += n;
        self.value
    }

    /// The value.
    pub async fn get(&self) -> u64 {
        self.value
    }

    /// Adds `a * b`, reading the caller's id from the context.
    pub async fn add_product(&mut self, a: u64, ctx: &ActorContext, b: u64) -> (u64, String) {
        self.value += a * b;
        (self.value, ctx.id().key.to_string())
    }

    /// Fire and forget.
    #[one_way]
    pub async fn reset(&mut self) {
        self.value = 0;
    }

    /// A private helper stays an ordinary method.
    fn double(&self) -> u64 {
        self.value * 2
    }

    /// Uses the helper.
    pub async fn doubled(&self) -> u64 {
        self.double()
    }
}

static ACTIVATIONS: AtomicU64 = AtomicU64::new(0);
static DEACTIVATIONS: AtomicU64 = AtomicU64::new(0);

/// A persisted account with lifecycle hooks.
#[moonpool::actor(state, name = "BankAccount", idle_timeout = "5s")]
pub struct Account {
    #[state]
    balance: Persisted<i64>,
    calls: u32,
}

#[moonpool::actor_impl]
impl Account {
    async fn on_activate(&mut self, _ctx: &ActorContext) {
        ACTIVATIONS.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_deactivate(&mut self, _ctx: &ActorContext) {
        DEACTIVATIONS.fetch_add(1, Ordering::SeqCst);
    }

    /// Deposits and saves.
    pub async fn deposit(&mut self, amount: i64) -> Result<i64, String> {
        *self.balance += amount;
        self.calls += 1;
        self.balance.save().await.map_err(|e| e.to_string())?;
        Ok(*self.balance)
    }

    /// The balance.
    pub async fn balance(&self) -> i64 {
        *self.balance
    }

    /// Calls since activation.
    pub async fn calls(&self) -> u32 {
        self.calls
    }
}

/// Reentrant directory of other actors.
#[moonpool::actor(reentrant)]
#[derive(Default)]
pub struct Lobby {
    visits: AtomicU64,
}

#[moonpool::actor_impl]
impl Lobby {
    /// Asks `other` to look back at us: a reentrant chain.
    pub async fn ask(&self, other: String, ctx: &ActorContext) -> Result<u64, CallError> {
        let me = ctx.id().key.to_string();
        let other: LobbyRef = ctx.actor::<Lobby>(other);
        other.look_at(me).await?
    }

    /// Looks at `who`.
    pub async fn look_at(&self, who: String, ctx: &ActorContext) -> Result<u64, CallError> {
        let who: LobbyRef = ctx.actor::<Lobby>(who);
        who.visits().await
    }

    /// Visits so far.
    pub async fn visits(&self) -> u64 {
        self.visits.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// An exclusive method on a reentrant actor stays exclusive.
    pub async fn clear(&mut self) {
        *self.visits.get_mut() = 0;
    }
}

/// Three nodes hosting every registered type, with shared storage.
async fn cluster(sim: &SimContext) -> Vec<Node> {
    let table = InMemoryMembership::new();
    let storage = InMemoryStorage::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..3 {
        let (table, storage, tx) = (table.clone(), storage.clone(), tx.clone());
        sim.start_process(format!("n{i}"), move |p: Providers| {
            let (table, storage, tx) = (table.clone(), storage.clone(), tx.clone());
            async move {
                let node = Node::builder("macro-test")
                    .listen("0.0.0.0:7000".parse().unwrap())
                    .providers(p)
                    .membership(table)
                    .storage(storage)
                    .build()
                    .await
                    .unwrap();
                let _ = tx.send(node.clone());
                std::future::pending::<()>().await;
                drop(node);
            }
        });
    }
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(rx.recv().await.unwrap());
    }
    while nodes.iter().any(|n| n.live_members().len() < 3) {
        sim.sleep(Duration::from_millis(50)).await;
    }
    nodes
}

#[moonpool::sim_test(seeds = 30, faults = "calm")]
async fn generated_references_call_local_and_remote_activations(sim: SimContext) {
    let nodes = cluster(&sim).await;
    for (i, node) in nodes.iter().enumerate() {
        let c: CounterRef = node.actor::<Counter>("shared");
        assert_eq!(c.add(1).await.unwrap(), i as u64 + 1);
    }
    let c = nodes[0].actor::<Counter>("shared");
    assert_eq!(c.get().await.unwrap(), 3);
    assert_eq!(c.doubled().await.unwrap(), 6);
    assert_eq!(
        c.add_product(2, 5).await.unwrap(),
        (13, "shared".to_string())
    );
    c.reset().await.unwrap();
    sim.sleep(Duration::from_millis(200)).await;
    assert_eq!(c.get().await.unwrap(), 0);
    // Exactly one node hosts it, wherever the ring put it.
    let hosts = nodes.iter().filter(|n| n.hosts(c.id())).count();
    assert_eq!(hosts, 1);
    // References serialize and rebind on the node that decodes them.
    let bytes = postcard::to_allocvec(&c).unwrap();
    let back: CounterRef = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(&back, &c);
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn state_and_hooks_follow_the_options(sim: SimContext) {
    let nodes = cluster(&sim).await;
    let a = nodes[1].actor::<Account>("alice");
    assert_eq!(a.id().type_name, "BankAccount");
    let before = ACTIVATIONS.load(Ordering::SeqCst);
    assert_eq!(a.deposit(10).await.unwrap(), Ok(10));
    assert_eq!(a.deposit(5).await.unwrap(), Ok(15));
    assert_eq!(a.calls().await.unwrap(), 2);
    assert!(ACTIVATIONS.load(Ordering::SeqCst) > before);
    // Idle for 5 s: deactivated (hook runs); state persists, `calls` resets.
    let deactivated = DEACTIVATIONS.load(Ordering::SeqCst);
    sim.sleep(Duration::from_secs(6)).await;
    assert!(DEACTIVATIONS.load(Ordering::SeqCst) > deactivated);
    assert_eq!(a.balance().await.unwrap(), 15);
    assert_eq!(a.calls().await.unwrap(), 0);
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn reentrant_actors_serve_chains_back_into_themselves(sim: SimContext) {
    let nodes = cluster(&sim).await;
    let x: LobbyRef = nodes[0].actor::<Lobby>("x");
    assert_eq!(x.ask("y".into()).await.unwrap(), Ok(1));
    assert_eq!(x.ask("y".into()).await.unwrap(), Ok(2));
    x.clear().await.unwrap();
    assert_eq!(x.visits().await.unwrap(), 1);
}

#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn a_node_can_host_only_some_registered_types(sim: SimContext) {
    let table = InMemoryMembership::new();
    let node = Node::builder("restricted")
        .listen("10.0.0.1:7000".parse().unwrap())
        .providers(sim.providers())
        .membership(table.clone())
        .storage(InMemoryStorage::new())
        .only_types(["Counter"])
        .build()
        .await
        .unwrap();
    assert_eq!(node.actor::<Counter>("c").add(2).await.unwrap(), 2);
    let err = node.actor::<Lobby>("l").visits().await.unwrap_err();
    assert_eq!(
        err,
        CallError::UnknownActorType {
            actor_type: "Lobby".into()
        }
    );
    let client = Node::builder("restricted")
        .listen("10.0.0.1:7001".parse().unwrap())
        .providers(sim.providers())
        .membership(table)
        .client_only()
        .build()
        .await
        .unwrap();
    assert_eq!(client.actor::<Counter>("c").add(3).await.unwrap(), 5);
    assert_eq!(client.activation_count(), 0);
    assert_eq!(node.activation_count(), 1);
}

/// The generated message enum: one variant per handler, decoded from bytes
/// by the stable method id, convertible from each message, named in
/// `Debug`.
#[test]
fn the_message_enum_decodes_by_method_id_and_names_its_method() {
    use moonpool::runtime::actor::method_id;

    fn bytes_of(value: &impl serde::Serialize) -> Vec<u8> {
        postcard::to_allocvec(value).unwrap()
    }

    let add = CounterMessage::decode(method_id("add"), &bytes_of(&(7u64,))).unwrap();
    assert!(
        matches!(&add, CounterMessage::Add(m) if m.0 == 7),
        "{add:?}"
    );
    assert_eq!(add.method_name(), "add");
    assert_eq!(add.method_id(), method_id("add"));
    assert_eq!(format!("{add:?}"), "CounterMessage::add(..)");

    let product =
        CounterMessage::decode(method_id("add_product"), &bytes_of(&(2u64, 3u64))).unwrap();
    assert!(matches!(&product, CounterMessage::AddProduct(m) if (m.0, m.1) == (2, 3)));

    let unknown = CounterMessage::decode(method_id("subtract"), &[]).unwrap_err();
    assert!(
        matches!(&unknown, CallError::UnknownMethod { actor_type, method }
            if actor_type == "Counter" && *method == method_id("subtract")),
        "{unknown:?}"
    );
    let garbage = CounterMessage::decode(method_id("add"), &[0xff; 11]).unwrap_err();
    assert!(matches!(garbage, CallError::Decode { .. }), "{garbage:?}");

    let from_get = CounterMessage::decode(method_id("get"), &bytes_of(&())).unwrap();
    let CounterMessage::Get(get) = from_get else {
        panic!("expected Get, got {from_get:?}");
    };
    assert_eq!(CounterMessage::from(get).method_name(), "get");
}

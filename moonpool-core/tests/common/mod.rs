//! Hand-written actors and a simulated cluster for the runtime's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::actor::{ActorOptions, Placement, TimerId, dispatch, method_id, unknown_method};
use moonpool_core::node::InMemoryMembership;
use moonpool_core::{
    ActivationError, Actor, ActorContext, ActorRef, CallError, Handler, Message, Node,
};
use moonpool_sim::{BoxFuture, ProcessId, Providers, SimContext};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A counter whose `Add` reads, waits, then writes: lost updates would
/// show if two turns ever overlapped or two activations existed.
#[derive(Default)]
pub struct Counter {
    value: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Add(pub u64);
impl Message for Add {
    type Reply = u64;
    const NAME: &'static str = "add";
}

#[derive(Serialize, Deserialize)]
pub struct Get;
impl Message for Get {
    type Reply = u64;
    const NAME: &'static str = "get";
}

/// Panics inside the handler.
#[derive(Serialize, Deserialize)]
pub struct Explode;
impl Message for Explode {
    type Reply = ();
    const NAME: &'static str = "explode";
}

impl Actor for Counter {
    const TYPE_NAME: &'static str = "Counter";
    // All turns exclusive: the inline fast path.
    const HAS_SHARED_METHODS: bool = false;
    type Ref = ActorRef<Self>;

    fn options() -> ActorOptions {
        ActorOptions {
            placement: Placement::Random,
            idle_timeout: Duration::from_secs(60),
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
                m if m == method_id(Add::NAME) => dispatch::<Self, Add>(self, body, ctx).await,
                m if m == method_id(Get::NAME) => dispatch::<Self, Get>(self, body, ctx).await,
                m if m == method_id(Explode::NAME) => {
                    dispatch::<Self, Explode>(self, body, ctx).await
                }
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<Add> for Counter {
    async fn handle(&mut self, Add(n): Add, ctx: &ActorContext) -> u64 {
        let before = self.value;
        ctx.providers().sleep(Duration::from_millis(1)).await;
        self.value = before + n;
        self.value
    }
}

impl Handler<Get> for Counter {
    async fn handle(&mut self, _: Get, _ctx: &ActorContext) -> u64 {
        self.value
    }
}

impl Handler<Explode> for Counter {
    async fn handle(&mut self, _: Explode, _ctx: &ActorContext) {
        panic!("exploded on purpose");
    }
}

/// Calls a `Ponger`, which calls back: a cycle.
#[derive(Default)]
pub struct Pinger;

#[derive(Serialize, Deserialize)]
pub struct Ping(pub String);
impl Message for Ping {
    type Reply = Result<String, CallError>;
    const NAME: &'static str = "ping";
}

#[derive(Serialize, Deserialize)]
pub struct Echo;
impl Message for Echo {
    type Reply = String;
    const NAME: &'static str = "echo";
}

impl Actor for Pinger {
    const TYPE_NAME: &'static str = "Pinger";
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
                m if m == method_id(Ping::NAME) => dispatch::<Self, Ping>(self, body, ctx).await,
                m if m == method_id(Echo::NAME) => dispatch::<Self, Echo>(self, body, ctx).await,
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<Ping> for Pinger {
    /// Pings the `Pinger` named in the message; that one pings us back.
    async fn handle(&mut self, Ping(next): Ping, ctx: &ActorContext) -> Result<String, CallError> {
        let me = ctx.id().key.to_string();
        let other: ActorRef<Pinger> = ctx.actor::<Pinger>(next);
        other.call(Ping(me)).await?
    }
}

impl Handler<Echo> for Pinger {
    async fn handle(&mut self, _: Echo, _ctx: &ActorContext) -> String {
        "echo".to_string()
    }
}

pub const PORT: u16 = 7000;

/// Starts `n` nodes (see [`start_cluster`]) and waits until every node sees
/// every other.
pub async fn nodes(sim: &SimContext, n: usize, timeout: Duration) -> Vec<(ProcessId, Node)> {
    let (_, mut rx) = start_cluster(sim, n, timeout);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(rx.recv().await.unwrap());
    }
    while out.iter().any(|(_, node)| node.live_members().len() < n) {
        sim.sleep(Duration::from_millis(50)).await;
    }
    out
}

/// Starts `n` nodes, waits until each sees every other, and builds a
/// client-only node in the main process that shares their table: a caller
/// that hosts nothing, so that being declared dead under heavy faults makes
/// it rejoin rather than stop.
pub async fn nodes_and_client(
    sim: &SimContext,
    n: usize,
    timeout: Duration,
) -> (Vec<(ProcessId, Node)>, Node) {
    let table = InMemoryMembership::new();
    let (_, mut rx) = start_cluster_on(sim, &table, n, timeout);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(rx.recv().await.unwrap());
    }
    let client = Node::builder("test-cluster")
        .listen(SocketAddr::new(sim.ip_of(ProcessId::MAIN), PORT))
        .providers(sim.providers())
        .membership(table)
        .client_only()
        .call_timeout(timeout)
        .failure_detection(Duration::from_millis(500), Duration::from_millis(500), 4)
        .build()
        .await
        .expect("client starts");
    while out.iter().any(|(_, node)| node.live_members().len() < n)
        || client.live_members().len() < n + 1
    {
        sim.sleep(Duration::from_millis(50)).await;
    }
    (out, client)
}

/// Starts `n` node processes sharing one in-memory membership table; each
/// (re)start sends its node on the returned channel.
pub fn start_cluster(
    sim: &SimContext,
    n: usize,
    call_timeout: Duration,
) -> (Vec<ProcessId>, mpsc::UnboundedReceiver<(ProcessId, Node)>) {
    start_cluster_on(sim, &InMemoryMembership::new(), n, call_timeout)
}

/// [`start_cluster`] on a given membership table.
pub fn start_cluster_on(
    sim: &SimContext,
    table: &InMemoryMembership,
    n: usize,
    call_timeout: Duration,
) -> (Vec<ProcessId>, mpsc::UnboundedReceiver<(ProcessId, Node)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut pids = Vec::new();
    for i in 0..n {
        let (table, tx) = (table.clone(), tx.clone());
        let pid_cell = std::sync::Arc::new(std::sync::OnceLock::new());
        let pid_for_start = std::sync::Arc::clone(&pid_cell);
        let pid = sim.start_process(format!("node-{i}"), move |p: Providers| {
            let (table, tx, pid) = (
                table.clone(),
                tx.clone(),
                std::sync::Arc::clone(&pid_for_start),
            );
            async move {
                let listen = SocketAddr::new([0, 0, 0, 0].into(), PORT);
                // 0.0.0.0 binds to the process's own address.
                let node = Node::builder("test-cluster")
                    .listen(listen)
                    .providers(p)
                    .membership(table)
                    .host::<Counter>()
                    .host::<Pinger>()
                    .host::<Ticker>()
                    .host::<Library>()
                    .host::<Fragile>()
                    .call_timeout(call_timeout)
                    .failure_detection(Duration::from_millis(500), Duration::from_millis(500), 4)
                    .build()
                    .await
                    .expect("node starts");
                let me = *pid.get().expect("pid set before the first poll");
                let _ = tx.send((me, node.clone()));
                std::future::pending::<()>().await;
                drop(node);
            }
        });
        let _ = pid_cell.set(pid);
        pids.push(pid);
    }
    (pids, rx)
}

/// An account whose balance is persisted after every deposit.
pub struct Account {
    balance: moonpool_core::state::Persisted<u64>,
}

#[derive(Serialize, Deserialize)]
pub struct Deposit(pub u64);
impl Message for Deposit {
    type Reply = Result<u64, String>;
    const NAME: &'static str = "deposit";
}

#[derive(Serialize, Deserialize)]
pub struct Balance;
impl Message for Balance {
    type Reply = u64;
    const NAME: &'static str = "balance";
}

impl Actor for Account {
    const TYPE_NAME: &'static str = "Account";
    type Ref = ActorRef<Self>;

    async fn activate(ctx: &ActorContext) -> Result<Self, ActivationError> {
        let balance = moonpool_core::state::Persisted::load(ctx).await?;
        Ok(Self { balance })
    }

    fn dispatch<'a>(
        &'a mut self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move {
            match method {
                m if m == method_id(Deposit::NAME) => {
                    dispatch::<Self, Deposit>(self, body, ctx).await
                }
                m if m == method_id(Balance::NAME) => {
                    dispatch::<Self, Balance>(self, body, ctx).await
                }
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<Deposit> for Account {
    async fn handle(&mut self, Deposit(n): Deposit, _ctx: &ActorContext) -> Result<u64, String> {
        self.balance
            .update(|b| {
                *b += n;
                *b
            })
            .await
            .map_err(|e| e.to_string())
    }
}

impl Handler<Balance> for Account {
    async fn handle(&mut self, _: Balance, _ctx: &ActorContext) -> u64 {
        *self.balance
    }
}

/// Counts timer ticks; records deactivations.
#[derive(Default)]
pub struct Ticker {
    ticks: u64,
    /// The timer `StartTicking` started.
    timer: Option<TimerId>,
}

pub static TICKER_DEACTIVATIONS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

#[derive(Serialize, Deserialize)]
pub struct StartTicking;
impl Message for StartTicking {
    type Reply = ();
    const NAME: &'static str = "start_ticking";
}

/// Asks a `Ticker` to start a timer of `Counter`'s: refused, typed.
#[derive(Serialize, Deserialize)]
pub struct StartForeignTimer;
impl Message for StartForeignTimer {
    type Reply = Option<CallError>;
    const NAME: &'static str = "start_foreign_timer";
}

/// Stops the timer `StartTicking` started (if any): whether there was one.
#[derive(Serialize, Deserialize)]
pub struct StopTicking;
impl Message for StopTicking {
    type Reply = bool;
    const NAME: &'static str = "stop_ticking";
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Tick;
impl Message for Tick {
    type Reply = ();
    const NAME: &'static str = "tick";
}

#[derive(Serialize, Deserialize)]
pub struct Ticks;
impl Message for Ticks {
    type Reply = u64;
    const NAME: &'static str = "ticks";
}

impl Actor for Ticker {
    const TYPE_NAME: &'static str = "Ticker";
    type Ref = ActorRef<Self>;

    fn options() -> ActorOptions {
        ActorOptions {
            placement: Placement::PreferLocal,
            idle_timeout: Duration::from_secs(10),
        }
    }

    async fn activate(_ctx: &ActorContext) -> Result<Self, ActivationError> {
        Ok(Self::default())
    }

    async fn on_deactivate(&mut self, _ctx: &ActorContext) {
        TICKER_DEACTIVATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn dispatch<'a>(
        &'a mut self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move {
            match method {
                m if m == method_id(StartTicking::NAME) => {
                    dispatch::<Self, StartTicking>(self, body, ctx).await
                }
                m if m == method_id(StopTicking::NAME) => {
                    dispatch::<Self, StopTicking>(self, body, ctx).await
                }
                m if m == method_id(Tick::NAME) => dispatch::<Self, Tick>(self, body, ctx).await,
                m if m == method_id(StartForeignTimer::NAME) => {
                    dispatch::<Self, StartForeignTimer>(self, body, ctx).await
                }
                m if m == method_id(Ticks::NAME) => dispatch::<Self, Ticks>(self, body, ctx).await,
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<StartTicking> for Ticker {
    async fn handle(&mut self, _: StartTicking, ctx: &ActorContext) {
        let timer = ctx
            .start_timer::<Ticker, Tick>(Duration::from_secs(1), || Tick)
            .expect("own type");
        self.timer = Some(timer);
    }
}

impl Handler<StopTicking> for Ticker {
    async fn handle(&mut self, _: StopTicking, ctx: &ActorContext) -> bool {
        // Stopped twice when there is one: the second has no effect.
        match self.timer.take() {
            Some(timer) => {
                ctx.stop_timer(timer);
                ctx.stop_timer(timer);
                true
            }
            None => false,
        }
    }
}

impl Handler<StartForeignTimer> for Ticker {
    async fn handle(&mut self, _: StartForeignTimer, ctx: &ActorContext) -> Option<CallError> {
        ctx.start_timer::<Counter, Add>(Duration::from_secs(1), || Add(1))
            .err()
    }
}

impl Handler<Tick> for Ticker {
    async fn handle(&mut self, _: Tick, _ctx: &ActorContext) {
        self.ticks += 1;
    }
}

impl Handler<Ticks> for Ticker {
    async fn handle(&mut self, _: Ticks, _ctx: &ActorContext) -> u64 {
        self.ticks
    }
}

/// An actor with shared (reentrant) methods.
#[derive(Default)]
pub struct Library {
    books: std::sync::atomic::AtomicU64,
}

/// Shared: waits a second.
#[derive(Serialize, Deserialize)]
pub struct Browse;
impl Message for Browse {
    type Reply = ();
    const NAME: &'static str = "browse";
}

/// Shared: asks library `0` to peek back at us.
#[derive(Serialize, Deserialize)]
pub struct AskPeer(pub String);
impl Message for AskPeer {
    type Reply = Result<u64, CallError>;
    const NAME: &'static str = "ask_peer";
}

/// Shared: calls `Peek` on library `0`.
#[derive(Serialize, Deserialize)]
pub struct PeekAt(pub String);
impl Message for PeekAt {
    type Reply = Result<u64, CallError>;
    const NAME: &'static str = "peek_at";
}

/// Shared: the count.
#[derive(Serialize, Deserialize)]
pub struct Peek;
impl Message for Peek {
    type Reply = u64;
    const NAME: &'static str = "peek";
}

/// Exclusive: add a book.
#[derive(Serialize, Deserialize)]
pub struct Shelve;
impl Message for Shelve {
    type Reply = u64;
    const NAME: &'static str = "shelve";
}

impl Actor for Library {
    const TYPE_NAME: &'static str = "Library";
    type Ref = ActorRef<Self>;

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
                m if m == method_id(Shelve::NAME) => {
                    dispatch::<Self, Shelve>(self, body, ctx).await
                }
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }

    fn is_shared(method: u32) -> bool {
        [Browse::NAME, AskPeer::NAME, PeekAt::NAME, Peek::NAME]
            .iter()
            .any(|n| method_id(n) == method)
    }

    fn dispatch_shared<'a>(
        &'a self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        use moonpool_core::actor::dispatch_shared as shared;
        Box::pin(async move {
            match method {
                m if m == method_id(Browse::NAME) => shared::<Self, Browse>(self, body, ctx).await,
                m if m == method_id(AskPeer::NAME) => {
                    shared::<Self, AskPeer>(self, body, ctx).await
                }
                m if m == method_id(PeekAt::NAME) => shared::<Self, PeekAt>(self, body, ctx).await,
                m if m == method_id(Peek::NAME) => shared::<Self, Peek>(self, body, ctx).await,
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl moonpool_core::actor::SharedHandler<Browse> for Library {
    async fn handle_shared(&self, _: Browse, ctx: &ActorContext) {
        ctx.providers().sleep(Duration::from_secs(1)).await;
    }
}

impl moonpool_core::actor::SharedHandler<AskPeer> for Library {
    async fn handle_shared(
        &self,
        AskPeer(peer): AskPeer,
        ctx: &ActorContext,
    ) -> Result<u64, CallError> {
        let me = ctx.id().key.to_string();
        ctx.actor::<Library>(peer).call_shared(PeekAt(me)).await?
    }
}

impl moonpool_core::actor::SharedHandler<PeekAt> for Library {
    async fn handle_shared(
        &self,
        PeekAt(who): PeekAt,
        ctx: &ActorContext,
    ) -> Result<u64, CallError> {
        ctx.actor::<Library>(who).call_shared(Peek).await
    }
}

impl moonpool_core::actor::SharedHandler<Peek> for Library {
    async fn handle_shared(&self, _: Peek, _ctx: &ActorContext) -> u64 {
        self.books.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Handler<Shelve> for Library {
    async fn handle(&mut self, _: Shelve, ctx: &ActorContext) -> u64 {
        ctx.providers().sleep(Duration::from_millis(500)).await;
        *self.books.get_mut() += 1;
        *self.books.get_mut()
    }
}

/// An actor with a short idle timeout whose life can go wrong on purpose:
/// activation fails for keys starting with `broken`, and `on_deactivate`
/// panics for keys starting with `grumpy`.
#[derive(Default)]
pub struct Fragile {
    naps: u64,
}

/// Sleeps this many milliseconds inside the turn; replies with the naps so
/// far.
#[derive(Serialize, Deserialize)]
pub struct Nap(pub u64);
impl Message for Nap {
    type Reply = u64;
    const NAME: &'static str = "nap";
}

impl Actor for Fragile {
    const TYPE_NAME: &'static str = "Fragile";
    const HAS_SHARED_METHODS: bool = false;
    type Ref = ActorRef<Self>;

    fn options() -> ActorOptions {
        ActorOptions {
            placement: Placement::ConsistentHash,
            idle_timeout: Duration::from_secs(1),
        }
    }

    async fn activate(ctx: &ActorContext) -> Result<Self, ActivationError> {
        if ctx.id().key.starts_with("broken") {
            return Err("its disk is gone".into());
        }
        Ok(Self::default())
    }

    async fn on_deactivate(&mut self, ctx: &ActorContext) {
        if ctx.id().key.starts_with("grumpy") {
            panic!("grumpy to the end");
        }
    }

    fn dispatch<'a>(
        &'a mut self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move {
            match method {
                m if m == method_id(Nap::NAME) => dispatch::<Self, Nap>(self, body, ctx).await,
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<Nap> for Fragile {
    async fn handle(&mut self, Nap(ms): Nap, ctx: &ActorContext) -> u64 {
        ctx.providers().sleep(Duration::from_millis(ms)).await;
        self.naps += 1;
        self.naps
    }
}

//! [`SimCluster`]: a cluster of nodes in a simulation, each its own
//! simulated machine, in a few lines: shared in-simulation membership,
//! state and reminder tables, handles by node name, and kill, restart,
//! partition and isolate by name.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::{ProcessId, SimContext, SimError};

use crate::actor::Actor;
use crate::id::ActorId;
use crate::node::{InMemoryMembership, Node, NodeBuilder, NodeError};
use crate::reminder::InMemoryReminderTable;
use crate::state::InMemoryStorage;
use crate::sync::lock;

/// How each node is configured: the node's name and the builder the
/// cluster prepared (cluster id, address, providers, shared tables).
type Configure = Arc<dyn Fn(&str, NodeBuilder) -> NodeBuilder + Send + Sync>;

/// Why a [`SimCluster`] request failed.
#[derive(Debug, thiserror::Error)]
pub enum SimClusterError {
    /// No node of the cluster has this name.
    #[error("no node named `{name}` in the cluster; its nodes are {known:?}")]
    UnknownNode {
        /// The name asked for.
        name: String,
        /// The names the cluster has.
        known: Vec<String>,
    },
    /// A node was added under a name the cluster already has.
    #[error("the cluster already has a node named `{0}`")]
    DuplicateName(String),
    /// The node is not running: it was killed and not restarted.
    #[error("node `{0}` is not running (it was killed; restart it first)")]
    NotRunning(String),
    /// A node could not start.
    #[error("node `{name}` could not start: {source}")]
    Start {
        /// The node.
        name: String,
        /// Why.
        #[source]
        source: NodeError,
    },
    /// The nodes did not all see each other as members in time.
    #[error(
        "the cluster did not form within {waited:?} of simulated time: node `{name}` sees {seen} of the {expected} hosts as live members"
    )]
    NotFormed {
        /// How long the cluster waited.
        waited: Duration,
        /// A node that did not see every host yet.
        name: String,
        /// How many hosts it saw.
        seen: usize,
        /// How many are running.
        expected: usize,
    },
    /// The simulation refused (a process it does not know, say).
    #[error("the simulation refused: {0}")]
    Sim(#[from] SimError),
}

/// Where one node stands.
enum Slot {
    /// Its process is starting the node.
    Starting,
    /// The node runs; the handle is the current incarnation's.
    Running(Node),
    /// The node could not start (taken by the waiter that reports it).
    Failed(Option<NodeError>),
    /// Killed.
    Down,
}

struct Member {
    name: String,
    process: ProcessId,
    client: bool,
    slot: Slot,
}

struct Inner {
    sim: SimContext,
    cluster_id: String,
    port: u16,
    form_within: Duration,
    membership: InMemoryMembership,
    storage: InMemoryStorage,
    reminders: InMemoryReminderTable,
    configure: Configure,
    members: Mutex<Vec<Member>>,
}

/// A cluster of moonpool nodes in a simulation: each node a simulated
/// process (its own machine, address `10.0.x.y`, clock and disk),
/// sharing one [`InMemoryMembership`], one [`InMemoryStorage`] (state
/// survives a node's crash, as it would in a database) and one
/// [`InMemoryReminderTable`]. Nodes are called by name: `node-1`,
/// `node-2`, … for the hosts, the names you give for clients.
///
/// Cloning gives another handle to the same cluster.
///
/// # Example
///
/// A failover: an actor placed on one node, its node killed, the actor
/// activated again on the other at the next call.
///
/// ```
/// use moonpool::prelude::*;
/// use moonpool::SimCluster;
/// use std::time::Duration;
///
/// #[moonpool::actor(state)]
/// pub struct Counter {
///     #[state]
///     n: Persisted<u64>,
/// }
///
/// #[moonpool::actor_impl]
/// impl Counter {
///     pub async fn add(&mut self, by: u64) -> Result<u64, String> {
///         *self.n += by;
///         self.n.save().await.map_err(|e| e.to_string())?;
///         Ok(*self.n)
///     }
/// }
///
/// # fn main() {
/// moonpool::Simulation::new(1)
///     .faults(moonpool::chaos::FaultConfig::calm())
///     .run(|sim| async move {
///         let cluster = SimCluster::builder(&sim, "failover").hosts(2).start().await.unwrap();
///         let client = cluster.add_client("client").await.unwrap();
///         let counter = client.actor::<Counter>("c");
///         assert_eq!(counter.add(1).await.unwrap(), Ok(1));
///         let host = cluster.host_of(counter.id()).unwrap();
///         cluster.kill(&host).unwrap();
///         // Reactivated elsewhere from the stored state (retry while the
///         // cluster notices the death).
///         let n = loop {
///             match counter.add(1).await {
///                 Ok(n) => break n,
///                 Err(_) => sim.sleep(Duration::from_millis(500)).await,
///             }
///         };
///         assert_eq!(n, Ok(2));
///         assert_ne!(cluster.host_of(counter.id()).unwrap(), host);
///     })
///     .unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct SimCluster {
    inner: Arc<Inner>,
}

/// Configures a [`SimCluster`] before it starts; made by
/// [`SimCluster::builder`].
///
/// # Example
///
/// ```
/// use moonpool::SimCluster;
/// use std::time::Duration;
///
/// # fn main() {
/// moonpool::Simulation::new(1)
///     .run(|sim| async move {
///         let cluster = SimCluster::builder(&sim, "shop")
///             .hosts(3)
///             .port(9000)
///             // Every node, hosts and clients: faster failure detection.
///             .configure(|_name, node| {
///                 node.failure_detection(Duration::from_millis(500), Duration::from_millis(500), 3)
///             })
///             .start()
///             .await
///             .unwrap();
///         assert_eq!(cluster.names(), ["node-1", "node-2", "node-3"]);
///         assert_eq!(cluster.node("node-2").unwrap().id().addr.port(), 9000);
///     })
///     .unwrap();
/// # }
/// ```
pub struct SimClusterBuilder {
    sim: SimContext,
    cluster_id: String,
    hosts: usize,
    port: u16,
    form_within: Duration,
    membership: InMemoryMembership,
    storage: InMemoryStorage,
    reminders: InMemoryReminderTable,
    configure: Configure,
}

impl SimClusterBuilder {
    /// How many hosting nodes to start (named `node-1` … `node-N`).
    /// Default: 3.
    pub fn hosts(mut self, n: usize) -> Self {
        self.hosts = n;
        self
    }

    /// The port every node listens on, at its process's address. Default:
    /// 7000.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// How long [`start`](Self::start) waits (simulated time) for every
    /// node to see every host as a live member. Default: 60 s.
    pub fn form_within(mut self, limit: Duration) -> Self {
        self.form_within = limit;
        self
    }

    /// Configures each node (hosts and clients, every time one starts):
    /// given the node's name and the builder the cluster prepared, returns
    /// the builder to start. What it sets wins over the cluster's
    /// defaults: hosted types (`host::<A>()`, default every linked actor
    /// type), timeouts, services, another storage.
    pub fn configure(
        mut self,
        configure: impl Fn(&str, NodeBuilder) -> NodeBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Arc::new(configure);
        self
    }

    /// The membership table the nodes share (default: a new one).
    pub fn membership(mut self, table: InMemoryMembership) -> Self {
        self.membership = table;
        self
    }

    /// The state storage the nodes share (default: a new one).
    pub fn storage(mut self, storage: InMemoryStorage) -> Self {
        self.storage = storage;
        self
    }

    /// The reminder table the nodes share (default: a new one).
    pub fn reminders(mut self, table: InMemoryReminderTable) -> Self {
        self.reminders = table;
        self
    }

    /// Starts the hosts, each in its own simulated process, and waits until
    /// every one sees all of them as live members.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::Start`] if a node could not start;
    /// [`SimClusterError::NotFormed`] if the cluster did not form in time.
    pub async fn start(self) -> Result<SimCluster, SimClusterError> {
        let cluster = SimCluster {
            inner: Arc::new(Inner {
                sim: self.sim,
                cluster_id: self.cluster_id,
                port: self.port,
                form_within: self.form_within,
                membership: self.membership,
                storage: self.storage,
                reminders: self.reminders,
                configure: self.configure,
                members: Mutex::new(Vec::new()),
            }),
        };
        for i in 1..=self.hosts {
            cluster.launch(format!("node-{i}"), false)?;
        }
        for name in cluster.names() {
            cluster.wait_running(&name).await?;
        }
        cluster.wait_formed().await?;
        Ok(cluster)
    }
}

impl SimCluster {
    /// A cluster named `cluster_id` (the id its nodes check in their
    /// handshakes) in the simulation `sim`; configure it, then
    /// [`start`](SimClusterBuilder::start) it.
    pub fn builder(sim: &SimContext, cluster_id: impl Into<String>) -> SimClusterBuilder {
        SimClusterBuilder {
            sim: sim.clone(),
            cluster_id: cluster_id.into(),
            hosts: 3,
            port: 7000,
            form_within: Duration::from_secs(60),
            membership: InMemoryMembership::new(),
            storage: InMemoryStorage::new(),
            reminders: InMemoryReminderTable::new(),
            configure: Arc::new(|_, b| b),
        }
    }

    /// The running node called `name` (a handle to its current
    /// incarnation).
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`], or [`SimClusterError::NotRunning`]
    /// for a killed node.
    pub fn node(&self, name: &str) -> Result<Node, SimClusterError> {
        let sim = &self.inner.sim;
        self.with_member(name, |m| match &m.slot {
            Slot::Running(node) if sim.is_alive(m.process) => Ok(node.clone()),
            _ => Err(SimClusterError::NotRunning(name.to_string())),
        })
    }

    /// The hosts' names, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        let members = lock(&self.inner.members);
        members
            .iter()
            .filter(|m| !m.client)
            .map(|m| m.name.clone())
            .collect()
    }

    /// Every running node (hosts and clients) with its name.
    pub fn running(&self) -> Vec<(String, Node)> {
        let members = lock(&self.inner.members);
        members
            .iter()
            .filter_map(|m| match &m.slot {
                Slot::Running(node) if self.inner.sim.is_alive(m.process) => {
                    Some((m.name.clone(), node.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The simulated process node `name` runs in (for the simulation's own
    /// controls: a one-way partition, a disk wipe).
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`].
    pub fn process(&self, name: &str) -> Result<ProcessId, SimClusterError> {
        self.with_member(name, |m| Ok(m.process))
    }

    /// The name of the running host that has `actor` activated, if any.
    pub fn host_of(&self, actor: &ActorId) -> Option<String> {
        self.running()
            .into_iter()
            .find(|(_, node)| node.hosts(actor))
            .map(|(name, _)| name)
    }

    /// The membership table the nodes share.
    pub fn membership(&self) -> &InMemoryMembership {
        &self.inner.membership
    }

    /// The state storage the nodes share.
    pub fn storage(&self) -> &InMemoryStorage {
        &self.inner.storage
    }

    /// The reminder table the nodes share.
    pub fn reminders(&self) -> &InMemoryReminderTable {
        &self.inner.reminders
    }

    /// Adds a hosting node called `name` in a process of its own and waits
    /// until it runs (not until every node has seen it).
    ///
    /// # Errors
    ///
    /// [`SimClusterError::DuplicateName`] or [`SimClusterError::Start`].
    pub async fn add_host(&self, name: &str) -> Result<Node, SimClusterError> {
        self.launch(name.to_string(), false)?;
        self.wait_running(name).await
    }

    /// Adds a client-only node called `name` (it calls actors and hosts
    /// none) in a process of its own, and returns it once it runs.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::DuplicateName`] or [`SimClusterError::Start`].
    pub async fn add_client(&self, name: &str) -> Result<Node, SimClusterError> {
        self.launch(name.to_string(), true)?;
        self.wait_running(name).await
    }

    /// Crashes node `name`'s process: its tasks are dropped and its
    /// connections reset; its peers learn of it through failure detection.
    /// Killing a node already down does nothing.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`].
    pub fn kill(&self, name: &str) -> Result<(), SimClusterError> {
        let process = self.process(name)?;
        if self.inner.sim.is_alive(process) {
            self.inner.sim.kill_process(process)?;
        }
        // The handle is dropped outside the lock: a node's destructor may
        // reach the cluster.
        let old = self.with_member(name, |m| Ok(std::mem::replace(&mut m.slot, Slot::Down)))?;
        drop(old);
        Ok(())
    }

    /// Restarts node `name` (killing it first if it runs) and returns the
    /// new incarnation once it runs. It rejoins with a new node id; its
    /// actors' state is in the shared storage.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`] or [`SimClusterError::Start`].
    pub async fn restart(&self, name: &str) -> Result<Node, SimClusterError> {
        self.kill(name)?;
        let process = self.process(name)?;
        self.with_member(name, |m| {
            m.slot = Slot::Starting;
            Ok(())
        })?;
        self.inner.sim.restart_process(process)?;
        self.wait_running(name).await
    }

    /// Restarts every running host the membership table has declared
    /// dead, as a process supervisor would, and returns their names. Such a
    /// host stops serving (fenced: the cluster has moved its actors) or is
    /// about to, and never comes back by itself. Under network faults a
    /// healthy node can be declared dead — with two hosts one vote is
    /// enough — so a test that kills a host and expects another to take
    /// over calls this after the kill: otherwise the other host may be
    /// gone too, and calls wait forever for a host.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::Start`] if a node could not start again.
    pub async fn restart_declared_dead(&self) -> Result<Vec<String>, SimClusterError> {
        // A client declared dead rejoins by itself.
        let hosts = self.names();
        let dead: Vec<String> = self
            .running()
            .into_iter()
            .filter(|(name, node)| {
                hosts.contains(name) && self.inner.membership.is_declared_dead(node.id())
            })
            .map(|(name, _)| name)
            .collect();
        for name in &dead {
            tracing::info!(node = %name, "restarting a node the cluster declared dead");
            self.restart(name).await?;
        }
        Ok(dead)
    }

    /// Cuts the network between nodes `a` and `b`, both ways.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`].
    pub fn partition(&self, a: &str, b: &str) -> Result<(), SimClusterError> {
        let (a, b) = (self.process(a)?, self.process(b)?);
        self.inner.sim.partition(a, b);
        Ok(())
    }

    /// Cuts node `name` off from every other process (clients and the test
    /// body's own calls included).
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`].
    pub fn isolate(&self, name: &str) -> Result<(), SimClusterError> {
        let process = self.process(name)?;
        self.inner.sim.isolate(process);
        Ok(())
    }

    /// Restores traffic between `a` and `b`, and any isolation of either.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`].
    pub fn heal(&self, a: &str, b: &str) -> Result<(), SimClusterError> {
        let (a, b) = (self.process(a)?, self.process(b)?);
        self.inner.sim.heal(a, b);
        Ok(())
    }

    /// Restores every link and ends every isolation.
    pub fn heal_all(&self) {
        self.inner.sim.heal_all();
    }

    /// Waits until every running node sees every running host as a live
    /// member.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::NotFormed`] after the cluster's
    /// [`form_within`](SimClusterBuilder::form_within).
    pub async fn wait_formed(&self) -> Result<(), SimClusterError> {
        let started = self.inner.sim.now();
        loop {
            let running = self.running();
            let hosts: Vec<_> = {
                let members = lock(&self.inner.members);
                running
                    .iter()
                    .filter(|(name, _)| members.iter().any(|m| m.name == *name && !m.client))
                    .map(|(_, node)| node.id())
                    .collect()
            };
            let lagging = running.iter().find_map(|(name, node)| {
                let seen = node.live_members();
                let count = hosts.iter().filter(|h| seen.contains(h)).count();
                (count < hosts.len()).then(|| (name.clone(), count))
            });
            let Some((name, seen)) = lagging else {
                return Ok(());
            };
            let waited = self.inner.sim.now() - started;
            if waited >= self.inner.form_within {
                return Err(SimClusterError::NotFormed {
                    waited,
                    name,
                    seen,
                    expected: hosts.len(),
                });
            }
            self.inner.sim.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether `A`'s actor `key` is activated on node `name` now.
    ///
    /// # Errors
    ///
    /// [`SimClusterError::UnknownNode`] or [`SimClusterError::NotRunning`].
    pub fn hosts<A: Actor>(&self, name: &str, key: &str) -> Result<bool, SimClusterError> {
        let node = self.node(name)?;
        Ok(node.hosts(&ActorId {
            type_name: A::TYPE_NAME.into(),
            key: key.to_string().into(),
        }))
    }

    fn with_member<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Member) -> Result<T, SimClusterError>,
    ) -> Result<T, SimClusterError> {
        let mut members = lock(&self.inner.members);
        let known: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
        match members.iter_mut().find(|m| m.name == name) {
            Some(m) => f(m),
            None => Err(SimClusterError::UnknownNode {
                name: name.to_string(),
                known,
            }),
        }
    }

    /// Starts node `name`'s process, whose start function (run again on
    /// every restart) builds the node and keeps it until the process dies.
    fn launch(&self, name: String, client: bool) -> Result<(), SimClusterError> {
        {
            let members = lock(&self.inner.members);
            if members.iter().any(|m| m.name == name) {
                return Err(SimClusterError::DuplicateName(name));
            }
        }
        let inner = Arc::clone(&self.inner);
        let me = name.clone();
        let process = self.inner.sim.start_process(name.clone(), move |p| {
            let mut builder = Node::builder(inner.cluster_id.clone())
                .listen(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    inner.port,
                ))
                .providers(p)
                .membership(inner.membership.clone())
                .storage(inner.storage.clone())
                .reminders(inner.reminders.clone());
            if client {
                builder = builder.client_only();
            }
            let builder = (inner.configure)(&me, builder);
            let (inner, me) = (Arc::clone(&inner), me.clone());
            async move {
                let slot = match builder.build().await {
                    Ok(node) => Slot::Running(node),
                    Err(e) => Slot::Failed(Some(e)),
                };
                let keep = match &slot {
                    Slot::Running(node) => Some(node.clone()),
                    _ => None,
                };
                if let Some(m) = lock(&inner.members).iter_mut().find(|m| m.name == me) {
                    m.slot = slot;
                }
                if keep.is_some() {
                    // The node lives as long as its process.
                    std::future::pending::<()>().await;
                }
                drop(keep);
            }
        });
        let mut members = lock(&self.inner.members);
        members.push(Member {
            name,
            process,
            client,
            slot: Slot::Starting,
        });
        Ok(())
    }

    /// Waits until node `name` runs (or failed to start).
    async fn wait_running(&self, name: &str) -> Result<Node, SimClusterError> {
        let sim = &self.inner.sim;
        loop {
            let outcome = self.with_member(name, |m| match &mut m.slot {
                _ if !sim.is_alive(m.process) => Err(SimClusterError::NotRunning(m.name.clone())),
                Slot::Running(node) => Ok(Some(node.clone())),
                Slot::Failed(e) => match e.take() {
                    Some(source) => Err(SimClusterError::Start {
                        name: m.name.clone(),
                        source,
                    }),
                    None => Err(SimClusterError::NotRunning(m.name.clone())),
                },
                Slot::Down => Err(SimClusterError::NotRunning(m.name.clone())),
                Slot::Starting => Ok(None),
            })?;
            if let Some(node) = outcome {
                return Ok(node);
            }
            self.inner.sim.sleep(Duration::from_millis(1)).await;
        }
    }
}

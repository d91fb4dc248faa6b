//! Building a node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::Providers;
use tracing::Instrument as _;

use super::cluster::Cluster;
use super::config::{NodeConfig, NodeError};
use super::directory::Directory;
use super::gate::Gate;
use super::handle::Node;
use super::host::{ActorFactory, Host, factory_of};
use super::lease::Lease;
use super::membership::{InMemoryMembership, Member, MemberStatus, MembershipTable};
use super::net::Net;
use super::primary::PrimaryMembership;
use super::reminders::Reminders;
use super::root::NodeInner;
use super::router::Router;
use super::{shared_storage, watch};
use crate::actor::{Actor, Services};
use crate::reminder::ReminderTable;
use crate::spawn::spawn_in;
use crate::transport::{Transport, TransportConfig};

/// An actor type linked into the binary, registered by `#[actor_impl]` so
/// nodes host it without hand registration.
#[doc(hidden)]
pub struct ActorRegistration {
    /// The type's wire name.
    pub type_name: &'static str,
    /// Adds the type to a builder (`|b| b.host::<A>()`).
    pub host: fn(NodeBuilder) -> NodeBuilder,
}

inventory::collect!(ActorRegistration);

impl Node {
    /// Starts building a node of cluster `cluster_id`.
    pub fn builder(cluster_id: impl Into<String>) -> NodeBuilder {
        NodeBuilder::new(cluster_id)
    }
}

/// Builds a [`Node`].
///
/// # Example
///
/// ```
/// use moonpool::prelude::*;
///
/// #[moonpool::actor]
/// #[derive(Default)]
/// pub struct Account {
///     balance: u64,
/// }
///
/// #[moonpool::actor_impl]
/// impl Account {
///     pub async fn deposit(&mut self, amount: u64) -> u64 {
///         self.balance += amount;
///         self.balance
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use moonpool::runtime::node::InMemoryMembership;
/// let table = InMemoryMembership::new(); // nodes sharing it form a cluster
/// let node = Node::builder("bank")
///     .listen("127.0.0.1:0".parse().unwrap()) // port 0: any free port
///     .membership(table.clone())
///     .host::<Account>()
///     .build()
///     .await
///     .unwrap();
/// assert_eq!(node.actor::<Account>("alice").deposit(10).await.unwrap(), 10);
/// node.shutdown().await;
/// # });
/// ```
pub struct NodeBuilder {
    config: NodeConfig,
    providers: Option<Providers>,
    membership: Option<Arc<dyn MembershipTable>>,
    primary: Option<SocketAddr>,
    host_membership: bool,
    storage: Option<Arc<dyn crate::state::StateStorage>>,
    reminders: Option<Arc<dyn ReminderTable>>,
    types: Vec<(&'static str, Arc<dyn ActorFactory>)>,
    /// Which registered types to host: `None` for all of them.
    only: Option<Vec<String>>,
    client_only: bool,
    services: Services,
}

impl NodeBuilder {
    pub(crate) fn new(cluster_id: impl Into<String>) -> Self {
        Self {
            config: NodeConfig {
                cluster_id: cluster_id.into(),
                listen: None,
                call_timeout: Duration::from_secs(30),
                probe_interval: Duration::from_secs(1),
                probe_timeout: Duration::from_millis(500),
                missed_probes: 3,
                metrics: false,
            },
            providers: None,
            membership: None,
            primary: None,
            host_membership: false,
            storage: None,
            reminders: None,
            types: Vec::new(),
            only: None,
            client_only: false,
            services: Services::default(),
        }
    }

    /// Where to listen. Default: any free port on loopback (`127.0.0.1`)
    /// on tokio; in a simulation, on the simulated process's own address.
    /// A node other machines call needs an address they can reach: name
    /// it.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = Some(addr);
        self
    }

    /// The providers to run on (default: tokio's, from the current runtime).
    pub fn providers(mut self, providers: Providers) -> Self {
        self.providers = Some(providers);
        self
    }

    /// The membership table (default: a fresh in-memory one, i.e. a
    /// one-node cluster).
    pub fn membership(mut self, table: impl MembershipTable) -> Self {
        self.membership = Some(Arc::new(table));
        self
    }

    /// This node hosts the cluster's membership table (the primary of a
    /// development cluster); other nodes use [`NodeBuilder::primary`].
    ///
    /// The table lives in this process only: if the primary dies, the
    /// cluster cannot change membership, every node's lease runs out within
    /// two probe intervals and a probe timeout, and its calls fail with
    /// [`CallError::MembershipUnavailable`](crate::CallError::MembershipUnavailable)
    /// (see [`Node::membership_lost`]). For development and tests; a
    /// cluster that must survive any node uses a replicated table.
    pub fn host_membership(mut self) -> Self {
        self.host_membership = true;
        self
    }

    /// Uses the membership table of a development cluster, reached
    /// through `addr`: the primary itself or any node of the cluster (at
    /// start-up the node asks it which node the primary is, and talks to
    /// the primary from then on).
    pub fn primary(mut self, addr: SocketAddr) -> Self {
        self.primary = Some(addr);
        self
    }

    /// Where actors persist their state ([`Persisted`](crate::state::Persisted)).
    pub fn storage(mut self, storage: impl crate::state::StateStorage) -> Self {
        self.storage = Some(Arc::new(storage));
        self
    }

    /// Where reminders live (see [`crate::reminder`]): the cluster's one
    /// table, shared by every node (without one, registering a reminder
    /// fails with
    /// [`ReminderError::NotConfigured`](crate::reminder::ReminderError::NotConfigured)).
    /// A hosting node fires the reminders of its slice of the ring.
    pub fn reminders(mut self, table: impl ReminderTable) -> Self {
        self.reminders = Some(Arc::new(table));
        self
    }

    /// Hosts only the registered (`#[actor]`) types named here, instead of
    /// every one linked into the binary.
    pub fn only_types<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Hosts no actors: the node only calls them (a client).
    pub fn client_only(mut self) -> Self {
        self.client_only = true;
        self
    }

    /// Hosts actor type `A` on this node. Naming types this way turns off
    /// hosting every registered type.
    pub fn host<A: Actor>(mut self) -> Self {
        self.types.push((A::TYPE_NAME, factory_of::<A>()));
        self
    }

    /// Gives this node's actors `service`: any of them reaches it by type
    /// with [`ActorContext::service`](crate::actor::ActorContext::service),
    /// as a shared `Arc` (a database pool, a client, settings; one value
    /// per type, a later one replacing an earlier). The same on tokio and
    /// in a simulation, where a test gives each node its own fake.
    ///
    /// ```
    /// # moonpool_sim::Simulation::new(1).run(|sim| async move {
    /// struct RatesUrl(String);
    /// let node = moonpool_core::Node::builder("bank")
    ///     .providers(sim.providers())
    ///     .listen("10.0.0.1:7000".parse().unwrap())
    ///     .service(RatesUrl("https://rates.example".to_string()))
    ///     .build()
    ///     .await
    ///     .unwrap();
    /// # drop(node);
    /// # }).unwrap();
    /// ```
    pub fn service<T: Send + Sync + 'static>(self, service: T) -> Self {
        self.service_arc(std::sync::Arc::new(service))
    }

    /// [`service`](Self::service) for a value already shared (an `Arc` the
    /// application keeps too).
    pub fn service_arc<T: Send + Sync + 'static>(mut self, service: std::sync::Arc<T>) -> Self {
        self.services.insert(service);
        self
    }

    /// Records this node's calls (count by actor type, method and
    /// outcome; latency) and activations (live, created, deactivated)
    /// through the `metrics` facade, for whatever recorder the application
    /// installed (a Prometheus exporter, say). Off by default: a call then
    /// pays nothing for it. The transport's and membership's counters are
    /// always recorded (they cost nothing next to a network round trip).
    /// See [`crate::metrics`] for the names.
    ///
    /// ```
    /// # moonpool_sim::Simulation::new(1).run(|sim| async move {
    /// let node = moonpool_core::Node::builder("bank")
    ///     .providers(sim.providers())
    ///     .listen("10.0.0.1:7000".parse().unwrap())
    ///     .metrics(true)
    ///     .build()
    ///     .await
    ///     .unwrap();
    /// # drop(node);
    /// # }).unwrap();
    /// ```
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// Changes the call time limit.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = timeout;
        self
    }

    /// Changes failure detection: probe every `interval`, declare dead after
    /// `missed` unanswered probes of at most `timeout` each.
    ///
    /// The same settings size the node's *lease*: a hosting node re-reads
    /// the membership table every `interval`, and serves only within
    /// `2 × interval + timeout` of its last read that showed it
    /// alive (a node cut off from the table cannot know whether the cluster
    /// declared it dead and moved its actors). After learning of a death, a
    /// node places no new activation for that lease plus `interval`, so a
    /// dead node has stopped before its actors start anew elsewhere.
    pub fn failure_detection(mut self, interval: Duration, timeout: Duration, missed: u32) -> Self {
        self.config.probe_interval = interval;
        self.config.probe_timeout = timeout;
        self.config.missed_probes = missed.max(1);
        self
    }

    /// Starts the node: listen, join the membership table, start watching
    /// peers.
    ///
    /// # Errors
    ///
    /// A [`NodeError`] saying what could not start.
    pub async fn build(self) -> Result<Node, NodeError> {
        // The node's span: everything it does runs in it (its address is
        // known once the transport is bound).
        let span = tracing::info_span!(
            "node",
            node = tracing::field::Empty,
            cluster = %self.config.cluster_id
        );
        self.start(span.clone()).instrument(span).await
    }

    /// [`build`](Self::build), in the node's `span`.
    async fn start(mut self, span: tracing::Span) -> Result<Node, NodeError> {
        if self.client_only {
            self.types.clear();
        } else if self.types.is_empty() {
            // Every #[actor] type linked in (or the ones `only_types` names).
            let mut registered: Vec<&ActorRegistration> =
                inventory::iter::<ActorRegistration>.into_iter().collect();
            registered.sort_by_key(|r| r.type_name);
            for r in registered {
                let wanted = self
                    .only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|n| n == r.type_name));
                if wanted && !self.types.iter().any(|(n, _)| *n == r.type_name) {
                    self = (r.host)(self);
                }
            }
        }
        let providers = match self.providers {
            Some(p) => p,
            None => Providers::tokio()?,
        };
        let mut types = BTreeMap::new();
        for (name, factory) in self.types {
            // A call to one of its actors then decodes the type's name
            // without a copy.
            crate::type_names::remember(name);
            if types.insert(name, factory).is_some() {
                return Err(NodeError::DuplicateType(name));
            }
        }
        let hosts: Vec<String> = types.keys().map(|k| (*k).to_string()).collect();
        let hosted_membership = self.host_membership.then(InMemoryMembership::new);
        // One phase: bind first (the transport gives the node its id),
        // build the node around it, then open the door to peers.
        let gate = Arc::new(Gate::default());
        let mut transport_config = TransportConfig::new(self.config.cluster_id.clone());
        transport_config.span = span.clone();
        let transport = Transport::start(
            providers.clone(),
            self.config
                .listen
                .unwrap_or_else(|| SocketAddr::new(providers.network().default_ip(), 0)),
            transport_config,
            Arc::clone(&gate) as Arc<dyn crate::transport::Inbound>,
        )
        .await?;
        let id = transport.local();
        span.record("node", tracing::field::display(id.addr));
        let mut remote_table = None;
        let membership: Arc<dyn MembershipTable> =
            match (self.membership, &hosted_membership, self.primary) {
                (Some(table), _, _) => table,
                (None, Some(hosted), _) => Arc::new(hosted.clone()),
                (None, None, Some(seed)) => {
                    let table = PrimaryMembership {
                        primary: Arc::new(Mutex::new(seed)),
                        transport: transport.clone(),
                        timeout: self.config.probe_timeout.max(Duration::from_secs(1)),
                    };
                    remote_table = Some(table.clone());
                    Arc::new(table)
                }
                (None, None, None) => Arc::new(InMemoryMembership::new()),
            };
        let providers = Arc::new(providers);
        let net = Net::new(transport.clone());
        let client = types.is_empty();
        let cluster = Arc::new(Cluster::new(
            id,
            Arc::clone(&providers),
            membership,
            hosted_membership,
            remote_table.as_ref().map(|t| Arc::clone(&t.primary)),
            client,
            Lease::new(
                self.config.probe_interval * 2 + self.config.probe_timeout,
                self.config.probe_interval,
            ),
        ));
        let host = Arc::new(Host::new(
            id,
            Arc::clone(&providers),
            types,
            self.storage,
            self.config.metrics,
        ));
        let directory = Arc::new(Directory::new(
            net.clone(),
            Arc::clone(&providers),
            Arc::clone(&cluster),
            Arc::clone(&host),
        ));
        let router = Router::new(
            id,
            Arc::clone(&providers),
            Arc::clone(&cluster),
            Arc::clone(&directory),
        );
        let node = Node {
            inner: Arc::new(NodeInner {
                providers: Arc::clone(&providers),
                config: self.config.clone(),
                net,
                cluster,
                host,
                directory,
                router,
                reminders: Reminders::new(self.reminders),
                services: std::mem::take(&mut self.services),
                span,
                calls: AtomicU64::new(0),
            }),
        };
        node.inner.serve(&gate);
        let joined = join(&node, remote_table.as_ref(), hosts, &providers).await;
        if let Err(e) = joined {
            transport.shutdown();
            transport.listener_closed().await;
            return Err(e);
        }
        let (weak, span) = (Arc::downgrade(&node.inner), &node.inner.span);
        let p = &providers;
        spawn_in(
            p,
            format!("watch:{}", id.addr),
            span,
            watch::watch(weak.clone()),
        );
        let membership = watch::keep_membership(weak.clone());
        spawn_in(p, format!("membership:{}", id.addr), span, membership);
        if !client {
            let idle = super::idle::collect(Arc::clone(node.inner.host.idle()), Arc::clone(p));
            spawn_in(p, format!("idle:{}", id.addr), span, idle);
            if node.inner.reminders.table().is_some() {
                let firing = super::reminder_firing::keep(weak);
                spawn_in(p, format!("reminders:{}", id.addr), span, firing);
            }
        }
        Ok(node)
    }
}

/// Joins the cluster: finds the primary (through the seed), checks that
/// this node's state storage is the cluster's (see `shared_storage.rs`),
/// writes this node's row, and reads the view.
async fn join(
    node: &Node,
    remote_table: Option<&PrimaryMembership>,
    hosts: Vec<String>,
    providers: &Providers,
) -> Result<(), NodeError> {
    let inner = &node.inner;
    if let Some(table) = remote_table {
        table.resolve().await?;
    }
    let storage = match &inner.host.storage() {
        Some(store) if !hosts.is_empty() => Some(
            shared_storage::storage_identity(&**store, &inner.config.cluster_id, providers)
                .await
                .map_err(NodeError::Storage)?,
        ),
        _ => None,
    };
    let me = Member {
        id: inner.node_id(),
        status: MemberStatus::Alive,
        hosts,
        load: 0,
        storage,
    };
    let check = |members: &[Member]| match storage {
        Some(ours) => match shared_storage::foreign_store(members, &me, ours) {
            Some((other, theirs)) => Err(NodeError::ForeignStorage {
                node: other.id.addr,
                theirs,
                ours,
            }),
            None => Ok(()),
        },
        None => Ok(()),
    };
    // Checked before joining (a refused node never shows up in the table)
    // and after (two nodes joining at once see each other).
    check(&inner.cluster.table().snapshot().await?)?;
    inner.cluster.table().join(me.clone()).await?;
    let after = inner.cluster.table().snapshot().await;
    if let Err(e) = after.map_err(NodeError::from).and_then(|m| check(&m)) {
        let _ = inner.cluster.table().leave(me.id).await;
        return Err(e);
    }
    inner.directory.refresh().await;
    Ok(())
}

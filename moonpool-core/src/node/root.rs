//! The composition root: a node is its services (cluster, host, directory,
//! router) and the wire between nodes; this file holds what takes more
//! than one of them: activating an actor here (directory, then host),
//! forgetting one, and answering peers' requests.

use std::sync::{Arc, Weak};

use moonpool_sim::{Instant, Providers};

use super::cluster::Cluster;
use super::config::NodeConfig;
use super::directory::Directory;
use super::host::Host;
use super::net::Net;
use super::protocol::{DirectoryRequest, DirectoryResponse, HostRequest, HostResponse};
use super::reminders::Reminders;
use super::router::Router;
use crate::actor::{
    AnyActivation, CallAnswer, CallError, CallHead, CallRequest, CallTag, RemoteReply, Runtime,
    Services, check_cycle, unreachable,
};
use crate::id::ActorId;
use crate::transport::NodeId;

/// A node's services, composed.
pub(crate) struct NodeInner {
    pub(crate) providers: Arc<Providers>,
    pub(crate) config: NodeConfig,
    /// Bound before anything else is built: it gives the node its id.
    pub(crate) net: Net,
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) host: Arc<Host>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) router: Router,
    /// Fires the reminders of this node's slice of the ring.
    pub(crate) reminders: Reminders,
    /// What its actors reach with `ActorContext::service`.
    pub(crate) services: Services,
    /// `node{node, cluster}` (`info`): the node's tasks run in it.
    pub(crate) span: tracing::Span,
    /// Numbers the calls made from this node (the `call` of their spans).
    pub(crate) calls: std::sync::atomic::AtomicU64,
}

impl NodeInner {
    /// This node's id.
    pub(crate) fn node_id(&self) -> NodeId {
        self.net.me()
    }

    /// The erased activation for `id`, activating it if the directory says
    /// this node is its home (`registered_here`: the caller has just been
    /// told so by the directory, so there is no need to ask again).
    pub(crate) async fn hosted_or_activate(
        self: &Arc<Self>,
        id: &ActorId,
        registered_here: bool,
    ) -> Result<Option<Arc<dyn AnyActivation>>, CallError> {
        if let Some(a) = self.host.get(id) {
            return Ok(Some(a));
        }
        if !self.host.hosts_type(id.type_name.as_ref()) {
            return Ok(None);
        }
        let me = self.node_id();
        if self.host.is_leaving() {
            self.forget_stale_entry(id).await;
            return Ok(None);
        }
        if !registered_here {
            match self.directory.register(id, me).await {
                Ok(Some(home)) if home == me => {}
                Ok(_) => return Ok(None),
                Err(e) => return Err(unreachable(id, &e)),
            }
        }
        let runtime: Weak<dyn Runtime> = Arc::downgrade(self) as Weak<dyn Runtime>;
        Ok(self.host.activate(id, &runtime))
    }

    /// Nothing new starts on a leaving node, so a directory entry that
    /// still sends `id` here is stale: removes it, so that the caller's
    /// next try places the actor anew.
    async fn forget_stale_entry(&self, id: &ActorId) {
        if let Err(e) = self.directory.unregister(id, self.node_id()).await {
            tracing::debug!(actor = %id, error = %e, "leaving: could not remove a stale directory entry");
        }
    }

    /// An activation ended: it leaves the table, then the directory.
    pub(crate) async fn forget_activation(&self, id: &ActorId, generation: u64) {
        if !self.host.forget(id, generation) {
            return;
        }
        if let Err(e) = self.directory.unregister(id, self.node_id()).await {
            tracing::debug!(actor = %id, error = %e, "could not unregister from the directory");
        }
    }

    /// Whether a call from `from` to `call.target` can go straight to a
    /// hosted activation (nothing unusual to answer), and that activation
    /// with the clock reading its lease was checked at (one reading per
    /// call: it also starts the idle clock of a turn run right here).
    pub(crate) fn ready_for(
        &self,
        from: &NodeId,
        call: &CallRequest,
    ) -> Option<(Arc<dyn AnyActivation>, Instant)> {
        let head = &call.head;
        let now = self.providers.now();
        let ready = !self.host.is_stopping()
            && check_cycle(&head.target, head.turn, &head.chain).is_ok()
            && self.cluster.check_lease_at(now).is_ok()
            && self.cluster.refuse_from(from).is_none();
        ready
            .then(|| self.host.get(&head.target))
            .flatten()
            .map(|activation| (activation, now))
    }

    /// Serves a peer's request to the directory of this node.
    pub(crate) async fn serve_directory(
        self: Arc<Self>,
        from: NodeId,
        req: DirectoryRequest,
    ) -> DirectoryResponse {
        // What a dead node sends must not land after its actors moved.
        if let Some(refusal) = self.cluster.refuse_from(&from) {
            return DirectoryResponse::Failed(refusal);
        }
        let directory = &self.directory;
        match req {
            DirectoryRequest::Register { actor, candidate } => {
                directory.handle_register(&actor, candidate).await
            }
            DirectoryRequest::Lookup { actor } => {
                DirectoryResponse::Location(directory.lookup(&actor))
            }
            DirectoryRequest::Unregister { actor, node } => {
                directory.unregister_here(&actor, node);
                DirectoryResponse::Done
            }
            DirectoryRequest::Handoff { entries } => {
                let losers = directory.accept_handoff(entries);
                directory.stop_duplicates(losers);
                DirectoryResponse::Done
            }
            DirectoryRequest::Report {
                host,
                ring,
                actors,
                complete,
            } => {
                let losers = directory.accept_report(host, ring, actors, complete);
                directory.stop_duplicates(losers);
                DirectoryResponse::Done
            }
        }
    }

    /// Serves a peer's request to the host of this node.
    pub(crate) fn serve_host(&self, from: NodeId, req: HostRequest) -> HostResponse {
        if let Some(refusal) = self.cluster.refuse_from(&from) {
            return HostResponse::Refused(refusal);
        }
        match req {
            HostRequest::Hosts { actor } => {
                HostResponse::Hosts(self.host.contains(&actor).then(|| self.node_id()))
            }
            HostRequest::Deactivate { actor } => {
                if let Some(a) = self.host.get(&actor) {
                    a.stop();
                }
                HostResponse::Done
            }
        }
    }

    /// Handles a call from a peer node (one the fast path in `inbound.rs`
    /// did not hand straight to its activation).
    pub(crate) async fn handle_call(
        self: Arc<Self>,
        from: NodeId,
        call: CallRequest,
    ) -> CallAnswer {
        if let Some(refusal) = self.cluster.refuse_from(&from) {
            return CallAnswer::Failed(refusal);
        }
        let tag = CallTag::of(from, &call.head);
        let CallRequest {
            head:
                CallHead {
                    target,
                    method,
                    chain,
                    turn,
                    ..
                },
            body,
        } = call;
        // Stopped, or leaving and no longer hosting the actor: the call
        // certainly did not run here; the caller re-routes.
        let leaving = self.host.is_leaving();
        if self.host.is_stopping() || (leaving && !self.host.contains(&target)) {
            if leaving {
                self.forget_stale_entry(&target).await;
            }
            return CallAnswer::NotHere;
        }
        if let Err(e) = check_cycle(&target, turn, &chain).and(self.cluster.check_lease()) {
            return CallAnswer::Failed(e);
        }
        if !self.host.hosts_type(target.type_name.as_ref()) {
            return CallAnswer::Failed(CallError::UnknownActorType {
                actor_type: target.type_name.to_string(),
            });
        }
        let activation = match self.hosted_or_activate(&target, false).await {
            Ok(Some(a)) => a,
            Ok(None) => return CallAnswer::NotHere,
            Err(e) => return CallAnswer::Failed(e),
        };
        let (reply, rx) = RemoteReply::to_task();
        activation.deliver_remote(method, body, chain, reply, tag, None);
        match rx.await {
            Ok(Ok(bytes)) => CallAnswer::Reply(bytes.into()),
            Ok(Err(e)) => CallAnswer::Failed(e),
            // Dropped unrun: the activation stopped; re-route.
            Err(_) => CallAnswer::NotHere,
        }
    }
}

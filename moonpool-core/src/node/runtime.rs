//! The node as the actor layer sees it: [`Runtime`] for [`NodeInner`],
//! and [`ActorContext::node`].

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::{BoxFuture, Instant, Providers};

use super::protocol::RequestRef;
use super::{Node, NodeInner};
use crate::actor::{
    ActorContext, ActorId, CallAnswer, CallError, CallRequest, Idle, Placement, Runtime, SendJob,
};
use crate::state::StateStorage;
use crate::sync::lock;
use crate::transport::{NodeId, TransportError};

impl Runtime for NodeInner {
    fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    fn storage(&self) -> Option<Arc<dyn StateStorage>> {
        self.storage.clone()
    }

    fn watch_idle(&self, at: Instant, generation: u64, activation: Weak<dyn Idle>) {
        self.idle.watch(at, generation, activation);
    }

    fn forget_activation<'a>(&'a self, id: &'a ActorId, generation: u64) -> BoxFuture<'a, ()> {
        Box::pin(NodeInner::forget_activation(self, id, generation))
    }

    fn me(&self) -> NodeId {
        self.node_id()
    }

    fn call_timeout(&self) -> Duration {
        self.config.call_timeout
    }

    fn admit(&self, from_turn: bool) -> Result<(), CallError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(CallError::ShuttingDown);
        }
        if let Some(e) = self.membership_lost() {
            return Err(CallError::MembershipUnavailable {
                reason: e.to_string(),
            });
        }
        // A call from a turn acts for an actor of this node: not while the
        // node cannot vouch that it still hosts it.
        if from_turn {
            self.check_lease()?;
        }
        Ok(())
    }

    fn check_lease(&self) -> Result<(), CallError> {
        NodeInner::check_lease(self)
    }

    fn cached(&self, id: &ActorId) -> Option<NodeId> {
        let n = lock(&self.cache).get(id).copied()?;
        lock(&self.view).is_serving(n).then_some(n)
    }

    fn locate<'a>(
        &'a self,
        id: &'a ActorId,
        placement: Placement,
    ) -> BoxFuture<'a, Result<(NodeId, bool), CallError>> {
        Box::pin(NodeInner::locate(self, id, placement))
    }

    fn hosted(&self, id: &ActorId) -> Option<Arc<dyn Any + Send + Sync>> {
        let a = lock(&self.activations).get(id).map(Arc::clone)?;
        Some(a.into_any())
    }

    fn activation<'a>(
        self: Arc<Self>,
        id: &'a ActorId,
        registered_here: bool,
    ) -> BoxFuture<'a, Result<Option<Arc<dyn Any + Send + Sync>>, CallError>> {
        Box::pin(async move {
            let hosted = self.hosted_or_activate(id, registered_here).await?;
            Ok(hosted.map(|a| a.into_any()))
        })
    }

    fn invalidate(&self, id: &ActorId) {
        lock(&self.cache).remove(id);
    }

    fn request_call(
        &self,
        to: NodeId,
        call: CallRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<CallAnswer, TransportError>> {
        Box::pin(async move { self.exchange(to, &RequestRef::Call(&call), timeout).await })
    }

    fn enqueue_send(self: Arc<Self>, id: ActorId, job: SendJob) {
        self.enqueue_job(id, job);
    }

    fn is_stopping(&self) -> bool {
        NodeInner::is_stopping(self)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl ActorContext {
    /// The node hosting this activation, while it runs.
    pub fn node(&self) -> Option<Node> {
        let inner = self.runtime()?.into_any().downcast::<NodeInner>().ok()?;
        Some(Node { inner })
    }
}

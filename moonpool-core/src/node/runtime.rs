//! The node as the actor layer sees it: [`Runtime`] for [`NodeInner`],
//! the task draining a lane of one-way messages, and
//! [`ActorContext::node`].

use std::any::Any;
use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::{BoxFuture, Instant, Providers};

use super::handle::Node;
use super::net::Net;
use super::protocol::ReminderRequest;
use super::root::NodeInner;
use crate::actor::{
    ActorContext, ActorId, CallAnswer, CallError, CallHeadRef, Idle, Located, Placement, Runtime,
    SendJob, Services,
};
use crate::reminder::ReminderTable;
use crate::spawn::{spawn_as_in, spawn_in};
use crate::state::StateStorage;
use crate::transport::{NodeId, Outgoing, TransportError};

impl Runtime for NodeInner {
    fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    fn storage(&self) -> Option<Arc<dyn StateStorage>> {
        self.host.storage()
    }

    fn reminder_table(&self) -> Option<Arc<dyn ReminderTable>> {
        self.reminders.table().cloned()
    }

    fn reminder_changed(self: Arc<Self>, actor: ActorId) {
        let p = Arc::clone(&self.providers);
        let span = self.span.clone();
        spawn_in(
            &p,
            "reminder-notice",
            &span,
            tell_reminder_owner(self, actor),
        );
    }

    fn watch_idle(&self, at: Instant, generation: u64, activation: Weak<dyn Idle>) {
        self.host.watch_idle(at, generation, activation);
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

    fn metrics_enabled(&self) -> bool {
        self.config.metrics
    }

    fn services(&self) -> &Services {
        &self.services
    }

    fn span(&self) -> &tracing::Span {
        &self.span
    }

    fn next_call_id(&self) -> u64 {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    fn admit(&self, from_turn: bool) -> Result<(), CallError> {
        if self.host.is_stopping() {
            return Err(CallError::ShuttingDown);
        }
        if let Some(e) = self.cluster.membership_lost() {
            return Err(CallError::MembershipUnavailable { error: e });
        }
        // A call from a turn acts for an actor of this node: not while the
        // node cannot vouch that it still hosts it.
        if from_turn {
            self.cluster.check_lease()?;
        }
        Ok(())
    }

    fn check_lease(&self, now: Instant) -> Result<(), CallError> {
        self.cluster.check_lease_at(now)
    }

    fn cached(&self, id: &ActorId) -> Option<NodeId> {
        self.router.cached(id)
    }

    fn hosted(&self, id: &ActorId) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(self.host.get(id)?.into_any())
    }

    fn locate<'a>(
        self: Arc<Self>,
        id: &'a ActorId,
        placement: Placement,
    ) -> BoxFuture<'a, Result<Located, CallError>> {
        Box::pin(async move {
            let (home, registered_here) = self.router.locate(id, placement).await?;
            if home != self.node_id() {
                return Ok(Located::Remote(home));
            }
            self.cluster.check_lease()?;
            Ok(match self.hosted_or_activate(id, registered_here).await? {
                Some(a) => Located::Local(a.into_any()),
                None => Located::NotHere,
            })
        })
    }

    fn invalidate(&self, id: &ActorId) {
        self.router.invalidate(id);
    }

    fn call_request(&self, head: CallHeadRef<'_>) -> Result<Outgoing, TransportError> {
        Net::call_request(head)
    }

    fn request_call(
        &self,
        to: NodeId,
        request: Outgoing,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<CallAnswer, TransportError>> {
        Box::pin(self.net.call(to, request, timeout))
    }

    fn enqueue_send(self: Arc<Self>, id: ActorId, job: SendJob) {
        if self.router.enqueue_send(&id, job) {
            let p = Arc::clone(&self.providers);
            let span = self.span.clone();
            let name = id.clone();
            spawn_as_in(&p, "sends", name, &span, drain(self, id));
        }
    }

    fn is_stopping(&self) -> bool {
        self.host.is_stopping()
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

/// Tells the node owning `actor`'s reminders that they changed, trying a
/// few times through lost connections (the owner also re-reads its whole
/// slice of the table regularly, so a notice that never arrives only
/// delays the change).
async fn tell_reminder_owner(node: Arc<NodeInner>, actor: ActorId) {
    const ATTEMPTS: u32 = 5;
    let timeout = node.config.probe_timeout.max(Duration::from_secs(1));
    for attempt in 1..=ATTEMPTS {
        let owner = node.cluster.with_view(|v| v.owner(&actor));
        match owner {
            Some(owner) if owner == node.node_id() => {
                node.reminders.notice(actor);
                return;
            }
            Some(owner) => {
                let req = ReminderRequest::Changed {
                    actor: actor.clone(),
                };
                match node.net.request(owner, &req, timeout).await {
                    Ok(_) => return,
                    Err(e) if attempt == ATTEMPTS => {
                        tracing::debug!(%owner, error = %e, "could not tell a reminder's owner of a change; it will find it in the table");
                    }
                    Err(_) => {}
                }
            }
            // No host on the ring yet: the first one reads the table.
            None => return,
        }
        if node.host.is_stopping() {
            return;
        }
        node.providers
            .sleep(Duration::from_millis(200) * attempt)
            .await;
    }
}

/// Delivers `id`'s queued sends one after the other until none is left.
async fn drain(node: Arc<NodeInner>, id: ActorId) {
    while let Some(job) = node.router.next_send(&id) {
        job(Arc::clone(&node) as Arc<dyn Runtime>).await;
    }
}

//! The membership table of a development cluster, as the nodes that do not
//! host it reach it: over the cluster transport, through the primary node.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;

use super::membership::{Member, MembershipError, MembershipTable};
use super::protocol::{ClusterRequest, ClusterResponse, MembershipOp, ServiceRequest};
use crate::sync::lock;
use crate::transport::NodeId;

/// The membership table of a development cluster, hosted by one primary
/// node (built with [`NodeBuilder::host_membership`]) and reached over the
/// cluster transport by the others (built with
/// [`NodeBuilder::primary`]). If the primary is down, membership cannot
/// change until it is back.
///
/// [`NodeBuilder::host_membership`]: super::NodeBuilder::host_membership
/// [`NodeBuilder::primary`]: super::NodeBuilder::primary
#[derive(Clone)]
pub(crate) struct PrimaryMembership {
    /// The primary: first the seed the node was given; the primary itself
    /// once the seed has said which node that is (see
    /// [`resolve`](Self::resolve)).
    pub(crate) primary: Arc<Mutex<SocketAddr>>,
    pub(crate) transport: crate::transport::Transport,
    pub(crate) timeout: std::time::Duration,
}

impl PrimaryMembership {
    /// Sends `req` to the primary; the raw answer.
    async fn send(
        &self,
        req: &ClusterRequest,
    ) -> Result<(SocketAddr, ClusterResponse), MembershipError> {
        let primary = *lock(&self.primary);
        let transport = &self.transport;
        let bytes = postcard::to_allocvec(&req.tagged())
            .map_err(|e| MembershipError::Unavailable(format!("cannot encode a request: {e}")))?;
        let reply = transport
            .request(primary, bytes, self.timeout)
            .await
            .map_err(|e| MembershipError::PrimaryUnreachable {
                primary,
                reason: e.to_string(),
            })?;
        let response = postcard::from_bytes(&reply).map_err(|e| MembershipError::Refused {
            primary,
            reason: format!("an answer that cannot be decoded ({e})"),
        })?;
        Ok((primary, response))
    }

    fn ask(&self, op: MembershipOp) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>> {
        let this = self.clone();
        Box::pin(async move {
            let req = ClusterRequest::Membership(op);
            match this.send(&req).await? {
                (_, ClusterResponse::Members(m)) => Ok(m),
                (_, ClusterResponse::Failed(e)) => Err(e),
                (primary, _) => Err(MembershipError::Refused {
                    primary,
                    reason: "it answered with something that is not a membership answer"
                        .to_string(),
                }),
            }
        })
    }

    /// Sends a change to the primary; only whether it was applied counts.
    fn apply(&self, op: MembershipOp) -> BoxFuture<'static, Result<(), MembershipError>> {
        let f = self.ask(op);
        Box::pin(async move { f.await.map(|_| ()) })
    }

    /// Asks the seed which node is the primary, and talks to that node
    /// from now on: any node of the cluster can be given as the seed.
    pub(crate) async fn resolve(&self) -> Result<(), MembershipError> {
        match self
            .send(&ClusterRequest::Membership(MembershipOp::Primary))
            .await?
        {
            (seed, ClusterResponse::Primary(primary)) => {
                tracing::info!(%seed, %primary, "membership primary found through the seed; using it from now on");
                *lock(&self.primary) = primary;
                Ok(())
            }
            (_, ClusterResponse::Failed(e)) => Err(e),
            (seed, _) => Err(MembershipError::Refused {
                primary: seed,
                reason: "it does not know the membership primary".to_string(),
            }),
        }
    }
}

impl MembershipTable for PrimaryMembership {
    fn join(&self, member: Member) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.apply(MembershipOp::Join(member))
    }

    fn report_load(
        &self,
        node: NodeId,
        load: u64,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.apply(MembershipOp::ReportLoad(node, load))
    }

    fn declare_dead(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.apply(MembershipOp::DeclareDead(node, by))
    }

    fn withdraw_suspicion(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.apply(MembershipOp::Withdraw(node, by))
    }

    fn begin_leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.apply(MembershipOp::BeginLeave(node))
    }

    fn leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.apply(MembershipOp::Leave(node))
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>> {
        self.ask(MembershipOp::Snapshot)
    }
}

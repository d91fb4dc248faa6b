//! Requests from peer nodes: decoded once, and either handed straight to a
//! hosted activation or handled by the node in a task of their own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use super::gate::Gate;
use super::protocol::Request;
use super::root::NodeInner;
use crate::actor::{CallRequest, RemoteReply, encode_answer};
use crate::transport::{NodeId, Responder};

impl NodeInner {
    /// Starts serving peers' requests through `gate`.
    pub(crate) fn serve(self: &Arc<Self>, gate: &Gate) {
        gate.open(Arc::new(Inbound {
            node: Arc::downgrade(self),
        }));
    }
}

/// What the node does with its peers' requests.
struct Inbound {
    node: Weak<NodeInner>,
}

impl Inbound {
    /// The node, while it runs.
    fn node(&self) -> Result<Arc<NodeInner>, &'static str> {
        self.node.upgrade().ok_or("the node has stopped")
    }
}

impl crate::transport::Inbound for Inbound {
    /// Decodes each request once, here. A call to an activation this node
    /// already hosts goes straight to it — run right here when its actor is
    /// at rest and the turn exclusive, queued behind the running turns
    /// otherwise — and the activation answers on the connection: no task,
    /// no extra wake-up. Anything else (including every refusal) is handled
    /// by `NodeInner::handle` in a task of its own.
    fn dispatch(
        &self,
        from: NodeId,
        payload: Vec<u8>,
        responder: Responder,
    ) -> Result<(), (Vec<u8>, Responder)> {
        let node = match self.node() {
            Ok(node) => node,
            Err(why) => {
                responder.send(Err(why.to_string()));
                return Ok(());
            }
        };
        let req: Request = match postcard::from_bytes(&payload) {
            Ok(req) => req,
            Err(e) => {
                responder.send(Err(format!("undecodable node request: {e}")));
                return Ok(());
            }
        };
        // No clone of anything shared on the fast path of a call: under many
        // callers, every contended atomic shows in the throughput.
        match req {
            Request::Call(call) => {
                // Anything unusual (stopping, a cycle, a lapsed lease, a
                // dead caller) is answered by `handle_call`.
                if let Some(activation) = node.ready_for(&from, &call) {
                    let CallRequest {
                        method,
                        body,
                        chain,
                        ..
                    } = call;
                    activation.deliver_remote(method, body, chain, RemoteReply::to_wire(responder));
                    return Ok(());
                }
                let p = Arc::clone(&node.providers);
                p.spawn_detached("inbound-call", async move {
                    let answer = node.handle_call(from, call).await;
                    responder.send(encode_answer(&answer));
                });
            }
            Request::Directory(req) => {
                let p = Arc::clone(&node.providers);
                p.spawn_detached("inbound-directory", async move {
                    let resp = node.serve_directory(from, req).await;
                    responder.send(encode(&resp));
                });
            }
            Request::Host(req) => responder.send(encode(&node.serve_host(from, req))),
            Request::Cluster(req) => {
                let p = Arc::clone(&node.providers);
                p.spawn_detached("inbound-cluster", async move {
                    let resp = node.cluster.serve(req).await;
                    responder.send(encode(&resp));
                });
            }
        }
        Ok(())
    }

    fn handle(
        &self,
        from: NodeId,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>> {
        let node = self.node();
        Box::pin(async move {
            let node = node?;
            let req: Request = postcard::from_bytes(&payload)
                .map_err(|e| format!("undecodable node request: {e}"))?;
            match req {
                Request::Call(call) => encode_answer(&node.handle_call(from, call).await),
                Request::Directory(req) => encode(&node.serve_directory(from, req).await),
                Request::Host(req) => encode(&node.serve_host(from, req)),
                Request::Cluster(req) => encode(&node.cluster.serve(req).await),
            }
        })
    }
}

/// The wire form of a service's response (the text of the failure if it
/// cannot be encoded).
fn encode(resp: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(resp).map_err(|e| format!("cannot encode the response: {e}"))
}

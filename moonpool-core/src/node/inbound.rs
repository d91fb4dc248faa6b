//! Requests from peer nodes: the service tag and header decoded once, a
//! call's message left where it arrived, and the request either handed
//! straight to a hosted activation or served by the node in a task of its
//! own.

use std::sync::{Arc, Weak};

use super::gate::Gate;
use super::protocol::{ReminderRequest, ReminderResponse, Request};
use super::root::NodeInner;
use crate::actor::{CallHead, CallRequest, CallTag, RemoteReply};
use crate::spawn::spawn_in;
use crate::transport::{NodeId, Outgoing, Payload, Responder};

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

impl crate::transport::Inbound for Inbound {
    /// A call to an activation this node already hosts goes straight to
    /// it — run right here when its actor is at rest and the turn
    /// exclusive, queued behind the running turns otherwise — and the
    /// activation answers on the connection: no task, no extra wake-up,
    /// no copy of the message. Anything else (including every refusal) is
    /// served in a task of its own.
    fn dispatch(&self, from: NodeId, mut request: Payload, responder: Responder) {
        let Some(node) = self.node.upgrade() else {
            return responder.fail("the node has stopped");
        };
        let tagged = match request.take::<Request>() {
            Ok(tagged) => tagged,
            Err(e) => return responder.fail(format!("undecodable node request: {e}")),
        };
        // No clone of anything shared on the fast path of a call: under many
        // callers, every contended atomic shows in the throughput.
        match tagged {
            Request::Call(head) => {
                let call = CallRequest {
                    head,
                    body: request,
                };
                // Anything unusual (stopping, a cycle, a lapsed lease, a
                // dead caller) is answered by `handle_call`.
                if let Some((activation, now)) = node.ready_for(&from, &call) {
                    let tag = CallTag::of(from, &call.head);
                    let CallRequest {
                        head: CallHead { method, chain, .. },
                        body,
                    } = call;
                    let reply = RemoteReply::to_wire(responder);
                    activation.deliver_remote(method, body, chain, reply, tag, Some(now));
                    return;
                }
                let p = Arc::clone(&node.providers);
                let span = node.span.clone();
                spawn_in(&p, "inbound-call", &span, async move {
                    let answer = node.handle_call(from, call).await;
                    responder.send(answer.encode());
                });
            }
            Request::Directory(req) => {
                let p = Arc::clone(&node.providers);
                let span = node.span.clone();
                spawn_in(&p, "inbound-directory", &span, async move {
                    let resp = node.serve_directory(from, req).await;
                    responder.send(encode(&resp));
                });
            }
            Request::Host(req) => responder.send(encode(&node.serve_host(from, req))),
            Request::Reminders(ReminderRequest::Changed { actor }) => {
                node.reminders.notice(actor);
                responder.send(encode(&ReminderResponse::Done));
            }
            Request::Cluster(req) => {
                let p = Arc::clone(&node.providers);
                let span = node.span.clone();
                spawn_in(&p, "inbound-cluster", &span, async move {
                    let resp = node.cluster.serve(req).await;
                    responder.send(encode(&resp));
                });
            }
        }
    }
}

/// The wire form of a service's response (the text of the failure if it
/// cannot be encoded).
fn encode(resp: &impl serde::Serialize) -> Result<Outgoing, String> {
    let mut out = Outgoing::new();
    out.encode(resp)
        .map_err(|e| format!("cannot encode the response: {e}"))?;
    Ok(out)
}

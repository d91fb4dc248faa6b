//! One-way messages leave in order: every send from this node to one actor
//! goes through that actor's lane, a queue drained by one task at a time,
//! each message delivered (as a call) before the next starts. Lanes to
//! different actors run side by side; an empty lane is dropped.

use std::collections::VecDeque;

use moonpool_sim::BoxFuture;

use super::{IdMap, Node};
use crate::actor::ActorId;
use crate::sync::lock;

/// One queued send: delivers itself through the node it is given.
pub(crate) type Job = Box<dyn FnOnce(Node) -> BoxFuture<'static, ()> + Send>;

/// The lanes with queued sends.
pub(crate) type Lanes = IdMap<VecDeque<Job>>;

impl Node {
    /// Queues `job` on `id`'s lane, starting the lane's task if it is idle.
    pub(crate) fn enqueue_send(&self, id: ActorId, job: Job) {
        let start = {
            let mut lanes = lock(&self.inner.lanes);
            match lanes.get_mut(&id) {
                Some(queue) => {
                    queue.push_back(job);
                    false
                }
                None => {
                    lanes.insert(id.clone(), VecDeque::from([job]));
                    true
                }
            }
        };
        if start {
            let node = self.clone();
            self.inner
                .providers
                .spawn_detached(format!("sends:{id}"), drain(node, id));
        }
    }
}

/// Delivers `id`'s queued sends one after the other until none is left.
async fn drain(node: Node, id: ActorId) {
    loop {
        let job = {
            let mut lanes = lock(&node.inner.lanes);
            match lanes.get_mut(&id).and_then(VecDeque::pop_front) {
                Some(job) => job,
                None => {
                    lanes.remove(&id);
                    return;
                }
            }
        };
        job(node.clone()).await;
    }
}

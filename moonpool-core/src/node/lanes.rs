//! One-way messages leave in order: every send from this node to one actor
//! goes through that actor's lane, a queue drained by one task at a time,
//! each message delivered (as a call) before the next starts. Lanes to
//! different actors run side by side; an empty lane is dropped.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{IdMap, NodeInner};
use crate::actor::{ActorId, Runtime, SendJob};
use crate::sync::lock;

/// The lanes with queued sends.
pub(crate) type Lanes = IdMap<VecDeque<SendJob>>;

impl NodeInner {
    /// Queues `job` on `id`'s lane, starting the lane's task if it is idle.
    pub(crate) fn enqueue_job(self: Arc<Self>, id: ActorId, job: SendJob) {
        let start = {
            let mut lanes = lock(&self.lanes);
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
            let p = Arc::clone(&self.providers);
            p.spawn_detached(format!("sends:{id}"), drain(self, id));
        }
    }
}

/// Delivers `id`'s queued sends one after the other until none is left.
async fn drain(node: Arc<NodeInner>, id: ActorId) {
    loop {
        let job = {
            let mut lanes = lock(&node.lanes);
            match lanes.get_mut(&id).and_then(VecDeque::pop_front) {
                Some(job) => job,
                None => {
                    lanes.remove(&id);
                    return;
                }
            }
        };
        job(Arc::clone(&node) as Arc<dyn Runtime>).await;
    }
}

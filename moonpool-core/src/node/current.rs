//! The node whose request is being decoded on this thread: what a
//! deserialized [`ActorRef`](crate::ActorRef) binds to.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Node;

thread_local! {
    static CURRENT_NODE: RefCell<Option<Node>> = const { RefCell::new(None) };
}

/// The node whose request is being decoded on this thread, if any: lets a
/// deserialized [`ActorRef`] bind to it.
pub(crate) fn current_node() -> Option<Node> {
    CURRENT_NODE.with(|c| c.borrow().clone())
}

pin_project_lite::pin_project! {
    /// Polls `F` with `node` as the current node (see [`with_current_node`]).
    pub(crate) struct WithNode<F> {
        node: Option<Node>,
        #[pin]
        future: F,
    }
}

/// Runs `future` with `node` as this thread's current node while it is
/// polled: what decodes a message (and any [`ActorRef`] in it) binds to.
pub(crate) fn with_current_node<F: Future>(node: Option<Node>, future: F) -> WithNode<F> {
    WithNode { node, future }
}

impl<F: Future> Future for WithNode<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let previous = CURRENT_NODE.with(|c| c.replace(this.node.clone()));
        let out = this.future.poll(cx);
        CURRENT_NODE.with(|c| *c.borrow_mut() = previous);
        out
    }
}

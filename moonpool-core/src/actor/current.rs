//! The runtime whose request is being decoded on this thread: what a
//! deserialized [`ActorRef`](super::ActorRef) binds to.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::runtime::Runtime;

thread_local! {
    static CURRENT: RefCell<Option<Arc<dyn Runtime>>> = const { RefCell::new(None) };
}

/// The runtime whose request is being decoded on this thread, if any:
/// lets a deserialized reference bind to it.
pub(crate) fn current_runtime() -> Option<Arc<dyn Runtime>> {
    CURRENT.with(|c| c.borrow().clone())
}

pin_project_lite::pin_project! {
    /// Polls `F` with a runtime as the current one (see [`with_runtime`]).
    pub(crate) struct WithRuntime<F> {
        runtime: Option<Arc<dyn Runtime>>,
        #[pin]
        future: F,
    }
}

/// Runs `future` with `runtime` as this thread's current runtime while it
/// is polled: what decodes a message (and any reference in it) binds to.
pub(crate) fn with_runtime<F: Future>(
    runtime: Option<Arc<dyn Runtime>>,
    future: F,
) -> WithRuntime<F> {
    WithRuntime { runtime, future }
}

impl<F: Future> Future for WithRuntime<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let previous = CURRENT.with(|c| c.replace(this.runtime.clone()));
        let out = this.future.poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        out
    }
}

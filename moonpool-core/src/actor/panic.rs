//! Handler panics: caught at the turn, reported as text.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs a handler future, turning a panic into `Err(message)`.
///
/// # Example
///
/// ```
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let r = moonpool_core::actor::catch_handler_panic(async { panic!("bad input") }).await;
/// assert_eq!(r, Err::<(), _>("bad input".to_string()));
/// # }).unwrap();
/// ```
pub async fn catch_handler_panic<F: Future>(future: F) -> Result<F::Output, String> {
    CatchUnwind { future }.await
}

pin_project_lite::pin_project! {
    /// Polls the inner future, catching a panic (no allocation).
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(panic_text(payload.as_ref()))),
        }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".to_string())
}

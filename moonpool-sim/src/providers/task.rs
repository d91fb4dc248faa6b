//! Tasks: the [`TaskProvider`] trait, provider-neutral [`JoinHandle`]s and
//! [`yield_now`].
//!
//! A provider only has to run type-erased `()` futures. Results, abort and
//! cancellation are handled here, once, for every provider: a spawned future
//! is wrapped so that it reports its output (or its cancellation) to its
//! [`JoinHandle`].

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A boxed, `Send` future: what providers pass around.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a provider is told about a task it is asked to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// A human-readable name, shown in deadlock and panic reports.
    pub name: Cow<'static, str>,
    /// Where in the source the task was spawned.
    pub location: &'static Location<'static>,
}

/// Runs tasks, as the runtime sees it.
///
/// Use it through [`Providers::spawn`](crate::Providers::spawn), which returns
/// a typed [`JoinHandle`]. The tokio implementation spawns on the runtime; the
/// simulated one adds the task to the current simulated process.
///
/// # Example
///
/// ```
/// use moonpool_sim::{BoxFuture, SpawnSpec, TaskProvider};
/// use std::sync::Mutex;
///
/// /// Collects tasks instead of running them.
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<String>>);
/// impl TaskProvider for Collect {
///     fn spawn_erased(&self, spec: SpawnSpec, _future: BoxFuture<'static, ()>) {
///         if let Ok(mut names) = self.0.lock() {
///             names.push(spec.name.into_owned());
///         }
///     }
/// }
/// let c = Collect::default();
/// c.spawn_erased(
///     SpawnSpec { name: "job".into(), location: std::panic::Location::caller() },
///     Box::pin(async {}),
/// );
/// assert_eq!(c.0.lock().unwrap().as_slice(), ["job"]);
/// ```
pub trait TaskProvider: Send + Sync + 'static {
    /// Starts running `future` concurrently with the caller.
    fn spawn_erased(&self, spec: SpawnSpec, future: BoxFuture<'static, ()>);

    /// Whether anything reads the names of tasks spawned now (the
    /// simulator's reports do; tokio's only in its trace log). When not,
    /// a hot path may name its task by its kind alone instead of
    /// formatting a name nobody reads (see
    /// [`Providers::spawn_detached_as`](crate::Providers::spawn_detached_as)).
    fn reads_names(&self) -> bool {
        true
    }

    /// Spends one unit of the running task's cooperative budget:
    /// `Pending` when the budget is spent (the task is woken to run again
    /// once the others on its thread had their turn), `Ready` otherwise.
    ///
    /// Work that completes without ever waiting — a call to an actor at
    /// rest on the same node runs its turn right in the caller's task —
    /// polls this, so that a loop of such work still lets the other tasks
    /// of its thread run, as the channel operations of a hand-written
    /// actor do. The tokio provider spends tokio's budget (128 units a
    /// poll). The default, and the simulator's, is always `Ready`:
    /// simulated time does not pass while a task runs, so nothing falls
    /// behind.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_sim::{BoxFuture, SpawnSpec, TaskProvider};
    /// use std::task::{Context, Waker};
    ///
    /// struct Inline;
    /// impl TaskProvider for Inline {
    ///     fn spawn_erased(&self, _: SpawnSpec, _: BoxFuture<'static, ()>) {}
    /// }
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(Inline.poll_budget(&mut cx).is_ready());
    /// ```
    fn poll_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Ready(())
    }
}

/// Why a task produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The task was aborted, or dropped before finishing (its process was
    /// killed, or the runtime shut down).
    #[error("task `{task}` was cancelled before it finished")]
    Cancelled {
        /// The task's name.
        task: String,
    },
    /// The task panicked.
    #[error("task `{task}` panicked")]
    Panicked {
        /// The task's name.
        task: String,
    },
}

enum JoinState<T> {
    Running {
        joiner: Option<Waker>,
        task: Option<Waker>,
        abort: bool,
    },
    Done(Result<T, JoinError>),
    Taken,
}

struct JoinShared<T> {
    name: Cow<'static, str>,
    state: Mutex<JoinState<T>>,
}

impl<T> JoinShared<T> {
    fn lock(&self) -> MutexGuard<'_, JoinState<T>> {
        // A poisoned lock only means another thread panicked while holding
        // it; the state itself is always left consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, result: Result<T, JoinError>) {
        let joiner = {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, JoinState::Done(result)) {
                JoinState::Running { joiner, .. } => joiner,
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(w) = joiner {
            w.wake();
        }
    }
}

/// An owned permission to await a spawned task's output or abort it.
///
/// Dropping the handle detaches the task: it keeps running.
///
/// # Example
///
/// ```
/// # moonpool_sim::Simulation::new(1).run(|sim| async move {
/// let providers = sim.providers();
/// let task = providers.spawn(async { 6 * 7 });
/// assert_eq!(task.await, Ok(42));
/// # }).unwrap();
/// ```
pub struct JoinHandle<T> {
    shared: Arc<JoinShared<T>>,
}

impl<T> JoinHandle<T> {
    /// Asks the task to stop. It is dropped the next time it would run; the
    /// handle then yields [`JoinError::Cancelled`]. No effect on a task that
    /// already finished.
    pub fn abort(&self) {
        let waker = {
            let mut state = self.shared.lock();
            match &mut *state {
                JoinState::Running { abort, task, .. } => {
                    *abort = true;
                    task.clone()
                }
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the task has finished (with a value, a panic or a
    /// cancellation).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.lock(), JoinState::Running { .. })
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("name", &self.shared.name)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.shared.lock();
        match &mut *state {
            JoinState::Running { joiner, .. } => {
                match joiner {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *joiner = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            JoinState::Done(_) => match std::mem::replace(&mut *state, JoinState::Taken) {
                JoinState::Done(result) => Poll::Ready(result),
                _ => Poll::Pending,
            },
            JoinState::Taken => Poll::Ready(Err(JoinError::Cancelled {
                task: self.shared.name.to_string(),
            })),
        }
    }
}

/// Wraps `future` so that its output reaches the returned handle; the
/// wrapper is what a provider actually runs.
pub(crate) fn wrap_task<F>(
    name: Cow<'static, str>,
    future: F,
) -> (BoxFuture<'static, ()>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let shared = Arc::new(JoinShared {
        name,
        state: Mutex::new(JoinState::Running {
            joiner: None,
            task: None,
            abort: false,
        }),
    });
    let wrapper = TaskWrapper {
        future,
        shared: Arc::clone(&shared),
        done: false,
    };
    (Box::pin(wrapper), JoinHandle { shared })
}

pin_project_lite::pin_project! {
    /// The task a provider runs: the user's future (inline, so a spawn is
    /// one allocation for the task plus the shared join state), reporting
    /// its output, panic or cancellation to the join handle.
    struct TaskWrapper<F: Future> {
        #[pin]
        future: F,
        shared: Arc<JoinShared<F::Output>>,
        done: bool,
    }

    impl<F: Future> PinnedDrop for TaskWrapper<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                let task = this.shared.name.to_string();
                this.shared.finish(Err(JoinError::Cancelled { task }));
            }
        }
    }
}

impl<F: Future> Future for TaskWrapper<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        {
            let mut state = this.shared.lock();
            if let JoinState::Running { task, abort, .. } = &mut *state {
                if *abort {
                    drop(state);
                    *this.done = true;
                    let task = this.shared.name.to_string();
                    this.shared.finish(Err(JoinError::Cancelled { task }));
                    return Poll::Ready(());
                }
                match task {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *task = Some(cx.waker().clone()),
                }
            }
        }
        let future = this.future;
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.poll(cx)));
        match polled {
            Err(payload) => {
                *this.done = true;
                let task = this.shared.name.to_string();
                this.shared.finish(Err(JoinError::Panicked { task }));
                std::panic::resume_unwind(payload)
            }
            Ok(Poll::Ready(value)) => {
                *this.done = true;
                this.shared.finish(Ok(value));
                Poll::Ready(())
            }
            Ok(Poll::Pending) => Poll::Pending,
        }
    }
}

/// Yields once to the scheduler: the current task goes to the back of the
/// ready set (in the simulator, another ready task may be picked at random).
///
/// # Example
///
/// ```
/// # moonpool_sim::Simulation::new(1).run(|_sim| async move {
/// moonpool_sim::yield_now().await;
/// # }).unwrap();
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

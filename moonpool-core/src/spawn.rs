//! Spawning a task in a `tracing` span, shared by every layer: the node's
//! tasks run in its span, so an event says which node it came from.

use std::borrow::Cow;
use std::future::Future;

use moonpool_sim::Providers;
use tracing::{Instrument as _, Span};

/// Spawns `task` named `name`, in `span` when a subscriber wants it (and
/// without the wrapper when none does).
#[inline]
#[track_caller]
pub(crate) fn spawn_in(
    p: &Providers,
    name: impl Into<Cow<'static, str>>,
    span: &Span,
    task: impl Future<Output = ()> + Send + 'static,
) {
    if span.is_none() {
        p.spawn_detached(name, task);
    } else {
        p.spawn_detached(name, task.instrument(span.clone()));
    }
}

/// [`spawn_in`] for a hot path: named `kind:detail` only where task names
/// are read (see [`Providers::spawn_detached_as`]).
#[inline]
#[track_caller]
pub(crate) fn spawn_as_in(
    p: &Providers,
    kind: &'static str,
    detail: impl std::fmt::Display,
    span: &Span,
    task: impl Future<Output = ()> + Send + 'static,
) {
    if span.is_none() {
        p.spawn_detached_as(kind, detail, task);
    } else {
        p.spawn_detached_as(kind, detail, task.instrument(span.clone()));
    }
}

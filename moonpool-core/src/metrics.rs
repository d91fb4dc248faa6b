//! What the runtime records through the [`metrics`] facade: install any
//! recorder (a Prometheus exporter, say) and the names below appear.
//!
//! Per node, when built with [`NodeBuilder::metrics(true)`](crate::node::NodeBuilder::metrics)
//! (off by default, so a call pays nothing for it):
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `moonpool_calls_total` | counter | `actor_type`, `method`, `outcome` | calls made from this node, by how they ended (`ok`, or [`CallError::kind`](crate::CallError::kind): `timeout`, `handler_panicked`, …) |
//! | `moonpool_call_duration_seconds` | histogram | `actor_type`, `method` | time from the call to its answer, as the caller saw it |
//! | `moonpool_activations` | gauge | `actor_type` | activations live on this node |
//! | `moonpool_activations_created_total` | counter | `actor_type` | activations started |
//! | `moonpool_activations_deactivated_total` | counter | `actor_type` | activations ended |
//!
//! Always (label-free: a few instructions next to a network round trip):
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `moonpool_transport_frames_sent_total` | counter | | frames written |
//! | `moonpool_transport_bytes_sent_total` | counter | | bytes written |
//! | `moonpool_transport_frames_received_total` | counter | | frames read |
//! | `moonpool_transport_bytes_received_total` | counter | | bytes read |
//! | `moonpool_transport_connections_total` | counter | | connections established (dialed or accepted): a rising count on a steady cluster means reconnects |
//! | `moonpool_transport_reconnects_total` | counter | | connections established to a peer this node had been connected to before (the earlier connection was lost or replaced) |
//! | `moonpool_activation_queue_length` | histogram | | when a message has to wait for its activation (a turn is running), how many wait there with it, counting it: the tail says whether some actor is a hot spot |
//! | `moonpool_membership_changes_total` | counter | `status` | changes this node saw in the membership table (`alive`: joined, `leaving`, `left`, `dead`) |
//!
//! Metrics are recorded by the process, not by node: a process running
//! several nodes (a test) sums them.

use std::time::Duration;

use metrics::{Key, Level, Metadata};

/// Calls made, by actor type, method and outcome.
pub const CALLS: &str = "moonpool_calls_total";
/// Call latency as the caller saw it, in seconds.
pub const CALL_DURATION: &str = "moonpool_call_duration_seconds";
/// Activations live.
pub const ACTIVATIONS: &str = "moonpool_activations";
/// Activations started.
pub const ACTIVATIONS_CREATED: &str = "moonpool_activations_created_total";
/// Activations ended.
pub const ACTIVATIONS_DEACTIVATED: &str = "moonpool_activations_deactivated_total";
/// Frames written.
pub const FRAMES_SENT: &str = "moonpool_transport_frames_sent_total";
/// Bytes written.
pub const BYTES_SENT: &str = "moonpool_transport_bytes_sent_total";
/// Frames read.
pub const FRAMES_RECEIVED: &str = "moonpool_transport_frames_received_total";
/// Bytes read.
pub const BYTES_RECEIVED: &str = "moonpool_transport_bytes_received_total";
/// Connections established.
pub const CONNECTIONS: &str = "moonpool_transport_connections_total";
/// Connections established to a peer connected to before.
pub const RECONNECTS: &str = "moonpool_transport_reconnects_total";
/// Messages waiting for their activation, sampled as one more queues.
pub const QUEUE_LENGTH: &str = "moonpool_activation_queue_length";
/// Membership changes seen.
pub const MEMBERSHIP_CHANGES: &str = "moonpool_membership_changes_total";

/// One call of `method` on `actor_type` ended with `outcome` after
/// `elapsed`.
pub(crate) fn call(
    actor_type: &'static str,
    method: &'static str,
    outcome: &'static str,
    elapsed: Duration,
) {
    metrics::counter!(CALLS, "actor_type" => actor_type, "method" => method, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(CALL_DURATION, "actor_type" => actor_type, "method" => method)
        .record(elapsed.as_secs_f64());
}

/// An activation of `actor_type` started.
pub(crate) fn activation_created(actor_type: &'static str) {
    metrics::counter!(ACTIVATIONS_CREATED, "actor_type" => actor_type).increment(1);
    metrics::gauge!(ACTIVATIONS, "actor_type" => actor_type).increment(1.0);
}

/// An activation of `actor_type` ended.
pub(crate) fn activation_deactivated(actor_type: &'static str) {
    metrics::counter!(ACTIVATIONS_DEACTIVATED, "actor_type" => actor_type).increment(1);
    metrics::gauge!(ACTIVATIONS, "actor_type" => actor_type).decrement(1.0);
}

/// `frames` frames of `bytes` bytes in all were written.
pub(crate) fn sent(frames: u64, bytes: u64) {
    static FRAMES: Key = Key::from_static_name(FRAMES_SENT);
    static BYTES: Key = Key::from_static_name(BYTES_SENT);
    count(&FRAMES, frames);
    count(&BYTES, bytes);
}

/// One frame of `bytes` bytes was read.
pub(crate) fn received(bytes: u64) {
    static FRAMES: Key = Key::from_static_name(FRAMES_RECEIVED);
    static BYTES: Key = Key::from_static_name(BYTES_RECEIVED);
    count(&FRAMES, 1);
    count(&BYTES, bytes);
}

/// A connection was established.
pub(crate) fn connected() {
    static KEY: Key = Key::from_static_name(CONNECTIONS);
    count(&KEY, 1);
}

/// A connection was established to a peer connected to before.
pub(crate) fn reconnected() {
    static KEY: Key = Key::from_static_name(RECONNECTS);
    count(&KEY, 1);
}

/// Adds `n` to the label-free counter `key`.
///
/// The key is a `static`, hashed when compiled: `metrics::counter!` given
/// a name that is a constant rather than a literal builds and hashes its
/// key on every call (about 300 instructions a frame with no recorder
/// installed, four times a remote call).
fn count(key: &'static Key, n: u64) {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(n));
}

/// Where the label-free metrics come from, for recorders that filter.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// A message queued behind a running turn; `waiting` messages (itself
/// included) now wait for that activation.
pub(crate) fn queued(waiting: usize) {
    static KEY: Key = Key::from_static_name(QUEUE_LENGTH);
    metrics::with_recorder(|recorder| {
        recorder
            .register_histogram(&KEY, &METADATA)
            .record(waiting as f64);
    });
}

/// This node saw a member change to `status` (`alive`, `leaving`, `left`,
/// `dead`).
pub(crate) fn membership_change(status: &'static str) {
    metrics::counter!(MEMBERSHIP_CHANGES, "status" => status).increment(1);
}

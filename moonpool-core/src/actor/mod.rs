//! Actors: identities, the traits an actor type implements, and typed
//! references to activations anywhere in the cluster.
//!
//! An actor type implements [`Actor`] (how it activates and deactivates, its
//! options, and how to dispatch a message that arrived as bytes) and one
//! [`Handler`] per [`Message`] it accepts. `#[actor]`/`#[actor_impl]`
//! generate these; moonpool-core's own tests write them by hand.

mod activation;
mod call;
mod chain;
mod context;
mod current;
mod definition;
mod envelope;
mod erased;
mod error;
mod exit;
mod lifecycle;
mod local_call;
mod options;
mod panic;
mod reminders;
mod remote;
mod runtime;
mod schedule;
mod services;
mod spans;
mod state;
mod timers;
mod turns;
mod wire_id;

pub use crate::id::ActorId;
pub use chain::{CallChain, ChainLink, TurnKind};
pub use context::ActorContext;
pub use definition::{
    Actor, ActorDecl, ActorRef, Handler, Message, SharedHandler, decode_message, dispatch,
    dispatch_shared, encode_reply, method_id, unknown_method,
};
pub use error::{ActivationError, CallError, MembershipError};
pub use moonpool_sim::BoxFuture;
pub use options::{ActorOptions, Placement};
pub use panic::catch_handler_panic;
pub use reminders::Reminder;
#[doc(hidden)]
pub use services::ActivateOutcome;
pub use services::ServiceError;
#[doc(hidden)]
pub use spans::in_turn;
pub use timers::TimerId;

pub(crate) use call::unreachable;
pub(crate) use chain::check_cycle;
pub(crate) use erased::AnyActivation;
pub(crate) use reminders::{
    list as list_reminders, register as register_reminder, unregister as unregister_reminder,
};
pub(crate) use remote::{CallAnswer, CallHead, CallHeadRef, CallRequest, CallTag, RemoteReply};
pub(crate) use runtime::{Idle, Located, Runtime, SendJob};
pub(crate) use schedule::new_activation;
pub(crate) use services::Services;

//! What the actor macros understood, independent of syntax.

use proc_macro2::Span;
use syn::{Attribute, Ident, Type};

/// `#[actor(...)]` on a struct.
pub(crate) struct ActorModel {
    pub(crate) ident: Ident,
    /// The wire name (default: the struct's name).
    pub(crate) name: String,
    /// `Random`, `PreferLocal`, `LeastLoaded` or `ConsistentHash`.
    pub(crate) placement: Option<Ident>,
    pub(crate) idle_nanos: Option<u64>,
    pub(crate) reentrant: bool,
    /// The `#[state]` field (a `Persisted<T>`), for `#[actor(state)]`.
    pub(crate) state_field: Option<Ident>,
    /// Every named field, to build the value on activation.
    pub(crate) fields: Vec<Ident>,
}

/// One handler method of `#[actor_impl]`.
pub(crate) struct HandlerModel {
    pub(crate) method: Ident,
    /// Stable wire name (the method's name).
    pub(crate) wire_name: String,
    /// `&mut self` (exclusive) or `&self`.
    pub(crate) mutable: bool,
    /// The message arguments, in order (the context excluded).
    pub(crate) args: Vec<(Ident, Type)>,
    /// Where the `&ActorContext` goes among the call's arguments, if taken.
    pub(crate) ctx_position: Option<usize>,
    /// `None` for `()`.
    pub(crate) ret: Option<Type>,
    pub(crate) one_way: bool,
    /// `#[reentrant]` on the method.
    pub(crate) reentrant: bool,
    pub(crate) docs: Vec<Attribute>,
    pub(crate) span: Span,
}

/// `#[actor_impl]` on an inherent impl.
pub(crate) struct ImplModel {
    pub(crate) self_ident: Ident,
    pub(crate) handlers: Vec<HandlerModel>,
    /// `async fn on_activate(&mut self, ctx: &ActorContext)` is present.
    pub(crate) on_activate: bool,
    /// `async fn on_deactivate(&mut self, ctx: &ActorContext)` is present.
    pub(crate) on_deactivate: bool,
    /// `async fn on_reminder(&mut self, ctx: &ActorContext, tick:
    /// ReminderTick)` is present: the span of the tick's type.
    pub(crate) on_reminder: Option<Span>,
}

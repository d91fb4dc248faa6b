//! Parse and check: every problem is collected, each pointing at its
//! tokens, before anything is generated.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Fields, FnArg, ImplItem, ItemImpl, ItemStruct, Meta, Pat, ReturnType, Token, Type};

use super::model::{ActorModel, HandlerModel, ImplModel};
use crate::errors::{Errors, lit_str, method_id, parse_duration_nanos};

/// The wire name of reminder ticks (`moonpool_core::reminder::ReminderTick`):
/// no handler may share its wire id.
const REMINDER_TICK: &str = "moonpool.reminder";

const ACTOR_OPTIONS: &str = "expected `name = \"..\"`, `placement = \"..\"`, `idle_timeout = \"..\"`, `reentrant` or `state`";

/// Parses `#[actor(...)]` and its struct. The `#[state]` helper attribute
/// is removed from the struct, which is returned for re-emission.
pub(crate) fn actor(
    args: TokenStream,
    item: TokenStream,
    errors: &mut Errors,
) -> Option<(ActorModel, ItemStruct)> {
    let mut item: ItemStruct = match syn::parse2(item) {
        Ok(s) => s,
        Err(e) => {
            errors.push(syn::Error::new(e.span(), "#[actor] goes on a struct"));
            return None;
        }
    };
    let mut model = ActorModel {
        ident: item.ident.clone(),
        name: item.ident.to_string(),
        placement: None,
        idle_nanos: None,
        reentrant: false,
        state_field: None,
        fields: Vec::new(),
    };
    let mut wants_state = false;
    match Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args) {
        Err(e) => errors.push(syn::Error::new(
            e.span(),
            format!("malformed #[actor] options; {ACTOR_OPTIONS}"),
        )),
        Ok(metas) => {
            for meta in metas {
                let name = meta
                    .path()
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match (name.as_str(), &meta) {
                    ("reentrant", Meta::Path(_)) => model.reentrant = true,
                    ("state", Meta::Path(_)) => wants_state = true,
                    ("name", Meta::NameValue(nv)) => match lit_str(&nv.value) {
                        Some(s) if !s.value().is_empty() => model.name = s.value(),
                        _ => errors.push_at(
                            nv.value.span(),
                            "`name` is a non-empty string: the type's stable wire name",
                        ),
                    },
                    ("placement", Meta::NameValue(nv)) => {
                        let p = lit_str(&nv.value).map(|s| s.value());
                        let variant = match p.as_deref() {
                            Some("random") => "Random",
                            Some("prefer_local") => "PreferLocal",
                            Some("least_loaded") => "LeastLoaded",
                            Some("consistent_hash") => "ConsistentHash",
                            _ => {
                                errors.push_at(
                                    nv.value.span(),
                                    "`placement` is \"random\", \"prefer_local\", \"least_loaded\" or \"consistent_hash\"",
                                );
                                continue;
                            }
                        };
                        model.placement = Some(syn::Ident::new(variant, nv.value.span()));
                    }
                    ("idle_timeout", Meta::NameValue(nv)) => {
                        match lit_str(&nv.value).and_then(|s| parse_duration_nanos(&s.value())) {
                            Some(n) => model.idle_nanos = Some(n),
                            None => errors.push_at(
                                nv.value.span(),
                                "`idle_timeout` is a positive duration with a unit: `ms`, `s`, `m` or `h` (e.g. \"10m\")",
                            ),
                        }
                    }
                    _ => errors.push_at(
                        meta.span(),
                        format!("unknown or malformed #[actor] option; {ACTOR_OPTIONS}"),
                    ),
                }
            }
        }
    }
    if !item.generics.params.is_empty() {
        errors.push_at(
            item.generics.span(),
            "an actor cannot be generic: each actor type needs one stable wire name; \
             make a concrete struct per type (a generic field inside it is fine)",
        );
    }
    match &mut item.fields {
        Fields::Named(named) => {
            for field in &mut named.named {
                let before = field.attrs.len();
                field.attrs.retain(|a| !a.path().is_ident("state"));
                if let Some(ident) = &field.ident {
                    model.fields.push(ident.clone());
                    if field.attrs.len() != before {
                        if model.state_field.is_some() {
                            errors.push_at(field.span(), "only one field can be `#[state]`");
                        }
                        model.state_field = Some(ident.clone());
                    }
                }
            }
        }
        Fields::Unit => {}
        Fields::Unnamed(f) if wants_state => {
            errors.push_at(
                f.span(),
                "`#[actor(state)]` needs named fields, one of them `#[state]`",
            );
        }
        Fields::Unnamed(_) => {}
    }
    match (wants_state, &model.state_field) {
        (true, None) => errors.push_at(
            item.ident.span(),
            "`#[actor(state)]` needs one field marked `#[state]` of type `Persisted<T>`",
        ),
        (false, Some(f)) => errors.push_at(
            f.span(),
            "a `#[state]` field needs `#[actor(state)]` on the struct",
        ),
        _ => {}
    }
    Some((model, item))
}

/// Parses `#[actor_impl]`'s impl block. Handler attributes (`#[one_way]`,
/// `#[reentrant]`) are removed from the block, which is returned for
/// re-emission.
pub(crate) fn actor_impl(
    args: TokenStream,
    item: TokenStream,
    errors: &mut Errors,
) -> Option<(ImplModel, ItemImpl)> {
    if !args.is_empty() {
        errors.push_at(
            args.span(),
            "#[actor_impl] takes no options; put them on #[actor]",
        );
    }
    let mut item: ItemImpl = match syn::parse2(item) {
        Ok(i) => i,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                "#[actor_impl] goes on the inherent `impl` block of an #[actor] struct",
            ));
            return None;
        }
    };
    if let Some((_, path, _)) = &item.trait_ {
        errors.push_at(
            path.span(),
            "#[actor_impl] goes on an inherent impl (`impl MyActor { .. }`), not a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.push_at(
            item.generics.span(),
            "an actor impl cannot be generic: actors have one stable wire name",
        );
    }
    let self_ident = match &*item.self_ty {
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            Some(p.path.segments[0].ident.clone())
        }
        other => {
            errors.push_at(
                other.span(),
                "#[actor_impl] needs the actor struct's plain name here",
            );
            None
        }
    };
    let mut model = ImplModel {
        self_ident: self_ident
            .clone()
            .unwrap_or_else(|| syn::Ident::new("__Invalid", item.self_ty.span())),
        handlers: Vec::new(),
        on_activate: false,
        on_deactivate: false,
        on_reminder: None,
    };
    let mut ids: BTreeMap<u32, String> = BTreeMap::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(f) = impl_item else { continue };
        let name = f.sig.ident.to_string();
        let receiver = f.sig.inputs.first().and_then(|a| match a {
            FnArg::Receiver(r) => Some(r.clone()),
            FnArg::Typed(_) => None,
        });
        let one_way = take_attr(&mut f.attrs, "one_way");
        let reentrant = take_attr(&mut f.attrs, "reentrant");
        if name == "on_reminder" {
            check_reminder_hook(f, errors);
            model.on_reminder = Some(match f.sig.inputs.iter().nth(2) {
                Some(FnArg::Typed(t)) => t.ty.span(),
                _ => f.sig.span(),
            });
            continue;
        }
        if name == "on_activate" || name == "on_deactivate" {
            check_hook(f, name == "on_activate", errors);
            if name == "on_activate" {
                model.on_activate = true;
            } else {
                model.on_deactivate = true;
            }
            continue;
        }
        let is_pub = matches!(f.vis, syn::Visibility::Public(_));
        let Some(receiver) = receiver else {
            if one_way || reentrant {
                errors.push_at(f.sig.ident.span(), "only handler methods (taking `&self` or `&mut self`) can be `#[one_way]` or `#[reentrant]`");
            }
            continue; // associated function: ordinary
        };
        if !is_pub {
            if one_way || reentrant {
                errors.push_at(
                    f.sig.ident.span(),
                    "`#[one_way]`/`#[reentrant]` go on `pub async fn` handlers",
                );
            }
            continue; // private method: ordinary
        }
        if let Some(h) = handler(f, &receiver, one_way, reentrant, errors) {
            let id = method_id(&h.wire_name);
            if id == method_id(REMINDER_TICK) {
                errors.push_at(
                    h.span,
                    format!("the wire id of `{}` ({id:#010x}) is the one reminder ticks use; rename the handler", h.wire_name),
                );
                continue;
            }
            if let Some(other) = ids.insert(id, h.wire_name.clone()) {
                if other == h.wire_name {
                    errors.push_at(
                        h.span,
                        format!("duplicate handler `{other}`: each handler needs its own name"),
                    );
                    continue;
                }
                errors.push_at(
                    h.span,
                    format!(
                        "the wire id of `{}` ({id:#010x}) collides with `{other}`'s; rename one of them",
                        h.wire_name
                    ),
                );
            }
            model.handlers.push(h);
        }
    }
    Some((model, item))
}

fn take_attr(attrs: &mut Vec<syn::Attribute>, name: &str) -> bool {
    let before = attrs.len();
    attrs.retain(|a| !a.path().is_ident(name));
    attrs.len() != before
}

/// `async fn on_activate(&mut self, ctx: &ActorContext)` (which may return
/// `Result<(), E>`, `E: Into<ActivationError>`, to fail the activation:
/// the compiler checks the error type) and `async fn on_deactivate(&mut
/// self, ctx: &ActorContext)`.
fn check_hook(f: &syn::ImplItemFn, may_fail: bool, errors: &mut Errors) {
    let ok = f.sig.asyncness.is_some()
        && matches!(f.sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some())
        && f.sig.inputs.len() == 2
        && (may_fail || matches!(f.sig.output, ReturnType::Default));
    if !ok {
        let name = &f.sig.ident;
        let failing = if may_fail {
            " (returning `Result<(), E>` with `E: Into<ActivationError>` to fail the activation)"
        } else {
            ""
        };
        errors.push_at(
            f.sig.span(),
            format!("`{name}` is a lifecycle hook: write it as `async fn {name}(&mut self, ctx: &ActorContext)`{failing}"),
        );
    }
}

/// `async fn on_reminder(&mut self, ctx: &ActorContext, tick: ReminderTick)`
/// (the tick's type is checked by the compiler).
fn check_reminder_hook(f: &syn::ImplItemFn, errors: &mut Errors) {
    let ok = f.sig.asyncness.is_some()
        && matches!(f.sig.inputs.first(), Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_some())
        && f.sig.inputs.len() == 3
        && matches!(f.sig.inputs.iter().nth(1), Some(FnArg::Typed(t)) if is_context(&t.ty))
        && matches!(f.sig.output, ReturnType::Default);
    if !ok {
        errors.push_at(
            f.sig.span(),
            "`on_reminder` is the reminder hook: write it as `async fn on_reminder(&mut self, ctx: &ActorContext, tick: ReminderTick)`",
        );
    }
}

fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) if r.mutability.is_none() => {
            matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "ActorContext"))
        }
        _ => false,
    }
}

fn handler(
    f: &syn::ImplItemFn,
    receiver: &syn::Receiver,
    one_way: bool,
    reentrant: bool,
    errors: &mut Errors,
) -> Option<HandlerModel> {
    let sig = &f.sig;
    let mut ok = true;
    let mut fail = |span, msg: String| {
        errors.push_at(span, msg);
        ok = false;
    };
    if sig.asyncness.is_none() {
        fail(
            sig.fn_token.span,
            format!(
                "`{}` is public, so it is a handler, and handlers must be `async`; \
                 make it private to keep it an ordinary method",
                sig.ident
            ),
        );
    }
    if receiver.reference.is_none() {
        fail(receiver.span(), "a handler takes `&self` or `&mut self`, not `self` by value: the activation outlives the call".to_string());
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        fail(
            sig.generics.span(),
            "a handler cannot be generic: its message must have one concrete type on the wire"
                .to_string(),
        );
    }
    let mutable = receiver.mutability.is_some();
    if reentrant && mutable {
        fail(
            receiver.span(),
            "a `#[reentrant]` handler runs alongside others, so it takes `&self`, not `&mut self`"
                .to_string(),
        );
    }
    let mut args = Vec::new();
    let mut ctx_position = None;
    for (i, arg) in sig.inputs.iter().skip(1).enumerate() {
        let FnArg::Typed(t) = arg else { continue };
        if is_context(&t.ty) {
            if ctx_position.is_some() {
                fail(
                    t.span(),
                    "a handler takes the `&ActorContext` at most once".to_string(),
                );
            }
            ctx_position = Some(i);
            continue;
        }
        let Pat::Ident(p) = &*t.pat else {
            fail(
                t.pat.span(),
                "a handler argument must be a plain name (`amount: u64`), not a pattern"
                    .to_string(),
            );
            continue;
        };
        if p.by_ref.is_some() || p.subpat.is_some() {
            fail(
                t.pat.span(),
                "a handler argument must be a plain name (`amount: u64`)".to_string(),
            );
            continue;
        }
        match &*t.ty {
            Type::Reference(_) => fail(
                t.ty.span(),
                "a handler argument crosses the network, so it must be owned: take `String`/`Vec<T>`/`T`, not a reference".to_string(),
            ),
            Type::ImplTrait(_) => fail(
                t.ty.span(),
                "a handler argument must be a concrete serde type, not `impl Trait`".to_string(),
            ),
            _ => {}
        }
        args.push((p.ident.clone(), (*t.ty).clone()));
    }
    let ret = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => {
            match &**ty {
                Type::Tuple(t) if t.elems.is_empty() => None,
                Type::Reference(_) => {
                    fail(ty.span(), "a handler's reply crosses the network, so it must be owned, not a reference".to_string());
                    None
                }
                Type::ImplTrait(_) => {
                    fail(
                        ty.span(),
                        "a handler's reply must be a concrete serde type, not `impl Trait`"
                            .to_string(),
                    );
                    None
                }
                other => Some(other.clone()),
            }
        }
    };
    if one_way && ret.is_some() {
        fail(
            sig.output.span(),
            "a `#[one_way]` handler sends no reply, so it returns `()`".to_string(),
        );
    }
    let docs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    ok.then(|| HandlerModel {
        method: sig.ident.clone(),
        wire_name: sig.ident.to_string(),
        mutable,
        args,
        ctx_position,
        ret,
        one_way,
        reentrant,
        docs,
        span: sig.ident.span(),
    })
}

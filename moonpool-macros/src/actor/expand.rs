//! Generate: the `ActorDecl` of a struct; the messages, typed reference,
//! handler impls, dispatch and registration of an impl block. Generated code
//! names only `::moonpool::__private` paths.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{ItemImpl, ItemStruct};

use super::model::{ActorModel, ImplModel};
use crate::errors::method_id;

pub(crate) fn actor(model: &ActorModel, item: &ItemStruct) -> TokenStream {
    let ident = &model.ident;
    let name = &model.name;
    let reentrant = model.reentrant;
    let placement = match &model.placement {
        Some(p) => quote!(::moonpool::__private::Placement::#p),
        None => quote!(::moonpool::__private::Placement::Random),
    };
    let idle = match model.idle_nanos {
        Some(n) => quote!(::moonpool::__private::Duration::from_nanos(#n)),
        None => quote!(::moonpool::__private::ActorOptions::default().idle_timeout),
    };
    let create = match &model.state_field {
        None => quote! {
            ::core::result::Result::Ok(<Self as ::core::default::Default>::default())
        },
        Some(state) => {
            let inits = model.fields.iter().map(|f| {
                if f == state {
                    quote! {
                        #f: ::moonpool::__private::Persisted::load(ctx).await?
                    }
                } else {
                    quote!(#f: ::core::default::Default::default())
                }
            });
            quote!(::core::result::Result::Ok(Self { #(#inits),* }))
        }
    };
    quote! {
        #item

        impl ::moonpool::__private::ActorDecl for #ident {
            const TYPE_NAME: &'static str = #name;
            const REENTRANT: bool = #reentrant;

            fn options() -> ::moonpool::__private::ActorOptions {
                ::moonpool::__private::ActorOptions {
                    placement: #placement,
                    idle_timeout: #idle,
                }
            }

            #[allow(clippy::manual_async_fn)]
            fn create(
                ctx: &::moonpool::__private::ActorContext,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<Self, ::moonpool::__private::ActivationError>> + ::core::marker::Send {
                async move {
                    let _ = ctx;
                    #create
                }
            }
        }
    }
}

/// `get_balance` → `GetBalance`: the variant of a method in the message
/// enum.
fn camel(name: &str) -> String {
    let camel: String = name
        .trim_start_matches("r#")
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    // `self_` would be `Self`, a keyword.
    if camel == "Self" {
        "Self_".to_string()
    } else {
        camel
    }
}

pub(crate) fn actor_impl(model: &ImplModel, item: &ItemImpl) -> TokenStream {
    let actor = &model.self_ident;
    let vis = quote!(pub);
    let reference = format_ident!("{}Ref", actor);
    let message_enum = format_ident!("{}Message", actor);
    let p = quote!(::moonpool::__private);

    let mut messages = Vec::new();
    let mut handler_impls = Vec::new();
    let mut exclusive_arms = Vec::new();
    let mut shared_arms = Vec::new();
    let mut shared_checks = Vec::new();
    let mut ref_methods = Vec::new();
    let mut variants = Vec::new();
    let mut from_impls = Vec::new();
    let mut decode_arms = Vec::new();
    let mut name_arms = Vec::new();
    let mut id_arms = Vec::new();
    let mut variant_names: Vec<(String, &syn::Ident)> = Vec::new();
    let mut errors = crate::errors::Errors::default();

    for h in &model.handlers {
        // The message struct sits beside the actor (not in a module of its
        // own: an actor declared inside a function sees that function's
        // `use`s, which a module's `use super::*` would not), under a name
        // no user type has: `__moonpool_Account_deposit`.
        let msg = format_ident!("__moonpool_{}_{}", actor, h.method, span = h.method.span());
        let wire = &h.wire_name;
        let id = syn::LitInt::new(&format!("{:#010x}u32", method_id(wire)), h.span);
        let tys: Vec<_> = h.args.iter().map(|(_, t)| t).collect();
        let names: Vec<_> = h.args.iter().map(|(n, _)| n).collect();
        let ret = match &h.ret {
            Some(t) => quote!(#t),
            None => quote!(()),
        };
        let serde_crate = quote!("::moonpool::__private::serde").to_string();
        let serde_crate = serde_crate.trim_matches('"');
        messages.push(quote! {
            #[doc = concat!("The message of `", stringify!(#actor), "::", #wire, "`.")]
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
            pub struct #msg(#(pub #tys),*);

            impl #p::Message for #msg {
                type Reply = #ret;
                const NAME: &'static str = #wire;
            }
        });
        // The call: the context goes back where the method takes it.
        let mut call_args: Vec<TokenStream> = names.iter().map(|n| quote!(#n)).collect();
        if let Some(pos) = h.ctx_position {
            call_args.insert(pos.min(call_args.len()), quote!(ctx));
        }
        let method = &h.method;
        let destructure = quote!(let #msg(#(#names),*) = msg;);
        let check_types = h.args.iter().map(|(_, t)| {
            quote_spanned! {syn::spanned::Spanned::span(t)=>
                #p::assert_wire::<#t>();
            }
        });
        let check_ret = h.ret.as_ref().map(|t| {
            quote_spanned! {syn::spanned::Spanned::span(t)=>
                #p::assert_wire::<#t>();
            }
        });
        handler_impls.push(quote! {
            impl #p::Handler<#msg> for #actor {
                #[allow(unused_variables)]
                async fn handle(&mut self, msg: #msg, ctx: &#p::ActorContext) -> #ret {
                    #(#check_types)*
                    #check_ret
                    #destructure
                    self.#method(#(#call_args),*).await
                }
            }
        });
        let variant = format_ident!("{}", camel(&h.wire_name), span = h.method.span());
        let variant_name = variant.to_string();
        if let Some((_, first)) = variant_names.iter().find(|(v, _)| *v == variant_name) {
            errors.push_at(
                h.method.span(),
                format!(
                    "`{}` and `{first}` would both be `{message_enum}::{variant}`; rename one of them",
                    h.method
                ),
            );
        }
        variant_names.push((variant_name, &h.method));
        variants.push(quote! {
            #[doc = concat!("`", stringify!(#actor), "::", #wire, "`.")]
            #variant(#msg)
        });
        from_impls.push(quote! {
            impl ::core::convert::From<#msg> for #message_enum {
                fn from(msg: #msg) -> Self {
                    Self::#variant(msg)
                }
            }
        });
        decode_arms.push(quote! {
            #id => #p::decode_message::<#actor, #msg>(body).map(Self::#variant),
        });
        name_arms.push(quote!(Self::#variant(_) => #wire,));
        id_arms.push(quote!(Self::#variant(_) => #id,));
        exclusive_arms.push(quote! {
            #message_enum::#variant(msg) => #p::encode_reply::<Self, #msg>(
                &<Self as #p::Handler<#msg>>::handle(self, msg, ctx).await,
            ),
        });
        let shared_expr = if h.reentrant {
            quote!(true)
        } else if h.mutable {
            quote!(false)
        } else {
            quote!(<#actor as #p::ActorDecl>::REENTRANT)
        };
        if !h.mutable {
            handler_impls.push(quote! {
                impl #p::SharedHandler<#msg> for #actor {
                    #[allow(unused_variables)]
                    async fn handle_shared(&self, msg: #msg, ctx: &#p::ActorContext) -> #ret {
                        #destructure
                        self.#method(#(#call_args),*).await
                    }
                }
            });
            shared_arms.push(quote! {
                #message_enum::#variant(msg) => #p::encode_reply::<Self, #msg>(
                    &<Self as #p::SharedHandler<#msg>>::handle_shared(self, msg, ctx).await,
                ),
            });
            shared_checks.push(quote!(#id => #shared_expr,));
        }
        let default_doc = format!("Calls `{actor}::{wire}` on the actor.");
        let docs = if h.docs.is_empty() {
            vec![syn::parse_quote!(#[doc = #default_doc])]
        } else {
            h.docs.clone()
        };
        let params = h.args.iter().map(|(n, t)| quote!(#n: #t));
        // The future owns a clone of the reference and the message: it may
        // outlive `self` (returned from a closure, spawned).
        let owns = quote! {
            ///
            /// The future owns what it needs (a clone of this reference and
            /// the message): it may outlive the reference, be returned from a
            /// closure or be spawned.
        };
        let send = if h.one_way {
            quote! {
                #(#docs)*
                ///
                /// One-way: returns once the message is handed over, without
                /// waiting for the handler. Sends from one node to one actor
                /// arrive in the order they were made.
                #owns
                pub fn #method(&self, #(#params),*) -> impl ::core::future::Future<Output = ::core::result::Result<(), #p::CallError>> + ::core::marker::Send + 'static + use<> {
                    let (inner, msg) = (::core::clone::Clone::clone(&self.inner), #msg(#(#names),*));
                    async move { inner.send(msg).await }
                }
            }
        } else if h.mutable {
            quote! {
                #(#docs)*
                #owns
                pub fn #method(&self, #(#params),*) -> impl ::core::future::Future<Output = ::core::result::Result<#ret, #p::CallError>> + ::core::marker::Send + 'static + use<> {
                    let (inner, msg) = (::core::clone::Clone::clone(&self.inner), #msg(#(#names),*));
                    async move { inner.call(msg).await }
                }
            }
        } else {
            quote! {
                #(#docs)*
                #owns
                pub fn #method(&self, #(#params),*) -> impl ::core::future::Future<Output = ::core::result::Result<#ret, #p::CallError>> + ::core::marker::Send + 'static + use<> {
                    let (inner, msg) = (::core::clone::Clone::clone(&self.inner), #msg(#(#names),*));
                    async move {
                        if #shared_expr {
                            inner.call_shared(msg).await
                        } else {
                            inner.call(msg).await
                        }
                    }
                }
            }
        };
        ref_methods.push(send);
        let _ = &h.span;
    }

    if let Err(e) = errors.finish() {
        return e.to_compile_error();
    }
    let any_exclusive_only = model.handlers.iter().any(|h| h.mutable);
    let shared_fallback = any_exclusive_only.then(|| {
        quote! {
            other => ::core::result::Result::Err(#p::unknown_method::<Self>(other.method_id())),
        }
    });
    let enum_doc = format!(
        "Every message `{actor}` accepts, one variant per handler: a call that arrives as bytes is decoded into it by its method id (stable: derived from the method's name)."
    );
    let on_activate = model
        .on_activate
        .then(|| quote!(#p::ActivateOutcome::into_activation(actor.on_activate(ctx).await)?;));
    let on_deactivate = if model.on_deactivate {
        quote!(self.on_deactivate(ctx).await;)
    } else {
        quote!(let _ = ctx;)
    };
    let on_reminder = model.on_reminder.map(|span| {
        let tick = quote::quote_spanned!(span=> tick);
        quote! {
            #[allow(clippy::manual_async_fn)]
            fn on_reminder(&mut self, ctx: &#p::ActorContext, tick: #p::ReminderTick) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                async move {
                    self.on_reminder(ctx, #tick).await;
                }
            }
        }
    });
    let activate_binding = if model.on_activate {
        quote!(let mut actor)
    } else {
        quote!(let actor)
    };
    let ref_doc = format!("A typed reference to a `{actor}` actor: one async method per handler.");
    let any_marked = model.handlers.iter().any(|h| h.reentrant);
    let any_ref = model.handlers.iter().any(|h| !h.mutable);
    let has_shared = quote!(#any_marked || (#any_ref && <#actor as #p::ActorDecl>::REENTRANT));

    quote! {
        #item

        #(#messages)*

        #(#handler_impls)*

        #[doc = #enum_doc]
        #vis enum #message_enum {
            #(#variants),*
        }

        #(#from_impls)*

        impl #message_enum {
            /// Decodes a message that arrived as bytes, by its method id.
            ///
            /// # Errors
            ///
            /// `CallError::UnknownMethod` for an id no handler has;
            /// `CallError::Decode` for bytes that are not that message.
            pub fn decode(method: u32, body: &[u8]) -> ::core::result::Result<Self, #p::CallError> {
                match method {
                    #(#decode_arms)*
                    other => ::core::result::Result::Err(#p::unknown_method::<#actor>(other)),
                }
            }

            /// The method's stable name on the wire.
            pub fn method_name(&self) -> &'static str {
                match *self {
                    #(#name_arms)*
                }
            }

            /// The method's stable id on the wire.
            pub fn method_id(&self) -> u32 {
                match *self {
                    #(#id_arms)*
                }
            }
        }

        impl ::core::fmt::Debug for #message_enum {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::write!(f, "{}::{}(..)", ::core::stringify!(#message_enum), self.method_name())
            }
        }

        #[doc = #ref_doc]
        #[derive(Clone, Debug, PartialEq, Eq)]
        #vis struct #reference {
            inner: #p::ActorRef<#actor>,
        }

        impl ::core::convert::From<#p::ActorRef<#actor>> for #reference {
            fn from(inner: #p::ActorRef<#actor>) -> Self {
                Self { inner }
            }
        }

        impl #p::serde::Serialize for #reference {
            fn serialize<S: #p::serde::Serializer>(&self, s: S) -> ::core::result::Result<S::Ok, S::Error> {
                #p::serde::Serialize::serialize(&self.inner, s)
            }
        }

        impl<'de> #p::serde::Deserialize<'de> for #reference {
            fn deserialize<D: #p::serde::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {
                <#p::ActorRef<#actor> as #p::serde::Deserialize<'de>>::deserialize(d).map(Self::from)
            }
        }

        impl #reference {
            /// The actor's id.
            pub fn id(&self) -> &#p::ActorId {
                self.inner.id()
            }

            /// The untyped reference underneath.
            pub fn inner(&self) -> &#p::ActorRef<#actor> {
                &self.inner
            }

            #(#ref_methods)*
        }

        impl #p::Actor for #actor {
            const TYPE_NAME: &'static str = <#actor as #p::ActorDecl>::TYPE_NAME;
            const HAS_SHARED_METHODS: bool = #has_shared;
            type Ref = #reference;

            fn options() -> #p::ActorOptions {
                <#actor as #p::ActorDecl>::options()
            }

            #[allow(clippy::manual_async_fn)]
            fn activate(
                ctx: &#p::ActorContext,
            ) -> impl ::core::future::Future<Output = ::core::result::Result<Self, ::moonpool::__private::ActivationError>> + ::core::marker::Send {
                async move {
                    #activate_binding = <#actor as #p::ActorDecl>::create(ctx).await?;
                    #on_activate
                    ::core::result::Result::Ok(actor)
                }
            }

            #[allow(clippy::manual_async_fn)]
            fn on_deactivate(&mut self, ctx: &#p::ActorContext) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                async move {
                    #on_deactivate
                }
            }

            #on_reminder

            fn dispatch<'a>(
                &'a mut self,
                method: u32,
                body: &'a [u8],
                ctx: &'a #p::ActorContext,
            ) -> #p::BoxFuture<'a, ::core::result::Result<::std::vec::Vec<u8>, #p::CallError>> {
                ::std::boxed::Box::pin(async move {
                    let __moonpool_msg = #message_enum::decode(method, body)?;
                    let __moonpool_method = __moonpool_msg.method_name();
                    #p::in_turn(ctx.id(), __moonpool_method, async move {
                        match __moonpool_msg {
                            #(#exclusive_arms)*
                        }
                    })
                    .await
                })
            }

            fn is_shared(method: u32) -> bool {
                match method {
                    #(#shared_checks)*
                    _ => false,
                }
            }

            fn dispatch_shared<'a>(
                &'a self,
                method: u32,
                body: &'a [u8],
                ctx: &'a #p::ActorContext,
            ) -> #p::BoxFuture<'a, ::core::result::Result<::std::vec::Vec<u8>, #p::CallError>> {
                ::std::boxed::Box::pin(async move {
                    let __moonpool_msg = #message_enum::decode(method, body)?;
                    let __moonpool_method = __moonpool_msg.method_name();
                    #p::in_turn(ctx.id(), __moonpool_method, async move {
                        match __moonpool_msg {
                            #(#shared_arms)*
                            #shared_fallback
                        }
                    })
                    .await
                })
            }
        }

        #p::inventory::submit! {
            #p::ActorRegistration {
                type_name: <#actor as #p::ActorDecl>::TYPE_NAME,
                host: |builder| builder.host::<#actor>(),
            }
        }
    }
}

//! `#[actor]` and `#[actor_impl]`, in three stages: parse (syntax and
//! checks, errors accumulated), model (what was understood), expand (code).

mod expand;
mod model;
mod parse;

use proc_macro2::TokenStream;

use crate::errors::Errors;

pub(crate) fn actor(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let parsed = parse::actor(args, item, &mut errors);
    errors.finish()?;
    Ok(parsed
        .map(|(model, item)| expand::actor(&model, &item))
        .unwrap_or_default())
}

pub(crate) fn actor_impl(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let parsed = parse::actor_impl(args, item, &mut errors);
    errors.finish()?;
    Ok(parsed
        .map(|(model, item)| expand::actor_impl(&model, &item))
        .unwrap_or_default())
}

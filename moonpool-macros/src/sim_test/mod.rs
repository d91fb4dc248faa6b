//! `#[sim_test]`: parse the options and the function, check them (all
//! problems reported at once), then expand to a `#[test]` that hands the body
//! to the multi-seed runner.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::errors::Errors;

mod options;

use options::{DEFAULT_SEEDS, Faults, Options, parse_options};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let options = parse_options(args, &mut errors);
    let func: ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                "#[sim_test] goes on an `async fn` (a test body)",
            ));
            return Err(errors.finish().err().unwrap_or(e));
        }
    };
    let context = check_signature(&func, &mut errors);
    errors.finish()?;
    Ok(generate(&func, &options, context.as_ref()))
}

/// Checks the function; returns the context argument's type, if it takes
/// one.
fn check_signature(func: &ItemFn, errors: &mut Errors) -> Option<Type> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.push_at(
            sig.fn_token.span,
            "#[sim_test] needs an `async fn`: its body runs as the simulation's main task",
        );
    }
    if let Some(c) = &sig.constness {
        errors.push_at(c.span, "a #[sim_test] function cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        errors.push_at(u.span, "a #[sim_test] function cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.push_at(
            abi.span(),
            "a #[sim_test] function cannot have an `extern` ABI",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push_at(
            sig.generics.span(),
            "a #[sim_test] function cannot be generic: the runner calls it with a `SimContext` only",
        );
    }
    if let Some(v) = &sig.variadic {
        errors.push_at(v.span(), "a #[sim_test] function cannot be variadic");
    }
    let mut context = None;
    for (i, arg) in sig.inputs.iter().enumerate() {
        match arg {
            FnArg::Receiver(r) => errors.push_at(
                r.span(),
                "a #[sim_test] function is a free function; it cannot take `self`",
            ),
            FnArg::Typed(t) if i == 0 => {
                context = Some((*t.ty).clone());
                if !matches!(&*t.pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none())
                    && !matches!(&*t.pat, Pat::Wild(_))
                {
                    errors.push_at(
                        t.pat.span(),
                        "name the simulation context with a plain identifier, e.g. `sim: SimContext`",
                    );
                }
            }
            FnArg::Typed(t) => errors.push_at(
                t.span(),
                "a #[sim_test] function takes at most one argument: the `SimContext`",
            ),
        }
    }
    context
}

fn generate(func: &ItemFn, options: &Options, context: Option<&Type>) -> TokenStream {
    let attrs = &func.attrs;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let inputs = &func.sig.inputs;
    let output = &func.sig.output;
    let block = &func.block;
    let seeds = options.seeds.unwrap_or(DEFAULT_SEEDS);
    let max_sim_time = match options.max_sim_time_nanos {
        Some(n) => {
            quote!(::core::option::Option::Some(::moonpool::__private::Duration::from_nanos(#n)))
        }
        None => quote!(::core::option::Option::None),
    };
    let coverage = if options.strict_coverage == Some(true) {
        quote!(::moonpool::__private::CoverageMode::Strict)
    } else {
        quote!(::moonpool::__private::CoverageMode::Report)
    };
    let coverage_of = options.coverage_of.as_deref().unwrap_or(&[]);
    let faults = match &options.faults {
        Some(Faults::Plan(plan)) if plan == "calm" => quote!(::core::option::Option::Some(
            ::moonpool::__private::FaultPlan::Fixed(::moonpool::__private::FaultConfig::calm())
        )),
        Some(Faults::Plan(plan)) if plan == "brutal" => quote!(::core::option::Option::Some(
            ::moonpool::__private::FaultPlan::Fixed(::moonpool::__private::FaultConfig::brutal())
        )),
        Some(Faults::Plan(_)) => quote!(::core::option::Option::Some(
            ::moonpool::__private::FaultPlan::Swarm
        )),
        Some(Faults::Families(families)) => {
            let fields = families.iter().map(|f| {
                let field = quote::format_ident!("{}", f);
                if f == "buggify" {
                    quote!(buggify: true, buggify_sites_percent: 100)
                } else {
                    quote!(#field: true)
                }
            });
            quote!(::core::option::Option::Some(
                ::moonpool::__private::FaultPlan::Fixed(::moonpool::__private::FaultConfig {
                    #(#fields,)*
                    ..::moonpool::__private::FaultConfig::calm()
                })
            ))
        }
        None => quote!(::core::option::Option::None),
    };
    let optional = |v: Option<u64>| match v {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let max_polls = optional(options.max_polls_per_instant);
    let log = match &options.log {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let log_lines = match options.log_lines {
        Some(n) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            quote!(::core::option::Option::Some(#n))
        }
        None => quote!(::core::option::Option::None),
    };
    let invariant_every = optional(options.invariant_every);
    let call = if let Some(ty) = context {
        // A wrong argument type is reported at the user's type.
        let check = quote_spanned!(ty.span()=> let __moonpool_ctx: #ty = __moonpool_ctx;);
        quote!({
            #check
            __moonpool_body(__moonpool_ctx)
        })
    } else {
        quote!({
            let _ = __moonpool_ctx;
            __moonpool_body()
        })
    };
    // Point a wrong return type's error at the return type.
    let result_span = match output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => name.span(),
    };
    let into_result = quote_spanned! {result_span=>
        ::moonpool::__private::IntoTestResult::into_test_result(#call.await)
    };
    // The entry lives beside the test, not inside it, so that the body is
    // type-checked in every build (a `#[test]` fn vanishes outside
    // `cfg(test)`, and with it any error in the body's types).
    let entry = quote::format_ident!("__moonpool_sim_test_{}", name);
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, dead_code)]
        fn #entry(
            __moonpool_ctx: ::moonpool::__private::SimContext,
        ) -> ::moonpool::__private::BodyFuture {
            async fn __moonpool_body(#inputs) #output #block
            ::std::boxed::Box::pin(async move { #into_result })
        }

        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            ::moonpool::__private::run_sim_test(
                &::moonpool::__private::SimTestSpec {
                    path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                    package: ::core::env!("CARGO_PKG_NAME"),
                    crate_name: ::core::env!("CARGO_CRATE_NAME"),
                    integration_test: ::core::option_env!("CARGO_TARGET_TMPDIR").is_some(),
                    release: !::core::cfg!(debug_assertions),
                    seeds: #seeds,
                    max_sim_time: #max_sim_time,
                    max_polls_per_instant: #max_polls,
                    faults: #faults,
                    invariant_every: #invariant_every,
                    coverage: #coverage,
                    coverage_scope: &[#(#coverage_of),*],
                    log: #log,
                    log_lines: #log_lines,
                },
                #entry,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::parse_duration_nanos;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_nanos("500ms"), Some(500_000_000));
        assert_eq!(parse_duration_nanos("90s"), Some(90_000_000_000));
        assert_eq!(parse_duration_nanos("10m"), Some(600_000_000_000));
        assert_eq!(parse_duration_nanos(" 2h "), Some(7_200_000_000_000));
        assert_eq!(parse_duration_nanos("0s"), None);
        assert_eq!(parse_duration_nanos("10"), None);
        assert_eq!(parse_duration_nanos("s"), None);
        assert_eq!(parse_duration_nanos("1.5s"), None);
        assert_eq!(parse_duration_nanos("10 weeks"), None);
        assert_eq!(parse_duration_nanos("99999999999999h"), None);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = expand(
            quote!(seeds = 0, colour = "blue"),
            quote!(
                fn f<T>(self, a: u8, b: u8) {}
            ),
        )
        .unwrap_err();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`seeds` must be at least 1")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("needs an `async fn`")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("cannot be generic")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("cannot take `self`")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("at most one argument")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_good_test_expands_to_a_test_fn() {
        let out = expand(
            quote!(seeds = 7, max_sim_time = "1m"),
            quote!(
                async fn t(sim: SimContext) {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("seeds : 7u64"), "{out}");
        assert!(out.contains("from_nanos (60000000000u64)"), "{out}");
        assert!(out.contains("test"), "{out}");
    }

    #[test]
    fn fault_families_expand_to_a_fixed_plan() {
        let out = expand(
            quote!(faults = ["clogging", "buggify"]),
            quote!(
                async fn t(sim: SimContext) {}
            ),
        )
        .unwrap()
        .to_string();
        assert!(out.contains("clogging : true"), "{out}");
        assert!(out.contains("buggify_sites_percent : 100"), "{out}");
        assert!(out.contains("FaultConfig :: calm ()"), "{out}");
        for (bad, says) in [
            (quote!(faults = ["spice"]), "unknown fault family `spice`"),
            (quote!(faults = ["clogging", "clogging"]), "listed twice"),
            (quote!(faults = []), "an empty `faults` list"),
            (quote!(faults = [clogging]), "in a string"),
        ] {
            let err = expand(
                bad,
                quote!(
                    async fn t() {}
                ),
            )
            .unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}

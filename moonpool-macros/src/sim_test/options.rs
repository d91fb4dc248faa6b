//! The options of `#[sim_test]`: parsed, checked, every problem reported.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Meta, Token};

use crate::errors::{Errors, lit_int, lit_str, parse_duration_nanos};

pub(super) const DEFAULT_SEEDS: u64 = 100;

/// The attribute's options.
#[derive(Default)]
pub(super) struct Options {
    pub(super) seeds: Option<u64>,
    pub(super) max_sim_time_nanos: Option<u64>,
    pub(super) max_polls_per_instant: Option<u64>,
    pub(super) invariant_every: Option<u64>,
    pub(super) strict_coverage: Option<bool>,
    pub(super) coverage_of: Option<Vec<LitStr>>,
    pub(super) faults: Option<Faults>,
    pub(super) log: Option<LitStr>,
    pub(super) log_lines: Option<u64>,
}

/// The `faults` option.
pub(super) enum Faults {
    /// `"swarm"`, `"calm"` or `"brutal"`.
    Plan(String),
    /// A list of fault families, on for every seed (the rest off).
    Families(Vec<String>),
}

/// Fault families that `faults = [...]` may name: the `FaultConfig` fields
/// that switch a family on (`buggify` also turns every site on).
pub(super) const FAMILIES: &[&str] = &[
    "buggify",
    "connect_failures",
    "random_close",
    "clogging",
    "clock_drift",
    "clock_skew",
    "half_open",
    "bit_flips",
    "disk_errors",
];

pub(super) fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let metas = match Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                "#[sim_test] options are `name = value` pairs separated by commas, e.g. `seeds = 500`",
            ));
            return options;
        }
    };
    for meta in metas {
        if let Err(e) = apply_option(&mut options, &meta) {
            errors.push(e);
        }
    }
    options
}

pub(super) const OPTIONS: &[&str] = &[
    "seeds",
    "max_sim_time",
    "max_polls_per_instant",
    "invariant_every",
    "coverage",
    "coverage_of",
    "faults",
    "log",
    "log_lines",
];
pub(super) const EXPECTED_OPTIONS: &str = "expected one of `seeds`, `max_sim_time`, `max_polls_per_instant`, `invariant_every`, `coverage`, `coverage_of`, `faults`, `log`, `log_lines`";

pub(super) fn apply_option(options: &mut Options, meta: &Meta) -> syn::Result<()> {
    let Some(name) = meta.path().get_ident().map(ToString::to_string) else {
        return Err(syn::Error::new(
            meta.path().span(),
            format!("unknown #[sim_test] option; {EXPECTED_OPTIONS}"),
        ));
    };
    if !OPTIONS.contains(&name.as_str()) {
        return Err(syn::Error::new(
            meta.path().span(),
            format!("unknown #[sim_test] option `{name}`; {EXPECTED_OPTIONS}"),
        ));
    }
    let Meta::NameValue(nv) = meta else {
        return Err(syn::Error::new(
            meta.span(),
            format!(
                "`{name}` needs a value, e.g. `{name} = {}`",
                example_value(&name)
            ),
        ));
    };
    let duplicate = || syn::Error::new(meta.span(), format!("`{name}` is given twice"));
    match name.as_str() {
        "coverage" => {
            let value = lit_str(&nv.value).map(LitStr::value);
            let strict = match value.as_deref() {
                Some("strict") => true,
                Some("report") => false,
                _ => {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "`coverage` is \"report\" (list gaps, the default) or \"strict\" (gaps fail the test)",
                    ));
                }
            };
            if options.strict_coverage.replace(strict).is_some() {
                return Err(duplicate());
            }
            return Ok(());
        }
        "faults" => {
            let faults = match &nv.value {
                Expr::Array(array) => Faults::Families(fault_families(array)?),
                value => {
                    let text = lit_str(value).map(LitStr::value);
                    let Some(v @ ("swarm" | "calm" | "brutal")) = text.as_deref() else {
                        return Err(syn::Error::new(
                            value.span(),
                            "`faults` is \"swarm\" (each seed draws its fault families, the default), \"calm\" (none), \"brutal\" (all), or a list of families that are on for every seed, e.g. `faults = [\"clogging\", \"clock_drift\"]`",
                        ));
                    };
                    Faults::Plan(v.to_string())
                }
            };
            if options.faults.replace(faults).is_some() {
                return Err(duplicate());
            }
            return Ok(());
        }
        "coverage_of" => {
            let Expr::Array(array) = &nv.value else {
                return Err(syn::Error::new(
                    nv.value.span(),
                    "`coverage_of` takes a list of module paths, e.g. `coverage_of = [\"my_crate::bank\"]`",
                ));
            };
            let mut paths = Vec::new();
            for elem in &array.elems {
                let Some(lit) = lit_str(elem) else {
                    return Err(syn::Error::new(
                        elem.span(),
                        "each `coverage_of` entry is a module path string",
                    ));
                };
                let text = lit.value();
                let valid = !text.is_empty()
                    && text.split("::").all(|seg| {
                        !seg.is_empty()
                            && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !seg.starts_with(|c: char| c.is_ascii_digit())
                    });
                if !valid {
                    return Err(syn::Error::new(
                        lit.span(),
                        "not a module path: use `crate_name` or `crate_name::module` (crate names with `_`, not `-`)",
                    ));
                }
                paths.push(lit.clone());
            }
            if paths.is_empty() {
                return Err(syn::Error::new(
                    array.span(),
                    "`coverage_of` needs at least one module path",
                ));
            }
            if options.coverage_of.replace(paths).is_some() {
                return Err(duplicate());
            }
            return Ok(());
        }
        _ => {}
    }
    if name == "log" {
        let Some(lit) = lit_str(&nv.value) else {
            return Err(syn::Error::new(
                nv.value.span(),
                "`log` takes a tracing filter in a string, e.g. `log = \"debug\"` or `log = \"warn,my_crate=debug\"`",
            ));
        };
        if lit.value().trim().is_empty() {
            return Err(syn::Error::new(
                lit.span(),
                "`log` needs a filter, e.g. \"debug\" (\"off\" keeps no events)",
            ));
        }
        if options.log.replace(lit.clone()).is_some() {
            return Err(duplicate());
        }
        return Ok(());
    }
    if name == "max_sim_time" {
        let Some(lit) = lit_str(&nv.value) else {
            return Err(syn::Error::new(
                nv.value.span(),
                "`max_sim_time` takes a duration string, e.g. `max_sim_time = \"10m\"`",
            ));
        };
        let nanos = parse_duration_nanos(&lit.value()).ok_or_else(|| {
            syn::Error::new(
                lit.span(),
                "`max_sim_time` must be a positive number with a unit: `ms`, `s`, `m` or `h` (e.g. \"90s\")",
            )
        })?;
        if options.max_sim_time_nanos.replace(nanos).is_some() {
            return Err(duplicate());
        }
        return Ok(());
    }
    let Some(lit) = lit_int(&nv.value) else {
        return Err(syn::Error::new(
            nv.value.span(),
            format!(
                "`{name}` takes a whole number, e.g. `{name} = {}`",
                example_value(&name)
            ),
        ));
    };
    let n: u64 = lit.base10_parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!("`{name}` must be a whole number that fits in 64 bits"),
        )
    })?;
    if n == 0 {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{name}` must be at least 1"),
        ));
    }
    let slot = match name.as_str() {
        "seeds" => &mut options.seeds,
        "invariant_every" => &mut options.invariant_every,
        "log_lines" => &mut options.log_lines,
        _ => &mut options.max_polls_per_instant,
    };
    if slot.replace(n).is_some() {
        return Err(duplicate());
    }
    Ok(())
}

/// The family names of `faults = [...]`, each checked.
pub(super) fn fault_families(array: &syn::ExprArray) -> syn::Result<Vec<String>> {
    let mut families = Vec::new();
    for elem in &array.elems {
        let Some(lit) = lit_str(elem) else {
            return Err(syn::Error::new(
                elem.span(),
                "each `faults` entry is a fault family's name in a string, e.g. \"clogging\"",
            ));
        };
        let name = lit.value();
        if !FAMILIES.contains(&name.as_str()) {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown fault family `{name}`; expected one of {}",
                    FAMILIES
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if families.contains(&name) {
            return Err(syn::Error::new(
                lit.span(),
                format!("fault family `{name}` is listed twice"),
            ));
        }
        families.push(name);
    }
    if families.is_empty() {
        return Err(syn::Error::new(
            array.span(),
            "an empty `faults` list: write `faults = \"calm\"` for a run without faults",
        ));
    }
    Ok(families)
}

pub(super) fn example_value(name: &str) -> &'static str {
    match name {
        "seeds" => "500",
        "max_sim_time" => "\"10m\"",
        "coverage" => "\"strict\"",
        "coverage_of" => "[\"my_crate\"]",
        "faults" => "\"calm\"",
        "log" => "\"debug\"",
        "log_lines" => "200",
        _ => "100000",
    }
}

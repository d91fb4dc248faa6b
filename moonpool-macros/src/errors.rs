//! Error accumulation and small literal helpers shared by the macros.

use proc_macro2::Span;
use syn::{Expr, ExprLit, Lit, LitInt, LitStr};

/// Collects errors so the user sees every problem in one compile.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn push_at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

pub(crate) fn lit_str(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

pub(crate) fn lit_int(expr: &Expr) -> Option<&LitInt> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => Some(i),
        _ => None,
    }
}

/// `"500ms"`, `"90s"`, `"10m"`, `"2h"` → nanoseconds; `None` if malformed,
/// zero or too large.
pub(crate) fn parse_duration_nanos(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale).filter(|v| *v > 0)
}

mod wire_id {
    include!("../../moonpool-core/src/actor/wire_id.rs");
}

/// The wire id of a method name (moonpool-core's `method_id`: the same
/// definition, included).
pub(crate) fn method_id(name: &str) -> u32 {
    wire_id::fnv1a_32(name)
}

//! Collects every error of one expansion, so that a user sees all their mistakes at once, each
//! at its own token (the idea of serde's `Ctxt`).

use std::fmt::Display;

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::ToTokens;

/// The errors found so far.
#[derive(Default)]
pub struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    /// Records an error at the tokens of `at`.
    pub fn error_at(&mut self, at: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(at, message));
    }

    /// Records an error at `span`.
    pub fn error_span(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records a parse error.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(all) => all.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// `true` when nothing is wrong so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_none()
    }

    /// Takes over the errors of `other`.
    pub fn extend(&mut self, other: Ctxt) {
        if let Some(e) = other.errors {
            self.push(e);
        }
    }

    /// The errors as `compile_error!` invocations, or `None`.
    pub fn into_compile_errors(self) -> Option<TokenStream> {
        self.errors.map(|e| e.to_compile_error())
    }
}

/// `tokens` with every span set to `span`: a helper's path spanned at the user's type makes
/// the compiler report an unmet bound of that helper at the type.
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                TokenTree::Group(group)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// The expansion of an attribute whose input has mistakes: the user's item unchanged, so that
/// nothing else breaks, followed by one `compile_error!` per mistake.
pub fn with_errors(item: TokenStream, errors: TokenStream) -> TokenStream {
    let mut out = item;
    out.extend(errors);
    out
}

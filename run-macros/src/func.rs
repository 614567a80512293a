//! A function item as the attributes see it: its signature parsed, its body kept as tokens
//! (the body is the user's code, passed through untouched, and not parsing it saves time).

use proc_macro2::{Group, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Ident, Pat, Signature, Type, Visibility};

/// `#[attrs] vis fn name(args) -> ret { body }`.
pub struct ItemFn {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The body, braces included.
    pub body: Group,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a function body; these attributes go on a function with a body",
            )
        })?;
        if body.delimiter() != proc_macro2::Delimiter::Brace {
            return Err(syn::Error::new(
                body.span(),
                "expected the function body in braces",
            ));
        }
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// A typed parameter: its name (when its pattern is a plain name) and type.
pub struct Param<'a> {
    pub name: Option<&'a Ident>,
    pub pat: &'a Pat,
    pub ty: &'a Type,
}

impl ItemFn {
    /// The typed parameters, in order (`self` is left out).
    pub fn params(&self) -> Vec<Param<'_>> {
        self.sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(t) => Some(Param {
                    name: match &*t.pat {
                        Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => Some(&p.ident),
                        _ => None,
                    },
                    pat: &t.pat,
                    ty: &t.ty,
                }),
                FnArg::Receiver(_) => None,
            })
            .collect()
    }

    /// The return type, or `None` for `()`.
    pub fn output(&self) -> Option<&Type> {
        match &self.sig.output {
            syn::ReturnType::Default => None,
            syn::ReturnType::Type(_, ty) => Some(ty),
        }
    }

    /// The function's name without `r#`.
    pub fn name(&self) -> String {
        self.sig
            .ident
            .to_string()
            .trim_start_matches("r#")
            .to_owned()
    }

    /// The function with `body` in place of its own.
    pub fn with_body(&self, body: TokenStream) -> TokenStream {
        let ItemFn {
            attrs, vis, sig, ..
        } = self;
        quote! {
            #(#attrs)*
            #vis #sig {
                #body
            }
        }
    }
}

impl ToTokens for ItemFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let ItemFn {
            attrs,
            vis,
            sig,
            body,
        } = self;
        tokens.extend(quote!(#(#attrs)* #vis #sig #body));
    }
}

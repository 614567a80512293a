//! `#[derive(Metrics)]`: each field of a struct is a metric, logged by
//! `run_runtime::__private::visit_field`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Fields, Generics, Ident, Item, ItemStruct, Type};

use crate::args;
use crate::ctxt::{Ctxt, respan};
use crate::keys::key_problem;
use crate::types;

/// A field that is logged.
struct Logged<'a> {
    access: TokenStream,
    name: String,
    ty: &'a Type,
}

/// Expands the derive.
pub fn expand(input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    let (ident, generics) = match &item {
        Item::Struct(s) => (&s.ident, &s.generics),
        Item::Enum(e) => {
            cx.error_span(
                e.enum_token.span,
                "#[derive(Metrics)] goes on a struct: an enum holds one variant at a time, so \
                 its metrics would change from value to value; put the values in a struct, or \
                 log them with #[log_metric] on a function",
            );
            (&e.ident, &e.generics)
        }
        Item::Union(u) => {
            cx.error_span(
                u.union_token.span,
                "#[derive(Metrics)] goes on a struct, not a union; use a struct",
            );
            (&u.ident, &u.generics)
        }
        other => {
            cx.error_at(other, "#[derive(Metrics)] goes on a struct");
            return cx.into_compile_errors().unwrap_or_default();
        }
    };
    let krate = container_crate(item_attrs(&item), &mut cx);
    let logged = match &item {
        Item::Struct(s) => fields(s, &mut cx),
        _ => Vec::new(),
    };
    let errors = cx.into_compile_errors().unwrap_or_default();
    let implementation = generate(ident, generics, &krate, &logged);
    quote!(#implementation #errors)
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Struct(s) => &s.attrs,
        Item::Enum(e) => &e.attrs,
        Item::Union(u) => &u.attrs,
        _ => &[],
    }
}

/// `#[metric(crate = "...")]` on the struct.
fn container_crate(attrs: &[Attribute], cx: &mut Ctxt) -> TokenStream {
    let mut krate = quote!(::run_runtime);
    for options in metric_attrs(attrs, "on the struct", &["crate"], cx) {
        if let Some(path) = args::crate_path(&options, cx) {
            krate = quote!(#path);
        }
    }
    krate
}

/// The options of every `#[metric(...)]` attribute among `attrs`, checked against `known`.
fn metric_attrs(attrs: &[Attribute], place: &str, known: &[&str], cx: &mut Ctxt) -> Vec<args::Arg> {
    let mut all = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("metric")) {
        match &attr.meta {
            syn::Meta::List(list) => all.extend(args::parse(list.tokens.clone(), cx)),
            other => cx.error_at(
                other,
                format!(
                    "expected options in parentheses: #[metric({})]",
                    known.join(", ")
                ),
            ),
        }
    }
    args::known(all, &format!("#[metric] {place}"), known, cx)
}

fn fields<'a>(item: &'a ItemStruct, cx: &mut Ctxt) -> Vec<Logged<'a>> {
    let list: Vec<&syn::Field> = match &item.fields {
        Fields::Named(f) => f.named.iter().collect(),
        Fields::Unnamed(f) => f.unnamed.iter().collect(),
        Fields::Unit => Vec::new(),
    };
    if list.is_empty() {
        cx.error_at(
            &item.ident,
            format!(
                "`{}` has no fields, so it has no metrics to log; add fields, or remove \
                 #[derive(Metrics)]",
                item.ident
            ),
        );
    }
    let mut logged: Vec<Logged<'a>> = Vec::new();
    for (index, field) in list.into_iter().enumerate() {
        if let Some(f) = field_metric(field, index, cx) {
            if logged.iter().any(|l| l.name == f.name) {
                cx.error_span(
                    field
                        .ident
                        .as_ref()
                        .map_or_else(|| field.ty.span(), Ident::span),
                    format!(
                        "two fields are logged as {:?}; give one another name with \
                         #[metric(rename = \"...\")]",
                        f.name
                    ),
                );
            } else {
                logged.push(f);
            }
        }
    }
    logged
}

fn field_metric<'a>(field: &'a syn::Field, index: usize, cx: &mut Ctxt) -> Option<Logged<'a>> {
    let mut rename = None;
    let mut skip = false;
    for option in metric_attrs(&field.attrs, "on a field", &["rename", "skip"], cx) {
        match option.key.as_str() {
            "skip" => match option.value {
                args::Value::Flag => skip = true,
                _ => cx.error_at(option.tokens(), "`skip` takes no value: #[metric(skip)]"),
            },
            _ => rename = args::lit_str(&option, "the metric name", cx),
        }
    }
    if skip {
        return None;
    }
    let (access, default_name) = match &field.ident {
        Some(ident) => (
            quote!(#ident),
            Some(ident.to_string().trim_start_matches("r#").to_owned()),
        ),
        None => {
            let index = syn::Index::from(index);
            (quote!(#index), None)
        }
    };
    let name = match (&rename, default_name) {
        (Some(lit), _) => {
            if let Some(problem) = key_problem(&lit.value()) {
                cx.error_at(
                    lit,
                    format!("{:?} cannot be a metric name: {problem}", lit.value()),
                );
                return None;
            }
            lit.value()
        }
        (None, Some(name)) => name,
        (None, None) => {
            cx.error_at(
                &field.ty,
                format!(
                    "field {index} of a tuple struct has no name to log it under; give it one \
                     with #[metric(rename = \"...\")]"
                ),
            );
            return None;
        }
    };
    if let Some(shown) = types::plainly_not_a_number(&field.ty) {
        cx.error_at(
            &field.ty,
            format!(
                "field `{name}` is `{shown}`, which is not a metric; give it a number, bool, \
                 `Option` or `#[derive(Metrics)]` type, or mark it #[metric(skip)]"
            ),
        );
        return None;
    }
    Some(Logged {
        access,
        name,
        ty: &field.ty,
    })
}

fn generate(
    ident: &Ident,
    generics: &Generics,
    krate: &TokenStream,
    logged: &[Logged<'_>],
) -> TokenStream {
    let private = quote!(#krate::__private);
    let prefix = Ident::new("prefix", Span::mixed_site());
    let visit = Ident::new("visit", Span::mixed_site());
    let calls = logged.iter().map(|l| {
        let Logged { access, name, ty } = l;
        let (call, field) = (
            respan(quote!(#private::visit_field), ty.span()),
            respan(quote!(&self.#access), ty.span()),
        );
        quote!(#call(#field, #prefix, #name, #visit);)
    });
    let params: Vec<String> = generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();
    let bounds = logged
        .iter()
        .filter(|l| types::mentions(l.ty, &params))
        .map(|l| {
            let ty = l.ty;
            let bound = respan(quote!(#private::MetricField), ty.span());
            quote!(#ty: #bound)
        });
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let predicates = where_clause.into_iter().flat_map(|w| w.predicates.iter());
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Metrics for #ident #ty_generics
        where #(#predicates,)* #(#bounds,)*
        {
            fn for_each_metric(&self, #prefix: &str, #visit: &mut dyn FnMut(&str, f64)) {
                let _ = (&#prefix, &#visit);
                #(#calls)*
            }
        }
    }
}

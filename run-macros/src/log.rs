//! `#[log_metric]`, `#[log_tag]` and `#[log_property]`: the function runs as written, then its
//! return value is logged through `run_runtime::__private::{log_returned, log_text}`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Type};

use crate::args::{self, Arg, Value};
use crate::ctxt::{Ctxt, respan, with_errors};
use crate::func::ItemFn;
use crate::keys::key_problem;
use crate::types;

/// Which attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metric,
    Tag,
    Property,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Metric => "#[log_metric]",
            Kind::Tag => "#[log_tag]",
            Kind::Property => "#[log_property]",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Metric => "metric",
            Kind::Tag => "tag",
            Kind::Property => "property",
        }
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Kind::Metric => &["name", "to", "step", "prefix", "crate"],
            Kind::Tag | Kind::Property => &["name", "to", "crate"],
        }
    }
}

/// The options, checked.
struct Options {
    name: Option<LitStr>,
    to: Vec<(&'static str, Span)>,
    step: Option<Ident>,
    prefix: Option<LitStr>,
    krate: TokenStream,
}

/// Expands one of the three attributes.
pub fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_errors(item, e.to_compile_error()),
    };
    let mut cx = Ctxt::default();
    let options = parse_options(kind, attr, &mut cx);
    let ret = check_function(kind, &func, &options, &mut cx);
    match (cx.into_compile_errors(), ret) {
        (None, Some(ret)) => generate(kind, &func, &options, ret),
        (errors, _) => with_errors(item, errors.unwrap_or_default()),
    }
}

fn parse_options(kind: Kind, attr: TokenStream, cx: &mut Ctxt) -> Options {
    let mut options = Options {
        name: None,
        to: vec![("Run", Span::call_site())],
        step: None,
        prefix: None,
        krate: quote!(::run_runtime),
    };
    let parsed = args::parse(attr, cx);
    for arg in args::known(parsed, kind.attr(), kind.options(), cx) {
        match arg.key.as_str() {
            "name" => options.name = key_literal(&arg, kind, "", cx),
            "prefix" => options.prefix = key_literal(&arg, kind, "x", cx),
            "to" => options.to = targets(&arg, cx),
            "step" => options.step = step_ident(&arg, cx),
            "crate" => {
                if let Some(path) = args::crate_path(&arg, cx) {
                    options.krate = quote!(#path);
                }
            }
            _ => unreachable!("args::known keeps only known options"),
        }
    }
    options
}

/// A name or prefix literal that keeps the key rules (`suffix` completes a prefix to a key).
fn key_literal(arg: &Arg, kind: Kind, suffix: &str, cx: &mut Ctxt) -> Option<LitStr> {
    let lit = args::lit_str(arg, &format!("the {} name", kind.noun()), cx)?;
    let key = format!("{}{suffix}", lit.value());
    match key_problem(&key) {
        None => Some(lit),
        Some(problem) => {
            let what = if suffix.is_empty() { "name" } else { "prefix" };
            cx.error_at(
                &lit,
                format!(
                    "{:?} cannot be a {} {what}: {problem}",
                    lit.value(),
                    kind.noun()
                ),
            );
            None
        }
    }
}

const TARGETS: [(&str, &str); 3] = [("run", "Run"), ("parent", "Parent"), ("root", "Root")];

/// `to = run`, `to = parent`, `to = [run, root]`.
fn targets(arg: &Arg, cx: &mut Ctxt) -> Vec<(&'static str, Span)> {
    let Value::Eq(tokens) = &arg.value else {
        cx.error_at(
            arg.tokens(),
            "`to` takes a run, or a list of them: to = parent, to = [run, root]",
        );
        return Vec::new();
    };
    let list: Vec<Ident> = match syn::parse2::<syn::ExprArray>(tokens.clone()) {
        Ok(array) => array
            .elems
            .iter()
            .filter_map(|e| target_ident(e, cx))
            .collect(),
        Err(_) => match syn::parse2::<Ident>(tokens.clone()) {
            Ok(ident) => vec![ident],
            Err(_) => {
                cx.error_at(
                    tokens,
                    "expected `run`, `parent`, `root` or a list: [run, parent]",
                );
                return Vec::new();
            }
        },
    };
    if list.is_empty() {
        cx.error_at(tokens, "`to` needs at least one run: run, parent or root");
    }
    let mut out: Vec<(&'static str, Span)> = Vec::new();
    for ident in list {
        let word = ident.to_string();
        match TARGETS.iter().find(|(w, _)| *w == word) {
            Some((_, variant)) if out.iter().any(|(v, _)| v == variant) => {
                cx.error_at(
                    &ident,
                    format!("`{word}` is listed twice in `to`; remove one"),
                );
            }
            Some((_, variant)) => out.push((variant, ident.span())),
            None => {
                let names = TARGETS.iter().map(|(w, _)| *w);
                let hint = run_rules::closest(&word, names)
                    .first()
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                cx.error_at(
                    &ident,
                    format!("unknown run `{word}`; {hint}`to` takes run, parent or root"),
                );
            }
        }
    }
    out
}

fn target_ident(expr: &syn::Expr, cx: &mut Ctxt) -> Option<Ident> {
    if let syn::Expr::Path(p) = expr
        && let Some(ident) = p.path.get_ident()
    {
        return Some(ident.clone());
    }
    cx.error_at(expr, "expected `run`, `parent` or `root`");
    None
}

fn step_ident(arg: &Arg, cx: &mut Ctxt) -> Option<Ident> {
    if let Value::Eq(tokens) = &arg.value
        && let Ok(ident) = syn::parse2::<Ident>(tokens.clone())
    {
        return Some(ident);
    }
    cx.error_at(
        arg.tokens(),
        "`step` takes the name of an integer parameter: step = epoch",
    );
    None
}

/// Checks the function against the options; returns its return type.
fn check_function<'f>(
    kind: Kind,
    func: &'f ItemFn,
    options: &Options,
    cx: &mut Ctxt,
) -> Option<&'f Type> {
    let attr = kind.attr();
    if let Some(c) = &func.sig.constness {
        cx.error_at(
            c,
            format!(
                "{attr} cannot go on a `const fn`: logging happens at run time; remove `const`"
            ),
        );
    }
    if options.name.is_none()
        && let Some(problem) = key_problem(&func.name())
    {
        cx.error_at(
            &func.sig.ident,
            format!(
                "the function's name cannot be a {} name: {problem}; give one with name = \"...\"",
                kind.noun()
            ),
        );
    }
    if let Some(step) = &options.step {
        check_step(func, step, cx);
    }
    let ret = match func.output() {
        Some(ty) if !types::is_unit(ty) => ty,
        other => {
            let at = other.map_or_else(|| func.sig.ident.span(), |t| t.span());
            cx.error_span(
                at,
                format!(
                    "{attr} logs what `{}` returns, and it returns nothing; return the {} value",
                    func.name(),
                    kind.noun()
                ),
            );
            return None;
        }
    };
    if types::has_impl_trait(ret) {
        cx.error_at(
            ret,
            format!(
                "{attr} cannot name the type `{}`; return a concrete type",
                types::text(ret)
            ),
        );
        return None;
    }
    let value = types::wrapped(ret).map_or(ret, |(_, inner)| inner);
    if kind == Kind::Metric
        && let Some(name) = types::plainly_not_a_number(value)
    {
        cx.error_at(
            ret,
            format!(
                "#[log_metric] cannot log `{name}`: it is not a metric; return a number, a \
                     bool or a `#[derive(Metrics)]` struct (or an `Option` or `Result` of one), \
                     or use #[log_tag] or #[log_property] for text"
            ),
        );
    }
    Some(ret)
}

fn check_step(func: &ItemFn, step: &Ident, cx: &mut Ctxt) {
    let params = func.params();
    let Some(param) = params.iter().find(|p| p.name == Some(step)) else {
        let names: Vec<String> = params
            .iter()
            .filter_map(|p| p.name.map(|n| n.to_string()))
            .collect();
        let similar = run_rules::closest(&step.to_string(), names.iter().map(String::as_str));
        let hint = match similar.first() {
            Some(similar) => format!("did you mean `{similar}`?"),
            None => String::from("add an integer parameter for the step, such as `epoch: i64`"),
        };
        cx.error_at(
            step,
            format!(
                "`step = {step}` names no parameter of `{}`; {hint}",
                func.name()
            ),
        );
        return;
    };
    let ty = param.ty;
    let plainly_not = types::plainly_not_a_path(ty).is_some() && !types::is_integer(ty);
    if plainly_not || types::plainly_not_a_number(ty).is_some() {
        cx.error_at(
            step,
            format!(
                "`step` must name an integer parameter, and `{step}` is `{}`; name the epoch or \
                 iteration number (i64, u32, usize...), or remove `step`",
                types::text(ty)
            ),
        );
    }
}

fn generate(kind: Kind, func: &ItemFn, options: &Options, ret: &Type) -> TokenStream {
    let krate = &options.krate;
    let private = quote!(#krate::__private);
    // Spanned at the return type, so that an unmet bound on the value is reported there; the
    // body cannot see it, as it is bound after the body runs.
    let value = Ident::new("__run_runtime_value", ret.span());
    let step = Ident::new("__step", Span::mixed_site());
    let site = Ident::new("__SITE", Span::mixed_site());
    let body = &func.body;
    let is_async = func.sig.asyncness.is_some();
    let run_body = if is_async {
        quote!((async move || -> #ret #body)().await)
    } else {
        quote!((move || -> #ret #body)())
    };
    let fn_name = func.name();
    let name = options
        .name
        .as_ref()
        .map_or_else(|| fn_name.clone(), LitStr::value);
    let prefix = options
        .prefix
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_default();
    let targets = options.to.iter().map(|(variant, span)| {
        let variant = Ident::new(variant, *span);
        quote!(#private::Target::#variant)
    });
    let name_kind = Ident::new(
        match kind {
            Kind::Metric => "Metric",
            Kind::Tag => "Tag",
            Kind::Property => "Property",
        },
        Span::call_site(),
    );
    let site_const = quote! {
        const #site: &#private::Site = &#private::Site {
            function: #fn_name,
            kind: #private::NameKind::#name_kind,
            name: #name,
            prefix: #prefix,
            to: &[#(#targets),*],
        };
    };
    let log = match kind {
        Kind::Metric => log_metric(func, options, ret, &private, &value, &step, &site),
        Kind::Tag | Kind::Property => log_text(ret, &private, &value, &site),
    };
    let step_arg = match &options.step {
        Some(param) => {
            let step_arg = respan(quote!(#private::StepValue::step_arg), param.span());
            quote!(#step_arg(&#param))
        }
        None => quote!(#private::StepArg::Next),
    };
    let step_let = match kind {
        Kind::Metric => quote!(let #step = #step_arg;),
        _ => TokenStream::new(),
    };
    func.with_body(quote! {
        #site_const
        #step_let
        #[allow(clippy::redundant_closure_call)]
        let #value: #ret = #run_body;
        #log
        #value
    })
}

fn log_metric(
    func: &ItemFn,
    options: &Options,
    ret: &Type,
    private: &TokenStream,
    value: &Ident,
    step: &Ident,
    site: &Ident,
) -> TokenStream {
    let ret_span = ret.span();
    // An item const is evaluated by `cargo check`; it cannot name the function's generics, and
    // then the value's shape is left to run time.
    let shape = match (&options.name, &options.prefix) {
        _ if mentions_generics(func, ret) => TokenStream::new(),
        (Some(name), _) => quote_spanned! {name.span()=>
            const _: () = if <#ret as #private::MetricReturn>::FIELDS {
                panic!("`name` names one metric, but this function returns a #[derive(Metrics)] struct; name its metrics with `prefix = \"...\"`")
            };
        },
        (None, Some(prefix)) => quote_spanned! {prefix.span()=>
            const _: () = if !<#ret as #private::MetricReturn>::FIELDS {
                panic!("`prefix` names the metrics of a #[derive(Metrics)] struct, but this function returns one metric; name it with `name = \"...\"`")
            };
        },
        (None, None) => TokenStream::new(),
    };
    let (log, amp) = (
        respan(quote!(#private::log_returned), ret_span),
        respan(quote!(&), ret_span),
    );
    quote!(#shape #log(#amp #value, #site, #step);)
}

fn log_text(ret: &Type, private: &TokenStream, value: &Ident, site: &Ident) -> TokenStream {
    match types::wrapped(ret) {
        Some((wrapper, inner_ty)) => {
            let inner = Ident::new("__run_runtime_inner", inner_ty.span());
            let pattern = match wrapper {
                "Option" => quote!(::core::option::Option::Some(#inner)),
                _ => quote!(::core::result::Result::Ok(#inner)),
            };
            let log = respan(quote!(#private::log_text), inner_ty.span());
            quote! {
                if let #pattern = &#value {
                    #log(#inner, #site);
                }
            }
        }
        None => {
            let (log, amp) = (
                respan(quote!(#private::log_text), ret.span()),
                respan(quote!(&), ret.span()),
            );
            quote!(#log(#amp #value, #site);)
        }
    }
}

/// `ty` names a generic parameter of `func`, or `Self`.
fn mentions_generics(func: &ItemFn, ty: &Type) -> bool {
    let mut names: Vec<String> = func
        .sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            syn::GenericParam::Type(t) => Some(t.ident.to_string()),
            syn::GenericParam::Const(c) => Some(c.ident.to_string()),
            syn::GenericParam::Lifetime(_) => None,
        })
        .collect();
    names.push("Self".into());
    types::mentions(ty, &names)
}

//! `#[aml_step]`: the function becomes a step. Beside it, a type of the same name holds the
//! step's description (`STEP`), its entry point (`main`) and its body; the function itself, when
//! called, runs the step in a child run.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, GenericParam, Ident, Type};

use crate::args::{self, Arg, Value};
use crate::ctxt::{Ctxt, respan, with_errors};
use crate::decl::{self, Declaration, SlotKind};
use crate::func::ItemFn;
use crate::keys::{key_problem, run_name_problem};
use crate::types;

const ATTR: &str = "#[aml_step]";
const OPTIONS: [&str; 10] = [
    "name",
    "experiment",
    "description",
    "tags",
    "system_metrics",
    "reuse",
    "inputs",
    "outputs",
    "params",
    "crate",
];

struct Options {
    name: Option<String>,
    experiment: Option<String>,
    description: Option<String>,
    tags: Vec<(String, String)>,
    /// `system_metrics`: the sampling interval in milliseconds.
    system_metrics: Option<u64>,
    /// `reuse = false`: the step is never reused (it has side effects).
    reuse: bool,
    declared: Vec<Declaration>,
    /// A declaration list could not be read (an unknown option, a malformed list): a
    /// parameter that looks undeclared may well be declared there, so it is not reported.
    declarations_incomplete: bool,
    krate: TokenStream,
}

/// What a parameter of the function is.
enum Role<'a> {
    /// The step's run; `owned` for `Run`, else `&Run`.
    Run { owned: bool },
    /// An input, output or parameter, with its index among all slots.
    Slot {
        declared: &'a Declaration,
        index: usize,
    },
}

struct FnParam<'a> {
    name: &'a Ident,
    ty: &'a Type,
    role: Role<'a>,
}

/// Expands `#[aml_step]`. On a mistake: the function unchanged, the errors, and the type beside
/// it with a stand-in `STEP` and `main` ([`Gen::stand_in`]), so that the only errors are the
/// attribute's.
pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_errors(item, e.to_compile_error()),
    };
    let mut cx = Ctxt::default();
    let options = parse_options(attr, &mut cx);
    check_signature(&func, &mut cx);
    let params = match_params(&func, &options, &mut cx);
    match cx.into_compile_errors() {
        Some(errors) => {
            let mut out = with_errors(item, errors);
            out.extend(Gen::new(&func, &options, &params).stand_in());
            out
        }
        None => generate(&func, &options, &params),
    }
}

// ---------------------------------------------------------------- options

fn parse_options(attr: TokenStream, cx: &mut Ctxt) -> Options {
    let mut options = Options {
        name: None,
        experiment: None,
        description: None,
        tags: Vec::new(),
        system_metrics: None,
        reuse: true,
        declared: Vec::new(),
        declarations_incomplete: false,
        krate: quote!(::run_runtime),
    };
    let parsed = args::parse(attr, cx);
    options.declarations_incomplete = parsed
        .iter()
        .any(|a| a.quoted_key || !OPTIONS.contains(&a.key.as_str()));
    for arg in args::known(parsed, ATTR, &OPTIONS, cx) {
        match arg.key.as_str() {
            "name" => options.name = run_name(&arg, "step", cx),
            "experiment" => options.experiment = run_name(&arg, "experiment", cx),
            "description" => {
                options.description = args::lit_str(&arg, "the description", cx).map(|l| l.value());
            }
            "tags" => options.tags = tags(&arg, cx),
            "system_metrics" => options.system_metrics = system_metrics(&arg, cx),
            "reuse" => options.reuse = reuse(&arg, cx),
            key @ ("inputs" | "outputs" | "params") => {
                let kind = SlotKind::of_list(key).expect("a list option");
                if !decl::read(
                    &arg,
                    kind,
                    decl::ValueRole::Default,
                    &mut options.declared,
                    cx,
                ) {
                    options.declarations_incomplete = true;
                }
            }
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

fn run_name(arg: &Arg, what: &str, cx: &mut Ctxt) -> Option<String> {
    let lit = args::lit_str(arg, &format!("the {what} name"), cx)?;
    match run_name_problem(&lit.value()) {
        None => Some(lit.value()),
        Some(problem) => {
            cx.error_at(
                &lit,
                format!("{:?} cannot be a {what} name: {problem}", lit.value()),
            );
            None
        }
    }
}

/// `system_metrics` (every 10 s, MLflow's default) or `system_metrics = SECONDS`: the sampling
/// interval in milliseconds, within the runtime's bounds (100 ms to a day).
fn system_metrics(arg: &Arg, cx: &mut Ctxt) -> Option<u64> {
    const HOW: &str = "`system_metrics` samples every 10 s; `system_metrics = 5` or \
                       `system_metrics = 0.5` sets the interval in seconds, from 0.1 to 86400";
    let tokens = match &arg.value {
        Value::Flag => return Some(10_000),
        Value::Eq(tokens) => tokens,
        Value::List(_) => {
            cx.error_at(arg.tokens(), HOW);
            return None;
        }
    };
    let seconds = match syn::parse2::<syn::Lit>(tokens.clone()) {
        Ok(syn::Lit::Int(i)) => i.base10_parse::<f64>().ok(),
        Ok(syn::Lit::Float(f)) => f.base10_parse::<f64>().ok(),
        _ => None,
    };
    match seconds.filter(|s| (0.1..=86_400.0).contains(s)) {
        Some(s) => Some((s * 1000.0).round() as u64),
        None => {
            cx.error_at(
                tokens,
                format!("`{tokens}` is not a sampling interval: {HOW}"),
            );
            None
        }
    }
}

/// `reuse = false` (a step with side effects: it runs every time) or `reuse = true` (the
/// default: an earlier run with the same program, params and input content stands in for it).
fn reuse(arg: &Arg, cx: &mut Ctxt) -> bool {
    const HOW: &str = "`reuse = false` makes the step run every time (for a step with side \
                       effects); `reuse = true`, the default, lets an earlier identical run \
                       stand in for it";
    let tokens = match &arg.value {
        Value::Eq(tokens) => tokens,
        _ => {
            cx.error_at(arg.tokens(), HOW);
            return true;
        }
    };
    match syn::parse2::<syn::LitBool>(tokens.clone()) {
        Ok(b) => b.value,
        Err(_) => {
            cx.error_at(
                tokens,
                format!("`{tokens}` is not `true` or `false`: {HOW}"),
            );
            true
        }
    }
}

fn tags(arg: &Arg, cx: &mut Ctxt) -> Vec<(String, String)> {
    let Some(entries) = args::list(
        arg,
        "tags(team = \"vision\", \"stage.name\" = \"train\")",
        cx,
    ) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in entries {
        if let Some(problem) = key_problem(&entry.key) {
            cx.error_at(
                &entry.key_tokens,
                format!("{:?} cannot be a tag name: {problem}", entry.key),
            );
            continue;
        }
        if out.iter().any(|(k, _)| *k == entry.key) {
            cx.error_at(
                &entry.key_tokens,
                format!("tag {:?} is given twice; remove one", entry.key),
            );
            continue;
        }
        let value = match &entry.value {
            Value::Eq(tokens) => decl::literal_text(tokens).map(|(text, _)| text),
            _ => None,
        };
        match value {
            Some(text) => out.push((entry.key, text)),
            None => cx.error_at(
                entry.tokens(),
                format!(
                    "tag {:?} needs a value: {} = \"...\"",
                    entry.key, entry.key_tokens
                ),
            ),
        }
    }
    out
}

// ---------------------------------------------------------------- the function

fn check_signature(func: &ItemFn, cx: &mut Ctxt) {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        cx.error_at(
            c,
            "#[aml_step] cannot go on a `const fn`: a step runs and records at run time; remove \
             `const`",
        );
    }
    if let syn::Safety::Unsafe(u) = &sig.safety {
        cx.error_at(
            u,
            "#[aml_step] cannot go on an `unsafe fn`: a step is started by name, by code that \
             cannot uphold its safety contract; make it safe, with the `unsafe` block inside",
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_at(
            abi,
            "#[aml_step] goes on a Rust function; remove the `extern` ABI",
        );
    }
    for param in &sig.generics.params {
        let what = match param {
            GenericParam::Type(t) => format!("the type parameter `{}`", t.ident),
            GenericParam::Const(c) => format!("the const parameter `{}`", c.ident),
            GenericParam::Lifetime(_) => continue,
        };
        cx.error_at(
            param,
            format!(
                "a step cannot be generic: its entry point and a pipeline run it without naming \
                 types; replace {what} with a concrete type"
            ),
        );
    }
    if let Some(FnArg::Receiver(r)) = sig.inputs.first() {
        cx.error_at(
            r,
            "#[aml_step] goes on a free function, not a method: a step is started by name, with \
             no `self` to call it on; move it out of the `impl` block and pass what it needs as \
             inputs or params",
        );
    }
}

/// Pairs each parameter with its declaration; reports every mismatch.
fn match_params<'a>(func: &'a ItemFn, options: &'a Options, cx: &mut Ctxt) -> Vec<FnParam<'a>> {
    let order = slot_order(&options.declared);
    let mut out = Vec::new();
    let mut run_seen: Option<&Ident> = None;
    let mut used: Vec<&str> = Vec::new();
    let params = func.params();
    let fn_name = func.name();
    for param in &params {
        let Some(name) = param.name else {
            cx.error_at(
                param.pat,
                "a step's parameters are plain names (`data: &Path`), each given by name; bind \
                 this pattern inside the body instead",
            );
            continue;
        };
        if types::is_run(param.ty) {
            if let Some(first) = run_seen {
                cx.error_at(
                    name,
                    format!("`{name}` is a second run parameter, after `{first}`; a step has one run, so remove one"),
                );
            } else if options.declared.iter().any(|d| *name == d.name) {
                cx.error_at(name, format!("`{name}` is the step's run (its type is a `Run`), so it cannot be declared as an input, output or param; remove it from the attribute"));
            }
            run_seen.get_or_insert(name);
            let owned = types::referent(param.ty).is_none();
            out.push(FnParam {
                name,
                ty: param.ty,
                role: Role::Run { owned },
            });
            continue;
        }
        match order.iter().position(|d| *name == d.name) {
            Some(index) => {
                let declared = order[index];
                used.push(&declared.name);
                check_type(declared, name, param.ty, cx);
                out.push(FnParam {
                    name,
                    ty: param.ty,
                    role: Role::Slot { declared, index },
                });
            }
            None if options.declarations_incomplete => {}
            None => {
                let unmatched: Vec<&str> = options
                    .declared
                    .iter()
                    .map(|d| d.name.as_str())
                    .filter(|d| !params.iter().any(|p| p.name.is_some_and(|n| n == d)))
                    .collect();
                let message = match run_rules::closest(&name.to_string(), unmatched).first() {
                    Some(&similar) => {
                        used.push(similar);
                        format!(
                            "parameter `{name}` is not declared; did you mean `{similar}`, which \
                             is declared but names no parameter? Rename one of them"
                        )
                    }
                    None => format!(
                        "parameter `{name}` is not declared: every parameter of a step is \
                         its run, an input, an output or a param; add `{name}` to inputs(...), \
                         outputs(...) or params(...) in #[aml_step]"
                    ),
                };
                cx.error_at(name, message);
            }
        }
    }
    for d in &options.declared {
        if !used.contains(&d.name.as_str()) {
            let ty = d.value.as_ref().map_or(
                if d.kind == SlotKind::Param {
                    "T"
                } else {
                    "&Path"
                },
                |v| v.suggested_ty,
            );
            cx.error_at(
                &d.at,
                format!(
                    "`{}` is declared in {}(...), but `{fn_name}` has no parameter `{}`; add \
                     `{}: {ty}` to its parameters, or remove it here",
                    d.name,
                    d.kind.list(),
                    d.name,
                    d.name
                ),
            );
        }
    }
    out
}

/// Inputs, then outputs, then params: the order of the values the runtime resolves.
fn slot_order(declared: &[Declaration]) -> Vec<&Declaration> {
    let of = |kind| declared.iter().filter(move |d| d.kind == kind);
    of(SlotKind::Input)
        .chain(of(SlotKind::Output))
        .chain(of(SlotKind::Param))
        .collect()
}

fn check_type(declared: &Declaration, name: &Ident, ty: &Type, cx: &mut Ctxt) {
    if let syn::Type::Reference(r) = types::peel(ty)
        && let Some(m) = &r.mutability
    {
        cx.error_at(
            m,
            format!(
                "{} `{name}` cannot be a `&mut` reference: a step's values are given to it, \
                     not lent by a caller; take `{}` by value and keep it mutable inside",
                declared.kind.noun(),
                types::text(&r.elem)
            ),
        );
        return;
    }
    match declared.kind {
        SlotKind::Input | SlotKind::Output => {
            if let Some(shown) = types::plainly_not_a_path(ty) {
                cx.error_at(
                    ty,
                    format!(
                        "{} `{name}` is `{shown}`, which is not a path: an input or output is a \
                         `&Path`, a `PathBuf`, or a type that implements `DataPath`; to pass a \
                         value instead, declare `{name}` under params(...)",
                        declared.kind.noun()
                    ),
                );
            }
        }
        SlotKind::Param => {
            if let (Some(default), Some(prim)) = (&declared.value, types::simple_name(ty))
                && let Some(error) = run_rules::parse_check(&prim, &default.text)
            {
                cx.error_at(
                    &default.tokens,
                    format!(
                        "the default {:?} of param `{name}` is not a valid `{prim}` ({error}); \
                             write a value of the parameter's type",
                        default.text
                    ),
                );
            }
        }
    }
}

// ---------------------------------------------------------------- generated code

struct Gen<'a> {
    func: &'a ItemFn,
    options: &'a Options,
    params: &'a [FnParam<'a>],
    private: TokenStream,
    ident: &'a Ident,
    is_async: bool,
}

fn generate(func: &ItemFn, options: &Options, params: &[FnParam<'_>]) -> TokenStream {
    let step = Gen::new(func, options, params);
    let direct = step.direct_call();
    let holder = step.holder_type();
    let private = &step.private;
    let ident = step.ident;
    quote! {
        #direct
        #holder
        #private::inventory::submit! {
            #private::Registration(&#ident::STEP)
        }
    }
}

/// Which `STEP` to generate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StepConst {
    /// The step's.
    Step,
    /// A stand-in for an attribute with mistakes: an empty `function`, no `invoke_async`.
    StandIn,
}

/// Attributes by where they go: (on every generated item, on the callable function, on the
/// body).
fn split_attrs(attrs: &[Attribute]) -> (Vec<&Attribute>, Vec<&Attribute>, Vec<&Attribute>) {
    let (mut everywhere, mut outer, mut body) = (Vec::new(), Vec::new(), Vec::new());
    for attr in attrs {
        let path = attr.path();
        if path.is_ident("cfg") || path.is_ident("cfg_attr") {
            everywhere.push(attr);
        } else if path.is_ident("doc") {
            outer.push(attr);
        } else if ["allow", "warn", "deny", "forbid"]
            .iter()
            .any(|l| path.is_ident(l))
        {
            outer.push(attr);
            body.push(attr);
        } else {
            body.push(attr);
        }
    }
    (everywhere, outer, body)
}

impl<'a> Gen<'a> {
    fn new(func: &'a ItemFn, options: &'a Options, params: &'a [FnParam<'a>]) -> Self {
        let krate = &options.krate;
        Gen {
            func,
            options,
            params,
            private: quote!(#krate::__private),
            ident: &func.sig.ident,
            is_async: func.sig.asyncness.is_some(),
        }
    }

    /// The type named after the step, for an attribute with mistakes: `STEP` and `main` as
    /// they would be (async or not), from what could be read, so that `train::main()`,
    /// `train::STEP` and a `pipeline!` naming the step get no error of their own (as tokio's
    /// entry macro emits the function with a default configuration on an error).
    ///
    /// The program does not compile anyway (the errors are emitted beside it), so this runs
    /// nothing: `__invoke` is unreachable, and `STEP.function` is empty, which tells a
    /// pipeline's checks (`run_runtime::pipeline::check`) not to check a graph against a
    /// step's guessed declarations. Nothing is registered. A method gets no type: a type cannot
    /// be declared in an `impl` block, and that mistake is reported already.
    fn stand_in(&self) -> TokenStream {
        if let Some(FnArg::Receiver(_)) = self.func.sig.inputs.first() {
            return TokenStream::new();
        }
        let Gen { private, ident, .. } = self;
        let (run, bindings) = (
            Ident::new("__run", Span::mixed_site()),
            Ident::new("__bindings", Span::mixed_site()),
        );
        let result = quote!(::core::result::Result<(), #private::StepError>);
        let unreachable =
            format!("#[aml_step] of `{ident}` has errors, so the program does not compile");
        self.companion(
            StepConst::StandIn,
            quote! {
                fn __invoke(#run: &#private::Run, #bindings: &#private::Bindings) -> #result {
                    ::core::unreachable!(#unreachable)
                }
            },
        )
    }

    /// The type named after the step, holding `STEP`, `main` and `rest`: the one shape of the
    /// real type and of its stand-in.
    fn companion(&self, what: StepConst, rest: TokenStream) -> TokenStream {
        let Gen {
            func,
            private,
            ident,
            ..
        } = self;
        let (everywhere, _, _) = split_attrs(&func.attrs);
        let vis = &func.vis;
        let step = self.step_const(what);
        let main = self.main_fn();
        let doc = self.holder_doc();
        quote! {
            #(#everywhere)*
            #[doc = #doc]
            #[allow(non_camel_case_types)]
            #vis struct #ident {}

            #(#everywhere)*
            #[allow(dead_code)]
            impl #ident {
                /// What the step takes and how to run it.
                pub const STEP: #private::Step = #step;

                #main

                #rest
            }
        }
    }

    /// The entry point, `main`: async for an async step.
    fn main_fn(&self) -> TokenStream {
        let private = &self.private;
        if self.is_async {
            quote! {
                /// Runs the step as the program, with the caller's executor: values from the
                /// command line (`--name value`), the environment and the defaults; see
                /// `run_runtime::step::Step::main`.
                pub async fn main() -> #private::ExitCode {
                    Self::STEP.main_async().await
                }
            }
        } else {
            quote! {
                /// Runs the step as the program: values from the command line
                /// (`--name value`), the environment and the defaults, on the process's
                /// context run; returns the exit code. See `run_runtime::step::Step::main`.
                pub fn main() -> #private::ExitCode {
                    Self::STEP.main()
                }
            }
        }
    }

    fn holder_doc(&self) -> String {
        let ident = self.ident;
        format!(
            "The step `{}`: [`{ident}::STEP`](Self::STEP) describes it, `{ident}::main()` runs \
             it as a program, and `{ident}(...)` runs it in a child run.",
            self.step_name()
        )
    }

    /// The function that tells a failed run from what the body returned.
    fn failure(&self) -> TokenStream {
        let (private, ident) = (&self.private, self.ident);
        match self.func.output() {
            Some(ty) if types::has_impl_trait(ty) => quote!(#private::no_failure),
            Some(_) => quote!(#ident::__failure),
            None => quote!(#private::no_failure),
        }
    }

    /// `__failure`, for a `Result`: one function that both ways of running the step use, so
    /// that an error type without `Display` is one error, at the return type.
    fn failure_fn(&self) -> TokenStream {
        let private = &self.private;
        match self.func.output() {
            Some(ty)
                if !types::has_impl_trait(ty)
                    && types::wrapped(ty).is_some_and(|(w, _)| w == "Result") =>
            {
                let sig = &self.func.sig;
                let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
                let text = respan(quote!(#private::failure_of_result), ty.span());
                let result = Ident::new("result", ty.span());
                quote! {
                    fn __failure #generics (#result: &#ty) -> ::core::option::Option<::std::string::String> #where_clause {
                        #text(#result)
                    }
                }
            }
            // Any other written type may still be a `Result` under another name (an alias):
            // the type decides, through `failure_kind`.
            Some(ty) if !types::has_impl_trait(ty) => {
                let sig = &self.func.sig;
                let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
                let result = Ident::new("result", ty.span());
                quote! {
                    fn __failure #generics (#result: &#ty) -> ::core::option::Option<::std::string::String> #where_clause {
                        #[allow(unused_imports)]
                        use #private::failure_kind::{ViaOther as _, ViaResult as _};
                        #result.__runctx_failure_kind().failure(#result)
                    }
                }
            }
            _ => TokenStream::new(),
        }
    }

    /// The function a user calls: a child run, the arguments recorded, then the body.
    fn direct_call(&self) -> TokenStream {
        let Gen {
            func,
            private,
            ident,
            ..
        } = self;
        let (everywhere, outer, _) = split_attrs(&func.attrs);
        let vis = &func.vis;
        let call = Ident::new("__call", Span::mixed_site());
        let run = Ident::new("__run", Span::mixed_site());
        let parent = match self
            .params
            .iter()
            .find(|p| matches!(p.role, Role::Run { .. }))
        {
            Some(FnParam {
                name,
                role: Role::Run { owned: true },
                ..
            }) => quote!(::core::option::Option::Some(&#name)),
            Some(FnParam { name, .. }) => quote!(::core::option::Option::Some(#name)),
            None => quote!(::core::option::Option::None),
        };
        let records = self.params.iter().filter_map(|p| {
            let Role::Slot { declared, .. } = &p.role else {
                return None;
            };
            let (name, key) = (p.name, &declared.name);
            Some(match declared.kind {
                SlotKind::Param => quote! {
                    #call.param(#key, (&&&#private::ParamText(&#name)).param_text());
                },
                kind => {
                    let method = format_ident!("{}", kind.noun());
                    quote!(#call.#method(#key, (&&#private::PathOf(&#name)).path_of());)
                }
            })
        });
        let args = self.body_args(&run, |p| {
            let name = p.name;
            quote!(#name)
        });
        let failure = self.failure();
        let run_body = if self.is_async {
            quote! {
                let #run: &#private::Run = &::core::clone::Clone::clone(#call.run());
                #call.run_async(#ident::__body(#args), #failure).await
            }
        } else {
            quote!(#call.run_sync(move |#run: &#private::Run| #ident::__body(#args), #failure))
        };
        let sig = self.outer_signature();
        quote! {
            #(#everywhere)*
            #(#outer)*
            #[allow(dead_code)]
            #vis #sig {
                #[allow(unused_imports)]
                use #private::{
                    ParamViaDebug as _, ParamViaDisplay as _, ParamViaNothing as _,
                    PathViaAsRef as _, PathViaNothing as _,
                };
                let #call = #private::DirectCall::start(&#ident::STEP, #parent);
                #(#records)*
                #run_body
            }
        }
    }

    /// The arguments of the body: the run as `run`, the others as `value(param)`.
    fn body_args(&self, run: &Ident, value: impl Fn(&FnParam<'_>) -> TokenStream) -> TokenStream {
        let args = self.params.iter().map(|p| match p.role {
            Role::Run { owned: true } => quote!(::core::clone::Clone::clone(#run)),
            Role::Run { owned: false } => quote!(#run),
            Role::Slot { .. } => value(p),
        });
        quote!(#(#args),*)
    }

    /// The signature with plain names for patterns (`mut x` is the body's business).
    fn outer_signature(&self) -> TokenStream {
        let sig = &self.func.sig;
        let inputs = self.params.iter().map(|p| {
            let (name, ty) = (p.name, p.ty);
            quote!(#name: #ty)
        });
        let (constness, asyncness, fn_token, ident, generics, output) = (
            &sig.constness,
            &sig.asyncness,
            &sig.fn_token,
            &sig.ident,
            &sig.generics,
            &sig.output,
        );
        let where_clause = &sig.generics.where_clause;
        quote!(#constness #asyncness #fn_token #ident #generics (#(#inputs),*) #output #where_clause)
    }

    /// The type named after the step: `STEP`, `main`, and the body.
    fn holder_type(&self) -> TokenStream {
        let func = self.func;
        let (_, _, body_attrs) = split_attrs(&func.attrs);
        let invoke = self.invoke();
        let failure_fn = self.failure_fn();
        let sig = &func.sig;
        let body_ident = Ident::new("__body", sig.ident.span());
        let (constness, asyncness, fn_token, generics, inputs, output) = (
            &sig.constness,
            &sig.asyncness,
            &sig.fn_token,
            &sig.generics,
            &sig.inputs,
            &sig.output,
        );
        let where_clause = &sig.generics.where_clause;
        let body = &func.body;
        self.companion(
            StepConst::Step,
            quote! {
                #invoke

                #failure_fn

                #(#body_attrs)*
                #constness #asyncness #fn_token #body_ident #generics (#inputs) #output #where_clause
                #body
            },
        )
    }

    fn step_name(&self) -> String {
        self.options
            .name
            .clone()
            .unwrap_or_else(|| self.func.name())
    }

    fn step_const(&self, what: StepConst) -> TokenStream {
        let Gen {
            options, private, ..
        } = self;
        let name = self.step_name();
        let fn_name = self.func.name();
        let opt = |v: &Option<String>| match v {
            Some(s) => quote!(::core::option::Option::Some(#s)),
            None => quote!(::core::option::Option::None),
        };
        let (experiment, description) = (opt(&options.experiment), opt(&options.description));
        let tags = options.tags.iter().map(|(k, v)| quote!((#k, #v)));
        let system_metrics = match options.system_metrics {
            Some(ms) => {
                quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms)))
            }
            None => quote!(::core::option::Option::None),
        };
        let reuse = options.reuse;
        let slots = |kind: SlotKind| {
            let entries = options.declared.iter().filter(|d| d.kind == kind).map(|d| {
                let name = &d.name;
                let default = opt(&d.value.as_ref().map(|v| v.text.clone()));
                let ty = self
                    .params
                    .iter()
                    .find(|p| *p.name == d.name)
                    .map(|p| types::text(p.ty))
                    .unwrap_or_default();
                quote!(#private::Slot { name: #name, default: #default, ty: #ty })
            });
            quote!(&[#(#entries),*])
        };
        let (inputs, outputs, params) = (
            slots(SlotKind::Input),
            slots(SlotKind::Output),
            slots(SlotKind::Param),
        );
        let invoke_async = if self.is_async && what == StepConst::Step {
            quote!(::core::option::Option::Some(Self::__invoke_async))
        } else {
            quote!(::core::option::Option::None)
        };
        let function = match what {
            StepConst::Step => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
            StepConst::StandIn => quote!(""),
        };
        quote! {
            #private::Step {
                name: #name,
                function: #function,
                experiment: #experiment,
                description: #description,
                tags: &[#(#tags),*],
                system_metrics: #system_metrics,
                reuse: #reuse,
                inputs: #inputs,
                outputs: #outputs,
                params: #params,
                invoke: Self::__invoke,
                invoke_async: #invoke_async,
            }
        }
    }

    /// `__invoke` (and `__invoke_async`): the values resolved from text, then the body.
    fn invoke(&self) -> TokenStream {
        let private = &self.private;
        let run = Ident::new("__run", Span::mixed_site());
        let bindings = Ident::new("__bindings", Span::mixed_site());
        let prepared = Ident::new("__prepared", Span::mixed_site());
        let values = self.params.iter().filter_map(|p| {
            let Role::Slot { declared, index } = &p.role else {
                return None;
            };
            let name = p.name;
            let holder = self.holder(p.ty, declared.kind);
            let method = match declared.kind {
                SlotKind::Param => quote!(param),
                _ => quote!(data),
            };
            let get = quote_spanned!(p.ty.span()=> #prepared.#method::<#holder>(#index));
            Some(quote!(let #name: #holder = #get?;))
        });
        let args = self.body_args(&run, |p| {
            let name = p.name;
            if types::referent(p.ty).is_some() {
                quote!(&#name)
            } else {
                quote!(#name)
            }
        });
        let failure = self.failure();
        let result = quote!(::core::result::Result<(), #private::StepError>);
        if self.is_async {
            quote! {
                fn __invoke(#run: &#private::Run, #bindings: &#private::Bindings) -> #result {
                    #private::block_on(Self::__invoke_async(#run, #bindings))
                }

                fn __invoke_async<'a>(
                    #run: &'a #private::Run,
                    #bindings: &'a #private::Bindings,
                ) -> #private::StepFuture<'a> {
                    ::std::boxed::Box::pin(async move {
                        let #prepared = #private::Prepared::new(&Self::STEP, #run, #bindings)?;
                        #(#values)*
                        #prepared.run_async(Self::__body(#args), #failure).await
                    })
                }
            }
        } else {
            quote! {
                fn __invoke(#run: &#private::Run, #bindings: &#private::Bindings) -> #result {
                    let #prepared = #private::Prepared::new(&Self::STEP, #run, #bindings)?;
                    #(#values)*
                    #prepared.run_sync(move || Self::__body(#args), #failure)
                }
            }
        }
    }

    /// The owned type a value is built as: `PathBuf` for `&Path`, `String` for `&str`, `T` for
    /// `&T` and `T`.
    fn holder(&self, ty: &Type, kind: SlotKind) -> TokenStream {
        let private = &self.private;
        if kind != SlotKind::Param && types::is_path_ref(ty) {
            return quote!(#private::PathBuf);
        }
        if kind == SlotKind::Param && types::is_str_ref(ty) {
            return quote!(::std::string::String);
        }
        match types::referent(ty) {
            Some(inner) => quote!(#inner),
            None => quote!(#ty),
        }
    }
}

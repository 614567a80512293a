//! `pipeline!(iris = [prep, train, register], ...)`: a graph of steps, checked at compile time.
//!
//! The macro cannot see the steps' declarations, only their names, so the checks of the graph
//! (an input with no producer, two producers, a cycle, a step twice) are `const fn`s of the
//! runtime (`run_runtime::pipeline::check`) run on the steps' `STEP` constants. The expansion
//! holds one `const _` item per step, per binding, per param's literal and per end of a
//! connection (`connect(train.training_data = prep.split)`), spanned at those tokens: a problem is a const-evaluation error ("evaluation panicked: ...") at the token it is
//! about, and every problem of the graph is reported in one build. An unknown step is the
//! compiler's own error at its name.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, Path, Token, Visibility};

use crate::args;
use crate::ctxt::{Ctxt, respan};
use crate::decl::{self, Declaration, SlotKind, ValueRole};
use crate::keys::run_name_problem;

const MACRO: &str = "pipeline!";
const OPTIONS: [&str; 6] = [
    "experiment",
    "description",
    "inputs",
    "params",
    "connect",
    "crate",
];

/// `[#attrs] [vis] name = [step, ...] [, options]`.
struct Head {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    steps: Punctuated<Path, Token![,]>,
    bracket: Span,
    options: TokenStream,
}

impl Head {
    /// The head of a pipeline whose steps or options cannot be parsed: its attributes,
    /// visibility and name, no steps; `None` without a name.
    fn name_only(input: TokenStream) -> Option<Head> {
        let parser = |input: ParseStream<'_>| {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis: Visibility = input.parse()?;
            let ident: Ident = input.parse()?;
            input.parse::<TokenStream>()?;
            Ok(Head {
                attrs,
                vis,
                ident,
                steps: Punctuated::new(),
                bracket: Span::call_site(),
                options: TokenStream::new(),
            })
        };
        parser.parse2(input).ok()
    }
}

impl Parse for Head {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let ident: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the pipeline's name: pipeline!(iris = [prep, train, register])",
            )
        })?;
        input.parse::<Token![=]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `=` and the steps: pipeline!({ident} = [prep, train])"),
            )
        })?;
        if !input.peek(syn::token::Bracket) {
            return Err(syn::Error::new(
                input.span(),
                format!(
                    "expected the steps in square brackets: pipeline!({ident} = [prep, train])"
                ),
            ));
        }
        let content;
        let bracket = syn::bracketed!(content in input);
        let steps = content.parse_terminated(Path::parse_mod_style, Token![,])?;
        let options = if input.is_empty() {
            TokenStream::new()
        } else {
            input.parse::<Token![,]>()?;
            input.parse()?
        };
        Ok(Head {
            attrs,
            vis,
            ident,
            steps,
            bracket: bracket.span.join(),
            options,
        })
    }
}

struct Options {
    experiment: Option<String>,
    description: Option<String>,
    /// `inputs(name = "path")`, `params(name = 0.9)`, or without a value, one given when it
    /// runs.
    bound: Vec<Declaration>,
    /// `connect(train.training_data = prep.split)`.
    connections: Vec<Connection>,
    krate: TokenStream,
}

/// `reader.input = writer.output` in `connect(...)`: the input reads that output.
struct Connection {
    reader: Path,
    input: Ident,
    writer: Path,
    output: Ident,
}

impl Connection {
    /// `train.training_data`: for errors about the reading end.
    fn reader_end(&self) -> TokenStream {
        let (reader, input) = (&self.reader, &self.input);
        quote!(#reader . #input)
    }

    /// `prep.split`: for errors about the writing end.
    fn writer_end(&self) -> TokenStream {
        let (writer, output) = (&self.writer, &self.output);
        quote!(#writer . #output)
    }
}

const CONNECT_EXAMPLE: &str = "connect(train.training_data = prep.split)";

/// The entries of `connect(...)`; each malformed one is an error at it.
fn read_connections(arg: &args::Arg, cx: &mut Ctxt) -> Vec<Connection> {
    let args::Value::List(group) = &arg.value else {
        cx.error_at(
            arg.tokens(),
            format!(
                "connect takes a list of `reader.input = writer.output` in parentheses: \
                 {CONNECT_EXAMPLE}"
            ),
        );
        return Vec::new();
    };
    let parser = Punctuated::<syn::Expr, Token![,]>::parse_terminated;
    let entries = match parser.parse2(group.stream()) {
        Ok(entries) => entries,
        Err(e) => {
            cx.error_span(
                e.span(),
                format!("expected `reader.input = writer.output`, such as {CONNECT_EXAMPLE}"),
            );
            return Vec::new();
        }
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let tokens = entry.to_token_stream();
            let connection = match entry {
                syn::Expr::Assign(assign) => end(*assign.left).zip(end(*assign.right)).map(
                    |((reader, input), (writer, output))| Connection {
                        reader,
                        input,
                        writer,
                        output,
                    },
                ),
                _ => None,
            };
            if connection.is_none() {
                cx.error_at(
                    tokens,
                    format!(
                        "expected `reader.input = writer.output`: the input of a step, `=`, and \
                         the output of another step it reads, such as {CONNECT_EXAMPLE}"
                    ),
                );
            }
            connection
        })
        .collect()
}

/// `step.name` (the step by name or path, then the input's or output's name).
fn end(expr: syn::Expr) -> Option<(Path, Ident)> {
    let syn::Expr::Field(field) = expr else {
        return None;
    };
    match (*field.base, field.member) {
        (syn::Expr::Path(step), syn::Member::Named(name))
            if step.qself.is_none() && step.attrs.is_empty() =>
        {
            Some((step.path, name))
        }
        _ => None,
    }
}

/// Expands `pipeline!`. On a mistake: the errors, and the pipeline's type as far as it could
/// be read but without the checks of its graph, so that `iris::main()` and the like get no
/// error of their own; the errors keep the program from compiling.
pub fn expand(input: TokenStream) -> TokenStream {
    let head: Head = match syn::parse2(input.clone()) {
        Ok(h) => h,
        Err(e) => {
            let mut out = e.to_compile_error();
            if let Some(head) = Head::name_only(input) {
                out.extend(pipeline_type(&head, &Options::new()));
            }
            return out;
        }
    };
    let mut cx = Ctxt::default();
    if head.steps.is_empty() {
        cx.error_span(
            head.bracket,
            format!(
                "pipeline `{}` has no steps; list the #[aml_step] functions: {} = [prep, train]",
                head.ident, head.ident
            ),
        );
    }
    let options = parse_options(head.options.clone(), &mut cx);
    match cx.into_compile_errors() {
        Some(errors) => {
            let mut out = errors;
            out.extend(pipeline_type(&head, &options));
            out
        }
        None => {
            let mut out = pipeline_type(&head, &options);
            out.extend(checks(&head, &options));
            out
        }
    }
}

impl Options {
    fn new() -> Self {
        Options {
            experiment: None,
            description: None,
            bound: Vec::new(),
            connections: Vec::new(),
            krate: quote!(::run_runtime),
        }
    }
}

fn parse_options(tokens: TokenStream, cx: &mut Ctxt) -> Options {
    let mut options = Options::new();
    for arg in args::known(args::parse(tokens, cx), MACRO, &OPTIONS, cx) {
        match arg.key.as_str() {
            "experiment" => {
                let Some(lit) = args::lit_str(&arg, "the experiment name", cx) else {
                    continue;
                };
                match run_name_problem(&lit.value()) {
                    None => options.experiment = Some(lit.value()),
                    Some(p) => cx.error_at(
                        &lit,
                        format!("{:?} cannot be an experiment name: {p}", lit.value()),
                    ),
                }
            }
            "description" => {
                options.description = args::lit_str(&arg, "the description", cx).map(|l| l.value());
            }
            key @ ("inputs" | "params") => {
                let kind = SlotKind::of_list(key).expect("a list option");
                decl::read(&arg, kind, ValueRole::Value, &mut options.bound, cx);
            }
            "connect" => options.connections.extend(read_connections(&arg, cx)),
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

/// The description: `description = "..."`, else the doc comment.
fn description(head: &Head, options: &Options) -> Option<String> {
    if options.description.is_some() {
        return options.description.clone();
    }
    let lines: Vec<String> = head
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let text = lines.join(" ").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The pipeline's type: `PIPELINE`, `pipeline()` and `main()`.
fn pipeline_type(head: &Head, options: &Options) -> TokenStream {
    let private = private(options);
    let Head {
        attrs, vis, ident, ..
    } = head;
    let name = pipeline_name(head);
    let opt = |v: &Option<String>| match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let experiment = opt(&options.experiment);
    let description = opt(&description(head, options));
    let steps = head.steps.iter().map(|path| {
        let step = respan(quote!(#path::STEP), span_of(path));
        quote!(&#step)
    });
    let bindings = options.bound.iter().map(|b| {
        let (n, value) = (&b.name, opt(&b.value.as_ref().map(|v| v.text.clone())));
        let kind = match b.kind {
            SlotKind::Param => quote!(Param),
            _ => quote!(Input),
        };
        quote!(#private::Binding { name: #n, kind: #private::SlotKind::#kind, value: #value })
    });
    let connections = options.connections.iter().map(|c| {
        let (input, output) = (c.input.to_string(), c.output.to_string());
        let (reader, writer) = (&c.reader, &c.writer);
        let reader = respan(quote!(#reader::STEP), span_of(reader));
        let writer = respan(quote!(#writer::STEP), span_of(writer));
        quote! {
            #private::Connection { reader: &#reader, input: #input, writer: &#writer, output: #output }
        }
    });
    let doc = format!(
        "The pipeline `{name}`: [`{ident}::PIPELINE`](Self::PIPELINE) is its graph, \
         `{ident}::pipeline()` the pipeline to run, `{ident}::main()` the program's entry point."
    );
    quote! {
        #(#attrs)*
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        #[allow(dead_code)]
        impl #ident {
            /// The steps as listed, and the values the pipeline binds.
            pub const PIPELINE: #private::PipelineDef = #private::PipelineDef {
                name: #name,
                experiment: #experiment,
                description: #description,
                steps: &[#(#steps),*],
                bindings: &[#(#bindings),*],
                connections: &[#(#connections),*],
            };

            /// The pipeline, ready to run (its graph was checked when it compiled).
            pub fn pipeline() -> ::core::result::Result<#private::Pipeline, #private::Error> {
                Self::PIPELINE.pipeline()
            }

            /// Runs the program: the whole pipeline, or what the command line asks for
            /// (`--help`); returns the exit code. See `run_runtime::pipeline::PipelineDef::main`.
            pub fn main() -> #private::ExitCode {
                Self::PIPELINE.main()
            }
        }
    }
}

/// The checks of the graph: one `const _` item per step, per binding, per param's literal and
/// per end of a connection.
fn checks(head: &Head, options: &Options) -> TokenStream {
    let private = private(options);
    let (ident, name) = (&head.ident, pipeline_name(head));
    let count = head.steps.len();
    let step_checks = head.steps.iter().enumerate().map(|(i, path)| {
        check_item(
            span_of(path),
            &private,
            quote!(check_step(#name, &#ident::PIPELINE.graph(), #i, &mut __scratch)),
            count,
        )
    });
    let binding_checks = options.bound.iter().enumerate().map(|(k, b)| {
        check_item(
            span_of(&b.at),
            &private,
            quote!(check_binding(#name, &#ident::PIPELINE.graph(), #k)),
            count,
        )
    });
    // A param's literal is checked against the steps' types at the literal.
    let value_checks = options.bound.iter().enumerate().filter_map(|(k, b)| {
        let value = b.value.as_ref().filter(|_| b.kind == SlotKind::Param)?;
        Some(check_item(
            span_of(&value.tokens),
            &private,
            quote!(check_binding_value(#name, &#ident::PIPELINE.graph(), #k)),
            count,
        ))
    });
    // Each end of a connection is checked at its own tokens.
    let connection_checks = options.connections.iter().enumerate().map(|(k, c)| {
        let check = |at: TokenStream, end: TokenStream| {
            check_item(
                span_of(&at),
                &private,
                quote!(check_connection(#name, &#ident::PIPELINE.graph(), #k, #private::End::#end)),
                count,
            )
        };
        let reader = check(c.reader_end(), quote!(Reader));
        let writer = check(c.writer_end(), quote!(Writer));
        quote!(#reader #writer)
    });
    quote! {
        #(#step_checks)*
        #(#binding_checks)*
        #(#value_checks)*
        #(#connection_checks)*
    }
}

fn private(options: &Options) -> TokenStream {
    let krate = &options.krate;
    quote!(#krate::__private)
}

/// The pipeline's name: its identifier without `r#`.
fn pipeline_name(head: &Head) -> String {
    head.ident.to_string().trim_start_matches("r#").to_owned()
}

/// `const _: () = ...` running one check, spanned at `span`: its failure is an error there.
fn check_item(span: Span, private: &TokenStream, call: TokenStream, count: usize) -> TokenStream {
    let scratch = format_ident!("__scratch", span = Span::mixed_site());
    let message = format_ident!("__message", span = Span::mixed_site());
    let call = respan(call, span);
    let call = replace_ident(call, "__scratch", &scratch);
    quote_spanned! {span=>
        const _: () = {
            #[allow(unused_mut, unused_variables)]
            let mut #scratch = [0usize; #private::SCRATCH_PER_STEP * #count];
            if let ::core::option::Option::Some(#message) = #private::#call {
                ::core::panic!("{}", #message.as_str());
            }
        };
    }
}

/// `tokens` with the identifier `name` replaced by `with` (to give it a hygienic span).
fn replace_ident(tokens: TokenStream, name: &str, with: &Ident) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) if i == name => with.clone().into(),
            proc_macro2::TokenTree::Group(g) => {
                let mut group =
                    proc_macro2::Group::new(g.delimiter(), replace_ident(g.stream(), name, with));
                group.set_span(g.span());
                group.into()
            }
            other => other,
        })
        .collect()
}

/// The span of all of `tokens` (the first token's, where the compiler cannot join them).
fn span_of(tokens: &impl ToTokens) -> Span {
    let mut iter = tokens.to_token_stream().into_iter();
    let first = iter.next().map_or_else(Span::call_site, |t| t.span());
    let last = iter.last().map_or(first, |t| t.span());
    first.join(last).unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_check_per_step_and_binding() {
        let out = expand(quote!(
            /// The Iris flow.
            pub iris = [prep, steps::train, register],
            experiment = "iris",
            inputs(irisdata = "data/iris.csv"),
            params(threshold = 0.9, seed),
        ))
        .to_string();
        assert_eq!(out.matches("check_step").count(), 3, "{out}");
        assert_eq!(out.matches("check_binding (").count(), 3, "{out}");
        assert_eq!(out.matches("check_binding_value").count(), 1, "{out}");
        assert!(out.contains("steps :: train :: STEP"), "{out}");
        assert!(out.contains("\"The Iris flow.\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn mistakes_in_the_options_are_each_an_error() {
        let out = expand(quote!(
            iris = [prep],
            experimnt = "x",
            inputs(data = 3, data),
            params(t = [1]),
        ))
        .to_string();
        assert_eq!(out.matches("compile_error").count(), 4, "{out}");
        assert!(out.contains("did you mean `experiment`?"), "{out}");
        assert!(
            out.contains("`data` is already given in inputs(...)"),
            "{out}"
        );
        assert!(out.contains("must be a path in a string literal"), "{out}");
        assert!(out.contains("must be a literal"), "{out}");
    }

    #[test]
    fn on_a_mistake_the_type_is_still_defined_without_checks() {
        let out = expand(quote!(pub iris = [prep, train], experimnt = "x")).to_string();
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains("pub struct iris"), "{out}");
        assert!(out.contains("train :: STEP"), "{out}");
        assert!(out.contains("fn main"), "{out}");
        assert!(!out.contains("check_step"), "{out}");
        let out = expand(quote!(iris = prep, train)).to_string();
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(
            out.contains("expected the steps in square brackets"),
            "{out}"
        );
        assert!(out.contains("struct iris"), "{out}");
        assert!(out.contains("steps : & []"), "{out}");
    }

    #[test]
    fn each_end_of_a_connection_is_checked_and_mistakes_are_errors() {
        let out = expand(quote!(
            iris = [prep, steps::train],
            connect(
                steps::train.training_data = prep.split,
                report.scores = steps::train.model
            ),
        ))
        .to_string();
        assert_eq!(out.matches("check_connection").count(), 4, "{out}");
        assert!(out.contains("input : \"training_data\""), "{out}");
        assert!(out.contains("writer : & prep :: STEP"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        let out = expand(quote!(iris = [prep], connect(train = prep, x.y))).to_string();
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(
            out.contains("expected `reader.input = writer.output`"),
            "{out}"
        );
        let out = expand(quote!(iris = [prep], connect = 3)).to_string();
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains("connect takes a list"), "{out}");
    }

    #[test]
    fn a_pipeline_needs_steps_and_a_name() {
        let out = expand(quote!(iris = [])).to_string();
        assert!(out.contains("has no steps"), "{out}");
        let out = expand(quote!([prep, train])).to_string();
        assert!(out.contains("expected the pipeline's name"), "{out}");
    }
}

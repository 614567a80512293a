//! Attributes for `run-runtime`, checked at compile time: `#[aml_step]` turns a function into a
//! tracked step, `#[log_metric]`, `#[log_tag]` and `#[log_property]` log what a function
//! returns, and `#[derive(Metrics)]` logs a struct field by field.
//!
//! Use them through `run_runtime` (feature `macros`, on by default): `use
//! run_runtime::prelude::*;`. The generated code reaches the runtime only through
//! `::run_runtime::__private` (or the path given with `crate = "..."` when the dependency is
//! renamed) and calls its helpers rather than inlining logic, so what it does is in
//! `run_runtime::step` and `run_runtime::metrics`. `docs/macros.md` shows the code each attribute
//! generates and the compile errors a user meets.
//!
//! Each mistake in an attribute is one error at the token that is wrong, saying the fix; the
//! function is still emitted unchanged, and so is what the attribute defines beside it (the
//! type `train` with `STEP` and `main`, a stand-in built from what could be read), so no other
//! error follows from it. `pipeline!` does the same for the pipeline's type.

mod args;
mod ctxt;
mod decl;
mod derive;
mod func;
mod keys;
mod log;
mod pipeline;
mod step;
mod types;

use proc_macro::TokenStream;

/// Turns a function into a step: a tracked run with inputs, outputs and parameters resolved from
/// the command line, the environment or offline defaults.
///
/// ```text
/// #[aml_step(
///     inputs(irisdata = "examples/iris/sample_data.csv"),
///     outputs(model_output = "outputs/model"),
///     params(threshold = 0.9),
/// )]
/// fn train(run: &Run, irisdata: &Path, model_output: &Path, threshold: f64) -> Result<(), TrainError> {
///     /* ... */
/// }
///
/// fn main() -> std::process::ExitCode {
///     train::main()
/// }
/// ```
///
/// Options: `name`, `experiment`, `description`, `tags(key = "value", ...)`,
/// `inputs(name [= "default path"], ...)`, `outputs(...)`, `params(name [= literal], ...)`,
/// `system_metrics [= seconds]`, `reuse = false`, `crate = "path"`. See `docs/macros.md`.
#[proc_macro_attribute]
pub fn aml_step(attr: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(attr.into(), item.into()).into()
}

/// A pipeline: a named graph of `#[aml_step]` functions, in which an input named `x` reads the
/// output named `x` of another step. The graph is checked at compile time: an unknown step, an
/// input that no step writes and that has no default or binding, two steps writing one output,
/// a cycle and a step listed twice are each a compile error at the step or binding concerned.
///
/// ```text
/// pipeline!(
///     /// The Iris flow: clean the data, train three classifiers, register the best.
///     pub iris = [prep, train, register],
///     experiment = "iris",
///     inputs(irisdata = "examples/iris/sample_data.csv"),   // a value for every step's input
///     params(threshold = 0.9, seed),                          // `seed`: given when it runs
/// );
///
/// fn main() -> std::process::ExitCode {
///     iris::main()      // runs the pipeline; --step NAME, --list, --graph, --export azureml
/// }
/// ```
///
/// Options: `experiment`, `description` (default: the doc comment), `inputs(...)`,
/// `params(...)`, `crate = "path"`. See `docs/pipelines.md`.
#[proc_macro]
pub fn pipeline(input: TokenStream) -> TokenStream {
    pipeline::expand(input.into()).into()
}

/// Logs the function's return value as a metric (or, for a `#[derive(Metrics)]` struct, each
/// of its fields) on the run of the current context, and returns it unchanged.
///
/// Options: `name = "..."` (default: the function's name), `to = run | parent | root` or a list
/// `[run, parent]`, `step = <integer parameter>`, `prefix = "..."` (for a struct),
/// `crate = "path"`.
#[proc_macro_attribute]
pub fn log_metric(attr: TokenStream, item: TokenStream) -> TokenStream {
    log::expand(log::Kind::Metric, attr.into(), item.into()).into()
}

/// Logs the function's return value (anything `Display`) as a tag, and returns it unchanged.
///
/// Options: `name = "..."` (default: the function's name), `to = run | parent | root` or a
/// list, `crate = "path"`.
#[proc_macro_attribute]
pub fn log_tag(attr: TokenStream, item: TokenStream) -> TokenStream {
    log::expand(log::Kind::Tag, attr.into(), item.into()).into()
}

/// Logs the function's return value (anything `Display`) as a property, and returns it
/// unchanged.
///
/// Options: `name = "..."` (default: the function's name), `to = run | parent | root` or a
/// list, `crate = "path"`.
#[proc_macro_attribute]
pub fn log_property(attr: TokenStream, item: TokenStream) -> TokenStream {
    log::expand(log::Kind::Property, attr.into(), item.into()).into()
}

/// Implements `run_runtime::Metrics` for a struct: each field is a metric named after it.
///
/// Fields may be numbers, `bool`s, `Option`s of them (nothing is logged for `None`), or other
/// `Metrics` structs (logged as `<field>/<name>`). Field options: `#[metric(rename = "...")]`,
/// `#[metric(skip)]`; on the struct, `#[metric(crate = "path")]`.
#[proc_macro_derive(Metrics, attributes(metric))]
pub fn derive_metrics(input: TokenStream) -> TokenStream {
    derive::expand(input.into()).into()
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn has_ident(tokens: &proc_macro2::TokenStream, wanted: &str) -> bool {
        tokens.clone().into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == wanted,
            proc_macro2::TokenTree::Group(g) => has_ident(&g.stream(), wanted),
            _ => false,
        })
    }

    #[test]
    fn crate_replaces_every_mention_of_the_runtime() {
        let step = crate::step::expand(
            quote!(crate = "::rr", inputs(data = "d.csv"), params(n = 1)),
            quote!(
                async fn s(run: &Run, data: &Path, n: u8) -> Result<u8, String> {
                    Ok(n)
                }
            ),
        );
        let metric = crate::log::expand(
            crate::log::Kind::Metric,
            quote!(crate = "::rr", step = i),
            quote!(
                fn m(i: i64) -> Option<f64> {
                    None
                }
            ),
        );
        let tag = crate::log::expand(
            crate::log::Kind::Tag,
            quote!(crate = "rr", to = [run, root]),
            quote!(
                fn t() -> Result<String, ()> {
                    Ok(String::new())
                }
            ),
        );
        let derive = crate::derive::expand(quote!(
            #[metric(crate = "::rr")]
            struct S<T> {
                a: f64,
                b: Option<T>,
            }
        ));
        for out in [step, metric, tag, derive] {
            assert!(has_ident(&out, "rr"), "{out}");
            assert!(!has_ident(&out, "run_runtime"), "{out}");
            assert!(!has_ident(&out, "compile_error"), "{out}");
        }
    }

    #[test]
    fn a_mistake_keeps_the_item_and_adds_one_compile_error() {
        let item = quote!(
            fn loss() -> f64 {
                0.5
            }
        );
        let out = crate::log::expand(crate::log::Kind::Metric, quote!(nme = "x"), item.clone());
        let text = out.to_string();
        assert!(text.starts_with(&item.to_string()), "{text}");
        assert_eq!(text.matches("compile_error").count(), 1, "{text}");
    }

    #[test]
    fn a_step_with_a_mistake_keeps_its_type_with_a_stand_in_step() {
        let item = quote!(
            pub async fn train(run: &Run, data: &Path) {}
        );
        let out = crate::step::expand(quote!(inputz(data = "d.csv")), item.clone());
        let text = out.to_string();
        assert!(text.starts_with(&item.to_string()), "{text}");
        assert_eq!(text.matches("compile_error").count(), 1, "{text}");
        assert!(text.contains("pub struct train"), "{text}");
        assert!(text.contains("pub const STEP"), "{text}");
        assert!(text.contains("function : \"\""), "{text}");
        assert!(text.contains("pub async fn main"), "{text}");
        assert!(!text.contains("inventory"), "{text}");
        assert!(!text.contains("__body"), "{text}");
        // A method gets none: a type cannot be declared in an `impl` block.
        let method = quote!(
            fn train(&self) {}
        );
        let text = crate::step::expand(quote!(), method.clone()).to_string();
        assert!(!text.contains("struct"), "{text}");
    }

    #[test]
    fn independent_mistakes_are_all_reported() {
        let out = crate::step::expand(
            quote!(name = "", params(a = 1, a = 2), tags("x//y" = "v")),
            quote!(
                fn s(a: u8) {}
            ),
        );
        assert_eq!(out.to_string().matches("compile_error").count(), 3, "{out}");
    }
}

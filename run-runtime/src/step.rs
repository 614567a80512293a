//! Steps: functions marked `#[aml_step]`, what the attribute leaves for other code to use, and
//! how a step is run.
//!
//! For each step `train`, the attribute generates a type `train` (beside the function of the same
//! name) whose constant [`train::STEP`](Step) describes the step: its name, its inputs, outputs
//! and parameters with their defaults, and a function pointer that runs it. The description is a
//! plain `const`, so another macro (a pipeline) can check a graph of steps at compile time with
//! the `const fn`s here:
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! use std::path::Path;
//! use run_runtime::prelude::*;
//!
//! #[aml_step(inputs(raw = "data/raw.csv"), outputs(clean = "outputs/clean"), params(limit = 10))]
//! fn prep(raw: &Path, clean: &Path, limit: u32) {
//!     let _ = (raw, clean, limit);
//! }
//!
//! const _: () = assert!(prep::STEP.input("raw").is_some() && prep::STEP.param("limit").is_some());
//! const _: () = assert!(prep::STEP.slot("nothing").is_none());
//!
//! // Run it on a run of our choosing, with values given as text.
//! let run = Store::new(dir.path()).start_run("Default", "prep")?;
//! let out = dir.path().join("out");
//! let bindings = [("raw", "x.csv"), ("clean", out.to_str().unwrap())];
//! prep::STEP.call(&run, &bindings.into_iter().map(|(k, v)| (k.into(), v.into())).collect())?;
//! assert_eq!(run.properties()?["limit"], "10");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which run a step logs to
//!
//! | how the step is started | its run |
//! | --- | --- |
//! | `train::main()`, the program's entry point | the process's context run ([`Run::get_context`]): the run a launcher named with `RUNCTX_RUN_ID` or `MLFLOW_RUN_ID`, or a new one |
//! | `train::STEP.call(&run, &bindings)` (tests, a pipeline runner) | `run` |
//! | `train(...)`, a plain call | a new child run: of the run passed as the step's run parameter if it has one, else of the current context's run (so a step called inside another step is that step's child) |
//!
//! # Where values come from
//!
//! Each input, output and parameter `name` takes the first of: the value given (on the command
//! line as `--name value`, or in the `bindings` of [`Step::call`]); the environment variable
//! `AZUREML_DATAREFERENCE_<name>` (inputs, outputs) or `AML_PARAMETER_<name>` (parameters); and
//! the default written in the attribute: a parameter's always (it is a value of the program,
//! online as offline), an input's or output's for an offline run only (a local path means nothing
//! to a remote engine). Anything else is an error that names all three ways.
//!
//! An input whose value is a registered model's version, `models:/NAME/VERSION`,
//! `models:/NAME@ALIAS` or `models:/NAME/latest`, gets a local folder with the version's files:
//! offline the local registry's copy (read it, never write it), online a copy downloaded once
//! into the store's cache (`<store>/.cache/models/`). The run is tagged `<input>.model` with the
//! version it resolved to.
//!
//! # The registry
//!
//! Every step registers itself at program start through the `inventory` crate: [`steps`] lists
//! them and [`find`] finds one by name. That registration relies on the linker: it works on
//! Linux, macOS, Windows, the BSDs and WebAssembly (see the `inventory` crate for the
//! constructor caveat of Wasm modules called more than once), but a step in a library crate
//! that the program never refers to may be dropped by the linker with the rest of that object
//! file, and on targets without constructor support nothing is registered. Where that happens,
//! list the steps explicitly with [`register`]; the registry merges both lists.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;

use crate::error::Error;
use crate::run::Run;

mod entry;
pub(crate) mod failure;
mod model_input;
pub(crate) mod registry;
pub(crate) mod resolve;
pub(crate) mod running;

pub use entry::{dispatch, dispatch_args};
pub use registry::{find, register, steps};

/// Values for a step's inputs, outputs and parameters, by name, as text.
pub type Bindings = BTreeMap<String, String>;

/// Runs a step on a run with bindings; [`Step::invoke`].
pub type Invoke = fn(&Run, &Bindings) -> Result<(), StepError>;

/// A future that runs an async step; [`Step::invoke_async`].
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StepError>> + 'a>>;

/// Runs an async step on a run with bindings; [`Step::invoke_async`].
pub type InvokeAsync = for<'a> fn(&'a Run, &'a Bindings) -> StepFuture<'a>;

/// What `#[aml_step]` knows about a step, as a constant: `<function>::STEP`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The step's name (`name = "..."`, else the function's name); also the name of the child
    /// runs it makes.
    pub name: &'static str,
    /// The function's path: `module::path::function`.
    pub function: &'static str,
    /// `experiment = "..."`: the experiment of a run started for this step.
    pub experiment: Option<&'static str>,
    /// `description = "..."`, recorded as the run's description (tag `mlflow.note.content`).
    pub description: Option<&'static str>,
    /// `tags(key = "value", ...)`, set on the step's run.
    pub tags: &'static [(&'static str, &'static str)],
    /// `system_metrics` (or `system_metrics = SECONDS`): the interval the step's run samples
    /// system metrics at ([`Run::log_system_metrics`]).
    pub system_metrics: Option<std::time::Duration>,
    /// `false` for `reuse = false`: the step runs every time, never standing in an earlier run
    /// for it (a step with side effects). See [`crate::pipeline`], "Reuse".
    pub reuse: bool,
    /// Data the step reads, in the order declared.
    pub inputs: &'static [Slot],
    /// Folders the step writes, in the order declared; they exist before the body runs.
    pub outputs: &'static [Slot],
    /// Parameters, in the order declared.
    pub params: &'static [Slot],
    /// Runs the step on a run, with values as text (an async step is driven to completion on
    /// the calling thread).
    pub invoke: Invoke,
    /// For an async step: runs it as a future, for callers that have an executor.
    pub invoke_async: Option<InvokeAsync>,
}

/// An input, output or parameter of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Its name: the function parameter's name.
    pub name: &'static str,
    /// The default written in the attribute, as text: a parameter's applies to every run, an
    /// input's or output's to offline runs only.
    pub default: Option<&'static str>,
    /// The parameter's type, as written.
    pub ty: &'static str,
}

/// Which list of a step a name is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// `inputs(...)`.
    Input,
    /// `outputs(...)`.
    Output,
    /// `params(...)`.
    Param,
}

impl SlotKind {
    /// `input`, `output` or `param`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SlotKind::Input => "input",
            SlotKind::Output => "output",
            SlotKind::Param => "param",
        }
    }

    /// The environment variable that can give a value for `name`.
    pub fn env_var(self, name: &str) -> String {
        match self {
            SlotKind::Param => format!("AML_PARAMETER_{name}"),
            _ => format!("AZUREML_DATAREFERENCE_{name}"),
        }
    }
}

impl Display for SlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a == b`, in const context (where `==` on `str` is not available): for checks of step names
/// at compile time.
pub use run_rules::str_eq;

const fn find_slot<'a>(slots: &'a [Slot], name: &str) -> Option<&'a Slot> {
    let mut i = 0;
    while i < slots.len() {
        if str_eq(slots[i].name, name) {
            return Some(&slots[i]);
        }
        i += 1;
    }
    None
}

impl Slot {
    /// `true` when there is a default: a run can do without a value (for an input or output,
    /// an offline run only).
    pub const fn has_default(&self) -> bool {
        self.default.is_some()
    }
}

impl Step {
    /// The input named `name`.
    pub const fn input(&self, name: &str) -> Option<&Slot> {
        find_slot(self.inputs, name)
    }

    /// The output named `name`.
    pub const fn output(&self, name: &str) -> Option<&Slot> {
        find_slot(self.outputs, name)
    }

    /// The parameter named `name`.
    pub const fn param(&self, name: &str) -> Option<&Slot> {
        find_slot(self.params, name)
    }

    /// The input, output or parameter named `name`, and which it is.
    pub const fn slot(&self, name: &str) -> Option<(SlotKind, &Slot)> {
        if let Some(s) = self.input(name) {
            return Some((SlotKind::Input, s));
        }
        if let Some(s) = self.output(name) {
            return Some((SlotKind::Output, s));
        }
        if let Some(s) = self.param(name) {
            return Some((SlotKind::Param, s));
        }
        None
    }

    /// `true` when `name` is declared as an input, output or parameter.
    pub const fn is_declared(&self, name: &str) -> bool {
        self.slot(name).is_some()
    }

    /// Every input, output and parameter, in that order.
    pub fn slots(&self) -> impl Iterator<Item = (SlotKind, &Slot)> {
        let tag = |kind| move |s| (kind, s);
        self.inputs
            .iter()
            .map(tag(SlotKind::Input))
            .chain(self.outputs.iter().map(tag(SlotKind::Output)))
            .chain(self.params.iter().map(tag(SlotKind::Param)))
    }

    /// Runs the step on `run` with `bindings` (values as text, as on the command line), then
    /// ends `run`: completed, or failed with the error. A panic of the body fails the run and
    /// goes on unwinding.
    pub fn call(&self, run: &Run, bindings: &Bindings) -> Result<(), StepError> {
        (self.invoke)(run, bindings)
    }

    /// [`Step::call`] as a future, for an async step that needs the caller's executor (a step
    /// that uses tokio, say). A sync step runs at the first poll.
    pub async fn call_async(&self, run: &Run, bindings: &Bindings) -> Result<(), StepError> {
        match self.invoke_async {
            Some(invoke) => invoke(run, bindings).await,
            None => (self.invoke)(run, bindings),
        }
    }
}

// ---------------------------------------------------------------- errors

/// Why a step did not succeed.
#[derive(Debug)]
pub struct StepError {
    kind: StepErrorKind,
    message: String,
    source: Option<Box<Error>>,
}

/// What kind of failure a [`StepError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepErrorKind {
    /// The command line of the entry point is wrong; the body did not run.
    Usage,
    /// A value is missing or does not parse, or a binding names nothing; the body did not run.
    Binding,
    /// The body returned an error (its text is the message).
    Failed,
    /// The run could not record the step (start, record its values, create an output folder,
    /// end).
    Record,
    /// No registered step has that name.
    NotFound,
}

impl StepError {
    fn new(kind: StepErrorKind, message: String) -> Self {
        StepError {
            kind,
            message,
            source: None,
        }
    }

    fn record(step: &Step, what: &str, error: Error) -> Self {
        StepError {
            kind: StepErrorKind::Record,
            message: format!("step {:?}: cannot {what}: {error}", step.name),
            source: Some(Box::new(error)),
        }
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> StepErrorKind {
        self.kind
    }

    /// The text of the error: for [`StepErrorKind::Failed`], the body's error as the run
    /// recorded it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

// ---------------------------------------------------------------- value types

/// A type an input or output parameter of a step may have: built from the resolved path.
///
/// `PathBuf` implements it, and `&Path` is accepted as is; implement it for a type of yours
/// that says more (a CSV file, a model folder) and checks the path when the step starts.
///
/// ```
/// use std::path::{Path, PathBuf};
/// struct CsvFile(PathBuf);
/// impl AsRef<Path> for CsvFile {
///     fn as_ref(&self) -> &Path { &self.0 }
/// }
/// impl run_runtime::step::DataPath for CsvFile {
///     fn from_path(path: PathBuf) -> Result<Self, String> {
///         match path.extension() {
///             Some(e) if e == "csv" => Ok(CsvFile(path)),
///             _ => Err(format!("{} is not a .csv file", path.display())),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a path, so it cannot be a step's input or output",
    label = "not a path type",
    note = "use `&Path` or `PathBuf`, implement `run_runtime::step::DataPath` for your type, or declare the value under `params(...)`"
)]
pub trait DataPath: AsRef<Path> + Sized {
    /// The value for `path`, or why the path does not fit.
    fn from_path(path: PathBuf) -> Result<Self, String>;
}

impl DataPath for PathBuf {
    fn from_path(path: PathBuf) -> Result<Self, String> {
        Ok(path)
    }
}

/// A type a parameter of a step may have: anything that parses from text with `FromStr`, with
/// an error that can be shown.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a step parameter: it does not parse from text",
    label = "no `FromStr` with a `Display` error",
    note = "a parameter's type must implement `FromStr` (numbers, bool, String and most std types do), with an error type that implements `Display`"
)]
pub trait ParamValue: Sized {
    /// Parses the parameter's text.
    fn parse_param(text: &str) -> Result<Self, String>;
}

impl<T> ParamValue for T
where
    T: FromStr,
    T::Err: Display,
{
    fn parse_param(text: &str) -> Result<Self, String> {
        text.parse().map_err(|e: T::Err| e.to_string())
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A step description for the unit tests of the step modules.
    use super::*;

    fn never(_: &Run, _: &Bindings) -> Result<(), StepError> {
        unreachable!("resolution tests do not run the step")
    }

    /// A step with one input, one output and one param.
    pub(crate) const STEP: Step = Step {
        name: "train",
        function: "tests::train",
        experiment: None,
        description: None,
        tags: &[],
        system_metrics: None,
        reuse: true,
        inputs: &[Slot {
            name: "irisdata",
            default: Some("data/iris.csv"),
            ty: "&Path",
        }],
        outputs: &[Slot {
            name: "model_output",
            default: None,
            ty: "PathBuf",
        }],
        params: &[Slot {
            name: "threshold",
            default: Some("0.9"),
            ty: "f64",
        }],
        invoke: never,
        invoke_async: None,
    };

    /// Bindings from pairs.
    pub(crate) fn given(pairs: &[(&str, &str)]) -> Bindings {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::STEP;
    use super::*;

    #[test]
    fn metadata_is_searchable_in_const_context() {
        const FOUND: bool = STEP.input("irisdata").is_some()
            && STEP.output("model_output").is_some()
            && STEP.param("threshold").is_some()
            && !STEP.is_declared("irisdat");
        const { assert!(FOUND) };
        const { assert!(matches!(STEP.slot("threshold"), Some((SlotKind::Param, _)))) };
        assert!(str_eq("", "") && !str_eq("a", "ab"));
    }
}

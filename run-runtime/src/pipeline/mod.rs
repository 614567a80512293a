//! Pipelines: graphs of steps, run as a parent run with one child run per step.
//!
//! A pipeline is a list of `#[aml_step]` functions in which an input named `x` reads the output
//! named `x` of another step (Azure ML's `PipelineData`). `pipeline!` checks the graph at compile
//! time and generates a type holding it:
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! # unsafe { std::env::set_var("RUNCTX_HOME", dir.path()) };
//! use run_runtime::prelude::*;
//! use run_runtime::pipeline::RunOptions;
//!
//! #[aml_step(outputs(numbers))]
//! fn count(numbers: &Path) -> std::io::Result<()> {
//!     std::fs::write(numbers.join("n.txt"), "1 2 3")
//! }
//!
//! #[aml_step(inputs(numbers), params(scale = 2.0))]
//! fn total(run: &Run, numbers: &Path, scale: f64) -> Result<(), Box<dyn std::error::Error>> {
//!     let text = std::fs::read_to_string(numbers.join("n.txt"))?;
//!     let sum: f64 = text.split(' ').map(str::parse::<f64>).sum::<Result<_, _>>()?;
//!     run.log("total", sum * scale)?;
//!     run.parent().expect("a pipeline step has a parent").tag("total", sum * scale)?;
//!     Ok(())
//! }
//!
//! pipeline!(sums = [total, count]);
//!
//! let finished = sums::pipeline()?.run(&RunOptions::default())?;
//! assert_eq!(finished.status(), Status::Finished);
//! assert_eq!(finished.run().tags()?["total"], "12");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `sums::main()` is a program's entry point: it runs the whole pipeline, or one step with
//! `--step NAME` (as an engine does), lists the steps (`--list`), prints the graph (`--graph`),
//! exports it as an Azure ML pipeline job (`--export azureml`); see [`PipelineDef::main`].
//! [`Pipeline::builder`] puts a pipeline together at run time, with the same checks.
//!
//! # How it runs
//!
//! The pipeline is a run (named after the pipeline), and each step a child run named after
//! the step, started as soon as the steps it reads from have finished: independent steps run
//! at once, up to [`RunOptions::max_parallel`] (default: the number of cores). Each output is a
//! folder under the pipeline run's folder, `<run folder>/data/<output>`, and the input of that
//! name reads it. A step that fails fails the pipeline; the steps that read from it (directly
//! or not) are not run: their runs end KILLED with the tag `runctx.skipped` naming the failed
//! step. Steps that do not depend on it still run.
//!
//! Steps run in this process by default, or each in a process of its own ([`Mode::Processes`]),
//! started the way an engine starts a step: the same program with `--step NAME`, and the
//! environment of the step (see `docs/pipelines.md`, "The environment contract").

pub(crate) mod azureml;
mod builder;
pub(crate) mod check;
mod entry;
mod exec;
mod launcher;
mod parallel;
mod reuse;
mod show;
mod values;

use crate::step::{SlotKind, Step};

pub use azureml::AzureMlOptions;
pub use builder::PipelineBuilder;
pub use check::{End, Graph};
pub use exec::{Mode, PipelineRun, RunOptions, StepRun};

/// A value the pipeline itself gives a step: `inputs(irisdata = "...")` and
/// `params(threshold = 0.9)` of `pipeline!`; without a value, one given when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The input's or param's name.
    pub name: &'a str,
    /// [`SlotKind::Input`] or [`SlotKind::Param`].
    pub kind: SlotKind,
    /// The value, as text; `None` for one given when the pipeline runs.
    pub value: Option<&'a str>,
}

/// An input that reads an output of another name: `connect(train.training_data = prep.split)`
/// of `pipeline!`.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// The step that reads.
    pub reader: &'a Step,
    /// Its input.
    pub input: &'a str,
    /// The step that writes.
    pub writer: &'a Step,
    /// Its output, which the input reads.
    pub output: &'a str,
}

/// What `pipeline!` generates, as a constant: `<pipeline>::PIPELINE`.
#[derive(Debug, Clone, Copy)]
pub struct PipelineDef {
    /// The pipeline's name: the name of its runs.
    pub name: &'static str,
    /// `experiment = "..."`: the experiment of its runs when the environment names none.
    pub experiment: Option<&'static str>,
    /// `description = "..."` (or the doc comment).
    pub description: Option<&'static str>,
    /// The steps, as listed.
    pub steps: &'static [&'static Step],
    /// `inputs(...)` and `params(...)`.
    pub bindings: &'static [Binding<'static>],
    /// `connect(...)`.
    pub connections: &'static [Connection<'static>],
}

impl PipelineDef {
    /// The graph to check: its steps, bindings and connections.
    pub const fn graph(&self) -> Graph<'static> {
        Graph {
            steps: self.steps,
            bindings: self.bindings,
            connections: self.connections,
        }
    }
}

/// A checked graph of steps, ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    experiment: Option<String>,
    description: Option<String>,
    /// In the order they run.
    steps: Vec<&'static Step>,
    values: Vec<PipelineValue>,
    /// Inputs that read an output of another name.
    connections: Vec<Edge>,
}

/// An input or param of the pipeline as a whole: a step's input that no step writes, or a
/// step's param. `--name value` sets it for every step that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineValue {
    /// Its name.
    pub name: String,
    /// [`SlotKind::Input`] or [`SlotKind::Param`].
    pub kind: SlotKind,
    /// Bound by the pipeline (`inputs(...)`/`params(...)`), with or without a value.
    pub bound: bool,
    /// The pipeline's value, if it gives one; otherwise each step's default applies.
    pub value: Option<String>,
    /// The steps that read it, in run order.
    pub steps: Vec<&'static str>,
}

/// Data passed from one step to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// The step that writes it.
    pub from: &'static str,
    /// The step that reads it.
    pub to: &'static str,
    /// The output's name (its folder's).
    pub name: &'static str,
    /// The input's name: the output's, unless `connect(...)` gives the input another output.
    pub input: &'static str,
}

impl Edge {
    /// The output's name, and the input's when it is another: `split as training_data`.
    pub fn label(&self) -> String {
        match self.input == self.name {
            true => self.name.to_owned(),
            false => format!("{} as {}", self.name, self.input),
        }
    }
}

impl Pipeline {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The experiment of its runs when the environment names none.
    pub fn experiment(&self) -> Option<&str> {
        self.experiment.as_deref()
    }

    /// Its description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The steps, in the order they run.
    pub fn steps(&self) -> &[&'static Step] {
        &self.steps
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&'static Step> {
        self.steps.iter().copied().find(|s| s.name == name)
    }

    /// Its inputs and params: what `--name value` can set.
    pub fn values(&self) -> &[PipelineValue] {
        &self.values
    }

    /// The value named `name`.
    pub fn value(&self, name: &str) -> Option<&PipelineValue> {
        self.values.iter().find(|v| v.name == name)
    }

    /// The data passed between steps, in run order of the readers.
    pub fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for to in &self.steps {
            for input in to.inputs {
                if let Some((from, name)) = self.source(to, input.name) {
                    edges.push(Edge {
                        from: from.name,
                        to: to.name,
                        name,
                        input: input.name,
                    });
                }
            }
        }
        edges
    }

    /// The step whose output the input `input` of `step` reads, and that output's name: its
    /// connection's, else the output of the input's name. `None` for an input the pipeline's
    /// values give.
    pub fn source(&self, step: &Step, input: &str) -> Option<(&'static Step, &'static str)> {
        if let Some(c) = self
            .connections
            .iter()
            .find(|c| c.to == step.name && c.input == input)
        {
            return self.step(c.from).map(|from| (from, c.name));
        }
        self.producer(input)
            .filter(|from| from.name != step.name)
            .and_then(|from| Some((from, from.output(input)?.name)))
    }

    /// The step that writes the output `name`.
    pub fn producer(&self, name: &str) -> Option<&'static Step> {
        self.steps
            .iter()
            .copied()
            .find(|s| s.output(name).is_some())
    }

    /// The steps that `step` reads from, directly.
    fn upstream(&self, step: &Step) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = step
            .inputs
            .iter()
            .filter_map(|i| self.source(step, i.name))
            .map(|(s, _)| s.name)
            .collect();
        names.dedup();
        names
    }
}

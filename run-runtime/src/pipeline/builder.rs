//! Putting a pipeline together: from what `pipeline!` generated, or step by step at run time,
//! with the checks of [`check`](super::check) returned as errors.

use crate::error::{Error, Result};
use crate::step::{SlotKind, Step};
use crate::validate::check_run_name;

use super::check::{
    End, Graph, SCRATCH_PER_STEP, check_binding, check_connection, check_step, run_order,
};
use super::{Binding, Connection, Edge, Pipeline, PipelineDef, PipelineValue};

/// Builds a [`Pipeline`] at run time: the same graph checks as `pipeline!`, as an error.
///
/// ```
/// use run_runtime::prelude::*;
/// use run_runtime::pipeline::Pipeline;
///
/// #[aml_step(inputs(raw), outputs(clean))]
/// fn prep(raw: &Path, clean: &Path) {}
///
/// #[aml_step(inputs(clean), params(k = 5))]
/// fn fit(clean: &Path, k: u32) {}
///
/// let pipeline = Pipeline::builder("flow")
///     .step(&fit::STEP)
///     .step(&prep::STEP)
///     .input("raw", "data/raw.csv")
///     .build()?;
/// let order: Vec<&str> = pipeline.steps().iter().map(|s| s.name).collect();
/// assert_eq!(order, ["prep", "fit"]); // fit reads what prep writes
///
/// let error = Pipeline::builder("flow").step(&fit::STEP).build().unwrap_err();
/// assert!(error.to_string().contains("input `clean` of step `fit` has no value"));
/// # Ok::<(), run_runtime::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PipelineBuilder {
    name: String,
    experiment: Option<String>,
    description: Option<String>,
    steps: Vec<&'static Step>,
    bindings: Vec<(String, SlotKind, Option<String>)>,
    connections: Vec<(&'static Step, String, &'static Step, String)>,
    problems: Vec<String>,
}

impl Pipeline {
    /// A builder for a pipeline named `name` (also the name of its runs).
    pub fn builder(name: &str) -> PipelineBuilder {
        PipelineBuilder {
            name: name.to_owned(),
            experiment: None,
            description: None,
            steps: Vec::new(),
            bindings: Vec::new(),
            connections: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl PipelineBuilder {
    /// The experiment of the pipeline's runs, when the environment names none.
    pub fn experiment(mut self, experiment: &str) -> Self {
        self.experiment = Some(experiment.to_owned());
        self
    }

    /// A description, recorded on the pipeline's run (tag `mlflow.note.content`).
    pub fn description(mut self, description: &str) -> Self {
        self.description = Some(description.to_owned());
        self
    }

    /// Adds a step: `&train::STEP` for a function marked `#[aml_step]`.
    pub fn step(mut self, step: &'static Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Adds the registered step named `name` (see [`crate::step::find`]); an unknown name is
    /// an error of [`build`](Self::build).
    pub fn step_named(mut self, name: &str) -> Self {
        match crate::step::find(name) {
            Ok(step) => self.steps.push(step),
            Err(e) => self.problems.push(e.to_string()),
        }
        self
    }

    /// Binds the input `name` of the steps that read it (and that no step writes) to `path`.
    pub fn input(self, name: &str, path: &str) -> Self {
        self.bind(name, SlotKind::Input, Some(path.to_owned()))
    }

    /// Binds the param `name` of the steps that have it to `value`.
    pub fn param(self, name: &str, value: impl std::fmt::Display) -> Self {
        self.bind(name, SlotKind::Param, Some(value.to_string()))
    }

    /// Declares the input `name` a value given when the pipeline runs (`--name value`, or the
    /// environment), so that a step's input without a default is not an error.
    pub fn runtime_input(self, name: &str) -> Self {
        self.bind(name, SlotKind::Input, None)
    }

    /// Declares the param `name` a value given when the pipeline runs.
    pub fn runtime_param(self, name: &str) -> Self {
        self.bind(name, SlotKind::Param, None)
    }

    /// Connects the input `input` of `reader` to the output `output` of `writer`, an output
    /// of another name: `connect(reader.input = writer.output)` of `pipeline!`.
    pub fn connect(
        mut self,
        reader: &'static Step,
        input: &str,
        writer: &'static Step,
        output: &str,
    ) -> Self {
        self.connections
            .push((reader, input.to_owned(), writer, output.to_owned()));
        self
    }

    fn bind(mut self, name: &str, kind: SlotKind, value: Option<String>) -> Self {
        self.bindings.push((name.to_owned(), kind, value));
        self
    }

    /// The pipeline, or every problem of its graph in one error.
    pub fn build(self) -> Result<Pipeline> {
        let mut problems = self.problems;
        if let Err(e) = check_run_name(&self.name) {
            problems.push(format!("the pipeline's name cannot be a run name: {e}"));
        }
        if let Some(Err(e)) = self.experiment.as_deref().map(check_run_name) {
            problems.push(format!("the experiment cannot be an experiment name: {e}"));
        }
        if self.steps.is_empty() {
            problems.push("it has no steps; add them with `step`".to_owned());
        }
        let bindings: Vec<Binding<'_>> = self
            .bindings
            .iter()
            .map(|(name, kind, value)| Binding {
                name,
                kind: *kind,
                value: value.as_deref(),
            })
            .collect();
        let connections: Vec<Connection<'_>> = self
            .connections
            .iter()
            .map(|(reader, input, writer, output)| Connection {
                reader,
                input,
                writer,
                output,
            })
            .collect();
        let graph = Graph {
            steps: &self.steps,
            bindings: &bindings,
            connections: &connections,
        };
        problems.extend(graph_problems(&self.name, &graph));
        if !problems.is_empty() {
            return Err(Error::Pipeline {
                pipeline: self.name,
                problems,
            });
        }
        Ok(assemble(
            self.name.clone(),
            self.experiment.clone(),
            self.description.clone(),
            &self.steps,
            &graph,
        ))
    }
}

/// Every problem the checks find, in the order of the steps, the bindings, the connections.
fn graph_problems(pipeline: &str, graph: &Graph<'_>) -> Vec<String> {
    let mut scratch = vec![0; SCRATCH_PER_STEP * graph.steps.len()];
    let mut problems: Vec<String> = (0..graph.steps.len())
        .filter_map(|i| check_step(pipeline, graph, i, &mut scratch))
        .map(|m| m.to_string())
        .collect();
    problems.extend(
        (0..graph.bindings.len())
            .filter_map(|k| check_binding(pipeline, graph, k))
            .map(|m| m.to_string()),
    );
    for k in 0..graph.connections.len() {
        problems.extend(
            [End::Reader, End::Writer]
                .into_iter()
                .filter_map(|end| check_connection(pipeline, graph, k, end))
                .map(|m| m.to_string()),
        );
    }
    problems
}

/// The pipeline of a checked graph: steps in run order, and its values.
fn assemble(
    name: String,
    experiment: Option<String>,
    description: Option<String>,
    listed: &[&'static Step],
    graph: &Graph<'_>,
) -> Pipeline {
    let bindings = graph.bindings;
    let mut order = vec![0; listed.len()];
    let acyclic = run_order(graph, &mut order);
    debug_assert!(acyclic, "the checks refuse a cycle before this");
    let steps: Vec<&'static Step> = order.iter().map(|&i| listed[i]).collect();
    // The checks passed: each end names a slot of its step, whose names are `'static`.
    let connections: Vec<Edge> = graph
        .connections
        .iter()
        .filter_map(|c| {
            Some(Edge {
                from: c.writer.name,
                to: c.reader.name,
                name: c.writer.output(c.output)?.name,
                input: c.reader.input(c.input)?.name,
            })
        })
        .collect();
    let mut values: Vec<PipelineValue> = Vec::new();
    for (i, step) in order.iter().map(|&i| (i, listed[i])) {
        for (kind, slot) in step.slots() {
            let free = match kind {
                SlotKind::Input => {
                    super::check::producer(listed, slot.name).is_none()
                        && super::check::connection_of(graph, i, slot.name).is_none()
                }
                SlotKind::Param => true,
                SlotKind::Output => false,
            };
            if !free {
                continue;
            }
            match values.iter_mut().find(|v| v.name == slot.name) {
                Some(v) => v.steps.push(step.name),
                None => {
                    let bound = bindings.iter().find(|b| b.name == slot.name);
                    values.push(PipelineValue {
                        name: slot.name.to_owned(),
                        kind,
                        bound: bound.is_some(),
                        value: bound.and_then(|b| b.value.map(str::to_owned)),
                        steps: vec![step.name],
                    });
                }
            }
        }
    }
    Pipeline {
        name,
        experiment,
        description,
        steps,
        values,
        connections,
    }
}

impl PipelineDef {
    /// The pipeline `pipeline!` described (its graph checked when it compiled).
    pub fn pipeline(&self) -> Result<Pipeline> {
        let mut builder = Pipeline::builder(self.name);
        if let Some(e) = self.experiment {
            builder = builder.experiment(e);
        }
        if let Some(d) = self.description {
            builder = builder.description(d);
        }
        for step in self.steps {
            builder = builder.step(step);
        }
        for b in self.bindings {
            builder = builder.bind(b.name, b.kind, b.value.map(str::to_owned));
        }
        for c in self.connections {
            builder = builder.connect(c.reader, c.input, c.writer, c.output);
        }
        builder.build()
    }
}

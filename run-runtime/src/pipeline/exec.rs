//! Running a pipeline: its run, a child run per step in dependency order, data folders, values,
//! failures and the steps they skip.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Status};
use crate::panics::payload_text;
use crate::run::Run;
use crate::step::{Bindings, SlotKind, Step};

use super::Pipeline;
use super::parallel::Work;
use super::reuse;
use crate::step::running::Prepared;

/// The folder under the pipeline run's folder that holds the outputs of its steps.
pub(crate) const DATA_DIR: &str = "data";

/// The tag of a step run that did not run because a step it reads from failed.
pub(crate) const SKIPPED_TAG: &str = "runctx.skipped";

/// The tag naming the pipeline on its run.
pub(crate) const PIPELINE_TAG: &str = "runctx.pipeline";

/// How to run a pipeline.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Values of the pipeline's inputs and params by name, as text (`--name value`): they win
    /// over the pipeline's bindings and the steps' defaults.
    pub values: BTreeMap<String, String>,
    /// Where the steps run.
    pub mode: Mode,
    /// Print a line per step on standard output as it ends.
    pub progress: bool,
    /// How many steps run at once at most (`--max-parallel N`); `None`: the number of cores
    /// ([`std::thread::available_parallelism`]). A step starts as soon as the steps it reads
    /// from have finished and fewer than this many run.
    pub max_parallel: Option<NonZeroUsize>,
    /// `--no-reuse`: run every step, even one an earlier run could stand in for (see
    /// [`crate::pipeline`], "Reuse"). The runs still record their identity, for later runs.
    pub no_reuse: bool,
}

impl RunOptions {
    /// How many steps may run at once: [`RunOptions::max_parallel`], else the number of cores
    /// (1 where that cannot be known).
    pub fn parallelism(&self) -> NonZeroUsize {
        self.max_parallel
            .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }
}

/// Where the steps of a pipeline run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// Each step in this process, on a thread of its own (steps whose inputs are ready run at
    /// once, up to [`RunOptions::max_parallel`]).
    #[default]
    InProcess,
    /// Each step in a process of its own (up to [`RunOptions::max_parallel`] at once):
    /// `program --step NAME`, with the step's environment
    /// (the run to log to, data references, params), as an engine starts it. `program` must
    /// run the pipeline's entry point ([`PipelineDef::main`](super::PipelineDef::main)).
    Processes {
        /// The program to start.
        program: PathBuf,
    },
}

impl Mode {
    /// Each step in a process of this program.
    pub fn processes() -> Result<Mode> {
        let program =
            std::env::current_exe().map_err(|e| Error::io("find", "the running program", e))?;
        Ok(Mode::Processes { program })
    }
}

/// A pipeline that ran: its run and how each step went.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    run: Run,
    steps: Vec<StepRun>,
}

/// How one step of a pipeline went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    /// The step's name (and its run's).
    pub step: &'static str,
    /// Its child run's id.
    pub run_id: String,
    /// FINISHED, FAILED, or KILLED when it was skipped.
    pub status: Status,
    /// The error of a failed step.
    pub error: Option<String>,
    /// For a skipped step: the failed step it depends on.
    pub skipped_because: Option<&'static str>,
    /// For a reused step: the earlier run whose outputs it took (its tag `runctx.reused_from`).
    pub reused_from: Option<String>,
    /// How long it ran.
    pub duration: Duration,
}

impl PipelineRun {
    /// The pipeline's run (the parent of the step runs).
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// Each step, in the order they ended (a skipped step ends when the step it depends on
    /// fails).
    pub fn steps(&self) -> &[StepRun] {
        &self.steps
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.step == name)
    }

    /// FINISHED when every step finished, FAILED otherwise.
    pub fn status(&self) -> Status {
        if self.steps.iter().all(|s| s.status == Status::Finished) {
            Status::Finished
        } else {
            Status::Failed
        }
    }

    /// The steps that failed, in the order they ended.
    pub fn failed(&self) -> impl Iterator<Item = &StepRun> {
        self.steps.iter().filter(|s| s.status == Status::Failed)
    }
}

impl Pipeline {
    /// Runs the pipeline as a new run named after it, from the environment like
    /// [`Run::get_context`]: in the local store, shipped online when `MLFLOW_TRACKING_URI` says
    /// so, in `MLFLOW_EXPERIMENT_NAME`, else the pipeline's experiment, else `Default`. When the
    /// environment names a run (`RUNCTX_RUN_ID`, `MLFLOW_RUN_ID`: an engine started this
    /// program as the pipeline's job), that run is the pipeline's.
    ///
    /// A step that fails does not make this an error: see [`PipelineRun::status`]. An error
    /// means the pipeline could not run: a value that names nothing or does not parse (before
    /// any run starts), or a run that cannot be created.
    pub fn run(&self, options: &RunOptions) -> Result<PipelineRun> {
        let settings = crate::process::process().settings()?;
        self.check_values(&options.values)?;
        let run = if settings.local_run_id.is_some() || settings.remote_run_id.is_some() {
            Run::get_context()?
        } else {
            let (experiment, id) = match self.experiment() {
                Some(e) if !crate::context::environment_names_experiment() => (e, None),
                _ => (
                    settings.experiment.as_str(),
                    settings.experiment_id.as_deref(),
                ),
            };
            crate::context::start_run(&settings, experiment, id, self.name())?
        };
        self.run_on(&run, options)
    }

    /// Runs the pipeline as `run`: each step a child run of it; `run` ends FINISHED, or FAILED
    /// when a step failed.
    pub fn run_on(&self, run: &Run, options: &RunOptions) -> Result<PipelineRun> {
        self.check_values(&options.values)?;
        let finished = self.run_steps(run, options).inspect_err(|e| {
            // Nothing more can be recorded: the pipeline's run says why it stopped.
            if let Err(end) = run.fail(format!("the pipeline could not go on: {e}")) {
                eprintln!(
                    "run-runtime: pipeline {}: {e}; and its run cannot record it: {end}",
                    self.name()
                );
            }
        })?;
        self.end(&finished)?;
        Ok(finished)
    }

    fn run_steps(&self, run: &Run, options: &RunOptions) -> Result<PipelineRun> {
        self.record(run, &options.values)?;
        let data = run.dir().join(DATA_DIR);
        std::fs::create_dir_all(&data).map_err(|e| Error::io("create", &data, e))?;
        if options.progress {
            let names: Vec<&str> = self.steps().iter().map(|s| s.name).collect();
            println!(
                "pipeline {}: run {} in experiment {:?}, steps {}",
                self.name(),
                run.id(),
                run.experiment(),
                names.join(" -> ")
            );
        }
        let count = self.steps().len();
        let reuse = Reuse {
            program: self.program_digest(run, &options.mode),
            enabled: !options.no_reuse,
        };
        let work = Work {
            start: &|step| {
                let bindings = self.bindings(step, &data, &options.values);
                run_step(run, step, &bindings, &options.mode, &reuse)
            },
            skip: &|step, failed| skip(run, step, failed),
            ended: &mut |number, outcome| {
                if options.progress {
                    print_progress(number, count, outcome);
                }
            },
        };
        let steps = super::parallel::run_graph(self, options.parallelism(), work)?;
        Ok(PipelineRun {
            run: run.clone(),
            steps,
        })
    }

    /// The digest of the program that runs the steps, when some step may be reused: part of
    /// their identity. A program that cannot be read reuses nothing, and says so.
    fn program_digest(&self, run: &Run, mode: &Mode) -> Option<String> {
        if !self.steps().iter().any(|s| s.reuse) {
            return None;
        }
        let program = match mode {
            Mode::InProcess => {
                std::env::current_exe().map_err(|e| Error::io("find", "the running program", e))
            }
            Mode::Processes { program } => Ok(program.clone()),
        };
        match program.and_then(|p| crate::digest::of_path(run.store().root(), &p)) {
            Ok(data) => Some(data.digest),
            Err(e) => {
                eprintln!(
                    "run-runtime: pipeline {}: no step is reused, the program's digest is \
                     unknown: {e}",
                    self.name()
                );
                None
            }
        }
    }

    /// The values of the pipeline recorded on its run: params as properties, inputs as tags
    /// (for a name several steps read, the value the first of them gets).
    fn record(&self, run: &Run, overrides: &BTreeMap<String, String>) -> Result<()> {
        run.tag(PIPELINE_TAG, self.name())?;
        if let Some(d) = self.description() {
            run.tag("mlflow.note.content", d)?;
        }
        for v in self.values() {
            let first = v.steps.first().and_then(|s| self.step(s));
            let Some((kind, slot)) = first.and_then(|s| s.slot(&v.name)) else {
                continue;
            };
            let Some(text) = self.value_for(kind, slot, overrides) else {
                continue;
            };
            match kind {
                SlotKind::Param => run.add_property(&v.name, text)?,
                _ => run.tag(&v.name, text)?,
            }
        }
        Ok(())
    }

    /// The values a step is given: data folders under the pipeline's run for what steps write
    /// and read, and for the rest what [`Pipeline::value_for`] finds.
    pub(super) fn bindings(
        &self,
        step: &Step,
        data: &Path,
        overrides: &BTreeMap<String, String>,
    ) -> Bindings {
        let mut bindings = Bindings::new();
        for (kind, slot) in step.slots() {
            let folder = match kind {
                SlotKind::Output => Some(slot.name),
                SlotKind::Input => self.source(step, slot.name).map(|(_, output)| output),
                SlotKind::Param => None,
            };
            let value = match folder {
                Some(folder) => Some(data.join(folder).display().to_string()),
                None => self.value_for(kind, slot, overrides),
            };
            if let Some(value) = value {
                bindings.insert(slot.name.to_owned(), value);
            }
        }
        bindings
    }

    /// Ends the pipeline's run by how its steps went.
    fn end(&self, finished: &PipelineRun) -> Result<()> {
        let failed: Vec<&StepRun> = finished.failed().collect();
        let Some(first) = failed.first() else {
            return finished.run.complete();
        };
        let mut message = format!(
            "step {:?} failed: {}",
            first.step,
            first.error.as_deref().unwrap_or("no error text")
        );
        if failed.len() > 1 {
            let others: Vec<&str> = failed[1..].iter().map(|s| s.step).collect();
            message.push_str(&format!("; failed too: {}", others.join(", ")));
        }
        let skipped: Vec<&str> = finished
            .steps
            .iter()
            .filter(|s| s.skipped_because.is_some())
            .map(|s| s.step)
            .collect();
        if !skipped.is_empty() {
            message.push_str(&format!("; skipped: {}", skipped.join(", ")));
        }
        finished.run.fail(message)
    }
}

/// What reuse needs while a pipeline runs.
struct Reuse {
    /// The digest of the program that runs the steps; `None`: no step is reused.
    program: Option<String>,
    /// `false` for `--no-reuse`.
    enabled: bool,
}

/// Runs one step as a child run of `parent`, or reuses an earlier run of it.
fn run_step(
    parent: &Run,
    step: &'static Step,
    bindings: &Bindings,
    mode: &Mode,
    reuse: &Reuse,
) -> Result<StepRun> {
    let started = Instant::now();
    let store = parent.store();
    let key = reuse
        .program
        .as_deref()
        .and_then(|program| reuse::identity(store, step, program, bindings, parent.is_offline()));
    if let Some(key) = key.as_deref().filter(|_| reuse.enabled)
        && let Some(earlier) = reuse::find(store, step, key)
        && reuse::take_outputs(&earlier, bindings).is_ok()
    {
        return reuse_earlier(parent, step, bindings, key, earlier.run_id, started);
    }
    let child = parent.child_run(step.name)?;
    if let Some(key) = &key {
        child.tag(reuse::REUSE_KEY_TAG, key)?;
    }
    let (status, error) = match mode {
        Mode::InProcess => in_process(&child, step, bindings),
        Mode::Processes { program } => {
            super::launcher::launch(program, parent, child.clone(), step, bindings)?
        }
    };
    if let (Some(key), Status::Finished) = (&key, status) {
        reuse::remember(store, key, child.id());
    }
    Ok(StepRun {
        step: step.name,
        run_id: child.id().to_owned(),
        status,
        error,
        skipped_because: None,
        reused_from: None,
        duration: started.elapsed(),
    })
}

/// Records a run of `step` that took the outputs of `earlier` (already in place): its values
/// and inputs as a run of the step records them, the identity, the earlier run; FINISHED.
fn reuse_earlier(
    parent: &Run,
    step: &'static Step,
    bindings: &Bindings,
    key: &str,
    earlier: String,
    started: Instant,
) -> Result<StepRun> {
    let child = parent.child_run(step.name)?;
    child.set_tags([
        (reuse::REUSE_KEY_TAG, key),
        (reuse::REUSED_FROM_TAG, earlier.as_str()),
    ])?;
    let (status, error) = match Prepared::new(step, &child, bindings) {
        Ok(_) => (child.complete().map(|()| Status::Finished)?, None),
        // The run records the failure: it is this step's, like one of its body.
        Err(e) => (Status::Failed, Some(e.message().to_owned())),
    };
    Ok(StepRun {
        step: step.name,
        run_id: child.id().to_owned(),
        status,
        error,
        skipped_because: None,
        reused_from: Some(earlier),
        duration: started.elapsed(),
    })
}

/// Calls the step on its run; a panic is a failure (the run already records it as such).
fn in_process(child: &Run, step: &Step, bindings: &Bindings) -> (Status, Option<String>) {
    match panic::catch_unwind(AssertUnwindSafe(|| step.call(child, bindings))) {
        Ok(Ok(())) => (Status::Finished, None),
        Ok(Err(e)) => (Status::Failed, Some(e.message().to_owned())),
        Err(payload) => (
            Status::Failed,
            Some(format!("panicked: {}", payload_text(payload.as_ref()))),
        ),
    }
}

/// Records that `step` did not run because `failed` failed.
fn skip(parent: &Run, step: &'static Step, failed: &'static str) -> Result<StepRun> {
    let child = parent.child_run(step.name)?;
    child.tag(SKIPPED_TAG, format!("step {failed:?} failed"))?;
    child.cancel()?;
    Ok(StepRun {
        step: step.name,
        run_id: child.id().to_owned(),
        status: Status::Killed,
        error: None,
        skipped_because: Some(failed),
        reused_from: None,
        duration: Duration::ZERO,
    })
}

/// The line of a step that ended: `number` of `count` to end.
fn print_progress(number: usize, count: usize, outcome: &StepRun) {
    let status = match (outcome.skipped_because, &outcome.reused_from) {
        (Some(_), _) => "SKIPPED",
        (None, Some(_)) => "REUSED",
        (None, None) => outcome.status.as_str(),
    };
    let mut line = format!(
        "[{number}/{count}] {:<12} {status:<8} {:>8.2} s  run {}",
        outcome.step,
        outcome.duration.as_secs_f64(),
        outcome.run_id
    );
    if let Some(cause) = outcome.skipped_because {
        line.push_str(&format!("\n      not run: step {cause:?} failed"));
    }
    if let Some(earlier) = &outcome.reused_from {
        line.push_str(&format!("\n      outputs of run {earlier}"));
    }
    if let Some(error) = &outcome.error {
        line.push_str(&format!("\n      error: {error}"));
    }
    // One call: the lines of a step stay together while other steps print.
    println!("{line}");
}

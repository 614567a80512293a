//! `--export azureml`: the pipeline as an Azure ML v2 pipeline job, one command step per step
//! running this program with `--step`, or one step as a command job of its own
//! (`--export azureml --step NAME`), so the same compile-checked steps run on Azure ML.
//!
//! | here | Azure ML pipeline job |
//! | --- | --- |
//! | the pipeline | `type: pipeline`, `display_name`, `experiment_name`, `settings.default_compute` (`azureml:serverless` unless a compute is named) |
//! | a step | a job under `jobs:` whose `component` runs `./<program> --step <step> --<name> ${{inputs.<name>}} ...`, with `is_deterministic` from [`AzureMlOptions::reuse`] |
//! | an input no step writes | a pipeline input (`uri_file` or `uri_folder`, the local path uploaded by `az ml job create`), bound as `${{parent.inputs.<name>}}` |
//! | an output | a job output (`uri_folder`) |
//! | an input another step writes | `${{parent.jobs.<writer>.outputs.<name>}}` |
//! | a param | a pipeline input holding its value (given, the pipeline's, else the step's default), typed (`integer`, `number`, else `string`), bound as `${{parent.inputs.<name>}}` |
//!
//! Azure ML sets `MLFLOW_TRACKING_URI` and `MLFLOW_RUN_ID` in each job, so each step logs to
//! its job's run, whose parent is the pipeline job's.

pub(crate) mod job;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::step::{SlotKind, Step};
use crate::store::closest;

use super::Pipeline;
use job::{
    Command, CommandComponent, CommandJob, DataKind, Entries, Environment, InputKind, InputSpec,
    Job, JobInput, JobKind, Output, PipelineJob, PipelineSettings, PipelineStep,
};

/// The image of a step's job when no environment is given: Azure ML's Ubuntu base image.
pub(crate) const DEFAULT_IMAGE: &str = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest";

/// The compute of a job when none is named: Azure ML's serverless compute.
pub(crate) const SERVERLESS: &str = "azureml:serverless";

/// The folder of the jobs' working directory, beside the job files.
const CODE: &str = "code";

/// How to export a pipeline, or one of its steps, to Azure ML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureMlOptions {
    /// The program each job runs (copied into `<out>/code/`).
    pub program: PathBuf,
    /// The folder written: the job file (`pipeline.yml`, or `command-<step>.yml` for one step)
    /// and `code/<program>`.
    pub out: PathBuf,
    /// The compute target, a compute's name; `None`: serverless compute.
    pub compute: Option<String>,
    /// The jobs' environment: a registered one (`azureml:name@latest` or `azureml:name:1`), or a
    /// Docker image.
    pub environment: String,
    /// Values of the pipeline's inputs and params (of the step's, for one step), as for a run
    /// (`--name value`).
    pub values: BTreeMap<String, String>,
    /// Whether Azure ML may reuse a step's result from an earlier job with the same inputs and
    /// code instead of running it (`is_deterministic` of the step's component), by step name;
    /// a step not named here may (`true`, Azure ML's default). Set `false` for a step whose
    /// result depends on more than its inputs (the time, a remote service, randomness).
    pub reuse: BTreeMap<String, bool>,
}

impl AzureMlOptions {
    /// The options for exporting `pipeline` run by this program: into `./<pipeline>-azureml`,
    /// on serverless compute, in [`DEFAULT_IMAGE`].
    pub fn for_this_program(pipeline: &Pipeline) -> Result<Self> {
        let program =
            std::env::current_exe().map_err(|e| Error::io("find", "the running program", e))?;
        Ok(AzureMlOptions {
            program,
            out: PathBuf::from(format!("{}-azureml", pipeline.name())),
            compute: None,
            environment: DEFAULT_IMAGE.to_owned(),
            values: BTreeMap::new(),
            reuse: BTreeMap::new(),
        })
    }

    /// The program's file name, which the jobs' shell command runs as `./<name>`.
    fn program_name(&self) -> std::result::Result<String, String> {
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shell_safe = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        match !name.is_empty() && name.chars().all(shell_safe) {
            true => Ok(name),
            false => Err(format!(
                "program {}: the jobs run it with a shell command, so its file name must be \
                 letters, digits, `.`, `_` and `-`; rename the program",
                self.program.display()
            )),
        }
    }

    /// `compute` as Azure ML names it: `azureml:<name>`, or serverless.
    fn compute_ref(&self) -> String {
        match &self.compute {
            None => SERVERLESS.to_owned(),
            Some(name) if name.starts_with("azureml:") => name.clone(),
            Some(name) => format!("azureml:{name}"),
        }
    }

    /// Whether Azure ML may reuse `step`'s earlier result: never for a step marked
    /// `reuse = false`, else as [`AzureMlOptions::reuse`] says.
    fn reuses(&self, step: &Step) -> bool {
        step.reuse && self.reuse.get(step.name).copied().unwrap_or(true)
    }

    /// The problems of the options themselves, for `pipeline`.
    fn problems(&self, pipeline: &Pipeline) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(problem) = self.program_name() {
            problems.push(problem);
        }
        if let Some(compute) = &self.compute {
            let name = compute.strip_prefix("azureml:").unwrap_or(compute);
            if !is_identifier(name, &['_', '-']) {
                problems.push(format!(
                    "--compute {compute:?} is not a compute name: letters, digits, `-` and `_`, \
                     starting with a letter (the name of a compute cluster of the workspace)"
                ));
            }
        }
        if self.environment.is_empty() || self.environment.contains(char::is_whitespace) {
            problems.push(format!(
                "--environment {:?} is not an environment: give a registered one \
                 (azureml:name@latest) or a Docker image, without spaces",
                self.environment
            ));
        }
        let steps: Vec<String> = pipeline.steps().iter().map(|s| s.name.to_owned()).collect();
        for name in self.reuse.keys() {
            if pipeline.step(name).is_none() {
                problems.push(format!(
                    "reuse is set for {name:?}, which is not a step of pipeline {:?}; {}",
                    pipeline.name(),
                    hint(name, &steps, "the steps are")
                ));
            }
        }
        problems
    }
}

impl Pipeline {
    /// Writes the Azure ML pipeline job: `<out>/pipeline.yml`, and the program into
    /// `<out>/code/`. Returns the path of the YAML file.
    pub fn export_azureml(&self, options: &AzureMlOptions) -> Result<PathBuf> {
        let yaml = self.azureml_job(options)?;
        write_export(options, "pipeline.yml", &yaml)
    }

    /// Writes the step `step` as an Azure ML command job: `<out>/command-<step>.yml`, and the
    /// program into `<out>/code/`. Returns the path of the YAML file.
    pub fn export_azureml_step(&self, step: &str, options: &AzureMlOptions) -> Result<PathBuf> {
        let yaml = self.azureml_step_job(step, options)?;
        write_export(options, &format!("command-{step}.yml"), &yaml)
    }

    /// The YAML of the Azure ML pipeline job, `code` being the folder `code` beside it.
    pub fn azureml_job(&self, options: &AzureMlOptions) -> Result<String> {
        let mut problems = options.problems(self);
        for step in self.steps() {
            problems.extend(job_name_problem(step));
        }
        problems.extend(self.given_problems(&options.values));
        let inputs = self.job_inputs(options, &mut problems);
        let program = self.no_problems(problems, options)?;
        let kinds: BTreeMap<&str, InputKind> =
            inputs.iter().map(|(n, i)| (n.as_str(), i.kind())).collect();
        let jobs = self
            .steps()
            .iter()
            .map(|step| {
                let job = self.pipeline_step(step, &kinds, &program, options);
                (step.name.to_owned(), job)
            })
            .collect();
        let job = Job::Pipeline(PipelineJob {
            display_name: self.name().to_owned(),
            experiment_name: self.experiment().unwrap_or(self.name()).to_owned(),
            description: self.description().map(str::to_owned),
            settings: PipelineSettings {
                default_compute: options.compute_ref(),
                continue_on_step_failure: true,
            },
            inputs: Entries(inputs),
            jobs: Entries(jobs),
        });
        job.to_yaml(&format!(
            "Azure ML pipeline job of pipeline {}, written by `{program} --export azureml`.\n\
             Submit it with: az ml job create --file pipeline.yml",
            self.name()
        ))
    }

    /// The YAML of the Azure ML command job running the step `name` alone, `code` being the
    /// folder `code` beside it. Its inputs and params have the values given, else the
    /// pipeline's, else the step's defaults; an input another step writes must be given.
    pub fn azureml_step_job(&self, name: &str, options: &AzureMlOptions) -> Result<String> {
        let Some(step) = self.step(name) else {
            let steps: Vec<String> = self.steps().iter().map(|s| s.name.to_owned()).collect();
            return Err(Error::Pipeline {
                pipeline: self.name().to_owned(),
                problems: vec![format!(
                    "--step {name:?} is not a step of the pipeline; {}",
                    hint(name, &steps, "the steps are")
                )],
            });
        };
        let mut problems = options.problems(self);
        problems.extend(job_name_problem(step));
        problems.extend(step_value_problems(step, &options.values));
        let inputs = self.step_inputs(step, options, &mut problems);
        let program = self.no_problems(problems, options)?;
        let job = Job::Command(CommandJob {
            display_name: step.name.to_owned(),
            experiment_name: (step.experiment)
                .or(self.experiment())
                .unwrap_or(self.name())
                .to_owned(),
            description: step.description.map(str::to_owned),
            compute: options.compute_ref(),
            command: command(step, &program, options),
            inputs: Entries(inputs),
            outputs: outputs(step),
        });
        job.to_yaml(&format!(
            "Azure ML command job of step {} of pipeline {}, written by `{program} --export \
             azureml --step {}`.\nSubmit it with: az ml job create --file command-{}.yml",
            step.name,
            self.name(),
            step.name,
            step.name
        ))
    }

    /// The program's name when there is no problem; else every problem, as one error.
    fn no_problems(&self, problems: Vec<String>, options: &AzureMlOptions) -> Result<String> {
        match problems.is_empty() {
            true => Ok(options.program_name().unwrap_or_default()),
            false => Err(Error::Pipeline {
                pipeline: self.name().to_owned(),
                problems,
            }),
        }
    }

    /// The pipeline-level inputs: each input no step writes, with its path, and each param,
    /// with its value.
    fn job_inputs(
        &self,
        options: &AzureMlOptions,
        problems: &mut Vec<String>,
    ) -> Vec<(String, JobInput)> {
        let mut inputs = Vec::new();
        for v in self.values() {
            let value = options
                .values
                .get(&v.name)
                .cloned()
                .or_else(|| v.value.clone())
                .or_else(|| self.default_of(&v.name).map(str::to_owned));
            let Some(value) = value else {
                problems.push(format!(
                    "{} {:?} of step {} has no value for the job: give --{} <value>",
                    v.kind,
                    v.name,
                    v.steps.join(", "),
                    v.name
                ));
                continue;
            };
            let ty = self
                .steps()
                .iter()
                .find_map(|s| s.param(&v.name))
                .map_or("", |s| s.ty);
            match job_input(v.kind, ty, &value) {
                Ok(input) => inputs.push((v.name.clone(), input)),
                Err(reason) => problems.push(format!("input {:?}: {reason}", v.name)),
            }
        }
        inputs
    }

    /// The inputs of `step` as a job of its own: given, the pipeline's, else the step's default.
    fn step_inputs(
        &self,
        step: &Step,
        options: &AzureMlOptions,
        problems: &mut Vec<String>,
    ) -> Vec<(String, JobInput)> {
        let mut inputs = Vec::new();
        for (kind, slot) in step.slots().filter(|(k, _)| *k != SlotKind::Output) {
            let value = options
                .values
                .get(slot.name)
                .cloned()
                .or_else(|| self.value(slot.name).and_then(|v| v.value.clone()))
                .or_else(|| slot.default.map(str::to_owned));
            let Some(value) = value else {
                let writer = match self.source(step, slot.name) {
                    Some((writer, _)) => {
                        format!("in the pipeline, step {:?} writes it; ", writer.name)
                    }
                    None => String::new(),
                };
                problems.push(format!(
                    "{kind} {:?} of step {:?} has no value for the job: {writer}give --{} <{}>",
                    slot.name,
                    step.name,
                    slot.name,
                    match kind {
                        SlotKind::Param => "value",
                        _ => "local path or azureml:// URI",
                    }
                ));
                continue;
            };
            match job_input(kind, slot.ty, &value) {
                Ok(input) => inputs.push((slot.name.to_owned(), input)),
                Err(reason) => problems.push(format!("input {:?}: {reason}", slot.name)),
            }
        }
        inputs
    }

    /// `step` as a step of the pipeline job: its component, and where its inputs come from.
    fn pipeline_step(
        &self,
        step: &Step,
        kinds: &BTreeMap<&str, InputKind>,
        program: &str,
        options: &AzureMlOptions,
    ) -> PipelineStep {
        let mut bindings = Vec::new();
        let mut specs = Vec::new();
        for (_, slot) in step.slots().filter(|(k, _)| *k != SlotKind::Output) {
            let (binding, kind) = match self.source(step, slot.name) {
                Some((from, output)) => (
                    format!("${{{{parent.jobs.{}.outputs.{output}}}}}", from.name),
                    InputKind::UriFolder,
                ),
                None => (
                    format!("${{{{parent.inputs.{}}}}}", slot.name),
                    kinds.get(slot.name).copied().unwrap_or(InputKind::String),
                ),
            };
            bindings.push((slot.name.to_owned(), binding));
            specs.push((slot.name.to_owned(), InputSpec { kind }));
        }
        PipelineStep {
            kind: JobKind::Command,
            display_name: step.name.to_owned(),
            description: step.description.map(str::to_owned),
            inputs: Entries(bindings),
            outputs: outputs(step),
            component: CommandComponent {
                kind: JobKind::Command,
                is_deterministic: options.reuses(step),
                command: command(step, program, options),
                inputs: Entries(specs),
                outputs: outputs(step),
            },
        }
    }
}

/// Copies the program into `<out>/code/` and writes the job file `<out>/<file>`.
fn write_export(options: &AzureMlOptions, file: &str, yaml: &str) -> Result<PathBuf> {
    let code = options.out.join(CODE);
    std::fs::create_dir_all(&code).map_err(|e| Error::io("create", &code, e))?;
    let program = options.program_name().map_err(|problem| Error::Pipeline {
        pipeline: String::new(),
        problems: vec![problem],
    })?;
    std::fs::copy(&options.program, code.join(program))
        .map_err(|e| Error::io("copy", &options.program, e))?;
    let file = options.out.join(file);
    std::fs::write(&file, yaml).map_err(|e| Error::io("write", &file, e))?;
    Ok(file)
}

/// What a step's job runs: this program with `--step`, every input, output and param given on
/// the command line as Azure ML v2 does.
fn command(step: &Step, program: &str, options: &AzureMlOptions) -> Command {
    let mut line = format!("chmod +x ./{program} && ./{program} --step {}", step.name);
    for (kind, slot) in step.slots() {
        let side = match kind {
            SlotKind::Output => "outputs",
            _ => "inputs",
        };
        line.push_str(&format!(" --{} ${{{{{side}.{}}}}}", slot.name, slot.name));
    }
    Command {
        code: format!("./{CODE}"),
        command: line,
        environment: Environment::parse(&options.environment),
    }
}

/// A step's outputs: folders Azure ML provides.
fn outputs(step: &Step) -> Entries<Output> {
    Entries(
        step.outputs
            .iter()
            .map(|slot| (slot.name.to_owned(), Output::FOLDER))
            .collect(),
    )
}

/// A job input holding `value`: a typed literal for a param (of Rust type `ty`), data for an
/// input.
fn job_input(kind: SlotKind, ty: &str, value: &str) -> std::result::Result<JobInput, String> {
    match kind {
        SlotKind::Param => Ok(JobInput::Literal(job::Literal::of(ty, value))),
        _ => data_input(value).map(|(kind, path)| JobInput::Data { kind, path }),
    }
}

/// The problems of the values given for `step` run alone: each must be one of its inputs or
/// params, and a param must parse as its type.
fn step_value_problems(step: &Step, values: &BTreeMap<String, String>) -> Vec<String> {
    let names: Vec<String> = step
        .slots()
        .filter(|(k, _)| *k != SlotKind::Output)
        .map(|(_, s)| s.name.to_owned())
        .collect();
    let mut problems = Vec::new();
    for (name, text) in values {
        match step.slot(name) {
            Some((SlotKind::Output, _)) => problems.push(format!(
                "--{name} cannot be given: it is an output of step {:?}, whose folder Azure ML \
                 provides",
                step.name
            )),
            Some((SlotKind::Param, slot)) => {
                if let Some(reason) = super::values::parse_check(slot.ty, text) {
                    problems.push(format!(
                        "--{name} {text:?} is not a valid {} (param of step {:?}): {reason}",
                        slot.ty, step.name
                    ));
                }
            }
            Some(_) => {}
            None => problems.push(format!(
                "--{name} is not an input or param of step {:?}; {}",
                step.name,
                hint(name, &names, "they are")
            )),
        }
    }
    problems
}

/// The problem of a step whose name cannot name an Azure ML job.
fn job_name_problem(step: &Step) -> Option<String> {
    (!is_identifier(step.name, &['_'])).then(|| {
        format!(
            "step {:?} cannot be an Azure ML job name: use letters, digits and underscores, \
             starting with a letter (#[aml_step(name = \"...\")])",
            step.name
        )
    })
}

/// Azure ML's rule for names of jobs in a pipeline and of computes: a letter, then letters,
/// digits and `also`, at most 255 characters.
fn is_identifier(name: &str, also: &[char]) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || also.contains(&c))
        && name.len() <= 255
}

/// "did you mean ...?" for the closest of `names` to `name`, else `all` and the names.
fn hint(name: &str, names: &[String], all: &str) -> String {
    match closest(name, names).first() {
        Some(similar) => format!("did you mean {similar:?}?"),
        None => format!("{all} {}", names.join(", ")),
    }
}

/// The type and path of a data input: a remote URI as given, a local path made absolute (the
/// CLI uploads it), a file as `uri_file`, a folder as `uri_folder`.
fn data_input(value: &str) -> std::result::Result<(DataKind, String), String> {
    if value.contains("://") || value.starts_with("azureml:") {
        let last = value.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let kind = if last.contains('.') && !value.ends_with('/') {
            DataKind::UriFile
        } else {
            DataKind::UriFolder
        };
        return Ok((kind, value.to_owned()));
    }
    let path = std::path::absolute(Path::new(value)).map_err(|e| e.to_string())?;
    if path.is_file() {
        Ok((DataKind::UriFile, path.display().to_string()))
    } else if path.is_dir() {
        Ok((DataKind::UriFolder, path.display().to_string()))
    } else {
        Err(format!(
            "{} does not exist; give --<name> with a local file or folder (uploaded when the job \
             is created), or an azureml:// or https:// URI",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_and_compute_names_are_identifiers() {
        assert!(is_identifier("train_2", &['_']));
        assert!(!is_identifier("fit model", &['_']));
        assert!(!is_identifier("2fit", &['_']));
        assert!(!is_identifier("", &['_']));
        assert!(is_identifier("cpu-cluster", &['_', '-']));
        assert!(!is_identifier("cpu-cluster", &['_']));
    }

    #[test]
    fn remote_data_keeps_its_uri_and_local_data_must_exist() {
        assert_eq!(
            data_input("azureml://datastores/d/paths/iris.csv").unwrap(),
            (
                DataKind::UriFile,
                "azureml://datastores/d/paths/iris.csv".to_owned()
            )
        );
        assert_eq!(
            data_input("https://host/data/").unwrap().0,
            DataKind::UriFolder
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            data_input(dir.path().to_str().unwrap()).unwrap().0,
            DataKind::UriFolder
        );
        let missing = dir.path().join("nope.csv");
        assert!(
            data_input(missing.to_str().unwrap())
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[test]
    fn options_that_cannot_make_a_job_are_refused_with_the_rule() {
        let pipeline = Pipeline::builder("flow")
            .step(&crate::step::fixture::STEP)
            .runtime_input("irisdata")
            .build()
            .unwrap();
        let mut options = AzureMlOptions::for_this_program(&pipeline).unwrap();
        options.program = PathBuf::from("/bin/my program");
        options.compute = Some("cpu cluster".into());
        options.environment = "my env".into();
        options.reuse.insert("trian".into(), false);
        let problems = options.problems(&pipeline);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("its file name must be letters"));
        assert!(problems[1].starts_with("--compute \"cpu cluster\" is not a compute name"));
        assert!(problems[2].starts_with("--environment \"my env\" is not an environment"));
        assert_eq!(
            problems[3],
            "reuse is set for \"trian\", which is not a step of pipeline \"flow\"; did you mean \
             \"train\"?"
        );
    }
}

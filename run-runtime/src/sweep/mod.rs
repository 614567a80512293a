//! Hyperparameter sweeps, as Azure ML sweep jobs (HyperDrive) run them: a parent run, a child
//! run per trial, each trial a process whose parameters come from a search space, a primary
//! metric to maximize or minimize, and early termination of the trials doing badly.
//!
//! A sweep is written as an Azure ML sweep job (`type: sweep`), so the same file runs here with
//! `runctx sweep sweep.yml` and on Azure ML with `az ml job create --file sweep.yml`:
//!
//! ```yaml
//! type: sweep
//! trial:
//!   command: python train.py --lr ${{search_space.lr}} --epochs ${{search_space.epochs}}
//! search_space:
//!   lr: {type: loguniform, min_value: -6.9, max_value: -0.7}
//!   epochs: {type: choice, values: [100, 200, 400]}
//! sampling_algorithm: random            # or {type: random, seed: 7}, grid, tpe
//! objective: {goal: minimize, primary_metric: loss}
//! limits: {max_total_trials: 20, max_concurrent_trials: 4, timeout: 3600, trial_timeout: 600}
//! early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 5}
//! ```
//!
//! From Rust, [`SweepSpec::for_step`] writes the command of an `#[aml_step]`'s parameters,
//! [`SweepSpec::run`] runs it and [`resume`] goes on with an interrupted one.
//!
//! # The parts
//!
//! | part | type |
//! | --- | --- |
//! | `search_space`: `choice`, `randint`, `uniform`, `loguniform`, `quniform` | [`Space`] |
//! | `sampling_algorithm`: `grid`, `random`, `tpe` | [`Sampling`] |
//! | `objective` | [`Objective`] |
//! | `early_termination`: `bandit`, `median_stopping`, `truncation_selection` | [`Policy`], applied by a [`Monitor`] |
//! | running the trials, resuming | [`SweepSpec::run`], [`resume`] |
//!
#![doc = include_str!("trials.md")]
//!
//! # The adaptive sampler: TPE
//!
//! Azure ML's adaptive sampler is Bayesian optimization with a Gaussian process; the one here is
//! TPE (Bergstra et al. 2011, the default of hyperopt and Optuna). Both use the results so far;
//! TPE was chosen because it handles every distribution here (a Gaussian process needs a kernel
//! for categories, and Azure ML's refuses `randint` and `loguniform`), scores a candidate in
//! time linear in the finished trials where a Gaussian process solves an n×n system, and is
//! short enough to read: about a hundred lines. It draws at random until [`TPE_STARTUP`]
//! trials have finished. The Azure ML export writes it as `bayesian`, Azure ML's adaptive
//! sampler.

mod objective;
mod sampling;
mod space;
mod termination;
mod trials;

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Result;
use crate::step::Step;
pub use objective::{Goal, Objective};
pub use sampling::{Sampling, Scored, TPE_CANDIDATES, TPE_STARTUP};
use space::invalid;
pub use space::{ParamValue, Params, SearchSpace, Space};
pub use termination::{Monitor, Policy, Stop};
pub use trials::{
    BEST_TRIAL, DIR_PROPERTY, INTERRUPTED_TAG, KILL_AFTER, PARAMS_PROPERTY, SPEC_ARTIFACT,
    STOP_REASON_TAG, STOPPED_BY_TAG, SweepOutcome, TRIAL_PROPERTY, TrialOutcome, resume,
    resume_reporting,
};

/// A sweep, with the fields of an Azure ML sweep job file (unknown fields are refused, so that a
/// misspelt setting is not silently ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The job file's schema (kept, not checked).
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Must be `sweep`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name of the sweep's run (default: `sweep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The experiment of the sweep's run (default: the environment's, as for any run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_name: Option<String>,
    /// A description, recorded on the sweep's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Azure ML's compute (used by the export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<String>,
    /// What each trial runs.
    pub trial: TrialSpec,
    /// How trials are picked.
    #[serde(
        deserialize_with = "sampling_by_name_or_map",
        serialize_with = "sampling_as_map"
    )]
    pub sampling_algorithm: Sampling,
    /// Each parameter's distribution.
    pub search_space: SearchSpace,
    /// The primary metric and its goal.
    pub objective: Objective,
    /// How many trials, how many at once, how long.
    pub limits: Limits,
    /// The policy that stops bad trials early, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_termination: Option<Policy>,
}

/// A sweep's `trial`: the command each trial runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialSpec {
    /// A shell command line; each `${{search_space.NAME}}` becomes the trial's value of
    /// parameter `NAME`, quoted for the shell.
    pub command: String,
    /// The folder the command runs in, relative to the sweep file (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Azure ML's environment (used by the export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// A sweep's `limits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// How many trials in all.
    pub max_total_trials: usize,
    /// How many trials run at once, at most (default 1).
    #[serde(default = "one")]
    pub max_concurrent_trials: usize,
    /// Seconds after which no trial starts and the running ones are stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Seconds after which a trial is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_timeout: Option<u64>,
}

fn one() -> usize {
    1
}

/// Azure ML writes `sampling_algorithm: random` as well as `{type: random, seed: 1}`.
fn sampling_by_name_or_map<'de, D: Deserializer<'de>>(d: D) -> Result<Sampling, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Name(String),
        Full(Sampling),
    }
    match Either::deserialize(d)? {
        Either::Full(s) => Ok(s),
        Either::Name(name) => match name.as_str() {
            "grid" => Ok(Sampling::Grid),
            "random" => Ok(Sampling::Random { seed: 0 }),
            "tpe" => Ok(Sampling::Tpe { seed: 0 }),
            other => Err(serde::de::Error::custom(format!(
                "sampling_algorithm {other:?} is not one of grid, random, tpe"
            ))),
        },
    }
}

fn sampling_as_map<S: Serializer>(s: &Sampling, ser: S) -> Result<S::Ok, S::Error> {
    s.serialize(ser)
}

/// The placeholder of a parameter in a trial's command.
fn placeholder(name: &str) -> String {
    format!("${{{{search_space.{name}}}}}")
}

impl SweepSpec {
    /// Reads a sweep file's text and checks it ([`SweepSpec::check`]).
    pub fn from_yaml(text: &str) -> Result<SweepSpec> {
        let spec: SweepSpec = read_yaml(text).map_err(|e| {
            invalid(
                "(the file)".into(),
                "(YAML)".into(),
                &format!("{e}; a sweep file is an Azure ML sweep job (docs/sweeps.md)"),
            )
        })?;
        spec.check()?;
        Ok(spec)
    }

    /// The sweep as YAML, as [`SweepSpec::from_yaml`] reads it.
    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self)
            .map_err(|e| invalid("(the file)".into(), "(YAML)".into(), &e.to_string()))
    }

    /// A sweep of `step`'s parameters: each trial runs `program` with `args` (what makes it run
    /// the step: `["--step", "train"]` for a pipeline's program, `[]` for a program whose `main`
    /// is the step's), then `--NAME VALUE` for each parameter of `search_space`, which must all
    /// be parameters of the step.
    pub fn for_step(
        step: &Step,
        program: &std::path::Path,
        args: &[&str],
        search_space: SearchSpace,
        objective: Objective,
        limits: Limits,
    ) -> Result<SweepSpec> {
        let params: Vec<&str> = step.params.iter().map(|p| p.name).collect();
        if let Some(name) = search_space.keys().find(|n| !params.contains(&n.as_str())) {
            return Err(invalid(
                format!("search_space.{name}"),
                name.clone(),
                &format!(
                    "step {:?} has no such parameter; its parameters are {}",
                    step.name,
                    params.join(", ")
                ),
            ));
        }
        let mut command = crate::launch::quote(program.as_os_str());
        for a in args {
            command.push(' ');
            command.push_str(&crate::launch::quote(std::ffi::OsStr::new(a)));
        }
        for name in search_space.keys() {
            command.push_str(&format!(" --{name} {}", placeholder(name)));
        }
        let spec = SweepSpec {
            schema: None,
            kind: "sweep".into(),
            display_name: Some(format!("sweep_{}", step.name)),
            experiment_name: step.experiment.map(String::from),
            description: None,
            compute: None,
            trial: TrialSpec {
                command,
                code: None,
                environment: None,
            },
            sampling_algorithm: Sampling::Random { seed: 0 },
            search_space,
            objective,
            limits,
            early_termination: None,
        };
        spec.check()?;
        Ok(spec)
    }

    /// Sets the sampling algorithm.
    pub fn sampling(mut self, sampling: Sampling) -> Result<SweepSpec> {
        self.sampling_algorithm = sampling;
        self.check()?;
        Ok(self)
    }

    /// Sets the early termination policy.
    pub fn early_termination(mut self, policy: Policy) -> Result<SweepSpec> {
        self.early_termination = Some(policy);
        self.check()?;
        Ok(self)
    }

    /// Checks every setting; an error names the setting (as a path in the YAML), the value and
    /// the rule.
    pub fn check(&self) -> Result<()> {
        if self.kind != "sweep" {
            return Err(invalid(
                "type".into(),
                self.kind.clone(),
                "a sweep file has type: sweep",
            ));
        }
        if self.search_space.is_empty() {
            return Err(invalid(
                "search_space".into(),
                "{}".into(),
                "give at least one parameter",
            ));
        }
        for (name, space) in &self.search_space {
            if !is_identifier(name) {
                return Err(invalid(
                    format!("search_space.{name}"),
                    name.clone(),
                    "a parameter's name is letters, digits and '_', not starting with a digit (it is a command-line option and a property)",
                ));
            }
            space.check(name)?;
        }
        self.sampling_algorithm.check(&self.search_space)?;
        self.check_command()?;
        crate::validate::check_name(crate::NameKind::Metric, &self.objective.primary_metric)?;
        let limits = &self.limits;
        if limits.max_total_trials == 0 {
            return Err(invalid(
                "limits.max_total_trials".into(),
                "0".into(),
                "give 1 or more",
            ));
        }
        if limits.max_concurrent_trials == 0 {
            return Err(invalid(
                "limits.max_concurrent_trials".into(),
                "0".into(),
                "give 1 or more",
            ));
        }
        for (key, value) in [
            ("limits.timeout", limits.timeout),
            ("limits.trial_timeout", limits.trial_timeout),
        ] {
            if value == Some(0) {
                return Err(invalid(
                    key.into(),
                    "0".into(),
                    "give a number of seconds, 1 or more, or leave it out",
                ));
            }
        }
        if let Some(policy) = &self.early_termination {
            policy.check()?;
        }
        Ok(())
    }

    /// Every `${{...}}` of the command is a parameter of the search space, and every parameter
    /// is used.
    fn check_command(&self) -> Result<()> {
        let mut used = BTreeSet::new();
        for name in placeholders(&self.trial.command) {
            let Some(param) = name.strip_prefix("search_space.") else {
                return Err(invalid(
                    "trial.command".into(),
                    format!("${{{{{name}}}}}"),
                    "only ${{search_space.NAME}} placeholders can be filled in by a local sweep",
                ));
            };
            if !self.search_space.contains_key(param) {
                let names: Vec<&str> = self.search_space.keys().map(String::as_str).collect();
                return Err(invalid(
                    "trial.command".into(),
                    placeholder(param),
                    &format!(
                        "search_space has no parameter {param:?}; it has {}",
                        names.join(", ")
                    ),
                ));
            }
            used.insert(param.to_owned());
        }
        match self.search_space.keys().find(|n| !used.contains(*n)) {
            Some(name) => Err(invalid(
                format!("search_space.{name}"),
                name.clone(),
                &format!(
                    "trial.command does not use it; add {} where the command takes it",
                    placeholder(name)
                ),
            )),
            None => Ok(()),
        }
    }

    /// The trial's command line with `params` filled in, each value quoted for the shell.
    pub fn command_for(&self, params: &Params) -> String {
        let mut line = String::new();
        let mut rest = self.trial.command.as_str();
        while let Some((before, name, after)) = next_placeholder(rest) {
            line.push_str(before);
            match name
                .strip_prefix("search_space.")
                .and_then(|p| params.get(p))
            {
                Some(value) => line.push_str(&crate::launch::quote(std::ffi::OsStr::new(
                    &value.to_string(),
                ))),
                None => line.push_str(&rest[before.len()..rest.len() - after.len()]),
            }
            rest = after;
        }
        line.push_str(rest);
        line
    }

    /// The sweep as an Azure ML sweep job file, for `az ml job create --file`: the compute
    /// (`compute`, else serverless) and the trials' environment (`trial.environment`, else Azure
    /// ML's Ubuntu base image) filled in, `trial.code` `.` unless given, and `tpe` written as
    /// `bayesian`, Azure ML's adaptive sampler.
    pub fn to_azureml(&self) -> Result<String> {
        use crate::pipeline::azureml::job::{
            Command, Environment, Job, SamplingAlgorithm, SweepJob,
        };
        use crate::pipeline::azureml::{DEFAULT_IMAGE, SERVERLESS};
        self.check()?;
        let (kind, seed) = match self.sampling_algorithm {
            Sampling::Grid => ("grid", None),
            Sampling::Random { seed } => ("random", Some(seed)),
            Sampling::Tpe { .. } => ("bayesian", None),
        };
        let compute = match &self.compute {
            None => SERVERLESS.to_owned(),
            Some(c) if c.starts_with("azureml:") => c.clone(),
            Some(c) => format!("azureml:{c}"),
        };
        let environment = self.trial.environment.as_deref().unwrap_or(DEFAULT_IMAGE);
        let job = Job::Sweep(SweepJob {
            display_name: self.display_name.clone().unwrap_or_else(|| "sweep".into()),
            experiment_name: self
                .experiment_name
                .clone()
                .unwrap_or_else(|| "Default".into()),
            description: self.description.clone(),
            compute,
            trial: Command {
                code: self.trial.code.clone().unwrap_or_else(|| ".".into()),
                command: self.trial.command.clone(),
                environment: Environment::parse(environment),
            },
            sampling_algorithm: SamplingAlgorithm { kind, seed },
            search_space: self.search_space.clone(),
            objective: self.objective.clone(),
            limits: self.limits.clone(),
            early_termination: self.early_termination.clone(),
        });
        job.to_yaml(
            "An Azure ML sweep job, written by runctx (docs/sweeps.md).\nSubmit it with: az ml job create --file THIS_FILE",
        )
    }

    /// The sweep's timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.limits.timeout.map(Duration::from_secs)
    }

    /// A trial's timeout.
    pub fn trial_timeout(&self) -> Option<Duration> {
        self.limits.trial_timeout.map(Duration::from_secs)
    }
}

/// `text` as YAML 1.2 reads it: only `true` and `false` are booleans (YAML 1.1 readers also
/// take `y`, `n`, `on`, `off`, and a choice of `[x, y, z]` would hold a `true`).
pub(crate) fn read_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { strict_booleans: true })
}

/// The names inside `${{...}}` in `text`, trimmed.
fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some((_, name, after)) = next_placeholder(rest) {
        names.push(name);
        rest = after;
    }
    names
}

/// The text before the first `${{...}}` of `text`, the name inside (trimmed), and the text
/// after it.
fn next_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let start = text.find("${{")?;
    let inside = &text[start + 3..];
    let end = inside.find("}}")?;
    Some((&text[..start], inside[..end].trim(), &inside[end + 2..]))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWEEP: &str = "\
type: sweep
trial:
  command: python train.py --lr ${{search_space.lr}} --opt ${{ search_space.opt }}
search_space:
  lr: {type: loguniform, min_value: -6.9, max_value: -0.7}
  opt: {type: choice, values: [adam, it's]}
sampling_algorithm: random
objective: {goal: minimize, primary_metric: loss}
limits: {max_total_trials: 20, max_concurrent_trials: 4}
early_termination: {type: bandit, slack_factor: 0.1, delay_evaluation: 5}
";

    #[test]
    fn an_azure_ml_sweep_file_reads_and_fills_its_command() {
        let spec = SweepSpec::from_yaml(SWEEP).unwrap();
        assert_eq!(spec.sampling_algorithm, Sampling::Random { seed: 0 });
        assert_eq!(spec.limits.max_concurrent_trials, 4);
        let params = Params::from([
            ("lr".into(), ParamValue::Float(0.01)),
            ("opt".into(), ParamValue::Text("it's".into())),
        ]);
        // A value is quoted for the shell; spaces inside the braces are allowed, as in Azure ML.
        assert_eq!(
            spec.command_for(&params),
            r"python train.py --lr 0.01 --opt 'it'\''s'"
        );
        // What it writes, it reads back the same.
        assert_eq!(
            SweepSpec::from_yaml(&spec.to_yaml().unwrap()).unwrap(),
            spec
        );
    }

    fn error(yaml: &str) -> String {
        SweepSpec::from_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn bad_sweep_files_name_the_setting_the_value_and_the_rule() {
        let unknown = SWEEP.replace("${{search_space.lr}}", "${{search_space.rate}}");
        assert!(
            error(&unknown).contains("sweep: trial.command = ${{search_space.rate}}: search_space has no parameter \"rate\""),
            "{}",
            error(&unknown)
        );
        let unused = SWEEP.replace("--lr ${{search_space.lr}}", "");
        assert!(
            error(&unused).contains("sweep: search_space.lr = lr: trial.command does not use it"),
            "{}",
            error(&unused)
        );
        let inputs = SWEEP.replace(
            "${{search_space.lr}}",
            "${{inputs.data}} ${{search_space.lr}}",
        );
        assert!(
            error(&inputs).contains("only ${{search_space.NAME}} placeholders"),
            "{}",
            error(&inputs)
        );
        let tpe = SWEEP.replace(
            "sampling_algorithm: random",
            "sampling_algorithm: {type: tpe, seed: 3}",
        );
        let job = SweepSpec::from_yaml(&tpe).unwrap().to_azureml().unwrap();
        assert!(
            job.contains("sampling_algorithm:\n  type: bayesian\n"),
            "{job}"
        );
        assert!(job.contains("compute: azureml:serverless\n"), "{job}");
        let misspelt = SWEEP.replace("max_total_trials", "max_trials");
        assert!(
            error(&misspelt).contains("max_trials"),
            "{}",
            error(&misspelt)
        );
        let zero = SWEEP.replace("max_concurrent_trials: 4", "max_concurrent_trials: 0");
        assert!(
            error(&zero).contains("sweep: limits.max_concurrent_trials = 0: give 1 or more"),
            "{}",
            error(&zero)
        );
        let grid = SWEEP.replace("sampling_algorithm: random", "sampling_algorithm: grid");
        assert!(error(&grid).contains(
            "search_space.lr.type = loguniform: grid sampling enumerates choice values only"
        ));
        let metric = SWEEP.replace("primary_metric: loss", "primary_metric: \"../loss\"");
        assert!(error(&metric).contains("../loss"), "{}", error(&metric));
    }
}

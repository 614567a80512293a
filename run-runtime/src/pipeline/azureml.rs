//! `--export azureml`: the pipeline as an Azure ML v2 pipeline job, one command job per step
//! running this program with `--step`, so the same compile-checked steps run on Azure ML.
//!
//! | here | Azure ML pipeline job |
//! | --- | --- |
//! | the pipeline | `type: pipeline`, `display_name` and `experiment_name` |
//! | a step | a job under `jobs:`, `type: command`, `command: ./<program> --step <step> --<name> ${{inputs.<name>}} ...` |
//! | an input no step writes | a pipeline input (`uri_file` or `uri_folder`, the local path uploaded by `az ml job create`), bound as `${{parent.inputs.<name>}}` |
//! | an output | a job output (`uri_folder`) |
//! | an input another step writes | `${{parent.jobs.<writer>.outputs.<name>}}` |
//! | a param | a pipeline input holding its value (the pipeline's, else the step's default), bound as `${{parent.inputs.<name>}}` |
//!
//! Azure ML sets `MLFLOW_TRACKING_URI` and `MLFLOW_RUN_ID` in each job, so each step logs to
//! its job's run, whose parent is the pipeline job's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::step::{SlotKind, Step};

use super::Pipeline;

/// The image of a step's job when no environment is given: Azure ML's Ubuntu base image.
pub(crate) const DEFAULT_IMAGE: &str = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest";

/// How to export a pipeline to Azure ML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureMlOptions {
    /// The program each job runs (copied into `<out>/code/`).
    pub program: PathBuf,
    /// The folder written: `pipeline.yml` and `code/<program>`.
    pub out: PathBuf,
    /// The compute target (`settings.default_compute`); `None`: serverless compute.
    pub compute: Option<String>,
    /// The jobs' environment: a registered one (`azureml:name@latest` or `azureml:name:1`), or a
    /// Docker image.
    pub environment: String,
    /// Values of the pipeline's inputs and params, as for a run (`--name value`).
    pub values: BTreeMap<String, String>,
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
        })
    }

    fn program_name(&self) -> Result<String> {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Pipeline {
                pipeline: String::new(),
                problems: vec![format!("{} names no program", self.program.display())],
            })
    }
}

impl Pipeline {
    /// Writes the Azure ML pipeline job: `<out>/pipeline.yml`, and the program into
    /// `<out>/code/`. Returns the path of the YAML file.
    pub fn export_azureml(&self, options: &AzureMlOptions) -> Result<PathBuf> {
        let yaml = self.azureml_job(options)?;
        let code = options.out.join("code");
        std::fs::create_dir_all(&code).map_err(|e| Error::io("create", &code, e))?;
        let target = code.join(options.program_name()?);
        std::fs::copy(&options.program, &target)
            .map_err(|e| Error::io("copy", &options.program, e))?;
        let file = options.out.join("pipeline.yml");
        std::fs::write(&file, yaml).map_err(|e| Error::io("write", &file, e))?;
        Ok(file)
    }

    /// The YAML of the Azure ML pipeline job, `code` being the folder `code` beside it.
    pub fn azureml_job(&self, options: &AzureMlOptions) -> Result<String> {
        let mut problems = Vec::new();
        for step in self.steps() {
            if !is_job_name(step.name) {
                problems.push(format!(
                    "step {:?} cannot be an Azure ML job name: use letters, digits and \
                     underscores, starting with a letter (#[aml_step(name = \"...\")])",
                    step.name
                ));
            }
        }
        let inputs = self.job_inputs(options, &mut problems);
        problems.extend(self.given_problems(&options.values));
        if !problems.is_empty() {
            return Err(Error::Pipeline {
                pipeline: self.name().to_owned(),
                problems,
            });
        }
        let program = options.program_name()?;
        let mut y = String::new();
        let _ = writeln!(
            y,
            "# Azure ML pipeline job of pipeline {}, written by `{program} --export azureml`.\n\
             # Submit it with: az ml job create --file pipeline.yml",
            self.name()
        );
        y.push_str(
            "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n",
        );
        y.push_str("type: pipeline\n");
        let _ = writeln!(y, "display_name: {}", quote(self.name()));
        let _ = writeln!(
            y,
            "experiment_name: {}",
            quote(self.experiment().unwrap_or(self.name()))
        );
        if let Some(d) = self.description() {
            let _ = writeln!(y, "description: {}", quote(d));
        }
        y.push_str("settings:\n  continue_on_step_failure: true\n");
        if let Some(compute) = &options.compute {
            let _ = writeln!(y, "  default_compute: {}", quote(&azureml_ref(compute)));
        }
        if !inputs.is_empty() {
            y.push_str("inputs:\n");
            for (name, value) in &inputs {
                let _ = write!(y, "  {name}:{value}");
            }
        }
        y.push_str("jobs:\n");
        for step in self.steps() {
            self.write_job(&mut y, step, &program, options);
        }
        Ok(y)
    }

    /// The pipeline-level inputs: each input no step writes, with its path, and each param,
    /// with its value.
    fn job_inputs(
        &self,
        options: &AzureMlOptions,
        problems: &mut Vec<String>,
    ) -> Vec<(String, String)> {
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
            let yaml = match v.kind {
                SlotKind::Param => {
                    let ty = self
                        .steps()
                        .iter()
                        .find_map(|s| s.param(&v.name))
                        .map_or("", |s| s.ty);
                    format!(" {}\n", literal(ty, &value))
                }
                _ => match data_input(&value) {
                    Ok((ty, path)) => format!("\n    type: {ty}\n    path: {}\n", quote(&path)),
                    Err(reason) => {
                        problems.push(format!("input {:?}: {reason}", v.name));
                        continue;
                    }
                },
            };
            inputs.push((v.name.clone(), yaml));
        }
        inputs
    }

    fn write_job(&self, y: &mut String, step: &Step, program: &str, options: &AzureMlOptions) {
        let mut command = format!("chmod +x ./{program} && ./{program} --step {}", step.name);
        for (kind, slot) in step.slots() {
            let side = match kind {
                SlotKind::Output => "outputs",
                _ => "inputs",
            };
            let _ = write!(command, " --{} ${{{{{side}.{}}}}}", slot.name, slot.name);
        }
        let _ = writeln!(y, "  {}:", step.name);
        y.push_str("    type: command\n");
        let _ = writeln!(y, "    display_name: {}", quote(step.name));
        if let Some(d) = step.description {
            let _ = writeln!(y, "    description: {}", quote(d));
        }
        y.push_str("    code: ./code\n");
        let _ = writeln!(y, "    command: {}", quote(&command));
        if options.environment.starts_with("azureml:") {
            let _ = writeln!(y, "    environment: {}", quote(&options.environment));
        } else {
            let _ = writeln!(
                y,
                "    environment:\n      image: {}",
                quote(&options.environment)
            );
        }
        let inputs: Vec<String> = step
            .slots()
            .filter(|(k, _)| *k != SlotKind::Output)
            .map(|(_, slot)| {
                let source = match self.source(step, slot.name) {
                    Some((from, output)) => {
                        format!("${{{{parent.jobs.{}.outputs.{output}}}}}", from.name)
                    }
                    None => format!("${{{{parent.inputs.{}}}}}", slot.name),
                };
                format!("      {}: {}\n", slot.name, quote(&source))
            })
            .collect();
        if !inputs.is_empty() {
            y.push_str("    inputs:\n");
            inputs.iter().for_each(|i| y.push_str(i));
        }
        if !step.outputs.is_empty() {
            y.push_str("    outputs:\n");
            for slot in step.outputs {
                let _ = writeln!(y, "      {}:\n        type: uri_folder", slot.name);
            }
        }
    }
}

/// Azure ML's rule for a job's name in a pipeline: an identifier.
fn is_job_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

/// `compute` as an `azureml:` reference.
fn azureml_ref(name: &str) -> String {
    match name.starts_with("azureml:") {
        true => name.to_owned(),
        false => format!("azureml:{name}"),
    }
}

/// A param's value as a YAML literal: a number or a boolean for a numeric or `bool` param whose
/// text is one (so Azure ML types the input), a string otherwise.
fn literal(ty: &str, value: &str) -> String {
    let numeric = ty.starts_with('f') || ty.starts_with('i') || ty.starts_with('u');
    let fits = super::values::parse_check(ty, value).is_none();
    match ty {
        "bool" if fits => value.to_owned(),
        _ if numeric && fits && value.parse::<f64>().is_ok_and(f64::is_finite) => value.to_owned(),
        _ => quote(value),
    }
}

/// The type and path of a data input: a remote URI as given, a local path made absolute (the
/// CLI uploads it), a file as `uri_file`, a folder as `uri_folder`.
fn data_input(value: &str) -> std::result::Result<(&'static str, String), String> {
    if value.contains("://") || value.starts_with("azureml:") {
        let last = value.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        let ty = if last.contains('.') && !value.ends_with('/') {
            "uri_file"
        } else {
            "uri_folder"
        };
        return Ok((ty, value.to_owned()));
    }
    let path = std::path::absolute(Path::new(value)).map_err(|e| e.to_string())?;
    if path.is_file() {
        Ok(("uri_file", path.display().to_string()))
    } else if path.is_dir() {
        Ok(("uri_folder", path.display().to_string()))
    } else {
        Err(format!(
            "{} does not exist; give --<name> with a local file or folder (uploaded when the job \
             is created), or an azureml:// or https:// URI",
            path.display()
        ))
    }
}

/// A YAML double-quoted scalar (JSON's escapes are YAML's).
fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_keep_numbers_and_quote_the_rest() {
        assert_eq!(literal("f64", "0.9"), "0.9");
        assert_eq!(literal("u32", "10"), "10");
        assert_eq!(literal("bool", "true"), "true");
        assert_eq!(literal("String", "knn"), "\"knn\"");
        assert_eq!(literal("f64", "NaN"), "\"NaN\"");
        assert_eq!(literal("String", "a: b"), "\"a: b\"");
    }

    #[test]
    fn job_names_are_identifiers() {
        assert!(is_job_name("train_2"));
        assert!(!is_job_name("fit model"));
        assert!(!is_job_name("2fit"));
        assert!(!is_job_name(""));
    }

    #[test]
    fn remote_data_keeps_its_uri_and_local_data_must_exist() {
        assert_eq!(
            data_input("azureml://datastores/d/paths/iris.csv").unwrap(),
            (
                "uri_file",
                "azureml://datastores/d/paths/iris.csv".to_owned()
            )
        );
        assert_eq!(data_input("https://host/data/").unwrap().0, "uri_folder");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            data_input(dir.path().to_str().unwrap()).unwrap().0,
            "uri_folder"
        );
        let missing = dir.path().join("nope.csv");
        assert!(
            data_input(missing.to_str().unwrap())
                .unwrap_err()
                .contains("does not exist")
        );
    }
}

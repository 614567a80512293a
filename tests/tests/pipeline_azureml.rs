//! `--export azureml`: the Azure ML pipeline job a pipeline program writes, parsed as YAML and
//! checked against the pipeline itself: every step a command job running the program with
//! `--step`, every input and output wired by name.

use std::path::{Path, PathBuf};

use run_runtime::pipeline::Pipeline;
use run_runtime::step::SlotKind;
use serde_json::Value;
use tests::command;

#[allow(dead_code)]
#[path = "../src/bin/pipes.rs"]
mod pipes;

#[allow(dead_code)]
#[path = "../../examples/iris/main.rs"]
mod iris;

const PIPES: &str = env!("CARGO_BIN_EXE_pipes");
const IRIS: &str = env!("CARGO_BIN_EXE_iris");

/// The workspace: the Iris program's default data path is relative to it.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Exports with `args` into a temporary folder; the parsed YAML and the folder.
fn export(program: &str, args: &[&str]) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("job");
    let out = command(program, &dir.path().join("runs"))
        .current_dir(workspace())
        .args(["--export", "azureml", "--out"])
        .arg(&out_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = out_dir.join("pipeline.yml");
    assert!(
        stdout.contains(&format!("az ml job create --file {}", file.display())),
        "{stdout}"
    );
    let yaml = std::fs::read_to_string(&file).unwrap();
    let job: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    (job, dir)
}

/// Checks every step and binding of `job` against `pipeline`.
fn check_job(job: &Value, pipeline: &Pipeline, program: &str) {
    assert_eq!(job["type"], "pipeline");
    assert_eq!(job["display_name"], pipeline.name());
    assert_eq!(
        job["$schema"],
        "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"
    );
    let jobs = job["jobs"].as_object().unwrap();
    let names: Vec<&str> = jobs.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = pipeline.steps().iter().map(|s| s.name).collect();
    expected.sort_unstable();
    let mut names_sorted = names.clone();
    names_sorted.sort_unstable();
    assert_eq!(names_sorted, expected);
    for step in pipeline.steps() {
        let j = &jobs[step.name];
        assert_eq!(j["type"], "command", "{}", step.name);
        assert_eq!(j["code"], "./code");
        let cmd = j["command"].as_str().unwrap();
        assert!(
            cmd.contains(&format!("./{program} --step {}", step.name)),
            "{cmd}"
        );
        for (kind, slot) in step.slots() {
            let side = if kind == SlotKind::Output {
                "outputs"
            } else {
                "inputs"
            };
            assert!(
                cmd.contains(&format!("--{} ${{{{{side}.{}}}}}", slot.name, slot.name)),
                "{} {} missing from {cmd}",
                step.name,
                slot.name
            );
            match kind {
                SlotKind::Output => {
                    assert_eq!(j["outputs"][slot.name]["type"], "uri_folder");
                }
                _ => {
                    let binding = j["inputs"][slot.name].as_str().unwrap();
                    match pipeline.producer(slot.name) {
                        Some(from) => assert_eq!(
                            binding,
                            format!("${{{{parent.jobs.{}.outputs.{}}}}}", from.name, slot.name)
                        ),
                        None => {
                            assert_eq!(binding, format!("${{{{parent.inputs.{}}}}}", slot.name));
                            assert!(
                                !job["inputs"][slot.name].is_null(),
                                "pipeline input {} missing",
                                slot.name
                            );
                        }
                    }
                }
            }
        }
        // Nothing but its slots.
        let count = |side: &str| j[side].as_object().map_or(0, |o| o.len());
        assert_eq!(
            count("inputs") + count("outputs"),
            step.slots().count(),
            "{}",
            step.name
        );
    }
    let inputs = job["inputs"].as_object().unwrap();
    assert_eq!(inputs.len(), pipeline.values().len());
}

#[test]
fn every_step_is_a_command_job_wired_by_name() {
    let (job, dir) = export(PIPES, &["--count", "7", "--compute", "cpu-cluster"]);
    let pipeline = pipes::numbers::pipeline().unwrap();
    check_job(&job, &pipeline, "pipes");
    assert_eq!(job["experiment_name"], "numbers");
    assert_eq!(job["settings"]["default_compute"], "azureml:cpu-cluster");
    assert_eq!(job["settings"]["continue_on_step_failure"], true);
    // Params are pipeline inputs with their values: given, the pipeline's, else the default.
    assert_eq!(job["inputs"]["count"], 7);
    assert_eq!(job["inputs"]["scale"], 2.0);
    assert_eq!(job["inputs"]["limit"], 100.0);
    assert_eq!(job["inputs"]["panic"], false);
    assert_eq!(job["inputs"]["message"], "hello");
    assert_eq!(
        job["jobs"]["check"]["inputs"]["report"],
        "${{parent.jobs.total.outputs.report}}"
    );
    assert_eq!(
        job["jobs"]["make"]["environment"]["image"],
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    );
    // The program is in the code folder the jobs run in.
    let program = dir.path().join("job/code/pipes");
    assert_eq!(
        std::fs::metadata(&program).unwrap().len(),
        std::fs::metadata(PIPES).unwrap().len()
    );
}

#[test]
fn data_inputs_are_uploaded_files_and_a_registered_environment_is_named() {
    let (job, _dir) = export(IRIS, &["--environment", "azureml:rust-runtime@latest"]);
    check_job(&job, &iris::iris::pipeline().unwrap(), "iris");
    let data = &job["inputs"]["irisdata"];
    assert_eq!(data["type"], "uri_file");
    let path = workspace().join("examples/iris/sample_data.csv");
    assert_eq!(data["path"], path.display().to_string());
    assert!(settings_without_compute(&job), "serverless compute");
    assert_eq!(job["inputs"]["threshold"], 0.9);
    assert_eq!(job["inputs"]["model_name"], "iris-classifier");
    let jobs = &job["jobs"];
    assert_eq!(
        jobs["train"]["inputs"]["split"],
        "${{parent.jobs.prep.outputs.split}}"
    );
    assert_eq!(
        jobs["register"]["inputs"]["model"],
        "${{parent.jobs.train.outputs.model}}"
    );
    assert_eq!(jobs["prep"]["environment"], "azureml:rust-runtime@latest");
    assert_eq!(
        jobs["register"]["command"],
        "chmod +x ./iris && ./iris --step register --model ${{inputs.model}} --threshold \
         ${{inputs.threshold}} --model_name ${{inputs.model_name}}"
    );
}

fn settings_without_compute(job: &Value) -> bool {
    job["settings"].get("default_compute").is_none()
}

#[test]
fn an_export_that_cannot_run_on_azure_ml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(IRIS, &dir.path().join("runs"))
        .current_dir(dir.path())
        .args(["--export", "azureml", "--out"])
        .arg(dir.path().join("job"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "input \"irisdata\": {} does not exist; give --<name> with a local file or folder",
            dir.path().join("examples/iris/sample_data.csv").display()
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("job").exists());
}
